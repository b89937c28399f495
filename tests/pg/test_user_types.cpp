// Types made after initdb (enums, composites, domains, ranges, arrays of those), looked up
// in pg_catalog by the connection the first time a result has them, as asyncpg does.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

// Each test makes its own types (their names begin with the test's prefix), dropping what
// an earlier run left.
aw::task<> make_types(aw::pg::connection& c, const std::string& p) {
  co_await c.execute("DROP TYPE IF EXISTS " + p + "_pair, " + p + "_mood, " + p + "_floats CASCADE");
  co_await c.execute("DROP DOMAIN IF EXISTS " + p + "_posint CASCADE");
  co_await c.execute("CREATE TYPE " + p + "_mood AS ENUM ('happy', 'sad', 'so so')");
  co_await c.execute("CREATE DOMAIN " + p + "_posint AS integer CHECK (VALUE > 0)");
  co_await c.execute("CREATE TYPE " + p + "_pair AS (m " + p + "_mood, n " + p + "_posint)");
  co_await c.execute("CREATE TYPE " + p + "_floats AS RANGE (subtype = float8)");
}

TEST(PgUserTypes, NamedAndReadAsTheServerDescribesThem) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c, "ut1");
    auto r = co_await c.fetchrow(
        "SELECT 'so so'::ut1_mood AS m, ARRAY['happy', 'sad']::ut1_mood[] AS ms, ROW('sad', 3)::ut1_pair AS p, "
        "ARRAY[1, 2]::ut1_posint[] AS ns, 5::ut1_posint AS n, '[1.5,2.5)'::ut1_floats AS f, ARRAY[ROW('happy', 1)::ut1_pair] AS ps");
    PG_CO_ASSERT_TRUE(r.has_value());
    EXPECT_EQ((*r)["m"].type_name(), "ut1_mood");
    EXPECT_EQ((*r)["ms"].type_name(), "ut1_mood[]");
    EXPECT_EQ((*r)["p"].type_name(), "ut1_pair");
    EXPECT_EQ((*r)["ns"].type_name(), "ut1_posint[]");
    EXPECT_EQ((*r)["n"].type_name(), "integer");  // the server describes a domain's column as its base type
    EXPECT_EQ((*r)["f"].type_name(), "ut1_floats");
    EXPECT_EQ((*r)["ps"].type_name(), "ut1_pair[]");

    EXPECT_EQ(r->get<std::string>("m"), "so so");
    EXPECT_EQ(r->get<std::vector<std::string>>("ms"), (std::vector<std::string>{"happy", "sad"}));
    EXPECT_EQ((*r)["ms"].to_string(), "{happy,sad}");
    EXPECT_EQ((*r)["p"].to_string(), "(sad,3)");
    EXPECT_EQ((r->get<std::tuple<std::string, std::int32_t>>("p")), (std::tuple<std::string, std::int32_t>{"sad", 3}));
    EXPECT_EQ(r->get<std::vector<std::int32_t>>("ns"), (std::vector<std::int32_t>{1, 2}));
    EXPECT_EQ((*r)["ns"].to_string(), "{1,2}");
    EXPECT_EQ(r->get<std::int32_t>("n"), 5);
    EXPECT_EQ((*r)["f"].to_string(), "[1.5,2.5)");
    auto f = r->get<aw::pg::range<double>>("f");
    EXPECT_EQ(f.lower, 1.5);
    EXPECT_EQ(f.upper, 2.5);
    EXPECT_EQ((*r)["ps"].to_string(), "{\"(happy,1)\"}");
    auto ps = r->get<std::vector<std::tuple<std::string, std::int32_t>>>("ps");
    PG_CO_ASSERT_EQ(ps.size(), 1u);
    EXPECT_EQ(std::get<0>(ps[0]), "happy");

    // A mismatch names the type by its name.
    try {
      (void)r->get<std::int32_t>("m");
      ADD_FAILURE() << "an enum read as an integer";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("ut1_mood"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)(r->get<std::tuple<std::string, std::int32_t>>("m")), aw::pg::type_error);
  });
}

TEST(PgUserTypes, LookedUpOncePerConnectionAndNeverForBuiltIns) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c, "ut2");
    // queries() counts each statement run and each one prepared (the statement cache's).
    const char* builtin = "SELECT 1, 'x'::text, now(), ARRAY[1.5]";
    (void)co_await c.fetch(builtin);
    std::uint64_t before = c.queries();
    (void)co_await c.fetch(builtin);
    EXPECT_EQ(c.queries() - before, 1u);
    before = c.queries();
    auto first = co_await c.fetchval<std::string>("SELECT 'happy'::ut2_mood");
    EXPECT_EQ(c.queries() - before, 4u);  // the statement prepared and run, then the lookup prepared and run
    EXPECT_EQ(first, "happy");
    before = c.queries();
    auto again = co_await c.fetchrow("SELECT 'sad'::ut2_mood AS m");
    EXPECT_EQ(c.queries() - before, 2u);  // prepared and run: no lookup
    EXPECT_EQ((*again)["m"].type_name(), "ut2_mood");
  });
}

TEST(PgUserTypes, ReloadSchemaStateSeesATypeRenamedOrMadeAgain) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("DROP TYPE IF EXISTS ut3_shape, ut3_form CASCADE");
    co_await c.execute("CREATE TYPE ut3_shape AS ENUM ('circle', 'square')");
    auto r = co_await c.fetchrow("SELECT 'circle'::ut3_shape AS s");
    EXPECT_EQ((*r)["s"].type_name(), "ut3_shape");

    // Renamed: the same OID, so the connection's description of it is stale until reloaded.
    co_await c.execute("ALTER TYPE ut3_shape RENAME TO ut3_form");
    r = co_await c.fetchrow("SELECT 'circle'::ut3_form AS s");
    EXPECT_EQ((*r)["s"].type_name(), "ut3_shape");
    c.reload_schema_state();
    r = co_await c.fetchrow("SELECT 'circle'::ut3_form AS s");
    EXPECT_EQ((*r)["s"].type_name(), "ut3_form");

    // Dropped and made again with the same name, as a composite now.
    co_await c.execute("DROP TYPE ut3_form");
    co_await c.execute("CREATE TYPE ut3_form AS (x integer, y text)");
    c.reload_schema_state();
    r = co_await c.fetchrow("SELECT ROW(1, 'a b')::ut3_form AS s");
    EXPECT_EQ((*r)["s"].type_name(), "ut3_form");
    EXPECT_EQ((*r)["s"].to_string(), "(1,\"a b\")");
    EXPECT_EQ((r->get<std::tuple<std::int32_t, std::string>>("s")), (std::tuple<std::int32_t, std::string>{1, "a b"}));
  });
}

// The lookup is a query: cancelled while it waits (here for a lock another session holds on
// pg_type), it is cancelled on the server, the statement raises aw::cancelled, and the
// connection is usable, the type looked up again the next time.
TEST(PgUserTypes, CancelledDuringTheLookup) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c, "ut4");
    // Once, so that the server plans the statement while it can read pg_type.
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 'sad'::ut4_mood"), "sad");
    c.reload_schema_state();
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 'sad'::ut4_mood"), "sad");  // prepares the lookup too
    c.reload_schema_state();
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& locker) -> aw::task<> {
      co_await locker.execute("BEGIN");
      co_await locker.execute("LOCK TABLE pg_catalog.pg_type IN ACCESS EXCLUSIVE MODE");
      aw::cancel_scope scope;
      bool waited = false;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { (void)co_await c.fetch("SELECT 'sad'::ut4_mood"); });
        });
        for (int i = 0; i < 2000 && !waited; ++i) {
          co_await aw::sleep(5ms);
          waited = co_await locker.fetchval<bool>(
              "SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock' AND query LIKE '%pg_type%'",
              c.backend_pid());
        }
        scope.cancel();
      });
      EXPECT_TRUE(waited);
      EXPECT_TRUE(scope.cancelled_caught());
      co_await locker.execute("ROLLBACK");
    });
    EXPECT_FALSE(c.is_closed());
    auto r = co_await c.fetchrow("SELECT 'so so'::ut4_mood AS m");
    EXPECT_EQ((*r)["m"].type_name(), "ut4_mood");
    EXPECT_EQ(r->get<std::string>("m"), "so so");
  });
}

// Statements pipelined on one connection, each the first with its type: every one reads
// its values by the looked-up types.
TEST(PgUserTypes, PipelinedStatementsLookTheirTypesUp) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c, "ut5");
    int ok = 0;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 16; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          if (i % 2) {
            auto r = co_await c.fetchrow("SELECT ARRAY[$1::int]::ut5_posint[] AS a", i);
            EXPECT_EQ((*r)["a"].type_name(), "ut5_posint[]");
            EXPECT_EQ(r->get<std::vector<std::int32_t>>("a"), std::vector<std::int32_t>{i});
          } else {
            auto r = co_await c.fetchrow("SELECT ROW('happy', $1::int + 1)::ut5_pair AS p", i);
            EXPECT_EQ((*r)["p"].type_name(), "ut5_pair");
            EXPECT_EQ((*r)["p"].to_string(), "(happy," + std::to_string(i + 1) + ")");
          }
          ++ok;
        });
      co_return;
    });
    EXPECT_EQ(ok, 16);
  });
}

TEST(PgUserTypes, CursorRows) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c, "ut7");
    co_await c.execute("BEGIN");
    std::vector<std::string> seen;
    co_await aw::async_with(c.cursor({.prefetch = 2}, "SELECT ROW(m, 1)::ut7_pair AS p FROM unnest(enum_range(NULL::ut7_mood)) m"),
                            [&](aw::pg::cursor& cur) -> aw::task<> {
                              while (std::optional<aw::pg::record> r = co_await cur.next()) {
                                EXPECT_EQ((*r)["p"].type_name(), "ut7_pair");
                                seen.push_back((*r)["p"].to_string());
                              }
                            });
    co_await c.execute("COMMIT");
    EXPECT_EQ(seen, (std::vector<std::string>{"(happy,1)", "(sad,1)", "(\"so so\",1)"}));
  });
}

TEST(PgUserTypes, PooledConnectionsAndPreparedStatements) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& c) -> aw::task<> { co_await make_types(c, "ut6"); });
    aw::pg::pool_options o;
    o.min_size = 1;
    o.max_size = 2;
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), std::move(o)), [&](aw::pg::pool& p) -> aw::task<> {
      aw::pg::result rows = co_await p.fetch("SELECT unnest(ARRAY['happy', 'sad']::ut6_mood[]) AS m");
      PG_CO_ASSERT_EQ(rows.size(), 2u);
      EXPECT_EQ(rows[1]["m"].type_name(), "ut6_mood");
      EXPECT_EQ(rows[1].get<std::string>(0), "sad");
      co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
        auto st = co_await c.prepare("SELECT ROW($1::text, 2)::ut6_pair AS p");
        auto r = co_await st.fetchrow(std::string("so so"));
        EXPECT_EQ((*r)["p"].type_name(), "ut6_pair");
        EXPECT_EQ((*r)["p"].to_string(), "(\"so so\",2)");
      });
    });
  });
}

}  // namespace
