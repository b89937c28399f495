// LISTEN/NOTIFY: conn.listen(channel) as a manager yielding a stream of notifications;
// delivery per channel and in order, notifications received during other statements,
// UNLISTEN on leaving, cancellation of a waiting next(), and the failure paths.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

// Sends a notification from a connection of its own; gives that connection's backend pid.
aw::task<int> notify_from_other(std::string channel, std::string payload) {
  int pid = 0;
  co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
    co_await other.execute("SELECT pg_notify($1, $2)", channel, payload);
    pid = other.backend_pid();
  });
  co_return pid;
}

aw::task<std::int64_t> listening_channels(aw::pg::connection& c) {
  co_return co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_listening_channels()");
}

TEST(PgListen, ReceivesNotificationsFromAnotherConnectionInOrder) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("jobs"), [&](aw::pg::listener& jobs) -> aw::task<> {
      EXPECT_EQ(jobs.channel(), "jobs");
      int pid = co_await notify_from_other("jobs", "first");
      (void)co_await notify_from_other("jobs", "second");
      std::optional<aw::pg::notification> n = co_await jobs.next();
      EXPECT_TRUE(n.has_value());
      if (!n) co_return;
      EXPECT_EQ(n->channel, "jobs");
      EXPECT_EQ(n->payload, "first");
      EXPECT_EQ(n->pid, pid);
      n = co_await jobs.next();
      EXPECT_TRUE(n.has_value());
      if (n) {
        EXPECT_EQ(n->payload, "second");
      }
    });
  });
}

TEST(PgListen, NotificationsArrivingDuringAStatementAreKept) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("ch"), [&](aw::pg::listener& l) -> aw::task<> {
      // Delivered with this statement's results, read by the statement, not by next().
      co_await c.execute("SELECT pg_notify('ch', 'a'); SELECT pg_notify('ch', 'b'); SELECT pg_notify('other', 'x')");
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
      auto a = l.poll();
      EXPECT_TRUE(a.has_value());
      if (a) {
        EXPECT_EQ(a->payload, "a");
        EXPECT_EQ(a->pid, c.backend_pid());
      }
      auto b = co_await l.next();
      EXPECT_TRUE(b.has_value());
      if (b) {
        EXPECT_EQ(b->payload, "b");
      }
      EXPECT_FALSE(l.poll().has_value());
    });
  });
}

TEST(PgListen, EachListenerGetsItsChannelOnly) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("left"), c.listen("right"), c.listen("right"),
                            [&](aw::pg::listener& left, aw::pg::listener& right, aw::pg::listener& right2) -> aw::task<> {
                              EXPECT_EQ(co_await listening_channels(c), 2);
                              (void)co_await notify_from_other("right", "r");
                              (void)co_await notify_from_other("left", "l");
                              auto l = co_await left.next();
                              EXPECT_TRUE(l && l->payload == "l");
                              auto r = co_await right.next();
                              EXPECT_TRUE(r && r->payload == "r");
                              auto r2 = co_await right2.next();
                              EXPECT_TRUE(r2 && r2->payload == "r");
                              EXPECT_FALSE(left.poll().has_value());
                            });
  });
}

TEST(PgListen, LeavingRunsUnlistenOnceNoListenerIsLeft) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("shared"), [&](aw::pg::listener&) -> aw::task<> {
      co_await aw::async_with(c.listen("shared"), [&](aw::pg::listener&) -> aw::task<> { EXPECT_EQ(co_await listening_channels(c), 1); });
      EXPECT_EQ(co_await listening_channels(c), 1);  // the outer listener still listens
    });
    EXPECT_EQ(co_await listening_channels(c), 0);
  });
}

TEST(PgListen, ChannelNamesAreQuoted) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    const std::string name = "Mixed Case \"quoted\"; DROP TABLE x";
    co_await aw::async_with(c.listen(name), [&](aw::pg::listener& l) -> aw::task<> {
      (void)co_await notify_from_other(name, "ok");
      auto n = co_await l.next();
      EXPECT_TRUE(n.has_value());
      if (n) {
        EXPECT_EQ(n->channel, name);
      }
    });
  });
}

TEST(PgListen, NextAfterLeavingGivesNullopt) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::pg::listener l = c.listen("gone");
    co_await aw::async_with(l, [&](aw::pg::listener&) -> aw::task<> { co_await c.execute("NOTIFY gone, 'unread'"); });
    EXPECT_FALSE((co_await l.next()).has_value());
  });
}

TEST(PgListen, CancelledNextLeavesTheConnectionUsableAndLosesNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("quiet"), [&](aw::pg::listener& l) -> aw::task<> {
      auto r = co_await aw::move_on_after(50ms, [&]() { return l.next(); });
      EXPECT_FALSE(r.has_value());
      EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
      (void)co_await notify_from_other("quiet", "after");
      auto n = co_await l.next();
      EXPECT_TRUE(n && n->payload == "after");
    });
  });
}

TEST(PgListen, WaitingNextIsWokenByANotificationFromAnotherTask) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("wake"), [&](aw::pg::listener& l) -> aw::task<> {
      std::optional<aw::pg::notification> got;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { got = co_await l.next(); });
        co_await aw::sleep(20ms);  // let next() wait on the socket (either order is correct)
        (void)co_await notify_from_other("wake", "up");
      });
      EXPECT_TRUE(got && got->payload == "up");
    });
  });
}

TEST(PgListen, InvalidChannelNameRaisesTheServersError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(c.listen(""), [](aw::pg::listener&) -> aw::task<> { co_return; }), aw::pg::syntax_error);
    EXPECT_EQ(co_await listening_channels(c), 0);
  });
}

TEST(PgListen, ListenOnAClosedConnectionRaisesInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    c.close();
    EXPECT_THROW(co_await aw::async_with(c.listen("x"), [](aw::pg::listener&) -> aw::task<> { co_return; }), aw::pg::interface_error);
  });
}

TEST(PgListen, LostConnectionRaisesConnectionLost) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.listen("doomed"), [&](aw::pg::listener& l) -> aw::task<> {
      int pid = c.backend_pid();
      std::exception_ptr err;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          try {
            (void)co_await l.next();
          } catch (...) {
            err = std::current_exception();
          }
        });
        co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
          EXPECT_TRUE(co_await other.fetchval<bool>("SELECT pg_terminate_backend($1)", pid));
        });
      });
      EXPECT_THROW(std::rethrow_exception(err), aw::pg::connection_lost);
    });
  });
}

}  // namespace
