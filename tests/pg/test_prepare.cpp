// conn.prepare(): running a prepared statement with arguments, its descriptions, re-preparing
// after a schema change, argument checks, failures and cancellation.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

TEST(PgPrepare, RunsWithArgumentsManyTimes) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE users (id int, name text)");
    aw::pg::prepared_statement insert = co_await c.prepare("INSERT INTO users VALUES ($1, $2)");
    for (std::int32_t i = 1; i <= 3; ++i) {
      std::string name = "user" + std::to_string(i);  // named: no temporaries in co_await (g++ 12)
      EXPECT_EQ(co_await insert.execute(i, name), "INSERT 0 1");
    }
    aw::pg::prepared_statement by_id = co_await c.prepare("SELECT name FROM users WHERE id = $1");
    EXPECT_EQ(co_await by_id.fetchval<std::string>(std::int32_t{2}), "user2");
    auto row = co_await by_id.fetchrow(std::int32_t{3});
    EXPECT_TRUE(row && row->get<std::string>("name") == "user3");
    EXPECT_FALSE((co_await by_id.fetchrow(std::int32_t{9})).has_value());
    EXPECT_EQ((co_await by_id.fetchval<std::optional<std::string>>(std::int32_t{9})), std::nullopt);
    EXPECT_THROW(co_await by_id.fetchval<std::string>(std::int32_t{9}), aw::pg::interface_error);
    aw::pg::prepared_statement all = co_await c.prepare("SELECT id FROM users ORDER BY id");
    auto rows = co_await all.fetch();
    EXPECT_EQ(rows.size(), 3u);
  });
}

TEST(PgPrepare, DescribesParametersAndColumns) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto st = co_await c.prepare("SELECT $1::bigint AS n, $2::text AS s, true AS b");
    EXPECT_EQ(st.parameter_types(), (std::vector<aw::pg::oid>{aw::pg::oids::int8, aw::pg::oids::text}));
    EXPECT_EQ(st.columns(), 3u);
    EXPECT_EQ(st.column_name(0), "n");
    EXPECT_EQ(st.column_type(1), aw::pg::oids::text);
    EXPECT_EQ(st.column_type(2), aw::pg::oids::bool_);
    EXPECT_EQ(st.query(), "SELECT $1::bigint AS n, $2::text AS s, true AS b");
    EXPECT_FALSE(st.name().empty());
    auto r = co_await st.fetchrow(std::int64_t{7}, "x");
    EXPECT_TRUE(r && r->get<std::int64_t>(0) == 7 && r->get<std::string>(1) == "x");
    auto none = co_await c.prepare("CREATE TEMP TABLE nothing (v int)");
    EXPECT_EQ(none.columns(), 0u);
    EXPECT_TRUE(none.parameter_types().empty());
  });
}

TEST(PgPrepare, DestroyedStatementsAreFreedOnTheServer) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::string name;
    {
      auto st = co_await c.prepare("SELECT 1");
      name = st.name();
    }
    auto again = co_await c.prepare("SELECT 2");  // frees the first on the way
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements WHERE name = $1", name), 0);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements WHERE name = $1", again.name()), 1);
  });
}

TEST(PgPrepare, SchemaChangeRepreparesOutsideATransaction) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE t (a int); INSERT INTO t VALUES (1)");
    auto st = co_await c.prepare("SELECT * FROM t WHERE a = $1");
    EXPECT_EQ((co_await st.fetch(std::int32_t{1})).columns(), 1u);
    co_await c.execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'x'");
    auto r = co_await st.fetch(std::int32_t{1});
    EXPECT_EQ(r.columns(), 2u);
    EXPECT_EQ(st.columns(), 2u);
    co_await c.execute("ALTER TABLE t ADD COLUMN c int");
    // Inside a transaction the statement cannot be retried: the error reaches the block.
    EXPECT_THROW(
        co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> { (void)co_await st.fetch(std::int32_t{1}); }),
        aw::pg::invalid_cached_statement);
    EXPECT_EQ((co_await st.fetch(std::int32_t{1})).columns(), 3u);  // and outside, re-prepared again
  });
}

TEST(PgPrepare, WrongArgumentsAreRefusedBeforeSending) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto st = co_await c.prepare("SELECT $1::int + 1");
    EXPECT_THROW(co_await st.fetchval<std::int32_t>(), aw::pg::interface_error);
    EXPECT_THROW(co_await st.fetchval<std::int32_t>(std::int32_t{1}, std::int32_t{2}), aw::pg::interface_error);
    try {
      (void)co_await st.fetchval<std::int32_t>(std::int64_t{1});
      ADD_FAILURE() << "a bigint argument for an integer parameter was accepted";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("parameter $1"), std::string::npos) << e.what();
    }
    EXPECT_EQ(co_await st.fetchval<std::int32_t>("41"), 42);  // text fits any type
    EXPECT_EQ(co_await st.fetchval<std::int32_t>(std::int32_t{41}), 42);
  });
}

TEST(PgPrepare, ServerErrorsAreTyped) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await c.prepare("SELEC 1"), aw::pg::syntax_error);
    EXPECT_THROW(co_await c.prepare("SELECT * FROM no_such_table"), aw::pg::undefined_table);
    auto st = co_await c.prepare("SELECT 1 / $1::int");
    EXPECT_THROW(co_await st.fetchval<std::int32_t>(std::int32_t{0}), aw::pg::division_by_zero);
    EXPECT_EQ(co_await st.fetchval<std::int32_t>(std::int32_t{1}), 1);  // still usable
  });
}

TEST(PgPrepare, CancelledRunIsCancelledOnTheServer) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto st = co_await c.prepare("SELECT 1 FROM pg_sleep($1)");
    const double long_sleep = 60.0;  // an lvalue: the lazy task keeps a reference to its arguments
    auto r = co_await aw::move_on_after(50ms, [&]() { return st.fetchval<std::int32_t>(long_sleep); });
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(co_await st.fetchval<std::int32_t>(0.0), 1);
  });
}

TEST(PgPrepare, CancelledPrepareRunsNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    bool done = co_await aw::move_on_after(0s, [&]() -> aw::task<> { (void)co_await c.prepare("SELECT 1"); });
    EXPECT_FALSE(done);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'aw_p%'"), 0);
  });
}

TEST(PgPrepare, ClosedConnectionRaisesInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto st = co_await c.prepare("SELECT 1");
    c.close();
    EXPECT_THROW(co_await st.fetch(), aw::pg::interface_error);
    EXPECT_THROW(co_await c.prepare("SELECT 1"), aw::pg::interface_error);
  });
}

TEST(PgPrepare, MovedFromStatementRaisesInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto st = co_await c.prepare("SELECT 1");
    auto moved = std::move(st);
    EXPECT_THROW(co_await st.fetch(), aw::pg::interface_error);  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(co_await moved.fetchval<std::int32_t>(), 1);
  });
}

}  // namespace
