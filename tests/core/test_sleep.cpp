// aw::sleep, aw::sleep_until, aw::yield, aw::now: timers and the order of the ready queue.
//
// Time assertions here are semantic, never performance thresholds: a sleep never returns
// before its deadline, and timers fire in deadline order. No test asserts an upper bound.
// The tests of deadline order run on virtual time (virtual_time.hpp), where each timer
// fires exactly at its deadline; the first few keep the real clock.
#include "fan_out.hpp"
#include "virtual_time.hpp"

#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using aw_test::join_point;
using aw_test::run_virtual;
using aw_test::start;

// ---------------------------------------------------------------------------------------
// sleep, sleep_until, now

TEST(Sleep, NowIsMonotonicAndTheLoopClock) {
  auto a = aw::now();
  auto b = aw::now();
  EXPECT_LE(a, b);
  static_assert(std::is_same_v<decltype(aw::now()), std::chrono::steady_clock::time_point>);
}

TEST(Sleep, SleepNeverReturnsEarly) {
  aw::run([]() -> aw::task<> {
    for (auto d : {1ms, 5ms, 20ms}) {
      auto start = aw::now();
      co_await aw::sleep(d);
      EXPECT_GE(aw::now() - start, d);
    }
    // Other duration types are rounded up, never down.
    auto start = aw::now();
    co_await aw::sleep(std::chrono::microseconds(1500));
    EXPECT_GE(aw::now() - start, 1500us);
    start = aw::now();
    using fractional_ms = std::chrono::duration<double, std::milli>;
    co_await aw::sleep(fractional_ms(2.5));
    EXPECT_GE(aw::now() - start, fractional_ms(2.5));
  });
}

TEST(Sleep, SleepUntilNeverReturnsEarly) {
  aw::run([]() -> aw::task<> {
    auto deadline = aw::now() + 15ms;
    co_await aw::sleep_until(deadline);
    EXPECT_GE(aw::now(), deadline);
  });
}

TEST(Sleep, SleepUntilInThePastStillYields) {
  std::vector<std::string> log;
  aw::run([&]() -> aw::task<> {
    join_point join;
    // Spawned coroutine lambdas take what they use as parameters: the lambda object (and
    // any capture) is gone once start() returns.
    start(join, [](std::vector<std::string>& log) -> aw::task<> {
      log.push_back("other");
      co_return;
    }(log));
    co_await aw::sleep_until(aw::now() - 1s);
    log.push_back("main");
    co_await join;
  });
  EXPECT_EQ(log, (std::vector<std::string>{"other", "main"}));
}

TEST(Sleep, PendingTimersAreCounted) {
  run_virtual([]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    EXPECT_EQ(l.pending_timers(), 0u);
    join_point join;
    for (int i = 0; i < 3; ++i) start(join, []() -> aw::task<> { co_await aw::sleep(5ms); }());
    co_await aw::yield();  // let them start and arm their timers
    EXPECT_EQ(l.pending_timers(), 3u);
    co_await join;
    EXPECT_EQ(l.pending_timers(), 0u);
  });
}

// ---------------------------------------------------------------------------------------
// yield and the ready queue

TEST(Sleep, ReadyTasksRunInFifoOrder) {
  std::vector<int> log;
  aw::run([&]() -> aw::task<> {
    join_point join;
    for (int id = 0; id < 5; ++id)
      start(join, [](std::vector<int>& log, int id) -> aw::task<> {
        log.push_back(id);
        co_await aw::yield();
        log.push_back(10 + id);
        co_await aw::yield();
        log.push_back(20 + id);
      }(log, id));
    co_await join;
  });
  EXPECT_EQ(log, (std::vector<int>{0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24}));
}

TEST(Sleep, YieldLetsEveryReadyTaskRunOnce) {
  std::vector<std::string> log;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, [](std::vector<std::string>& log) -> aw::task<> {
      log.push_back("a1");
      co_await aw::yield();
      log.push_back("a2");
    }(log));
    start(join, [](std::vector<std::string>& log) -> aw::task<> {
      log.push_back("b1");
      co_await aw::yield();
      log.push_back("b2");
    }(log));
    log.push_back("main1");
    co_await aw::yield();  // a1, b1 run; main is queued behind them
    log.push_back("main2");
    co_await join;
  });
  EXPECT_EQ(log, (std::vector<std::string>{"main1", "a1", "b1", "main2", "a2", "b2"}));
}

TEST(Sleep, SleepZeroYields) {
  for (auto d : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(-5)}) {
    std::vector<std::string> log;
    aw::run([&]() -> aw::task<> {
      join_point join;
      start(join, [](std::vector<std::string>& log) -> aw::task<> {
        log.push_back("other");
        co_return;
      }(log));
      log.push_back("before");
      co_await aw::sleep(d);
      log.push_back("after");
      co_await join;
    });
    EXPECT_EQ(log, (std::vector<std::string>{"before", "other", "after"})) << "sleep(" << d.count() << "ns)";
  }
}

TEST(Sleep, SleepZeroArmsNoTimer) {
  aw::run([]() -> aw::task<> {
    auto& l = aw::loop::current();
    join_point join;
    start(join, [](aw::loop& l) -> aw::task<> {
      EXPECT_EQ(l.pending_timers(), 0u);  // main is in sleep(0): no timer for it
      co_return;
    }(l));
    co_await aw::sleep(0ms);
    co_await join;
  });
}

TEST(Sleep, PingPongThroughTheLoop) {
  std::vector<int> log;
  aw::run([&]() -> aw::task<> {
    join_point join;
    for (int side = 0; side < 2; ++side)
      start(join, [](std::vector<int>& log, int side) -> aw::task<> {
        for (int i = 0; i < 1000; ++i) {
          log.push_back(side);
          co_await aw::sleep(0ms);
        }
      }(log, side));
    co_await join;
  });
  ASSERT_EQ(log.size(), 2000u);
  for (std::size_t i = 0; i < log.size(); ++i) ASSERT_EQ(log[i], static_cast<int>(i % 2)) << "at " << i;
}

TEST(Sleep, ManyReadyTasksGrowTheQueue) {
  // More ready coroutines than the queue's initial capacity, scheduled while it is
  // partly consumed (the ring wraps), keep their FIFO order.
  std::vector<int> log;
  aw::run([&]() -> aw::task<> {
    join_point join;
    for (int id = 0; id < 1000; ++id)
      start(join, [](std::vector<int>& log, int id) -> aw::task<> {
        co_await aw::yield();
        log.push_back(id);
      }(log, id));
    co_await join;
  });
  ASSERT_EQ(log.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(log.begin(), log.end()));
}

// ---------------------------------------------------------------------------------------
// Deadline order

struct wake {
  int id;
  aw::clock::time_point deadline;
  aw::clock::time_point woke;
};

aw::task<> sleep_and_record(std::vector<wake>& log, int id, aw::clock::time_point deadline) {
  co_await aw::sleep_until(deadline);
  log.push_back(wake{id, deadline, aw::now()});
}

TEST(Sleep, TimersFireInDeadlineOrder) {
  std::vector<wake> log;
  run_virtual([&]() -> aw::task<> {
    join_point join;
    auto base = aw::now() + 5ms;
    // Started in an order unrelated to their deadlines.
    const int offsets_ms[] = {30, 10, 25, 0, 20, 5, 15};
    for (int i = 0; i < 7; ++i) start(join, sleep_and_record(log, offsets_ms[i], base + std::chrono::milliseconds(offsets_ms[i])));
    co_await join;
  });
  ASSERT_EQ(log.size(), 7u);
  std::vector<int> order;
  for (auto& w : log) {
    order.push_back(w.id);
    EXPECT_EQ(w.woke, w.deadline) << "timer " << w.id << " fired early or late";
  }
  EXPECT_EQ(order, (std::vector<int>{0, 5, 10, 15, 20, 25, 30}));
}

TEST(Sleep, SleepsOfDifferentLengthsWakeInDeadlineOrder) {
  // aw::sleep(d) takes its deadline from now() when it is called. Started shortest first,
  // each deadline is later than the one before whatever the scheduling delays, so the
  // wake order is fully determined.
  std::vector<int> order;
  run_virtual([&]() -> aw::task<> {
    join_point join;
    for (int ms : {1, 4, 8, 12, 16})
      start(join, [](std::vector<int>& order, int ms) -> aw::task<> {
        auto start = aw::now();
        co_await aw::sleep(std::chrono::milliseconds(ms));
        EXPECT_EQ(aw::now() - start, std::chrono::milliseconds(ms));
        order.push_back(ms);
      }(order, ms));
    co_await join;
  });
  EXPECT_EQ(order, (std::vector<int>{1, 4, 8, 12, 16}));
}

TEST(Sleep, EqualDeadlinesFireInArmingOrder) {
  std::vector<wake> log;
  run_virtual([&]() -> aw::task<> {
    join_point join;
    auto deadline = aw::now() + 3ms;
    for (int i = 0; i < 50; ++i) start(join, sleep_and_record(log, i, deadline));
    co_await join;
  });
  ASSERT_EQ(log.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(log[i].id, i);
}

TEST(Sleep, TenThousandConcurrentTimersAllFire) {
  constexpr int n = 20'000;
  std::vector<wake> log;
  log.reserve(n);
  std::size_t peak_pending = 0;
  run_virtual([&]() -> aw::task<> {
    join_point join;
    auto base = aw::now() + 10ms;
    std::uint32_t x = 12345;  // a fixed pseudo-random sequence of deadlines within 40 ms
    for (int i = 0; i < n; ++i) {
      x = x * 1664525u + 1013904223u;
      auto offset = std::chrono::microseconds((x >> 8) % 40'000);
      start(join, sleep_and_record(log, i, base + offset));
    }
    co_await aw::yield();
    peak_pending = aw::loop::current().pending_timers();
    co_await join;
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
  EXPECT_EQ(peak_pending, static_cast<std::size_t>(n));
  ASSERT_EQ(log.size(), static_cast<std::size_t>(n));
  std::vector<bool> seen(n, false);
  for (std::size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].woke, log[i].deadline) << "timer " << log[i].id << " fired early or late";
    seen[log[i].id] = true;
    if (i > 0) {
      // Woken in deadline order; ties in the order they were armed.
      ASSERT_TRUE(log[i - 1].deadline < log[i].deadline || (log[i - 1].deadline == log[i].deadline && log[i - 1].id < log[i].id))
          << "at " << i;
    }
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
}

// ---------------------------------------------------------------------------------------
// A sleeping frame that is destroyed takes its timer with it

aw::task<> sleep_long(bool& woke) {
  co_await aw::sleep(1h);
  woke = true;
}

TEST(Sleep, DestroyedSleeperIsRemovedFromTheHeap) {
  bool woke = false;
  run_virtual([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    // Three sleepers; destroying the middle one exercises removal from inside the heap.
    join_point join;
    start(join, []() -> aw::task<> { co_await aw::sleep(2ms); }());
    auto h = sleep_long(woke).release();  // we own this frame now
    l.schedule(h);
    start(join, []() -> aw::task<> { co_await aw::sleep(3ms); }());
    co_await aw::yield();
    EXPECT_EQ(l.pending_timers(), 3u);
    EXPECT_FALSE(h.done());
    h.destroy();  // the frame dies suspended in sleep: its timer must leave the heap
    EXPECT_EQ(l.pending_timers(), 2u);
    co_await join;
    EXPECT_EQ(l.pending_timers(), 0u);
  });
  // Had the timer stayed in the heap, the loop would have waited an hour (or touched the
  // freed frame); it finished instead.
  EXPECT_FALSE(woke);
}

TEST(Sleep, DestroyedSleepersAmongManyTimers) {
  constexpr int n = 1000;
  int fired = 0;
  run_virtual([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    std::vector<std::coroutine_handle<>> doomed;
    join_point join;
    auto base = aw::now() + 2ms;
    for (int i = 0; i < n; ++i) {
      auto deadline = base + std::chrono::microseconds((i * 7919) % 5000);
      if (i % 3 == 0) {
        auto h = [](aw::clock::time_point d) -> aw::task<> { co_await aw::sleep_until(d + 1h); }(deadline).release();
        l.schedule(h);
        doomed.push_back(h);
      } else {
        start(join, [](aw::clock::time_point d, int& fired) -> aw::task<> {
          co_await aw::sleep_until(d);
          EXPECT_EQ(aw::now(), d);
          ++fired;
        }(deadline, fired));
      }
    }
    co_await aw::yield();
    EXPECT_EQ(l.pending_timers(), static_cast<std::size_t>(n));
    for (auto h : doomed) h.destroy();
    EXPECT_EQ(l.pending_timers(), static_cast<std::size_t>(n) - doomed.size());
    co_await join;
    EXPECT_EQ(l.pending_timers(), 0u);
  });
  EXPECT_EQ(fired, n - (n + 2) / 3);
}

}  // namespace
