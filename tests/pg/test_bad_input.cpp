// What the server cannot take is refused before it is sent, on every path (the statement
// cache, no cache, a prepared statement, executemany, a cursor, the pool): more
// arguments than the statement's $n, strings holding NUL (PostgreSQL text ends there), a
// statement's text holding NUL. The connection stays usable; bytea carries NULs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using pg_test::with_connection;

namespace {

TEST(PgBadInput, ExtraArgumentsAreRefusedOnEveryPath) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE t (v int4)");
    EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT $1::int4", 1, 2), aw::pg::interface_error);
    EXPECT_THROW(co_await c.fetch("SELECT 1"s, 1), aw::pg::interface_error);  // none taken
    EXPECT_THROW(co_await c.execute("INSERT INTO t VALUES ($1)", 1, 2), aw::pg::interface_error);
    std::vector<std::tuple<std::int32_t, std::int32_t>> rows{{1, 2}, {3, 4}};
    EXPECT_THROW(co_await c.executemany("INSERT INTO t VALUES ($1)", rows), aw::pg::interface_error);
    auto st = co_await c.prepare("SELECT $1::int4");
    EXPECT_THROW(co_await st.fetchval<std::int32_t>(1, 2), aw::pg::interface_error);
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
      EXPECT_THROW(co_await aw::async_with(c.cursor("SELECT $1::int4", 1, 2), [](aw::pg::cursor&) -> aw::task<> { co_return; }),
                   aw::pg::interface_error);
    });
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM t"), 0);
    // $n inside literals, quoted identifiers, comments and dollar quotes is no parameter;
    // nor is one inside an identifier.
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::text || '$2' || E'\\'$3' || $q$ $4 $q$ AS \"$5\" -- $6\n/* /* $7 */ $8 */", "a"),
              "a$2'$3 $4 ");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $2::int4 - $1::int4", 1, 3), 2);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 4 AS a$1"), 4);
  });
}

TEST(PgBadInput, ExtraArgumentsWithoutTheStatementCache) {
  aw::run([]() -> aw::task<> {
    aw::pg::connection_options o;
    o.statement_cache_size = 0;
    co_await aw::async_with(aw::pg::connect(pg_test::dsn(), o), [](aw::pg::connection& c) -> aw::task<> {
      EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT $1::int4", 1, 2), aw::pg::interface_error);
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int4", 5), 5);
    });
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), {.min_size = 1, .max_size = 1}), [](aw::pg::pool& p) -> aw::task<> {
      EXPECT_THROW(co_await p.fetchval<std::int32_t>("SELECT $1::int4", 1, 2), aw::pg::interface_error);
      EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT $1::int4", 6), 6);
    });
  });
}

// executemany without the cache prepared into it anyway and read the entry the insert had
// just evicted (a heap use-after-free under ASan); it now uses the unnamed statement.
TEST(PgBadInput, ExecutemanyWithoutTheStatementCache) {
  aw::run([]() -> aw::task<> {
    aw::pg::connection_options o;
    o.statement_cache_size = 0;
    co_await aw::async_with(aw::pg::connect(pg_test::dsn(), o), [](aw::pg::connection& c) -> aw::task<> {
      co_await c.execute("CREATE TEMP TABLE m (a int4, b text)");
      std::vector<std::tuple<std::int32_t, std::string>> rows{{1, "one"}, {2, "two"}, {3, "three"}};
      co_await c.executemany("INSERT INTO m VALUES ($1, $2)", rows);
      co_await c.executemany("INSERT INTO m VALUES ($1, $2)", rows);  // the same text again
      std::vector<std::tuple<std::int32_t, std::int32_t>> extra{{1, 2}};
      EXPECT_THROW(co_await c.executemany("INSERT INTO m(a) VALUES ($1)", extra), aw::pg::interface_error);
      EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM m"), 6);
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT string_agg(b, ',' ORDER BY a, b) FROM m WHERE a = $1", 3), "three,three");
      // No statement was left behind on the server.
      EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements"), 0);
    });
  });
}

TEST(PgBadInput, StringsWithNulAreRefusedNamingTheParameter) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE s (a text, b text)");
    const std::string secret("secret\0tail", 11);
    try {
      co_await c.execute("INSERT INTO s VALUES ($1, $2)", "x", secret);
      ADD_FAILURE() << "a string with a NUL was sent";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("$2"), std::string::npos) << e.what();
    }
    EXPECT_THROW(co_await c.fetchval<std::string>("SELECT $1::text", std::string_view(secret)), aw::pg::type_error);
    std::vector<std::tuple<std::string, std::string>> rows{{"ok", "ok"}, {"bad", secret}};
    EXPECT_THROW(co_await c.executemany("INSERT INTO s VALUES ($1, $2)", rows), aw::pg::type_error);
    auto st = co_await c.prepare("INSERT INTO s VALUES ($1, $2)");
    EXPECT_THROW(co_await st.execute(secret, "y"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<std::string>("SELECT $1::jsonb::text", aw::pg::jsonb{"{\"a\": \"x\0y\"}"s}), aw::pg::type_error);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM s"), 0);
    // The statement's own text: PostgreSQL would stop at the NUL and run the first part.
    const std::string two("SELECT 1\0; INSERT INTO s VALUES ('a', 'b')", 42);
    EXPECT_THROW(co_await c.execute(two), aw::pg::interface_error);
    EXPECT_THROW(co_await c.fetch(std::string_view(two)), aw::pg::interface_error);
    EXPECT_THROW(co_await c.execute(std::string_view(two), 1), aw::pg::interface_error);
    EXPECT_THROW((void)co_await c.prepare(two), aw::pg::interface_error);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM s"), 0);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::text", "fine"), "fine");
  });
}

TEST(PgBadInput, ByteaCarriesNuls) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE b (v bytea)");
    const std::string raw("secret\0tail", 11);
    aw::pg::bytea v;
    for (char ch : raw) v.push_back(static_cast<std::byte>(ch));
    co_await c.execute("INSERT INTO b VALUES ($1)", v);
    std::vector<std::tuple<aw::pg::bytea>> rows{{v}, {v}};
    co_await c.executemany("INSERT INTO b VALUES ($1)", rows);
    auto got = co_await c.fetch("SELECT v, length(v) FROM b");
    PG_CO_ASSERT_EQ(got.size(), 3u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].get<aw::pg::bytea>(0), v);
      EXPECT_EQ(got[i].get<std::int32_t>(1), 11);
    }
  });
}

}  // namespace
