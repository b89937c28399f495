// Cursors: iteration in batches of `prefetch`, the awaited form's fetch/fetchrow/forward,
// the portal closed on every path (end of rows, early exit, destructor, exception), the
// error outside a transaction, server errors and cancellation in the middle of a FETCH.
#include <aw/debug.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

// Portals open on the connection (the server's view).
aw::task<std::int64_t> open_portals(aw::pg::connection& c) {
  co_return co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_cursors WHERE name LIKE 'aw_c%'");
}

// Runs body inside a transaction block.
template <class Body>
aw::task<> in_transaction(aw::pg::connection& c, Body body) {
  co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> { co_await body(); });
}

// AW_DEBUG: the managers of aw::pg made and never entered are reported when dropped; ones
// entered, and a cursor opened by co_await (moved out of the one awaited), are not.
TEST(PgCursor, TheDebugModeReportsManagersNeverEntered) {
  bool was = aw::debug_enabled();
  aw::set_debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    {
      auto forgotten = c.transaction();
    }
    {
      auto forgotten = c.listen("jobs");
    }
    {
      auto forgotten = c.cursor("SELECT 1");
    }
    co_await in_transaction(c, [&]() -> aw::task<> {
      aw::pg::cursor cur = co_await c.cursor("SELECT g FROM generate_series(1, 3) g");
      EXPECT_EQ((co_await cur.fetch(2)).size(), 2u);
      co_await aw::async_with(c.cursor("SELECT 1"), [](aw::pg::cursor&) -> aw::task<> { co_return; });
    });
    aw::pg::pool_options o;  // (named: g++ 12 and aggregate temporaries in co_await)
    o.min_size = 1;
    o.max_size = 1;
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), std::move(o)), [](aw::pg::pool& p) -> aw::task<> {
      {
        auto forgotten = p.acquire();
      }
      co_await aw::async_with(p.acquire(), [](aw::pg::connection&) -> aw::task<> { co_return; });
    });
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(was);
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered + 4);
  for (const char* type : {"aw::pg::transaction", "aw::pg::listener", "aw::pg::cursor", "aw::pg::pool::acquire_manager"})
    EXPECT_NE(err.find(std::string("aw: manager ") + type + " was created but never entered\n"), std::string::npos) << type << "\n" << err;
}

TEST(PgCursor, IteratesInManyBatches) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::vector<aw::pg::record> kept;
    co_await in_transaction(c, [&]() -> aw::task<> {
      co_await aw::async_with(c.cursor({.prefetch = 7}, "SELECT g, 'row ' || g FROM generate_series(1, $1::int) g", 1000),
                              [&](aw::pg::cursor& cur) -> aw::task<> {
                                EXPECT_TRUE(cur.is_open());
                                std::int64_t n = 0, sum = 0;
                                while (std::optional<aw::pg::record> r = co_await cur.next()) {
                                  ++n;
                                  sum += r->get<std::int32_t>(0);
                                  if (n % 100 == 1) kept.push_back(std::move(*r));
                                }
                                EXPECT_EQ(n, 1000);
                                EXPECT_EQ(sum, 500500);
                                EXPECT_FALSE(cur.is_open());  // the end of the rows closed the portal
                                EXPECT_FALSE(co_await cur.next());
                              });
      EXPECT_EQ(co_await open_portals(c), 0);
    });
    // The records own their rows: they outlive the cursor and its transaction.
    PG_CO_ASSERT_EQ(kept.size(), 10u);
    EXPECT_EQ(kept[3].get<std::int32_t>(0), 301);
    EXPECT_EQ(kept[3].get<std::string>(1), "row 301");
    EXPECT_EQ(kept[9].get<std::int32_t>(0), 901);
  });
}

TEST(PgCursor, DefaultPrefetchAndExactMultiple) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await in_transaction(c, [&]() -> aw::task<> {
      auto cur = c.cursor("SELECT g FROM generate_series(1, 100) g");  // two full batches of 50, then none
      int n = 0;
      while (auto r = co_await cur.next()) EXPECT_EQ(r->get<std::int32_t>(0), ++n);
      EXPECT_EQ(n, 100);
      EXPECT_FALSE(cur.is_open());
      EXPECT_EQ(co_await open_portals(c), 0);
    });
  });
}

TEST(PgCursor, AwaitedFormFetchFetchrowForward) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await in_transaction(c, [&]() -> aw::task<> {
      aw::pg::cursor cur = co_await c.cursor("SELECT g, $1::text FROM generate_series(1, 100) g", "it's");
      EXPECT_TRUE(cur.is_open());
      EXPECT_EQ(co_await open_portals(c), 1);
      EXPECT_EQ(co_await cur.forward(10), 10u);
      aw::pg::result rows = co_await cur.fetch(5);
      PG_CO_ASSERT_EQ(rows.size(), 5u);
      EXPECT_EQ(rows[0].get<std::int32_t>(0), 11);
      EXPECT_EQ(rows[4].get<std::int32_t>(0), 15);
      EXPECT_EQ(rows[4].get<std::string>(1), "it's");
      auto one = co_await cur.fetchrow();
      PG_CO_ASSERT_TRUE(one);
      EXPECT_EQ(one->get<std::int32_t>(0), 16);
      EXPECT_EQ(co_await cur.forward(1000), 84u);
      EXPECT_FALSE(co_await cur.fetchrow());
      EXPECT_EQ((co_await cur.fetch(3)).size(), 0u);
      co_await cur.close();
      EXPECT_FALSE(cur.is_open());
      EXPECT_EQ(co_await open_portals(c), 0);
      EXPECT_THROW(co_await cur.fetch(1), aw::pg::interface_error);
      EXPECT_THROW(co_await cur.next(), aw::pg::interface_error);
    });
  });
}

TEST(PgCursor, LeavingTheLoopEarlyClosesThePortal) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await in_transaction(c, [&]() -> aw::task<> {
      co_await aw::async_with(c.cursor("SELECT g FROM generate_series(1, 1000) g"), [&](aw::pg::cursor& cur) -> aw::task<> {
        for (int i = 0; i < 3; ++i) co_await cur.next();
        EXPECT_EQ(co_await open_portals(c), 1);
      });  // break out of the loop: the exit closes the portal
      EXPECT_EQ(co_await open_portals(c), 0);
      {
        auto cur = c.cursor("SELECT g FROM generate_series(1, 1000) g");
        co_await cur.next();
        EXPECT_EQ(co_await open_portals(c), 1);
      }  // dropped: CLOSE goes out before the next statement
      EXPECT_EQ(co_await open_portals(c), 0);
    });
  });
}

TEST(PgCursor, AnExceptionInTheBodyClosesThePortal) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await in_transaction(c, [&]() -> aw::task<> {
      EXPECT_THROW(co_await aw::async_with(c.cursor("SELECT g FROM generate_series(1, 1000) g"),
                                           [&](aw::pg::cursor& cur) -> aw::task<> {
                                             co_await cur.next();
                                             throw std::runtime_error("body failed");
                                           }),
                   std::runtime_error);
      EXPECT_EQ(co_await open_portals(c), 0);
    });
  });
}

TEST(PgCursor, OutsideATransactionIsAnInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto cur = c.cursor("SELECT 1");
    EXPECT_THROW(co_await cur.next(), aw::pg::interface_error);
    EXPECT_THROW((void)co_await c.cursor("SELECT 1"), aw::pg::interface_error);
    EXPECT_THROW(co_await aw::async_with(c.cursor("SELECT 1"), [](aw::pg::cursor&) -> aw::task<> { co_return; }), aw::pg::interface_error);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
    EXPECT_THROW((void)c.cursor({.prefetch = 0}, "SELECT 1"), aw::pg::interface_error);
  });
}

TEST(PgCursor, AfterItsTransactionEndedIsAnInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto cur = c.cursor({.prefetch = 2}, "SELECT g FROM generate_series(1, 10) g");
    co_await in_transaction(c, [&]() -> aw::task<> { co_await cur.next(); });
    EXPECT_THROW(co_await cur.fetch(1), aw::pg::interface_error);
    // Dropping it sends nothing: the portal went with the transaction, and a CLOSE would fail.
    co_await in_transaction(c, [&]() -> aw::task<> {
      {
        auto moved = std::move(cur);
      }
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
    });
  });
}

TEST(PgCursor, DroppedAfterItsSavepointRolledBackSendsNoClose) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await in_transaction(c, [&]() -> aw::task<> {
      std::optional<aw::pg::cursor> cur;
      EXPECT_THROW(co_await aw::async_with(c.transaction(),
                                           [&](aw::pg::transaction& sp) -> aw::task<> {
                                             EXPECT_TRUE(sp.is_savepoint());
                                             cur.emplace(c.cursor("SELECT g FROM generate_series(1, 10) g"));
                                             co_await cur->next();
                                             throw std::runtime_error("roll the savepoint back");
                                           }),
                   std::runtime_error);
      cur.reset();  // the portal went with the savepoint: a CLOSE now would abort the transaction
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
      EXPECT_TRUE(c.in_transaction());
    });
  });
}

TEST(PgCursor, ServerErrors) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    // In DECLARE.
    EXPECT_THROW(co_await in_transaction(c, [&]() -> aw::task<> { (void)co_await c.cursor("SELECT * FROM no_such_table"); }),
                 aw::pg::undefined_table);
    EXPECT_FALSE(c.in_transaction());
    // In the middle of the rows: the batch holding row 60 fails.
    int rows = 0;
    EXPECT_THROW(co_await in_transaction(c,
                                         [&]() -> aw::task<> {
                                           co_await aw::async_with(
                                               c.cursor({.prefetch = 25}, "SELECT 1 / (g - 60) FROM generate_series(1, 100) g"),
                                               [&](aw::pg::cursor& cur) -> aw::task<> {
                                                 while (co_await cur.next()) ++rows;
                                               });
                                         }),
                 aw::pg::division_by_zero);
    EXPECT_EQ(rows, 50);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgCursor, CancelledInTheMiddleOfAFetch) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    int rows = 0;
    aw::cancel_scope scope;
    aw::event got_first_batch;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          co_await in_transaction(c, [&]() -> aw::task<> {
            // The second FETCH runs into a 60-second sleep on the server.
            co_await aw::async_with(c.cursor("SELECT g, pg_sleep(CASE WHEN g = 70 THEN 60 ELSE 0 END) FROM generate_series(1, 100) g"),
                                    [&](aw::pg::cursor& cur) -> aw::task<> {
                                      while (co_await cur.next()) {
                                        if (++rows == 50) got_first_batch.set();
                                      }
                                    });
          });
        });
      });
      co_await got_first_batch.wait();
      co_await aw::sleep(50ms);
      scope.cancel();
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(rows, 50);
    EXPECT_FALSE(c.is_closed());
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await open_portals(c), 0);
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      auto q = co_await other.fetchval<std::string>("SELECT query FROM pg_stat_activity WHERE pid = $1", c.backend_pid());
      EXPECT_EQ(q.find("pg_sleep"), std::string::npos) << q;
    });
  });
}

TEST(PgCursor, ClosedConnectionDetachesTheCursor) {
  std::optional<aw::pg::cursor> outlives;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& c) -> aw::task<> {
      co_await c.execute("BEGIN");
      outlives.emplace(c.cursor({.prefetch = 2}, "SELECT g FROM generate_series(1, 10) g"));
      co_await outlives->next();
    });
    // The connection is gone: the cursor knows, and neither using nor dropping it touches it.
    EXPECT_THROW(co_await outlives->fetch(1), aw::pg::interface_error);
  });
  outlives.reset();
}

}  // namespace
