// aw::testing::virtual_clock (trio.testing.MockClock): manual jumps, the autojump, the rate,
// deadlines firing in order at their exact virtual times, cancellation by virtual deadlines,
// and what counts as "every task waits" when file descriptors are pending. The worker
// thread cases are in tests/threads/test_virtual_clock_threads.cpp.
//
// Times here are exact: virtual time moves only by jumps, so a task woken by a deadline sees
// aw::now() equal to it. Real time appears only as lower bounds (a threshold or a rate
// really waits at least so long).
#include "fan_out.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/testing/virtual_clock.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using aw::testing::virtual_clock;
using aw_test::join_point;
using aw_test::start;
constexpr aw::clock::time_point zero{};

// ---------------------------------------------------------------------------------------
// The clock itself

TEST(VirtualClock, StartsAtZeroAndStandsStillByDefault) {
  virtual_clock clock;
  EXPECT_EQ(clock.now(), zero);
  EXPECT_EQ(clock.rate(), 0.0);
  EXPECT_EQ(clock.autojump_threshold(), virtual_clock::never);
  aw::run(
      [&]() -> aw::task<> {
        EXPECT_EQ(aw::now(), zero);
        EXPECT_EQ(aw::loop::current().now(), zero);
        for (int i = 0; i < 100; ++i) co_await aw::yield();
        EXPECT_EQ(aw::now(), zero);
      },
      {.clock = &clock});
  EXPECT_EQ(clock.now(), zero);
}

TEST(VirtualClock, JumpMovesTimeForwardOnly) {
  virtual_clock clock;
  clock.jump(90s);
  EXPECT_EQ(clock.now(), zero + 90s);
  clock.jump(0s);
  EXPECT_EQ(clock.now(), zero + 90s);
  EXPECT_THROW(clock.jump(-1ns), std::invalid_argument);
  EXPECT_EQ(clock.now(), zero + 90s);
}

TEST(VirtualClock, RejectsANegativeRateOrThreshold) {
  EXPECT_THROW(virtual_clock({.rate = -1.0}), std::invalid_argument);
  EXPECT_THROW(virtual_clock({.autojump_threshold = -1ms}), std::invalid_argument);
  virtual_clock clock;
  EXPECT_THROW(clock.set_rate(-0.5), std::invalid_argument);
  EXPECT_THROW(clock.set_autojump_threshold(-1s), std::invalid_argument);
  EXPECT_EQ(clock.rate(), 0.0);
  EXPECT_EQ(clock.autojump_threshold(), virtual_clock::never);
}

TEST(VirtualClock, OutsideTheLoopNowIsTheRealClock) {
  virtual_clock clock;
  aw::clock::time_point inside{}, outside{};
  aw::run(
      [&]() -> aw::task<> {
        inside = aw::now();
        co_return;
      },
      {.clock = &clock});
  outside = aw::now();
  EXPECT_EQ(inside, zero);
  EXPECT_GT(outside, zero + 1ns);  // CLOCK_MONOTONIC: time since boot
}

TEST(VirtualClock, ALaterRunGoesOnFromWhereTimeStopped) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run([]() -> aw::task<> { co_await aw::sleep(1h); }, {.clock = &clock});
  EXPECT_EQ(clock.now(), zero + 1h);
  aw::run(
      []() -> aw::task<> {
        EXPECT_EQ(aw::now(), zero + 1h);
        co_await aw::sleep(1h);
        EXPECT_EQ(aw::now(), zero + 2h);
      },
      {.clock = &clock});
}

TEST(VirtualClock, ServesOneLoopAtATime) {
  virtual_clock clock;
  aw::loop a;
  a.set_clock(&clock);
  aw::loop b;
  EXPECT_THROW(b.set_clock(&clock), std::logic_error);
  a.set_clock(nullptr);
  b.set_clock(&clock);  // free again
}

// ---------------------------------------------------------------------------------------
// Manual jumps

TEST(VirtualClock, AJumpWakesTheSleepersItPassesAndNoOther) {
  virtual_clock clock;
  std::vector<std::string> log;
  aw::run(
      [&]() -> aw::task<> {
        join_point join;
        for (auto d : {10s, 20s, 30s})
          start(join, [](std::vector<std::string>& log, std::chrono::seconds d) -> aw::task<> {
            co_await aw::sleep(d);
            log.push_back(std::to_string(d.count()) + "s@" +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(aw::now() - zero).count()));
          }(log, d));
        co_await aw::yield();  // they arm their timers
        clock.jump(25s);
        for (int i = 0; i < 3; ++i) co_await aw::yield();
        EXPECT_EQ(log, (std::vector<std::string>{"10s@25", "20s@25"}));
        clock.jump(5s);
        co_await join;
      },
      {.clock = &clock});
  EXPECT_EQ(log, (std::vector<std::string>{"10s@25", "20s@25", "30s@30"}));
}

TEST(VirtualClock, TimeStandingStillWithNothingElsePendingIsADeadlock) {
  virtual_clock clock;  // rate 0, no autojump: nothing can move time
  EXPECT_THROW(aw::run([]() -> aw::task<> { co_await aw::sleep(1s); }, {.clock = &clock}), aw::deadlock_error);
}

// ---------------------------------------------------------------------------------------
// The autojump

TEST(VirtualClockAutojump, ASleepEndsAtOnceAtItsExactDeadline) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        auto start = aw::now();
        co_await aw::sleep(24h);
        EXPECT_EQ(aw::now() - start, 24h);
        co_await aw::sleep(std::chrono::microseconds(1500));
        EXPECT_EQ(aw::now() - start, 24h + 1500us);
        auto deadline = aw::now() + 1min;
        co_await aw::sleep_until(deadline);
        EXPECT_EQ(aw::now(), deadline);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, DeadlinesFireInOrderEachAtItsOwnTime) {
  struct wake {
    int id;
    aw::clock::time_point at;
  };
  std::vector<wake> log;
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      [&]() -> aw::task<> {
        join_point join;
        const int offsets[] = {30, 10, 25, 0, 20, 5, 15, 10};  // two equal: armed 1 before 7
        for (int i = 0; i < 8; ++i)
          start(join, [](std::vector<wake>& log, int id, std::chrono::seconds d) -> aw::task<> {
            co_await aw::sleep_until(zero + 1s + d);
            log.push_back({id, aw::now()});
          }(log, i, std::chrono::seconds(offsets[i])));
        co_await join;
      },
      {.clock = &clock});
  std::vector<int> order;
  for (auto& w : log) order.push_back(w.id);
  EXPECT_EQ(order, (std::vector<int>{3, 5, 1, 7, 6, 4, 2, 0}));
  const int offsets[] = {30, 10, 25, 0, 20, 5, 15, 10};
  for (auto& w : log) EXPECT_EQ(w.at, zero + 1s + std::chrono::seconds(offsets[w.id])) << "timer " << w.id;
}

TEST(VirtualClockAutojump, TasksThatComputeAreNotOvertaken) {
  // While any task is ready, time stands still: a jump happens only when all wait.
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        bool finished = co_await aw::move_on_after(1s, []() -> aw::task<> {
          for (int i = 0; i < 1000; ++i) co_await aw::yield();
        });
        EXPECT_TRUE(finished);
        EXPECT_EQ(aw::now(), zero);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, TimeoutsFireAtTheirExactDeadline) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        auto start = aw::now();
        bool in_time = co_await aw::move_on_after(30s, [] { return aw::sleep(1h); });
        EXPECT_FALSE(in_time);
        EXPECT_EQ(aw::now() - start, 30s);
        EXPECT_THROW(co_await aw::fail_after(5s, [] { return aw::sleep(1h); }), aw::timeout_error);
        EXPECT_EQ(aw::now() - start, 35s);
        in_time = co_await aw::move_on_after(1h, [] { return aw::sleep(59min); });
        EXPECT_TRUE(in_time);
        EXPECT_EQ(aw::now() - start, 35s + 59min);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, NestedDeadlinesTheEarliestWins) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        aw::cancel_scope outer(aw::now() + 10s), inner(aw::now() + 20s);
        co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
        });
        EXPECT_TRUE(outer.cancelled_caught());
        EXPECT_FALSE(inner.cancelled_caught());
        EXPECT_EQ(aw::now(), zero + 10s);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, ACancelAtAVirtualTimeInterruptsAWait) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        aw::cancel_scope scope;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon(
              [](aw::cancel_scope& scope) -> aw::task<> {
                co_await aw::sleep(5s);
                scope.cancel();
              },
              std::ref(scope));
          co_await aw::async_with(scope, [](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
        });
        EXPECT_TRUE(scope.cancelled_caught());
        EXPECT_EQ(aw::now(), zero + 5s);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, AShieldHoldsOffAnOuterVirtualDeadline) {
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      []() -> aw::task<> {
        aw::cancel_scope outer(aw::now() + 10s);
        co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
          aw::cancel_scope shield(aw::clock::time_point::max(), true);
          co_await aw::async_with(shield, [](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(30s); });
          EXPECT_EQ(aw::now(), zero + 30s);  // the shielded sleep ran to its end
          co_await aw::sleep(1h);            // the first wait after the shield sees the deadline
        });
        EXPECT_TRUE(outer.cancelled_caught());
        EXPECT_EQ(aw::now(), zero + 30s);
      },
      {.clock = &clock});
}

TEST(VirtualClockAutojump, APendingFdWaitDoesNotHoldTimeBack) {
  // As in trio: the clock cannot know that a peer is about to write, so a wait on a pipe
  // nobody writes to is overtaken by the timeout at once.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      [&]() -> aw::task<> {
        auto events = co_await aw::move_on_after(1h, [&] { return aw::wait_readable(fds[0]); });
        EXPECT_FALSE(events);
        EXPECT_EQ(aw::now(), zero + 1h);
      },
      {.clock = &clock});
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(VirtualClockAutojump, ReadyIoIsDeliveredBeforeAnyJump) {
  // The loop polls I/O before it jumps: a wait whose fd is ready already (here written
  // before it started) ends without time moving, on io_uring and on epoll.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      [&]() -> aw::task<> {
        for (int i = 0; i < 20; ++i) {
          EXPECT_EQ(::write(fds[1], "x", 1), 1);
          auto events = co_await aw::move_on_after(1h, [&] { return aw::wait_readable(fds[0]); });
          EXPECT_TRUE(events);
          char c;
          EXPECT_EQ(::read(fds[0], &c, 1), 1);
        }
        EXPECT_EQ(aw::now(), zero);
      },
      {.clock = &clock});
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(VirtualClockAutojump, AThresholdWaitsThatLongInRealTimeFirst) {
  virtual_clock clock({.autojump_threshold = 20ms});
  auto real_start = std::chrono::steady_clock::now();
  aw::run(
      []() -> aw::task<> {
        co_await aw::sleep(1h);
        EXPECT_EQ(aw::now(), zero + 1h);
      },
      {.clock = &clock});
  EXPECT_GE(std::chrono::steady_clock::now() - real_start, 20ms);
}

TEST(VirtualClockAutojump, TheThresholdCanChangeWhileTheLoopRuns) {
  virtual_clock clock;  // no autojump: this task moves time itself, then turns it on
  aw::run(
      [&]() -> aw::task<> {
        clock.jump(1s);
        clock.set_autojump_threshold(0s);
        co_await aw::sleep(1h);
        EXPECT_EQ(aw::now(), zero + 1s + 1h);
      },
      {.clock = &clock});
}

// ---------------------------------------------------------------------------------------
// The rate

TEST(VirtualClockRate, TimeRunsAtTheRateTimesRealTime) {
  virtual_clock clock({.rate = 3600.0});  // an hour a second
  auto real_start = std::chrono::steady_clock::now();
  aw::run(
      []() -> aw::task<> {
        auto start = aw::now();
        co_await aw::sleep(36s);  // 10 ms of real time
        EXPECT_GE(aw::now() - start, 36s);
      },
      {.clock = &clock});
  EXPECT_GE(std::chrono::steady_clock::now() - real_start, 10ms);
}

TEST(VirtualClockRate, ChangingTheRateKeepsTheCurrentTime) {
  virtual_clock clock;
  clock.jump(5s);
  clock.set_rate(1.0);
  auto a = clock.now();
  EXPECT_GE(a, zero + 5s);
  clock.set_rate(0.0);
  auto b = clock.now();
  EXPECT_GE(b, a);
  EXPECT_EQ(clock.now(), b);  // stopped again
}

}  // namespace
