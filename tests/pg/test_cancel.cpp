// Cancellation at every wait: a statement interrupted by a cancel scope or a timeout is
// cancelled on the server, and the connection is usable afterwards.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

// The connection is idle on the server: nothing of the cancelled statement still runs.
aw::task<> expect_idle(aw::pg::connection& c) {
  EXPECT_FALSE(c.is_closed());
  EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
    auto q = co_await other.fetchval<std::string>("SELECT query FROM pg_stat_activity WHERE pid = $1", c.backend_pid());
    EXPECT_EQ(q.find("pg_sleep"), std::string::npos) << q;
  });
}

TEST(PgCancel, MoveOnAfterCancelsOnTheServer) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto r = co_await aw::move_on_after(50ms, [&]() { return c.fetchval<std::int32_t>("SELECT 1 FROM pg_sleep(60)"); });
    EXPECT_FALSE(r.has_value());
    co_await expect_idle(c);
  });
}

TEST(PgCancel, FailAfterRaisesTimeoutError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await aw::fail_after(50ms, [&]() { return c.execute("SELECT pg_sleep(60)"); }), aw::timeout_error);
    co_await expect_idle(c);
  });
}

TEST(PgCancel, CancelScopeFromAnotherTask) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await c.fetch("SELECT pg_sleep(60)"); });
      });
      co_await aw::sleep(50ms);
      scope.cancel();
    });
    EXPECT_TRUE(scope.cancelled_caught());
    co_await expect_idle(c);
  });
}

TEST(PgCancel, AlreadyCancelledScopeRunsNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE once (v int)");
    bool done = co_await aw::move_on_after(0s, [&]() -> aw::task<> { co_await c.execute("INSERT INTO once VALUES ($1)", 1); });
    EXPECT_FALSE(done);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM once"), 0);
  });
}

TEST(PgCancel, SimpleProtocolStatement) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    bool done = co_await aw::move_on_after(50ms, [&]() -> aw::task<> { co_await c.execute("SELECT pg_sleep(60); SELECT 1"); });
    EXPECT_FALSE(done);
    co_await expect_idle(c);
  });
}

TEST(PgCancel, QueuedQueryCancelledWhileWaitingForTheConnection) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await c.execute("SELECT pg_sleep(0.2)"); });
      co_await aw::yield();
      auto r = co_await aw::move_on_after(20ms, [&]() { return c.fetchval<std::int32_t>("SELECT 5"); });
      EXPECT_FALSE(r.has_value());
    });
    co_await expect_idle(c);
  });
}

TEST(PgCancel, ExecutemanyCancelledDiscardsTheConnection) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TABLE IF NOT EXISTS aw_many_cancel (v int)");
    std::vector<std::tuple<std::int32_t>> rows;
    for (int i = 0; i < 200000; ++i) rows.emplace_back(i);
    bool done =
        co_await aw::move_on_after(5ms, [&]() -> aw::task<> { co_await c.executemany("INSERT INTO aw_many_cancel VALUES ($1)", rows); });
    // Cancelled inside the pipeline: closed (never left half way through one). Cancelled
    // before it began (while preparing, on a slow machine): cancelled on the server and
    // usable, with nothing inserted.
    if (!done && !c.is_closed()) co_await expect_idle(c);
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      auto n = co_await other.fetchval<std::int64_t>("SELECT count(*) FROM aw_many_cancel");
      EXPECT_TRUE(n == 0 || n == 200000) << n;  // all or nothing
      co_await other.execute("DROP TABLE aw_many_cancel");
    });
  });
}

}  // namespace
