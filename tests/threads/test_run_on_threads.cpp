// aw::run_on_threads: a loop per thread, every thread joined, a failure cancelling the
// siblings and raised in a group, SIGINT cancelling every loop.
#include <aw/async_with.hpp>
#include <aw/exception_group.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/run_on_threads.hpp>
#include <aw/sleep.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Waits (a loop turn at a time, each a cancellation point) until `count` reaches `n`.
aw::task<> wait_for_count(const std::atomic<int>& count, int n) {
  while (count.load() < n) co_await aw::sleep(1ms);
}

TEST(RunOnThreads, EachThreadRunsItsIndexOnALoopOfItsOwn) {
  std::mutex m;
  std::set<std::size_t> indices;
  std::set<std::thread::id> threads;
  std::set<std::uint64_t> loops;
  aw::run_on_threads(4, [&](std::size_t i) -> aw::task<> {
    co_await aw::sleep(1ms);  // the loop runs: timers work
    std::lock_guard<std::mutex> lock(m);
    indices.insert(i);
    threads.insert(std::this_thread::get_id());
    loops.insert(aw::loop::current().id());
  });
  EXPECT_EQ(indices, (std::set<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ(loops.size(), 4u);
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);  // the caller's loop is gone too
}

TEST(RunOnThreads, AThreadThatReturnsDoesNotStopTheOthers) {
  std::atomic<int> returned{0};
  std::atomic<bool> second_done{false};
  aw::run_on_threads(2, [&](std::size_t i) -> aw::task<> {
    if (i == 0) {
      ++returned;
      co_return;
    }
    co_await wait_for_count(returned, 1);  // thread 0 has finished: this one goes on
    co_await aw::sleep(1ms);
    second_done = true;
  });
  EXPECT_TRUE(second_done);
}

TEST(RunOnThreads, AFailureCancelsTheSiblingsAndIsRaisedInAGroup) {
  std::atomic<int> waiting{0}, saw_cancelled{0};
  try {
    aw::run_on_threads(3, [&](std::size_t i) -> aw::task<> {
      if (i == 1) {
        co_await wait_for_count(waiting, 2);  // both siblings wait
        throw std::runtime_error("thread 1 failed");
      }
      try {
        ++waiting;
        co_await aw::sleep(24h);  // would hang the test: the failure must cancel it
      } catch (const aw::cancelled&) {
        ++saw_cancelled;
        throw;
      }
    });
    ADD_FAILURE() << "run_on_threads returned";
  } catch (const aw::exception_group& g) {
    ASSERT_EQ(g.exceptions().size(), 1u);  // the cancelled siblings are not failures
    try {
      std::rethrow_exception(g.exceptions()[0]);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "thread 1 failed");
    }
  }
  EXPECT_EQ(saw_cancelled.load(), 2);
}

TEST(RunOnThreads, EveryFailureIsInTheGroupInIndexOrder) {
  try {
    aw::run_on_threads(3, [&](std::size_t i) -> aw::task<> {
      // No wait before the throw: a sibling's cancellation cannot pre-empt it.
      if (i != 1) throw std::runtime_error("failed " + std::to_string(i));
      co_return;
    });
    ADD_FAILURE() << "run_on_threads returned";
  } catch (const aw::exception_group& g) {
    std::string whats;
    for (const auto& e : g.exceptions()) {
      try {
        std::rethrow_exception(e);
      } catch (const std::runtime_error& x) {
        whats += x.what();
        whats += ";";
      }
    }
    EXPECT_EQ(whats, "failed 0;failed 2;");
  }
}

TEST(RunOnThreads, MisuseIsReported) {
  EXPECT_THROW(aw::run_on_threads(0, [](std::size_t) -> aw::task<> { co_return; }), std::invalid_argument);
  aw::run([]() -> aw::task<> {
    EXPECT_THROW(aw::run_on_threads(1, [](std::size_t) -> aw::task<> { co_return; }), std::logic_error);
    co_return;
  });
}

// Writes to stderr when its exit has run, after waiting a little (the exit is shielded).
class reporting_exit {
 public:
  aw::task<reporting_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr e) {
    co_await aw::sleep(5ms);
    std::string line = aw::is_cancellation(e) ? "exit saw cancelled\n" : "exit saw something else\n";
    [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
  }
};

void interrupted_threads() {
  std::atomic<int> waiting{0};
  aw::run_on_threads(3, [&](std::size_t i) -> aw::task<> {
    reporting_exit r;
    co_await aw::async_with(r, [&](reporting_exit&) -> aw::task<> {
      ++waiting;
      if (i == 2) {
        co_await wait_for_count(waiting, 3);
        std::raise(SIGINT);  // delivered to this thread; the caller's loop owns the handler
      }
      co_await aw::sleep(24h);
    });
  });
  [[maybe_unused]] auto n = ::write(2, "returned\n", 9);  // never: the signal ends the process
}

TEST(RunOnThreadsDeathTest, SigintCancelsEveryLoopThenEndsTheProcess) {
  // A fresh process (threadsafe style re-executes the binary), so no thread of an earlier
  // test is around at the fork.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(interrupted_threads(), ::testing::KilledBySignal(SIGINT), "exit saw cancelled.*exit saw cancelled.*exit saw cancelled");
}

}  // namespace
