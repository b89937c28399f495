// aw::testing::virtual_clock with worker threads: the clock sees only its loop, so a worker
// that runs is, for it, like a peer across a socket (trio's semantics); the autojump
// threshold is what keeps a timeout from overtaking it. Other threads read the real clock,
// and a clock serves one loop at a time.
#include <aw/cancel_scope.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/testing/virtual_clock.hpp>
#include <aw/to_thread.hpp>

#include <gtest/gtest.h>

#include "gate.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

using aw::testing::virtual_clock;
constexpr aw::clock::time_point zero{};

using thread_test::gate;

TEST(VirtualClockThreads, AtThresholdZeroATimeoutOvertakesARunningWorker) {
  // The worker is held until the timeout has fired: with threshold 0 the loop does not
  // wait for it, as trio's MockClock does not wait for a thread or a socket peer.
  auto g = std::make_shared<gate>();
  virtual_clock clock({.autojump_threshold = 0s});
  aw::run(
      [&]() -> aw::task<> {
        auto job = [g] {
          g->wait();
          return 7;
        };
        std::optional<int> v =
            co_await aw::move_on_after(1h, [&] { return aw::to_thread(aw::thread_options{.abandon_on_cancel = true}, job); });
        EXPECT_FALSE(v);
        EXPECT_EQ(aw::now(), zero + 1h);
        g->open();
      },
      {.clock = &clock});
}

TEST(VirtualClockThreads, AThresholdAboveTheWorkersRealTimeKeepsTheTimeoutBack) {
  // The worker's 50 ms of real time end well inside the 60 s threshold: its result wakes
  // the loop, so time never jumps.
  virtual_clock clock({.autojump_threshold = 60s});
  aw::run(
      []() -> aw::task<> {
        std::optional<int> v = co_await aw::move_on_after(1h, [] {
          return aw::to_thread([] {
            std::this_thread::sleep_for(50ms);
            return 7;
          });
        });
        EXPECT_EQ(v, 7);
        EXPECT_EQ(aw::now(), zero);
      },
      {.clock = &clock});
}

TEST(VirtualClockThreads, OtherThreadsReadTheRealClockAndRunTheirOwnLoops) {
  virtual_clock clock;  // rate 0, no autojump: the pending worker keeps the loop from deadlock
  aw::run(
      [&]() -> aw::task<> {
        co_await aw::to_thread([&] {
          EXPECT_GT(aw::now(), zero + 1ns);  // CLOCK_MONOTONIC on the worker
          EXPECT_THROW(aw::run([]() -> aw::task<> { co_return; }, {.clock = &clock}), std::logic_error);
          virtual_clock own({.autojump_threshold = 0s});
          aw::run(
              []() -> aw::task<> {
                co_await aw::sleep(1h);
                EXPECT_EQ(aw::now(), zero + 1h);
              },
              {.clock = &own});
        });
        EXPECT_EQ(aw::now(), zero);
      },
      {.clock = &clock});
}

}  // namespace
