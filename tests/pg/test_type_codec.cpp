// Runtime codecs (connection::set_type_codec): hstore in binary into a std::map, citext in
// text into a type of the test's own, the errors (unknown type, a text codec for a type
// whose binary form is not text, a throwing decoder, no codec at all), cancellation while
// the lookup waits on the server, and a pool registering them from its init hook.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

using hstore_map = std::map<std::string, std::optional<std::string>>;

// hstore's binary form (hstore_send): the pair count, then each key and value as a 4-byte
// big-endian length and its bytes, -1 for a NULL value.
std::int32_t be32(std::string_view b, std::size_t& at) {
  if (b.size() - at < 4) throw std::runtime_error("hstore: truncated");
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at++]);
  return static_cast<std::int32_t>(v);
}
void put32(std::string& out, std::int32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((static_cast<std::uint32_t>(v) >> (8 * i)) & 0xff));
}
hstore_map hstore_decode(std::string_view b) {
  std::size_t at = 0;
  hstore_map m;
  for (std::int32_t n = be32(b, at); n > 0; --n) {
    std::int32_t k = be32(b, at);
    std::string key(b.substr(at, static_cast<std::size_t>(k)));
    at += static_cast<std::size_t>(k);
    std::int32_t v = be32(b, at);
    if (v < 0) {
      m[key] = std::nullopt;
    } else {
      m[key] = std::string(b.substr(at, static_cast<std::size_t>(v)));
      at += static_cast<std::size_t>(v);
    }
  }
  return m;
}
std::string hstore_encode(const hstore_map& m) {
  std::string out;
  put32(out, static_cast<std::int32_t>(m.size()));
  for (const auto& [k, v] : m) {
    put32(out, static_cast<std::int32_t>(k.size()));
    out.append(k);
    if (v) {
      put32(out, static_cast<std::int32_t>(v->size()));
      out.append(*v);
    } else {
      put32(out, -1);
    }
  }
  return out;
}
aw::pg::type_codec<hstore_map> hstore_codec() {
  aw::pg::type_codec<hstore_map> c;
  c.format = aw::pg::codec_format::binary;
  c.decoder = hstore_decode;
  c.encoder = hstore_encode;
  return c;
}

// A case-insensitive text of the test's own: citext's text form goes in and out as it is.
struct ci_text {
  std::string text;
};
aw::pg::type_codec<ci_text> citext_codec() {
  aw::pg::type_codec<ci_text> c;
  c.format = aw::pg::codec_format::text;
  c.decoder = [](std::string_view s) {
    ci_text t;
    t.text = std::string(s);
    return t;
  };
  c.encoder = [](const ci_text& t) { return t.text; };
  return c;
}

aw::task<> extensions(aw::pg::connection& c) {
  // The fixture creates them; IF NOT EXISTS keeps the suite usable against another server.
  co_await c.execute("CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS citext");
}

TEST(PgTypeCodec, HstoreBinaryReadsIntoAMapAndEncodesOne) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    co_await c.set_type_codec("hstore", hstore_codec());
    hstore_map got = co_await c.fetchval<hstore_map>("SELECT 'a=>1, b=>NULL'::hstore");
    hstore_map want;
    want["a"] = "1";
    want["b"] = std::nullopt;
    EXPECT_EQ(got, want);
    // The parameter is sent with hstore's OID in binary: the server's || and -> see a hstore.
    hstore_map in;
    in["k"] = "v";
    in["n"] = std::nullopt;
    hstore_map out = co_await c.fetchval<hstore_map>("SELECT $1 || 'c=>3'::hstore", in);
    in["c"] = "3";
    EXPECT_EQ(out, in);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1 -> 'k'", in), "v");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT pg_typeof($1)::text", in), "hstore");
    // NULL, and an optional map.
    auto none = co_await c.fetchval<std::optional<hstore_map>>("SELECT NULL::hstore");
    EXPECT_FALSE(none.has_value());
    std::optional<hstore_map> absent;
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1::hstore IS NULL", absent));
    // A record reads it by name too.
    auto r = co_await c.fetchrow("SELECT 'x=>y'::hstore AS h");
    EXPECT_EQ(r->get<hstore_map>("h").at("x"), "y");
  });
}

TEST(PgTypeCodec, CitextTextReadsIntoAUserType) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    co_await c.set_type_codec("citext", citext_codec());
    ci_text got = co_await c.fetchval<ci_text>("SELECT 'Hello'::citext");
    EXPECT_EQ(got.text, "Hello");
    ci_text lower;
    lower.text = "hello";
    // Sent as citext: the comparison is citext's, case-insensitive (as text it would be false).
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1 = 'HELLO'", lower));
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT pg_typeof($1)::text", lower), "citext");
    // Other columns still read with the built-in codecs.
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 7"), 7);
  });
}

TEST(PgTypeCodec, UnknownTypeNameIsATypedErrorAndRegistersNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    try {
      co_await c.set_type_codec("no_such_type_xyz", hstore_codec());
      ADD_FAILURE() << "no error";
    } catch (const aw::pg::unknown_type_error& e) {
      EXPECT_NE(std::string(e.what()).find("public.no_such_type_xyz"), std::string::npos) << e.what();
    }
    // hstore exists, but not in that schema.
    auto elsewhere = hstore_codec();
    elsewhere.schema = "pg_catalog";
    EXPECT_THROW(co_await c.set_type_codec("hstore", elsewhere), aw::pg::unknown_type_error);
    // unknown_type_error is an interface_error.
    EXPECT_THROW(co_await c.set_type_codec("no_such_type_xyz", hstore_codec()), aw::pg::interface_error);
    // Nothing was registered: the map has no decoder.
    EXPECT_THROW(co_await c.fetchval<hstore_map>("SELECT ''::hstore"), aw::pg::type_error);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgTypeCodec, TextFormatForANonTextBinaryFormIsRefused) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    auto text = hstore_codec();
    text.format = aw::pg::codec_format::text;
    try {
      co_await c.set_type_codec("hstore", text);
      ADD_FAILURE() << "no error";
    } catch (const aw::pg::unknown_type_error&) {
      ADD_FAILURE() << "hstore exists";
    } catch (const aw::pg::interface_error& e) {
      EXPECT_NE(std::string(e.what()).find("hstore_send"), std::string::npos) << e.what();
    }
  });
}

TEST(PgTypeCodec, NoCodecIsATypeErrorNamingTheColumnAndTheParameter) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    try {
      (void)co_await c.fetchval<ci_text>("SELECT 'x'::citext AS word");
      ADD_FAILURE() << "no error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("word"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("set_type_codec"), std::string::npos) << e.what();
    }
    ci_text t;
    t.text = "x";
    try {
      (void)co_await c.fetchval<bool>("SELECT $1 = 'x'", t);
      ADD_FAILURE() << "no error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("parameter $1"), std::string::npos) << e.what();
    }
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgTypeCodec, ThrowingDecoderRaisesAndTheConnectionStaysUsable) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await extensions(c);
    auto bad = hstore_codec();
    bad.decoder = [](std::string_view) -> hstore_map { throw std::runtime_error("decoder refused"); };
    bad.encoder = [](const hstore_map&) -> std::string { throw std::length_error("encoder refused"); };
    co_await c.set_type_codec("hstore", bad);
    EXPECT_THROW(co_await c.fetchval<hstore_map>("SELECT 'a=>1'::hstore"), std::runtime_error);
    hstore_map empty;
    EXPECT_THROW(co_await c.fetchval<bool>("SELECT $1 IS NULL", empty), std::length_error);
    EXPECT_FALSE(c.is_closed());
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int + 1", 1), 2);
    // Registering again replaces the codec for the same type and C++ type.
    co_await c.set_type_codec("hstore", hstore_codec());
    hstore_map again = co_await c.fetchval<hstore_map>("SELECT 'a=>1'::hstore");
    EXPECT_EQ(again.at("a"), "1");
  });
}

// The lookup blocks on the server (another session holds pg_type locked); cancelling it
// cancels the query, registers nothing, and leaves the connection usable.
TEST(PgTypeCodec, CancelledWhileTheLookupWaitsRegistersNothing) {
  aw::run([]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [](aw::pg::connection& locker) -> aw::task<> {
      co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& c) -> aw::task<> {
        co_await extensions(c);
        const int pid = c.backend_pid();
        co_await locker.execute("BEGIN; LOCK TABLE pg_catalog.pg_type IN ACCESS EXCLUSIVE MODE");
        aw::cancel_scope scope;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await c.set_type_codec("hstore", hstore_codec()); });
          });
          // Cancel once the lookup is seen waiting for the lock (no timing guess).
          for (;;) {
            bool waiting = co_await locker.fetchval<bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')", pid);
            if (waiting) break;
            co_await aw::sleep(5ms);
          }
          scope.cancel();
        });
        EXPECT_TRUE(scope.cancelled_caught());
        co_await locker.execute("ROLLBACK");
        EXPECT_FALSE(c.is_closed());
        EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
        EXPECT_THROW(co_await c.fetchval<hstore_map>("SELECT ''::hstore"), aw::pg::type_error);
        // And registering afterwards works.
        co_await c.set_type_codec("hstore", hstore_codec());
        EXPECT_TRUE((co_await c.fetchval<hstore_map>("SELECT ''::hstore")).empty());
      });
    });
  });
}

// A pool registers the codec on each new connection from its init hook; a reset (RESET
// ALL between borrowers) keeps it.
TEST(PgTypeCodec, PoolInitRegistersOnEveryConnection) {
  aw::run([]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [](aw::pg::connection& c) -> aw::task<> { co_await extensions(c); });
    aw::pg::pool_options o;
    o.min_size = 2;
    o.max_size = 2;
    o.init = [](aw::pg::connection& conn) -> aw::task<> { co_await conn.set_type_codec("hstore", hstore_codec()); };
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), std::move(o)), [](aw::pg::pool& p) -> aw::task<> {
      for (int i = 0; i < 2; ++i) {
        co_await aw::async_with(p.acquire(), [&](aw::pg::connection& a) -> aw::task<> {
          co_await aw::async_with(p.acquire(), [&](aw::pg::connection& b) -> aw::task<> {
            EXPECT_NE(&a, &b);
            EXPECT_EQ((co_await a.fetchval<hstore_map>("SELECT 'a=>1'::hstore")).at("a"), "1");
            EXPECT_EQ((co_await b.fetchval<hstore_map>("SELECT 'b=>2'::hstore")).at("b"), "2");
            co_await b.execute("SET application_name = 'dirty'");  // the next reset is a full one
          });
        });
      }
      EXPECT_EQ((co_await p.fetchval<hstore_map>("SELECT 'p=>3'::hstore")).at("p"), "3");
    });
  });
}

}  // namespace
