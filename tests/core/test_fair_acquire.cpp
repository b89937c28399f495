// Fairness to a task that takes a lock in a loop (trio's test_generic_lock_fifo_fairness;
// anyio's fast_acquire).
//
// By default acquiring a free aw::lock, a free unit of an aw::semaphore or a free token of
// an aw::capacity_limiter yields to the loop once, holding what it took (anyio's default,
// trio's checkpoint): other ready tasks run and queue behind it, so a task that releases
// and acquires again in a loop gets back in line instead of taking the lock straight back.
// Three tasks each taking the lock five times take turns: 123123123123123. With
// aw::fast_acquire the free acquire does not yield (anyio's fast_acquire=True): cheaper, and
// the first task takes all of its turns before the others get one: 111112222233333.
//
// The yield is a cancellation point that never leaves the lock held: a task cancelled
// during it passes what it took on to the next waiter and raises aw::cancelled.
#include "protocol_helpers.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/capacity_limiter.hpp>
#include <aw/condition.hpp>
#include <aw/lock.hpp>
#include <aw/run.hpp>
#include <aw/semaphore.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace {

using namespace aw_test;

template <class Lockish>
aw::task<> take_five_times(Lockish& lk, std::string& record, char name) {
  for (int i = 0; i < 5; ++i)
    co_await aw::async_with(lk, [&](Lockish&) -> aw::task<> {
      record += name;
      co_return;
    });
}

// Three tasks, started in the order 1, 2, 3, each take `lk` five times (async with lk) and
// record their name each time they hold it.
template <class Lockish>
std::string take_in_turns(Lockish& lk) {
  std::string record;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (char name : {'1', '2', '3'}) tg.start_soon(take_five_times<Lockish>, std::ref(lk), std::ref(record), name);
      co_return;
    });
  });
  return record;
}

TEST(FairAcquire, LockTakenInALoopTakesTurns) {
  aw::lock lk;
  EXPECT_EQ(take_in_turns(lk), "123123123123123");
}

TEST(FairAcquire, SemaphoreOfOneTakenInALoopTakesTurns) {
  aw::semaphore sem(1);
  EXPECT_EQ(take_in_turns(sem), "123123123123123");
}

TEST(FairAcquire, CapacityLimiterOfOneTakenInALoopTakesTurns) {
  aw::capacity_limiter limiter(1);
  EXPECT_EQ(take_in_turns(limiter), "123123123123123");
}

TEST(FairAcquire, ConditionTakenInALoopTakesTurns) {
  aw::condition cond;  // its own lock is fair
  EXPECT_EQ(take_in_turns(cond), "123123123123123");
}

TEST(FastAcquire, LockTakenInALoopIsTakenStraightBack) {
  aw::lock lk(aw::fast_acquire);
  EXPECT_EQ(take_in_turns(lk), "111112222233333");
}

TEST(FastAcquire, SemaphoreOfOneTakenInALoopIsTakenStraightBack) {
  aw::semaphore sem(aw::fast_acquire, 1);
  EXPECT_EQ(take_in_turns(sem), "111112222233333");
}

TEST(FastAcquire, CapacityLimiterOfOneTakenInALoopIsTakenStraightBack) {
  aw::capacity_limiter limiter(aw::fast_acquire, 1);
  EXPECT_EQ(take_in_turns(limiter), "111112222233333");
}

TEST(FastAcquire, ConditionOverAFastLockTakenInALoopIsTakenStraightBack) {
  aw::lock lk(aw::fast_acquire);
  aw::condition cond(lk);
  EXPECT_EQ(take_in_turns(cond), "111112222233333");
}

// The first task takes the free `lk` and yields holding it; the second queues behind it;
// then the first task's scope is cancelled, before it resumes from the yield. It must raise
// aw::cancelled and pass `lk` on to the second task, never keep it.
template <class Lockish>
log_t cancelled_during_the_yield(Lockish& lk) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          try {
            co_await aw::async_with(lk, [&](Lockish&) -> aw::task<> {
              log.push_back("first got it");
              co_return;
            });
          } catch (const aw::cancelled&) {
            log.push_back("first cancelled");
            throw;
          }
        });
      });
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(lk, [&](Lockish&) -> aw::task<> {
          log.push_back("second got it");
          co_return;
        });
      });
      co_await aw::yield();  // the first takes it and yields, the second queues
      EXPECT_EQ(lk.tasks_waiting(), 1u);
      scope.cancel();
    });
  });
  return log;
}

TEST(FairAcquire, LockCancelledDuringTheYieldPassesTheLockOn) {
  aw::lock lk;
  EXPECT_EQ(cancelled_during_the_yield(lk), (log_t{"first cancelled", "second got it"}));
  EXPECT_FALSE(lk.locked());
}

TEST(FairAcquire, SemaphoreCancelledDuringTheYieldPassesTheUnitOn) {
  aw::semaphore sem(1);
  EXPECT_EQ(cancelled_during_the_yield(sem), (log_t{"first cancelled", "second got it"}));
  EXPECT_EQ(sem.value(), 1u);
}

TEST(FairAcquire, CapacityLimiterCancelledDuringTheYieldPassesTheTokenOn) {
  aw::capacity_limiter limiter(1);
  EXPECT_EQ(cancelled_during_the_yield(limiter), (log_t{"first cancelled", "second got it"}));
  EXPECT_EQ(limiter.borrowed_tokens(), 0u);
}

// Cancelled before it starts, a fair acquire raises without taking the free lock (and
// without yielding): the cancellation check comes first, as in anyio.
TEST(FairAcquire, AcquireInACancelledScopeTakesNothing) {
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    aw::semaphore sem(1);
    aw::capacity_limiter limiter(1);
    aw::cancel_scope scope;
    scope.cancel();
    int raised = 0;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      try {
        co_await lk.acquire();
      } catch (const aw::cancelled&) {
        ++raised;
      }
      try {
        co_await sem.acquire();
      } catch (const aw::cancelled&) {
        ++raised;
      }
      try {
        co_await limiter.acquire();
      } catch (const aw::cancelled&) {
        ++raised;
      }
    });
    EXPECT_EQ(raised, 3);
    EXPECT_FALSE(lk.locked());
    EXPECT_EQ(sem.value(), 1u);
    EXPECT_EQ(limiter.borrowed_tokens(), 0u);
  });
}

}  // namespace
