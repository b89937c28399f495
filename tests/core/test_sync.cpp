// Synchronisation primitives as anyio 4 documents them ("Using synchronization
// primitives"): aw::event, aw::lock, aw::semaphore, aw::capacity_limiter, aw::condition.
//
// For each primitive: its public behaviour, FIFO fairness (waiters are served in the order
// they started waiting, and a release hands over directly, so nobody barges in), and
// cancellation of every kind of wait, by a deadline (aw::move_on_after) and by a cancelled
// task group. Racy paths (a wait completed, then cancelled before it could resume) are
// repeated many times and must end the same way every time.
//
// Time assertions are lower bounds only, never performance thresholds. A wait that would
// last forever proves by the test finishing that it was cancelled.
#include "protocol_helpers.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/capacity_limiter.hpp>
#include <aw/condition.hpp>
#include <aw/enter.hpp>
#include <aw/event.hpp>
#include <aw/lock.hpp>
#include <aw/run.hpp>
#include <aw/semaphore.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace aw_test;

// Lets every other ready task run `n` times over.
aw::task<> yield_n(int n) {
  for (int i = 0; i < n; ++i) co_await aw::yield();
}

// Runs `body` inside the cancel scope `scope` and logs "<name> cancelled" when aw::cancelled
// leaves it (the scope swallows it afterwards).
template <class Body>
aw::task<> in_scope(aw::cancel_scope& scope, log_t& log, std::string name, Body body) {
  co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
    try {
      co_await body();
    } catch (const aw::cancelled&) {
      log.push_back(name + " cancelled");
      throw;
    }
  });
}

// ---------------------------------------------------------------------------------------
// aw::event

TEST(Event, SetWakesEveryWaiterInTheOrderTheyWaited) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::event ev;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 4; ++i)
        tg.start_soon([&ev, &log, i]() -> aw::task<> {
          co_await ev.wait();
          log.push_back("woke " + std::to_string(i));
        });
      co_await yield_n(2);
      EXPECT_EQ(ev.tasks_waiting(), 4u);
      EXPECT_FALSE(ev.is_set());
      log.push_back("set");
      ev.set();
      EXPECT_TRUE(ev.is_set());
      EXPECT_EQ(ev.tasks_waiting(), 0u);
      log.push_back("after set");  // set() wakes them on later turns, not inside set()
    });
  });
  EXPECT_EQ(log, (log_t{"set", "after set", "woke 0", "woke 1", "woke 2", "woke 3"}));
}

TEST(Event, WaitOnASetEventReturnsWithoutSuspending) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::event ev;
    ev.set();
    ev.set();  // idempotent
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        log.push_back("other task");
        co_return;
      });
      co_await aw::yield();  // the child runs now
      tg.start_soon([&]() -> aw::task<> {
        log.push_back("second task");
        co_return;
      });
      co_await ev.wait();
      co_await ev.wait();
      log.push_back("waited");  // before the second task ran: no turn of the loop was taken
    });
  });
  EXPECT_EQ(log, (log_t{"other task", "waited", "second task"}));
}

TEST(Event, WaitCancelledByADeadline) {
  aw::run([&]() -> aw::task<> {
    aw::event ev;
    auto t0 = aw::now();
    bool completed = co_await aw::move_on_after(5ms, [&]() -> aw::task<> { co_await ev.wait(); });
    EXPECT_FALSE(completed);
    EXPECT_GE(aw::now() - t0, 5ms);
    EXPECT_EQ(ev.tasks_waiting(), 0u);
    ev.set();  // nobody left to wake: no dangling waiter
    co_await ev.wait();
  });
}

TEST(Event, WaitCancelledByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::event ev;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await ev.wait();
            log.push_back("woke");
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      EXPECT_EQ(ev.tasks_waiting(), 3u);
      tg.cancel();
      EXPECT_EQ(ev.tasks_waiting(), 0u);
    });
    ev.set();
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled", "cancelled"}));
}

TEST(Event, WaitInACancelledScopeRaisesEvenWhenTheEventIsSet) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::event ev;
    ev.set();
    aw::cancel_scope scope;
    scope.cancel();
    co_await in_scope(scope, log, "wait", [&]() -> aw::task<> {
      co_await ev.wait();
      log.push_back("not reached");
    });
    EXPECT_TRUE(scope.cancelled_caught());
  });
  EXPECT_EQ(log, (log_t{"wait cancelled"}));
}

TEST(Event, RaceSetThenCancelledBeforeResumingRaises) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    aw::run([&]() -> aw::task<> {
      aw::event ev;
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { co_await in_scope(scope, log, "waiter", [&]() -> aw::task<> { co_await ev.wait(); }); });
        co_await yield_n(2);
        ev.set();        // the waiter is woken...
        scope.cancel();  // ...and cancelled before it resumes: level-triggered, it raises
      });
    });
    ASSERT_EQ(log, (log_t{"waiter cancelled"})) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// aw::lock

TEST(Lock, IsAnAsyncContextManager) {
  static_assert(aw::async_context_manager<aw::lock>);
  static_assert(std::is_same_v<aw::resource_t<aw::lock>, aw::lock&>);
  static_assert(!aw::exit_may_suppress<aw::lock>);
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    EXPECT_FALSE(lk.locked());
    co_await aw::async_with(lk, [&](aw::lock& l) -> aw::task<> {
      EXPECT_EQ(&l, &lk);
      EXPECT_TRUE(lk.locked());
      co_return;
    });
    EXPECT_FALSE(lk.locked());
  });
}

TEST(Lock, ReleasedWhenTheBlockThrows) {
  aw::lock lk;
  auto e = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(lk, [&](aw::lock&) -> aw::task<> {
      co_await aw::yield();
      throw test_error("boom");
    });
  });
  EXPECT_EQ(what(e), "boom");
  EXPECT_FALSE(lk.locked());
}

TEST(Lock, EnterHoldsItUntilTheTaskEnds) {
  aw::lock lk;
  aw::run([&]() -> aw::task<> {
    auto inner = [&]() -> aw::task<> {
      aw::lock& l = co_await aw::enter(lk);
      EXPECT_EQ(&l, &lk);
      EXPECT_TRUE(lk.locked());
    };
    co_await inner();
    EXPECT_FALSE(lk.locked());
  });
}

TEST(Lock, AcquireAndReleaseByHand) {
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    aw::lock& l = co_await lk.acquire();
    EXPECT_EQ(&l, &lk);
    EXPECT_TRUE(lk.locked());
    co_await lk.release();
    EXPECT_FALSE(lk.locked());
    EXPECT_TRUE(co_await lk.try_acquire());
    EXPECT_TRUE(lk.locked());
    co_await lk.release();
  });
}

TEST(Lock, ReacquiringInTheSameTaskIsALogicError) {
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    co_await lk.acquire();
    bool threw = false;
    try {
      co_await lk.acquire();
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    threw = false;
    try {
      (void)co_await lk.try_acquire();
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_TRUE(lk.locked());  // still held once, by this task
    co_await lk.release();
    EXPECT_FALSE(lk.locked());
  });
}

TEST(Lock, ReleaseByATaskThatDoesNotHoldItIsALogicError) {
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    bool threw = false;
    try {
      co_await lk.release();  // not held at all
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    co_await lk.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await lk.release();  // held by the parent task, not by this child
        } catch (const std::logic_error& e) {
          EXPECT_STREQ(e.what(), "aw::lock::release: the current task is not holding this lock");
          threw = true;
        }
      });
      co_return;
    });
    EXPECT_TRUE(threw);
    EXPECT_TRUE(lk.locked());
    co_await lk.release();
  });
}

TEST(Lock, WaitersGetTheLockInTheOrderTheyAsked) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    co_await lk.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 5; ++i)
        tg.start_soon([&lk, &log, i]() -> aw::task<> {
          co_await aw::async_with(lk, [&](aw::lock&) -> aw::task<> {
            log.push_back("in " + std::to_string(i));
            co_await aw::yield();  // others get turns while it is held
            log.push_back("out " + std::to_string(i));
          });
        });
      co_await yield_n(2);
      EXPECT_EQ(lk.tasks_waiting(), 5u);
      co_await lk.release();
    });
    EXPECT_FALSE(lk.locked());
  });
  EXPECT_EQ(log, (log_t{"in 0", "out 0", "in 1", "out 1", "in 2", "out 2", "in 3", "out 3", "in 4", "out 4"}));
}

TEST(Lock, ReleaseHandsTheLockToTheFirstWaiterSoNobodyBarges) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    co_await lk.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await lk.acquire();
        log.push_back("waiter got it");
        co_await lk.release();
      });
      co_await yield_n(2);
      co_await lk.release();
      // The waiter has not run yet, but the lock is already its own.
      EXPECT_TRUE(lk.locked());
      EXPECT_FALSE(co_await lk.try_acquire());
      co_await lk.acquire();  // queues behind the waiter
      log.push_back("releaser got it back");
      co_await lk.release();
    });
  });
  EXPECT_EQ(log, (log_t{"waiter got it", "releaser got it back"}));
}

TEST(Lock, WaiterCancelledByADeadlineLeavesTheQueueAndNeverGetsTheLock) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    co_await lk.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        // 200ms: far beyond the few loop turns below, even under sanitizers on a loaded machine.
        bool got = co_await aw::move_on_after(200ms, [&]() -> aw::task<> {
          co_await lk.acquire();
          log.push_back("timed waiter got it");
        });
        log.push_back(got ? "timed waiter done" : "timed waiter gave up");
      });
      co_await aw::yield();
      tg.start_soon([&]() -> aw::task<> {
        co_await lk.acquire();
        log.push_back("patient waiter got it");
        co_await lk.release();
      });
      co_await yield_n(2);
      EXPECT_EQ(lk.tasks_waiting(), 2u);
      co_await aw::sleep(400ms);
      EXPECT_EQ(lk.tasks_waiting(), 1u);
      co_await lk.release();
    });
    EXPECT_FALSE(lk.locked());
  });
  EXPECT_EQ(log, (log_t{"timed waiter gave up", "patient waiter got it"}));
}

TEST(Lock, WaitersCancelledByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    co_await lk.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await lk.acquire();
            log.push_back("got it");
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      tg.cancel();
      EXPECT_EQ(lk.tasks_waiting(), 0u);
    });
    EXPECT_TRUE(lk.locked());  // still the main task's
    co_await lk.release();
    EXPECT_FALSE(lk.locked());
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled", "cancelled"}));
}

TEST(Lock, AcquireInACancelledScopeRaisesWithoutTakingAFreeLock) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    aw::cancel_scope scope;
    scope.cancel();
    co_await in_scope(scope, log, "acquire", [&]() -> aw::task<> { co_await lk.acquire(); });
    EXPECT_FALSE(lk.locked());
  });
  EXPECT_EQ(log, (log_t{"acquire cancelled"}));
}

// The lock is handed to a waiter, which is cancelled before it resumes: it must pass the
// lock on (to the next waiter, or free it), never keep it.
TEST(Lock, RaceHandedOverThenCancelledPassesTheLockOn) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    const bool second_waiter = round % 2 == 0;
    aw::run([&]() -> aw::task<> {
      aw::lock lk;
      aw::cancel_scope scope;
      co_await lk.acquire();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "first", [&]() -> aw::task<> {
            co_await lk.acquire();
            log.push_back("first got it");
            co_await lk.release();
          });
        });
        co_await aw::yield();
        if (second_waiter)
          tg.start_soon([&]() -> aw::task<> {
            co_await lk.acquire();
            log.push_back("second got it");
            co_await lk.release();
          });
        co_await yield_n(2);
        co_await lk.release();  // handed to the first waiter...
        scope.cancel();         // ...which is cancelled before it resumes
      });
      EXPECT_FALSE(lk.locked());
      EXPECT_TRUE(co_await lk.try_acquire());
      co_await lk.release();
    });
    if (second_waiter)
      ASSERT_EQ(log, (log_t{"first cancelled", "second got it"})) << "round " << round;
    else
      ASSERT_EQ(log, (log_t{"first cancelled"})) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// aw::semaphore

TEST(Semaphore, CountsUnitsAndIsAnAsyncContextManager) {
  static_assert(aw::async_context_manager<aw::semaphore>);
  static_assert(std::is_same_v<aw::resource_t<aw::semaphore>, aw::semaphore&>);
  aw::run([&]() -> aw::task<> {
    aw::semaphore sem(2);
    EXPECT_EQ(sem.value(), 2u);
    EXPECT_FALSE(sem.max_value());
    co_await aw::async_with(sem, [&](aw::semaphore& s) -> aw::task<> {
      EXPECT_EQ(&s, &sem);
      EXPECT_EQ(sem.value(), 1u);
      co_await aw::async_with(sem, [&](aw::semaphore&) -> aw::task<> {
        EXPECT_EQ(sem.value(), 0u);
        EXPECT_FALSE(sem.try_acquire());
        co_return;
      });
      EXPECT_EQ(sem.value(), 1u);
    });
    EXPECT_EQ(sem.value(), 2u);
    co_await sem.acquire();
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_EQ(sem.value(), 0u);
    sem.release();
    sem.release();
    sem.release();  // unbounded: anyone may release, any number of times
    EXPECT_EQ(sem.value(), 3u);
  });
}

TEST(Semaphore, LimitsConcurrency) {
  int inside = 0, most = 0;
  aw::run([&]() -> aw::task<> {
    aw::semaphore sem(3);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 20; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(sem, [&](aw::semaphore&) -> aw::task<> {
            most = std::max(most, ++inside);
            co_await aw::sleep(1ms);
            --inside;
          });
        });
      co_return;
    });
    EXPECT_EQ(sem.value(), 3u);
  });
  EXPECT_EQ(most, 3);
}

TEST(Semaphore, BoundedReleaseBeyondMaxValueIsAnError) {
  aw::semaphore sem(1, 2);
  EXPECT_EQ(sem.max_value(), std::optional<std::size_t>(2));
  sem.release();
  EXPECT_EQ(sem.value(), 2u);
  EXPECT_THROW(sem.release(), aw::semaphore_overflow);
  static_assert(std::is_base_of_v<std::logic_error, aw::semaphore_overflow>);
  EXPECT_EQ(sem.value(), 2u);
  EXPECT_THROW(aw::semaphore(3, 2), std::invalid_argument);
  EXPECT_THROW(aw::semaphore(0, 0), std::invalid_argument);
}

TEST(Semaphore, WaitersAreServedInOrderAndReleaseHandsOver) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::semaphore sem(0, 1);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 4; ++i)
        tg.start_soon([&sem, &log, i]() -> aw::task<> {
          co_await sem.acquire();
          log.push_back("got " + std::to_string(i));
        });
      co_await yield_n(2);
      EXPECT_EQ(sem.tasks_waiting(), 4u);
      sem.release();
      EXPECT_EQ(sem.value(), 0u);  // handed to waiter 0, not counted
      EXPECT_FALSE(sem.try_acquire());
      sem.release();  // bounded at 1, yet fine: each unit went straight to a waiter
      sem.release();
      sem.release();
      EXPECT_EQ(sem.tasks_waiting(), 0u);
    });
    EXPECT_EQ(sem.value(), 0u);
  });
  EXPECT_EQ(log, (log_t{"got 0", "got 1", "got 2", "got 3"}));
}

TEST(Semaphore, WaiterCancelledByADeadline) {
  aw::run([&]() -> aw::task<> {
    aw::semaphore sem(0);
    bool completed = co_await aw::move_on_after(2ms, [&]() -> aw::task<> { co_await sem.acquire(); });
    EXPECT_FALSE(completed);
    EXPECT_EQ(sem.tasks_waiting(), 0u);
    sem.release();
    EXPECT_EQ(sem.value(), 1u);  // nobody took it
  });
}

TEST(Semaphore, WaitersCancelledByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::semaphore sem(0);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await sem.acquire();
            log.push_back("got one");
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      tg.cancel();
    });
    EXPECT_EQ(sem.tasks_waiting(), 0u);
    sem.release();
    EXPECT_EQ(sem.value(), 1u);
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled", "cancelled"}));
}

TEST(Semaphore, RaceHandedOverThenCancelledPassesTheUnitOn) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    const bool second_waiter = round % 2 == 0;
    aw::run([&]() -> aw::task<> {
      aw::semaphore sem(0, 1);
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "first", [&]() -> aw::task<> {
            co_await sem.acquire();
            log.push_back("first got it");
          });
        });
        co_await aw::yield();
        if (second_waiter)
          tg.start_soon([&]() -> aw::task<> {
            co_await sem.acquire();
            log.push_back("second got it");
            sem.release();
          });
        co_await yield_n(2);
        sem.release();
        scope.cancel();
      });
      EXPECT_EQ(sem.value(), 1u);  // the unit came back, whoever had it last
    });
    if (second_waiter)
      ASSERT_EQ(log, (log_t{"first cancelled", "second got it"})) << "round " << round;
    else
      ASSERT_EQ(log, (log_t{"first cancelled"})) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// aw::capacity_limiter

TEST(CapacityLimiter, CountsTokensAndIsAnAsyncContextManager) {
  static_assert(aw::async_context_manager<aw::capacity_limiter>);
  static_assert(std::is_same_v<aw::resource_t<aw::capacity_limiter>, aw::capacity_limiter&>);
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(2);
    EXPECT_EQ(lim.total_tokens(), 2u);
    EXPECT_EQ(lim.available_tokens(), 2u);
    co_await aw::async_with(lim, [&](aw::capacity_limiter& l) -> aw::task<> {
      EXPECT_EQ(&l, &lim);
      EXPECT_EQ(lim.borrowed_tokens(), 1u);
      EXPECT_EQ(lim.available_tokens(), 1u);
      EXPECT_EQ(lim.borrowers().size(), 1u);
      co_return;
    });
    EXPECT_EQ(lim.borrowed_tokens(), 0u);
    co_await lim.acquire();
    EXPECT_EQ(lim.borrowed_tokens(), 1u);
    co_await lim.release();
    EXPECT_EQ(lim.available_tokens(), 2u);
  });
  EXPECT_THROW(aw::capacity_limiter(0), std::invalid_argument);
}

TEST(CapacityLimiter, ATaskHoldsAtMostOneToken) {
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(5);
    co_await lim.acquire();
    int errors = 0;
    try {
      co_await lim.acquire();
    } catch (const std::logic_error&) {
      ++errors;
    }
    EXPECT_EQ(lim.borrowed_tokens(), 1u);
    co_await lim.release();
    try {
      co_await lim.release();  // holds none now
    } catch (const std::logic_error&) {
      ++errors;
    }
    EXPECT_EQ(errors, 2);
    // Children are tasks of their own: each may hold a token.
    co_await aw::async_with(lim, [&](aw::capacity_limiter&) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 3; ++i)
          tg.start_soon(
              [&]() -> aw::task<> { co_await aw::async_with(lim, [&](aw::capacity_limiter&) -> aw::task<> { co_await aw::yield(); }); });
        co_await aw::yield();
        EXPECT_EQ(lim.borrowed_tokens(), 4u);
      });
    });
    EXPECT_EQ(lim.borrowed_tokens(), 0u);
  });
}

TEST(CapacityLimiter, OnBehalfOfAnyBorrower) {
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(1);
    int a = 0, b = 0;
    co_await lim.acquire_on_behalf_of(&a);
    EXPECT_FALSE(lim.try_acquire_on_behalf_of(&b));
    EXPECT_THROW(lim.try_acquire_on_behalf_of(&a), std::logic_error);
    EXPECT_THROW(lim.release_on_behalf_of(&b), std::logic_error);
    lim.release_on_behalf_of(&a);
    EXPECT_TRUE(lim.try_acquire_on_behalf_of(&b));
    EXPECT_EQ(lim.borrowers(), (std::vector<const void*>{&b}));
    lim.release_on_behalf_of(&b);
  });
}

TEST(CapacityLimiter, LimitsConcurrencyFirstComeFirstServed) {
  log_t log;
  int inside = 0, most = 0;
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(2);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 6; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          co_await aw::async_with(lim, [&](aw::capacity_limiter&) -> aw::task<> {
            log.push_back(std::to_string(i));
            most = std::max(most, ++inside);
            co_await aw::sleep(1ms);
            --inside;
          });
        });
      co_return;
    });
  });
  EXPECT_EQ(most, 2);
  EXPECT_EQ(log, (log_t{"0", "1", "2", "3", "4", "5"}));
}

TEST(CapacityLimiter, GrowingTheTotalWakesWaiters) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(1);
    co_await lim.acquire();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          co_await lim.acquire();
          log.push_back("got " + std::to_string(i));
          co_await aw::sleep(2ms);
          co_await lim.release();
        });
      co_await yield_n(2);
      EXPECT_EQ(lim.tasks_waiting(), 3u);
      lim.set_total_tokens(3);  // two new tokens, to the first two waiters
      EXPECT_EQ(lim.borrowed_tokens(), 3u);
      EXPECT_EQ(lim.tasks_waiting(), 1u);
      EXPECT_THROW(lim.set_total_tokens(0), std::invalid_argument);
      lim.set_total_tokens(1);  // shrinking: borrowers keep their tokens
      EXPECT_EQ(lim.borrowed_tokens(), 3u);
      EXPECT_EQ(lim.available_tokens(), 0u);
      co_await lim.release();
      EXPECT_EQ(lim.tasks_waiting(), 1u);  // still over the total: nobody new gets one
    });
    EXPECT_EQ(lim.borrowed_tokens(), 0u);
  });
  EXPECT_EQ(log, (log_t{"got 0", "got 1", "got 2"}));
}

TEST(CapacityLimiter, WaitersCancelledByADeadlineAndByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter lim(1);
    co_await lim.acquire();
    bool completed = co_await aw::move_on_after(2ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { co_await lim.acquire(); });  // a task of its own
        co_return;
      });
    });
    EXPECT_FALSE(completed);
    EXPECT_EQ(lim.tasks_waiting(), 0u);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 2; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await lim.acquire();
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      tg.cancel();
    });
    EXPECT_EQ(lim.tasks_waiting(), 0u);
    EXPECT_EQ(lim.borrowed_tokens(), 1u);
    co_await lim.release();
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled"}));
}

TEST(CapacityLimiter, RaceHandedOverThenCancelledPassesTheTokenOn) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    const bool second_waiter = round % 2 == 0;
    aw::run([&]() -> aw::task<> {
      aw::capacity_limiter lim(1);
      aw::cancel_scope scope;
      co_await lim.acquire();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "first", [&]() -> aw::task<> {
            co_await lim.acquire();
            log.push_back("first got it");
          });
        });
        co_await aw::yield();
        if (second_waiter)
          tg.start_soon([&]() -> aw::task<> {
            co_await lim.acquire();
            log.push_back("second got it");
            co_await lim.release();
          });
        co_await yield_n(2);
        co_await lim.release();
        scope.cancel();
      });
      EXPECT_EQ(lim.borrowed_tokens(), 0u);
    });
    if (second_waiter)
      ASSERT_EQ(log, (log_t{"first cancelled", "second got it"})) << "round " << round;
    else
      ASSERT_EQ(log, (log_t{"first cancelled"})) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// aw::condition

TEST(Condition, IsAnAsyncContextManagerThatHoldsItsLock) {
  static_assert(aw::async_context_manager<aw::condition>);
  static_assert(std::is_same_v<aw::resource_t<aw::condition>, aw::condition&>);
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    co_await aw::async_with(cond, [&](aw::condition& c) -> aw::task<> {
      EXPECT_EQ(&c, &cond);
      EXPECT_TRUE(cond.locked());
      EXPECT_TRUE(cond.get_lock().locked());
      cond.notify();  // nobody waits: nothing happens
      co_return;
    });
    EXPECT_FALSE(cond.locked());
    aw::lock lk;
    aw::condition over(lk);
    EXPECT_EQ(&over.get_lock(), &lk);
    co_await over.acquire();
    EXPECT_TRUE(lk.locked());
    co_await over.release();
    EXPECT_FALSE(lk.locked());
  });
}

TEST(Condition, WaitAndNotifyWithoutTheLockAreLogicErrors) {
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    EXPECT_THROW(cond.notify(), std::logic_error);
    EXPECT_THROW(cond.notify_all(), std::logic_error);
    bool threw = false;
    try {
      co_await cond.wait();
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_FALSE(cond.locked());
  });
}

TEST(Condition, NotifyWakesWaitersInOrderAndEachReacquiresTheLock) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 4; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
            co_await cond.wait();
            EXPECT_TRUE(cond.locked());
            log.push_back("woke " + std::to_string(i));
            co_await aw::yield();  // holds the lock across a turn: the others must wait
            log.push_back("leaves " + std::to_string(i));
          });
        });
      while (cond.tasks_waiting() < 4) co_await aw::yield();  // each takes the lock in turn, then waits
      EXPECT_FALSE(cond.locked());                            // every waiter released it
      co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
        cond.notify();
        log.push_back("notified one");
        co_await yield_n(3);  // the woken waiter cannot run: the lock is ours
        log.push_back("notifier leaves");
      });
      co_await yield_n(4);
      co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
        cond.notify_all();
        log.push_back("notified all");
        co_return;
      });
    });
    EXPECT_FALSE(cond.locked());
  });
  EXPECT_EQ(log, (log_t{"notified one", "notifier leaves", "woke 0", "leaves 0", "notified all", "woke 1", "leaves 1", "woke 2", "leaves 2",
                        "woke 3", "leaves 3"}));
}

TEST(Condition, NotifyNWakesAtMostN) {
  int woken = 0;
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 5; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
            co_await cond.wait();
            ++woken;
          });
        });
      co_await yield_n(2);
      co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
        cond.notify(3);
        co_return;
      });
      co_await yield_n(6);
      EXPECT_EQ(woken, 3);
      EXPECT_EQ(cond.tasks_waiting(), 2u);
      co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
        cond.notify(10);
        co_return;
      });
    });
  });
  EXPECT_EQ(woken, 5);
}

// anyio: a cancelled wait reacquires the lock, shielded, before the cancellation propagates.
TEST(Condition, CancelledWaitReacquiresTheLockBeforeRaising) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await in_scope(scope, log, "waiter", [&]() -> aw::task<> {
          co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
            try {
              co_await cond.wait();
            } catch (const aw::cancelled&) {
              log.push_back(cond.locked() ? "cancelled holding the lock" : "cancelled without the lock");
              throw;
            }
          });
        });
      });
      co_await yield_n(2);
      co_await cond.acquire();
      scope.cancel();  // the waiter now needs the lock back before it can raise
      co_await yield_n(3);
      log.push_back("main releases");
      co_await cond.release();
    });
    EXPECT_FALSE(cond.locked());  // the waiter's block released it
    EXPECT_TRUE(scope.cancelled_caught());
  });
  EXPECT_EQ(log, (log_t{"main releases", "cancelled holding the lock", "waiter cancelled"}));
}

TEST(Condition, WaitsCancelledByADeadlineAndByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    bool completed = co_await aw::move_on_after(
        2ms, [&]() -> aw::task<> { co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> { co_await cond.wait(); }); });
    EXPECT_FALSE(completed);
    EXPECT_FALSE(cond.locked());
    EXPECT_EQ(cond.tasks_waiting(), 0u);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
            try {
              co_await cond.wait();
            } catch (const aw::cancelled&) {
              log.push_back(cond.locked() ? "cancelled holding the lock" : "cancelled without the lock");
              throw;
            }
          });
        });
      while (cond.tasks_waiting() < 3) co_await aw::yield();  // each takes the lock in turn, then waits
      tg.cancel();
    });
    EXPECT_FALSE(cond.locked());
    EXPECT_EQ(cond.tasks_waiting(), 0u);
  });
  EXPECT_EQ(log, (log_t{"cancelled holding the lock", "cancelled holding the lock", "cancelled holding the lock"}));
}

TEST(Condition, WaitInACancelledScopeRaisesWithoutReleasingTheLock) {
  aw::run([&]() -> aw::task<> {
    aw::condition cond;
    co_await cond.acquire();
    aw::cancel_scope scope;
    scope.cancel();
    log_t log;
    co_await in_scope(scope, log, "wait", [&]() -> aw::task<> { co_await cond.wait(); });
    EXPECT_EQ(log, (log_t{"wait cancelled"}));
    EXPECT_TRUE(cond.locked());
    co_await cond.release();
  });
}

}  // namespace
