// aw::blocking_portal: calls from plain threads into a loop on the portal's thread, managers
// held open from synchronous code, and stopping.
#include <aw/blocking_portal.hpp>

#include <aw/exceptions.hpp>
#include <aw/sleep.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST(BlockingPortal, CallRunsACoroutineOnThePortalsLoopAndGivesItsValue) {
  aw::blocking_portal portal;
  std::thread::id ran_on;
  int v = portal.call(
      [&](int a, int b) -> aw::task<int> {
        ran_on = std::this_thread::get_id();
        co_await aw::sleep(1ms);
        co_return a + b;
      },
      2, 3);
  EXPECT_EQ(v, 5);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(BlockingPortal, CallRunsAPlainFunctionOnThePortalsLoop) {
  aw::blocking_portal portal;
  bool on_loop = false;
  std::string s = portal.call([&] {
    on_loop = aw::loop::current_or_null() != nullptr;
    return std::string("plain");
  });
  EXPECT_EQ(s, "plain");
  EXPECT_TRUE(on_loop);
  portal.call([] {});  // void
}

TEST(BlockingPortal, CallPassesReferencesAndGivesReferences) {
  aw::blocking_portal portal;
  int x = 1;
  portal.call(
      [](int& r) -> aw::task<> {
        r = 2;
        co_return;
      },
      x);
  EXPECT_EQ(x, 2);
  int& r = portal.call([&]() -> aw::task<int&> { co_return x; });
  EXPECT_EQ(&r, &x);
}

TEST(BlockingPortal, CallRaisesTheTasksExceptionAndThePortalGoesOn) {
  aw::blocking_portal portal;
  EXPECT_THROW(portal.call([]() -> aw::task<> {
    co_await aw::sleep(1ms);
    throw std::out_of_range("boom");
  }),
               std::out_of_range);
  EXPECT_THROW(portal.call([]() -> int { throw std::invalid_argument("plain boom"); }), std::invalid_argument);
  EXPECT_EQ(portal.call([]() -> aw::task<int> { co_return 7; }), 7);
}

TEST(BlockingPortal, CallsFromManyThreadsAllRun) {
  aw::blocking_portal portal;
  int total = 0;  // touched on the portal's loop only
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        portal.call([&]() -> aw::task<> {
          ++total;
          co_return;
        });
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(portal.call([&] { return total; }), 400);
}

TEST(BlockingPortal, StartTaskSoonRunsTasksConcurrently) {
  aw::blocking_portal portal;
  // Two tasks that each wait for the other: they finish only if they run at the same time.
  auto ping = std::make_shared<aw::event>();
  auto pong = std::make_shared<aw::event>();
  std::future<std::string> a = portal.start_task_soon([ping, pong]() -> aw::task<std::string> {
    ping->set();
    co_await pong->wait();
    co_return "a";
  });
  std::future<int> b = portal.start_task_soon(
      [ping, pong](std::unique_ptr<int> n) -> aw::task<int> {
        co_await ping->wait();
        pong->set();
        co_return *n;
      },
      std::make_unique<int>(42));  // copied (moved) into the task, as std::thread does
  EXPECT_EQ(a.get(), "a");
  EXPECT_EQ(b.get(), 42);
}

TEST(BlockingPortal, StartTaskSoonGivesTheExceptionThroughTheFuture) {
  aw::blocking_portal portal;
  std::future<void> f = portal.start_task_soon([]() -> aw::task<> {
    co_await aw::sleep(1ms);
    throw std::runtime_error("late");
  });
  EXPECT_THROW(f.get(), std::runtime_error);
  EXPECT_EQ(portal.call([] { return 1; }), 1);  // a failing task does not stop the portal
}

TEST(BlockingPortal, StopWaitsForTheTasksStillRunning) {
  aw::blocking_portal portal;
  std::atomic<bool> finished = false;
  std::future<void> f = portal.start_task_soon([&]() -> aw::task<> {
    co_await aw::sleep(20ms);
    finished = true;
  });
  portal.stop();
  EXPECT_TRUE(finished);
  f.get();
  EXPECT_THROW(portal.call([] {}), std::logic_error);
  EXPECT_THROW((void)portal.start_task_soon([] {}), std::logic_error);
  portal.stop();  // again: nothing
}

TEST(BlockingPortal, StopCancellingCancelsTheTasksStillRunning) {
  aw::blocking_portal portal;
  std::future<void> f = portal.start_task_soon([]() -> aw::task<> { co_await aw::sleep(24h); });
  portal.call([] {});  // the task has started
  portal.stop(true);   // a 24 h sleep: the test would hang if it were not cancelled
  EXPECT_THROW(f.get(), aw::cancelled);
}

TEST(BlockingPortal, TheDestructorCancelsWhenTheStackUnwinds) {
  std::future<void> f;
  try {
    aw::blocking_portal portal;
    f = portal.start_task_soon([]() -> aw::task<> { co_await aw::sleep(24h); });
    portal.call([] {});
    throw std::runtime_error("leaving the block");
  } catch (const std::runtime_error&) {
  }
  EXPECT_THROW(f.get(), aw::cancelled);
}

TEST(BlockingPortal, CallingFromThePortalsOwnLoopIsALogicError) {
  aw::blocking_portal portal;
  EXPECT_THROW(portal.call([&] { return portal.call([] { return 1; }); }), std::logic_error);
  EXPECT_THROW(portal.call([&] { portal.stop(); }), std::logic_error);
}

// A manager that records what happened to it, on which thread.
struct recorder {
  std::vector<std::string> log;
  std::thread::id entered_on, exited_on;
  std::exception_ptr seen;
  bool suppress = false;
  bool fail_exit = false;
  int resource = 10;
  aw::task<int&> aenter() {
    entered_on = std::this_thread::get_id();
    co_await aw::sleep(1ms);
    log.push_back("enter");
    co_return resource;
  }
  aw::task<bool> aexit(std::exception_ptr e) {
    exited_on = std::this_thread::get_id();
    seen = e;
    co_await aw::sleep(1ms);
    log.push_back("exit");
    if (fail_exit) throw std::length_error("exit failed");
    co_return suppress;
  }
};

TEST(BlockingPortal, EnterHoldsAManagerOpenUntilTheObjectIsDestroyed) {
  aw::blocking_portal portal;
  recorder m;
  {
    auto r = portal.enter(m);
    EXPECT_EQ(m.log, std::vector<std::string>{"enter"});
    EXPECT_EQ(&*r, &m.resource);
    portal.call([&] { *r += 1; });
  }
  EXPECT_EQ(m.log, (std::vector<std::string>{"enter", "exit"}));
  EXPECT_EQ(m.resource, 11);
  EXPECT_FALSE(m.seen);
  EXPECT_EQ(m.entered_on, m.exited_on);
  EXPECT_NE(m.entered_on, std::this_thread::get_id());
}

TEST(BlockingPortal, ExitHandsTheExceptionAndSaysWhetherItWasSuppressed) {
  aw::blocking_portal portal;
  recorder kept, suppressing;
  suppressing.suppress = true;
  auto error = std::make_exception_ptr(std::runtime_error("in the block"));
  auto a = portal.enter(kept);
  EXPECT_FALSE(a.exit(error));
  EXPECT_EQ(kept.seen, error);
  auto b = portal.enter(suppressing);
  EXPECT_TRUE(b.exit(error));
  EXPECT_THROW(b.exit(nullptr), std::logic_error);  // once only
}

TEST(BlockingPortal, TheDestructorHandsAnUnwindingErrorWhenTheStackUnwinds) {
  aw::blocking_portal portal;
  recorder m;
  try {
    auto r = portal.enter(m);
    throw std::runtime_error("leaving");
  } catch (const std::runtime_error&) {
  }
  ASSERT_TRUE(m.seen);
  EXPECT_THROW(std::rethrow_exception(m.seen), aw::portal_unwinding);
}

TEST(BlockingPortal, AFailingExitRaisesFromExitAndFromTheDestructor) {
  aw::blocking_portal portal;
  recorder a, b;
  a.fail_exit = b.fail_exit = true;
  auto ea = portal.enter(a);
  EXPECT_THROW(ea.exit(nullptr), std::length_error);
  EXPECT_THROW({ auto eb = portal.enter(b); }, std::length_error);
}

TEST(BlockingPortal, AFailingEnterRaisesFromEnter) {
  struct refusing {
    aw::task<> aenter() {
      co_await aw::sleep(1ms);
      throw std::domain_error("refused");
    }
    aw::task<> aexit(std::exception_ptr) { co_return; }
  };
  aw::blocking_portal portal;
  EXPECT_THROW((void)portal.enter(refusing{}), std::domain_error);
}

TEST(BlockingPortal, ATaskGroupEnteredFromSyncCodeWaitsForItsChildren) {
  aw::blocking_portal portal;
  std::atomic<int> done = 0;
  {
    auto tg = portal.enter(aw::task_group{});  // an rvalue: moved into the portal's task
    portal.call([&] {
      for (int i = 0; i < 3; ++i)
        tg->start_soon([&]() -> aw::task<> {
          co_await aw::sleep(10ms);
          ++done;
        });
    });
  }
  EXPECT_EQ(done, 3);
}

TEST(BlockingPortal, AManagerStillEnteredWhenThePortalIsCancelledIsExitedWithTheCancellation) {
  aw::blocking_portal portal;
  recorder m;
  auto r = portal.enter(m);
  portal.stop(true);
  EXPECT_EQ(m.log, (std::vector<std::string>{"enter", "exit"}));
  EXPECT_THROW(r.exit(nullptr), aw::cancelled);
}

}  // namespace
