// The pool: borrowing and giving back, exhaustion and timeouts, reset of what a borrower
// left behind, broken connections replaced, cancelled acquires that keep nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::dsn;

namespace {

aw::pg::pool_options sized(std::size_t min, std::size_t max) {
  aw::pg::pool_options o;
  o.min_size = min;
  o.max_size = max;
  return o;
}

template <class Body>
void with_pool(aw::pg::pool_options o, Body body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::create_pool(dsn(), std::move(o)), [&](aw::pg::pool& p) -> aw::task<> { co_await body(p); });
  });
}

TEST(PgPool, OpensMinSizeAndQueries) {
  with_pool(sized(2, 4), [](aw::pg::pool& p) -> aw::task<> {
    EXPECT_EQ(p.size(), 2u);
    EXPECT_EQ(p.idle_size(), 2u);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT $1::int + 1", 41), 42);
    auto rows = co_await p.fetch("SELECT generate_series(1, 3)");
    EXPECT_EQ(rows.size(), 3u);
    auto r = co_await p.fetchrow("SELECT 'x' AS a");
    EXPECT_EQ(r->get<std::string>("a"), "x");
    EXPECT_EQ(co_await p.execute("SELECT 1"), "SELECT 1");
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
      EXPECT_EQ(p.idle_size(), 1u);
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 7"), 7);
    });
    EXPECT_EQ(p.idle_size(), 2u);
  });
}

TEST(PgPool, ManyTasksShareFewConnections) {
  with_pool(sized(0, 4), [](aw::pg::pool& p) -> aw::task<> {
    std::set<int> pids;
    std::int64_t sum = 0;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 64; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
            pids.insert(c.backend_pid());
            sum += co_await c.fetchval<std::int32_t>("SELECT $1::int", i);
            EXPECT_LE(p.size(), 4u);
          });
        });
      co_return;
    });
    EXPECT_EQ(sum, 63 * 64 / 2);
    EXPECT_LE(pids.size(), 4u);
    EXPECT_EQ(p.size(), p.idle_size());
  });
}

TEST(PgPool, ExhaustedPoolTimesOut) {
  with_pool(sized(1, 1), [](aw::pg::pool& p) -> aw::task<> {
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection&) -> aw::task<> {
      EXPECT_THROW(co_await aw::async_with(p.acquire(10ms), [](aw::pg::connection&) -> aw::task<> { co_return; }), aw::timeout_error);
    });
    // Released: the next acquire with a timeout gets it.
    co_await aw::async_with(p.acquire(10s), [](aw::pg::connection& c) -> aw::task<> {
      EXPECT_FALSE(c.is_closed());
      co_return;
    });
  });
}

TEST(PgPool, CancelledAcquireKeepsNothing) {
  with_pool(sized(1, 1), [](aw::pg::pool& p) -> aw::task<> {
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection&) -> aw::task<> {
      bool done = co_await aw::move_on_after(
          20ms, [&]() -> aw::task<> { co_await aw::async_with(p.acquire(), [](aw::pg::connection&) -> aw::task<> { co_return; }); });
      EXPECT_FALSE(done);
    });
    EXPECT_EQ(p.idle_size(), 1u);
    // Cancelled while a new connection is being opened: the slot comes back.
    co_await aw::async_with(p.acquire(), [](aw::pg::connection& c) -> aw::task<> {
      c.close();  // broken: the pool will open a new one next time
      co_return;
    });
    EXPECT_EQ(p.size(), 0u);
    bool done = co_await aw::move_on_after(0s, [&]() -> aw::task<> { co_await p.fetchval<std::int32_t>("SELECT 1"); });
    EXPECT_FALSE(done);
    EXPECT_EQ(p.size(), 0u);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT 1"), 1);
    EXPECT_EQ(p.size(), 1u);
  });
}

TEST(PgPool, ReleasedConnectionIsReset) {
  with_pool(sized(1, 1), [](aw::pg::pool& p) -> aw::task<> {
    int pid = 0;
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
      pid = c.backend_pid();
      co_await c.execute("BEGIN");
      co_await c.execute("SET application_name = 'dirty'");
      co_await c.execute("LISTEN some_channel");
      EXPECT_TRUE(c.in_transaction());
    });
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
      EXPECT_EQ(c.backend_pid(), pid);  // the same connection, cleaned
      EXPECT_FALSE(c.in_transaction());
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_setting('application_name')"), "asyncwith");
      EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_listening_channels()"), 0);
    });
  });
}

TEST(PgPool, BodyExceptionReleasesTheConnection) {
  with_pool(sized(1, 1), [](aw::pg::pool& p) -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(p.acquire(),
                                         [&](aw::pg::connection& c) -> aw::task<> {
                                           co_await c.execute("BEGIN");
                                           throw std::runtime_error("body");
                                         }),
                 std::runtime_error);
    EXPECT_EQ(p.idle_size(), 1u);
    EXPECT_THROW(co_await p.execute("SELECT 1/0"), aw::pg::division_by_zero);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgPool, BrokenConnectionIsReplaced) {
  with_pool(sized(1, 1), [](aw::pg::pool& p) -> aw::task<> {
    int pid = co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()");
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      co_await other.execute("SELECT pg_terminate_backend($1)", pid);
      // Until the server process is gone (and so has closed the socket).
      while (co_await other.fetchval<std::int64_t>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) > 0)
        co_await aw::sleep(5ms);
    });
    // The pool notices a dead idle connection before lending it out once the end of its
    // socket is visible; until then the query on it raises connection_lost (never lost
    // silently), and the pool replaces it.
    int pid2 = 0;
    bool lost = false;
    try {
      pid2 = co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()");
    } catch (const aw::pg::connection_lost&) {
      lost = true;
    }
    if (lost) pid2 = co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()");
    EXPECT_NE(pid, pid2);
    EXPECT_EQ(p.size(), 1u);
  });
}

TEST(PgPool, MaxQueriesReplacesTheConnection) {
  auto o = sized(1, 1);
  o.max_queries = 3;
  with_pool(o, [](aw::pg::pool& p) -> aw::task<> {
    std::set<int> pids;
    for (int i = 0; i < 6; ++i) pids.insert(co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()"));
    EXPECT_GE(pids.size(), 2u);
  });
}

TEST(PgPool, InitAndSetup) {
  auto o = sized(1, 2);
  int inits = 0, setups = 0;
  o.init = [&](aw::pg::connection& c) -> aw::task<> {
    ++inits;
    co_await c.execute("SET search_path = pg_catalog");
  };
  o.setup = [&](aw::pg::connection&) -> aw::task<> {
    ++setups;
    co_return;
  };
  with_pool(o, [&](aw::pg::pool& p) -> aw::task<> {
    EXPECT_EQ(inits, 1);
    co_await p.fetchval<std::int32_t>("SELECT 1");
    co_await p.fetchval<std::int32_t>("SELECT 1");
    EXPECT_EQ(setups, 2);
  });
}

TEST(PgPool, BadOptionsAndClosedPool) {
  EXPECT_THROW((void)aw::pg::create_pool(dsn(), sized(3, 2)), std::invalid_argument);
  EXPECT_THROW((void)aw::pg::create_pool(dsn(), sized(0, 0)), std::invalid_argument);
  const std::string refused = "host=127.0.0.1 port=" + std::to_string(pg_test::refused_port());
  aw::run([&]() -> aw::task<> {
    aw::pg::pool p(dsn(), sized(0, 1));
    EXPECT_THROW(co_await p.fetchval<std::int32_t>("SELECT 1"), aw::pg::interface_error);
    EXPECT_THROW(co_await aw::async_with(aw::pg::create_pool(refused, sized(1, 1)), [](aw::pg::pool&) -> aw::task<> { co_return; }),
                 aw::pg::connection_error);
  });
}

}  // namespace

namespace {

// Idle connections past max_inactive_connection_lifetime are closed by the pool's timer,
// with no activity on the pool, down to min_size (the sleeps only order the loop's timers:
// the reaper's deadline comes before the sleep's).
TEST(PgPool, IdleConnectionsAreClosedAfterTheirLifetime) {
  auto o = sized(1, 4);
  o.max_inactive_connection_lifetime = 100ms;
  with_pool(std::move(o), [](aw::pg::pool& p) -> aw::task<> {
    std::vector<int> pids;
    // Three borrowed at once: the pool opens two more.
    co_await aw::async_with(p.acquire(), p.acquire(), p.acquire(),
                            [&](aw::pg::connection& a, aw::pg::connection& b, aw::pg::connection& c) -> aw::task<> {
                              pids = {a.backend_pid(), b.backend_pid(), c.backend_pid()};
                              co_return;
                            });
    EXPECT_EQ(p.size(), 3u);
    EXPECT_EQ(p.idle_size(), 3u);
    co_await aw::sleep(400ms);
    EXPECT_EQ(p.size(), 1u);  // min_size stays
    EXPECT_EQ(p.idle_size(), 1u);
    // The server saw two of them go (their backends end once they read the goodbye).
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      std::int64_t alive = 0;
      for (int i = 0; i < 200; ++i) {
        alive = co_await other.fetchval<std::int64_t>("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids);
        if (alive == 1) break;
        co_await aw::sleep(10ms);
      }
      EXPECT_EQ(alive, 1);
    });
    // The pool still works, opening again as needed.
    co_await aw::async_with(p.acquire(), p.acquire(), [&](aw::pg::connection& a, aw::pg::connection& b) -> aw::task<> {
      EXPECT_EQ(co_await a.fetchval<std::int32_t>("SELECT 1"), 1);
      EXPECT_EQ(co_await b.fetchval<std::int32_t>("SELECT 2"), 2);
    });
    EXPECT_EQ(p.size(), 2u);
  });
}

// A connection in use is not idle: it is never closed under its borrower, and a lifetime
// of 0 turns the timer off.
TEST(PgPool, BorrowedConnectionsAndZeroLifetimeAreKept) {
  auto o = sized(0, 2);
  o.max_inactive_connection_lifetime = 50ms;
  with_pool(std::move(o), [](aw::pg::pool& p) -> aw::task<> {
    co_await aw::async_with(p.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
      co_await aw::sleep(200ms);
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
      EXPECT_EQ(p.size(), 1u);
    });
    co_await aw::sleep(200ms);
    EXPECT_EQ(p.size(), 0u);  // min_size 0: the last one goes too
  });
  auto keep = sized(0, 2);
  keep.max_inactive_connection_lifetime = 0ms;
  with_pool(std::move(keep), [](aw::pg::pool& p) -> aw::task<> {
    co_await p.execute("SELECT 1");
    co_await aw::sleep(100ms);
    EXPECT_EQ(p.size(), 1u);
  });
}

}  // namespace
