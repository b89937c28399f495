// Worker threads: loop::call_soon_threadsafe, aw::thread_pool, aw::to_thread, aw::from_thread.
//
// Every assertion is about order and outcome, never about time: a thread that must still be
// running is held at a gate the test opens, and a condition another thread brings about is
// polled for (wait_until) rather than slept for. The racy paths (cancellation racing a job's
// completion, a from_thread call, the pool taking the job) run hundreds of times; scripts/test
// runs this binary under ThreadSanitizer too.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/capacity_limiter.hpp>
#include <aw/from_thread.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/thread_pool.hpp>
#include <aw/to_thread.hpp>

#include <gtest/gtest.h>

#include "gate.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// kGcc12: g++ 12 miscompiles a temporary with non-trivial members inside a co_await
// expression (README, "Known compiler bugs"); a lambda capturing such members by value is one
// (it is destroyed twice). The tests name such lambdas before awaiting; the library cannot
// shield the caller's frame from it.

namespace {

using thread_test::gate;

// Polls, on the loop, for something another thread brings about.
aw::task<> wait_until(std::function<bool()> done) {
  while (!done()) co_await aw::sleep(1ms);
}

// Records the highest number of calls inside fn at once.
struct concurrency_meter {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  std::atomic<int> total{0};
  void enter() {
    int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
    ++total;
  }
  void leave() { --now; }
};

struct custom_error : std::runtime_error {
  explicit custom_error(int c) : std::runtime_error("custom " + std::to_string(c)), code(c) {}
  int code;
};

int global_value = 5;

// ---------------------------------------------------------------------------------------
// loop::call_soon_threadsafe

struct recording_call : aw::posted_call {
  std::vector<int>* seen = nullptr;
  int n = 0;
  std::thread::id* ran_on = nullptr;
};

TEST(CallSoonThreadsafe, RunsPostedCallsInOrderOnTheLoopsThread) {
  aw::run([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    std::vector<recording_call> calls(1000);
    std::vector<int> seen;
    std::vector<std::thread::id> threads(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
      calls[i].seen = &seen;
      calls[i].n = static_cast<int>(i);
      calls[i].ran_on = &threads[i];
      calls[i].run = [](aw::posted_call* p) {
        auto* c = static_cast<recording_call*>(p);
        c->seen->push_back(c->n);
        *c->ran_on = std::this_thread::get_id();
      };
    }
    std::thread poster([&] {
      for (auto& c : calls) l.call_soon_threadsafe(c);
    });
    co_await wait_until([&] { return seen.size() == calls.size(); });
    poster.join();
    for (std::size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i], static_cast<int>(i));
      EXPECT_EQ(threads[i], std::this_thread::get_id());
    }
  });
}

struct wake_call : aw::posted_call {
  std::coroutine_handle<> h;
  aw::loop* l = nullptr;
};

// A wait that only another thread ends, with nothing else pending on the loop.
struct resumed_by_thread {
  wake_call call;
  std::thread thread;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    call.h = h;
    call.l = &aw::loop::current();
    call.run = [](aw::posted_call* p) {
      auto* c = static_cast<wake_call*>(p);
      c->l->release_external_ref();
      c->l->schedule(c->h);
    };
    call.l->add_external_ref();
    thread = std::thread([this] {
      std::this_thread::sleep_for(5ms);  // let the loop block in its wait first
      call.l->call_soon_threadsafe(call);
    });
  }
  void await_resume() { thread.join(); }
};

TEST(CallSoonThreadsafe, AnExternalRefKeepsTheLoopWaitingInsteadOfDeadlocked) {
  aw::run([&]() -> aw::task<> {
    resumed_by_thread w;  // an lvalue: g++ 12 and aggregate temporaries in co_await
    co_await w;
  });
}

TEST(CallSoonThreadsafe, PostsFromManyThreadsAllRun) {
  aw::run([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    constexpr int threads = 4, per_thread = 500;
    std::vector<recording_call> calls(threads * per_thread);
    std::vector<int> seen;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      calls[i].seen = &seen;
      calls[i].n = static_cast<int>(i);
      calls[i].run = [](aw::posted_call* p) {
        auto* c = static_cast<recording_call*>(p);
        c->seen->push_back(c->n);
      };
    }
    std::vector<std::thread> posters;
    for (int t = 0; t < threads; ++t)
      posters.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) l.call_soon_threadsafe(calls[t * per_thread + i]);
      });
    co_await wait_until([&] { return seen.size() == calls.size(); });
    for (auto& p : posters) p.join();
    // Each poster's calls run in the order it posted them.
    std::vector<int> last(threads, -1);
    for (int n : seen) {
      int t = n / per_thread;
      EXPECT_GT(n, last[t]);
      last[t] = n;
    }
  });
}

// ---------------------------------------------------------------------------------------
// aw::thread_pool

TEST(ThreadPool, GivesValuesOfEveryKind) {
  aw::thread_pool pool(2);
  aw::run([&]() -> aw::task<> {
    const auto loop_thread = std::this_thread::get_id();
    int i = co_await pool.run([] { return 42; });
    EXPECT_EQ(i, 42);
    std::string s = co_await pool.run([] { return std::string(100, 'x'); });
    EXPECT_EQ(s, std::string(100, 'x'));
    std::unique_ptr<int> p = co_await pool.run([] { return std::make_unique<int>(7); });
    EXPECT_TRUE(p && *p == 7);
    std::thread::id worker;
    co_await pool.run([&] { worker = std::this_thread::get_id(); });
    EXPECT_NE(worker, loop_thread);
    int& r = co_await pool.run([]() -> int& { return global_value; });
    EXPECT_EQ(&r, &global_value);
    const std::string& cr = co_await pool.run([&]() -> const std::string& { return s; });
    EXPECT_EQ(&cr, &s);
    // An rvalue reference becomes a value: the object it names may not outlive the call.
    std::string moved = co_await pool.run([&]() -> std::string&& { return std::move(s); });
    EXPECT_EQ(moved, std::string(100, 'x'));
    EXPECT_TRUE(s.empty());
  });
}

TEST(ThreadPool, RethrowsTheExceptionOfFn) {
  aw::thread_pool pool(2);
  aw::run([&]() -> aw::task<> {
    std::string message;
    try {
      co_await pool.run([]() -> int { throw std::runtime_error("disk on fire"); });
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    EXPECT_EQ(message, "disk on fire");
    int code = 0;
    try {
      co_await pool.run([] { throw custom_error(17); });
    } catch (const custom_error& e) {
      code = e.code;
    }
    EXPECT_EQ(code, 17);
    // The pool goes on working after a failure.
    EXPECT_EQ(co_await pool.run([] { return 1; }), 1);
  });
}

TEST(ThreadPool, NeverRunsMoreThanMaxThreadsAtOnce) {
  aw::thread_pool pool(2);
  concurrency_meter meter;
  std::atomic<std::size_t> most_threads{0};
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 20; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await pool.run([&] {
            meter.enter();
            std::size_t t = pool.threads();
            if (t > most_threads) most_threads = t;
            std::this_thread::sleep_for(1ms);
            meter.leave();
          });
        });
      co_return;
    });
  });
  EXPECT_EQ(meter.total, 20);
  EXPECT_LE(meter.max, 2);
  EXPECT_LE(most_threads, 2u);
  EXPECT_EQ(pool.max_threads(), 2u);
}

TEST(ThreadPool, IdleWorkersExit) {
  aw::thread_pool pool(3, 5ms);
  aw::run([&]() -> aw::task<> {
    std::size_t during = co_await pool.run([&] { return pool.threads(); });
    EXPECT_GE(during, 1u);
    co_await wait_until([&] { return pool.threads() == 0; });
    // And start again when needed.
    EXPECT_EQ(co_await pool.run([] { return 3; }), 3);
  });
}

TEST(ThreadPool, MaxThreadsMustBePositive) {
  EXPECT_THROW({ aw::thread_pool pool(0); }, std::invalid_argument);
}

TEST(ThreadPool, IsSharedByLoopsOnSeveralThreads) {
  aw::thread_pool pool(3);
  std::vector<long> sums(4);
  std::vector<std::thread> loops;
  for (int t = 0; t < 4; ++t)
    loops.emplace_back([&, t] {
      sums[t] = aw::run([&]() -> aw::task<long> {
        long sum = 0;
        for (int i = 0; i < 100; ++i) sum += co_await pool.run([i, t] { return long{i} * (t + 1); });
        co_return sum;
      });
    });
  for (auto& l : loops) l.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(sums[t], 4950L * (t + 1));
}

TEST(ThreadPool, CancelledBeforeItStartsFnNeverRuns) {
  aw::thread_pool pool(1);
  std::atomic<bool> ran{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    scope.cancel();
    bool after = false;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await pool.run([&] { ran = true; });
      after = true;
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_FALSE(after);
  });
  EXPECT_FALSE(ran);
}

TEST(ThreadPool, CancelledWhileQueuedTheJobIsDroppedAtOnce) {
  aw::thread_pool pool(1);
  gate g;
  std::atomic<bool> first_started{false}, second_ran{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await pool.run([&] {
          first_started = true;
          g.wait();
        });
      });
      bool second_left = false;
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await pool.run([&] { second_ran = true; }); });
        second_left = true;
      });
      co_await wait_until([&] { return first_started.load(); });
      co_await aw::yield();  // the second job is queued behind the first by now
      scope.cancel();
      co_await wait_until([&] { return second_left; });  // while the only worker is still held
      g.open();
    });
    EXPECT_TRUE(scope.cancelled_caught());
  });
  EXPECT_FALSE(second_ran);
}

TEST(ThreadPool, CancelledWhileRunningByDefaultWaitsForFnAndGivesItsValue) {
  aw::thread_pool pool(1);
  gate g;
  std::atomic<bool> started{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    int got = 0;
    bool resumed = false, next_wait_raised = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          got = co_await pool.run([&] {
            started = true;
            g.wait();
            return 42;
          });
          resumed = true;
          try {
            co_await aw::yield();  // level triggered: the next wait raises
          } catch (const aw::cancelled&) {
            next_wait_raised = true;
            throw;
          }
        });
      });
      co_await wait_until([&] { return started.load(); });
      scope.cancel();
      for (int i = 0; i < 10; ++i) co_await aw::yield();
      EXPECT_FALSE(resumed);  // fn is held at the gate: the caller must still wait
      g.open();
    });
    EXPECT_EQ(got, 42);
    EXPECT_TRUE(resumed);
    EXPECT_TRUE(next_wait_raised);
    EXPECT_TRUE(scope.cancelled_caught());
  });
}

TEST(ThreadPool, AbandonOnCancelLeavesAtOnceAndFnFinishesOnItsOwn) {
  aw::thread_pool pool(1);
  auto g = std::make_shared<gate>();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> started{false};
  auto token = std::make_shared<int>(0);
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    bool left = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          auto fn = [g, finished, token, &started] {  // named: see kGcc12 below
            started = true;
            g->wait();
            *finished = true;
            return std::string("dropped");
          };
          co_await pool.run(std::move(fn), {.abandon_on_cancel = true});
          ADD_FAILURE() << "an abandoned wait must raise";
        });
        left = true;
      });
      co_await wait_until([&] { return started.load(); });
      scope.cancel();
      co_await wait_until([&] { return left; });
      EXPECT_FALSE(finished->load());  // the caller left while fn still ran
      g->open();
      co_await wait_until([&] { return finished->load(); });
      co_await wait_until([&] { return token.use_count() == 1; });  // the worker freed the job
    });
    EXPECT_TRUE(scope.cancelled_caught());
  });
}

TEST(ThreadPool, AnAbandonedJobFinishesAfterRunReturnedWithoutTouchingTheLoop) {
  auto g = std::make_shared<gate>();
  std::atomic<bool> started{false};
  std::atomic<int> callbacks_cancelled{0};
  std::atomic<bool> finished{false};
  {
    aw::thread_pool pool(1);
    aw::run([&]() -> aw::task<> {
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
            auto fn = [&, g] {
              started = true;
              g->wait();
              // The loop is gone by now: calling back must raise, not touch it.
              try {
                aw::from_thread::run_sync([] { return 1; });
              } catch (const aw::cancelled&) {
                ++callbacks_cancelled;
              }
              try {
                aw::from_thread::run([]() -> aw::task<> { co_return; });
              } catch (const aw::cancelled&) {
                ++callbacks_cancelled;
              }
              try {
                aw::from_thread::check_cancelled();
              } catch (const aw::cancelled&) {
                ++callbacks_cancelled;
              }
              finished = true;
            };
            co_await pool.run(std::move(fn), {.abandon_on_cancel = true});
          });
        });
        co_await wait_until([&] { return started.load(); });
        scope.cancel();
        co_return;
      });
    });
    EXPECT_FALSE(finished);
    g->open();
  }  // the pool's destructor waits for its worker
  EXPECT_TRUE(finished);
  EXPECT_EQ(callbacks_cancelled, 3);
}

// ---------------------------------------------------------------------------------------
// aw::to_thread

TEST(ToThread, CopiesOrMovesTheArgumentsIntoTheJob) {
  aw::run([&]() -> aw::task<> {
    auto take = [](std::unique_ptr<int> p, std::string s) { return std::to_string(*p) + s; };
    std::string r = co_await aw::to_thread(take, std::make_unique<int>(4), std::string("2"));
    EXPECT_EQ(r, "42");
    int counter = 0;
    co_await aw::to_thread([](int& c, int by) { c += by; }, std::ref(counter), 5);
    EXPECT_EQ(counter, 5);
    std::string s = "copied";
    std::string changed = co_await aw::to_thread([](std::string mine) { return mine + "!"; }, s);  // the job's copy
    EXPECT_EQ(changed, "copied!");
    EXPECT_EQ(s, "copied");
    // A lambda holding a std::string: named first (kGcc12 below).
    auto size_of = [text = std::string(64, 'y')] { return text.size(); };
    auto n = co_await aw::to_thread(std::move(size_of));
    EXPECT_EQ(n, 64u);
    int& g = co_await aw::to_thread([]() -> int& { return global_value; });
    EXPECT_EQ(&g, &global_value);
  });
}

TEST(ToThread, RethrowsTheExceptionOfFn) {
  aw::run([&]() -> aw::task<> {
    int code = 0;
    try {
      co_await aw::to_thread([](int c) { throw custom_error(c); }, 9);
    } catch (const custom_error& e) {
      code = e.code;
    }
    EXPECT_EQ(code, 9);
  });
}

TEST(ToThread, TheDefaultLimiterBoundsAThousandCallsToForty) {
  concurrency_meter meter;
  aw::run([&]() -> aw::task<> {
    EXPECT_EQ(aw::default_thread_limiter().total_tokens(), 40u);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 1000; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::to_thread([&] {
            meter.enter();
            std::this_thread::yield();
            meter.leave();
          });
        });
      co_return;
    });
    EXPECT_EQ(aw::default_thread_limiter().borrowed_tokens(), 0u);
    EXPECT_EQ(aw::default_thread_limiter().tasks_waiting(), 0u);
  });
  EXPECT_EQ(meter.total, 1000);
  EXPECT_LE(meter.max, 40);
  EXPECT_GE(meter.max, 1);
}

TEST(ToThread, ACustomLimiterBoundsItsCalls) {
  concurrency_meter meter;
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter limiter(3);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 60; ++i)
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::to_thread(aw::thread_options{.limiter = &limiter}, [&] {
            meter.enter();
            std::this_thread::sleep_for(100us);
            meter.leave();
          });
        });
      co_return;
    });
    EXPECT_EQ(limiter.borrowed_tokens(), 0u);
    EXPECT_EQ(aw::default_thread_limiter().borrowed_tokens(), 0u);  // not used
  });
  EXPECT_EQ(meter.total, 60);
  EXPECT_LE(meter.max, 3);
}

TEST(ToThread, TheDefaultLimiterBelongsToItsLoop) {
  aw::run([&]() -> aw::task<> {
    aw::default_thread_limiter().set_total_tokens(5);
    EXPECT_EQ(aw::default_thread_limiter().total_tokens(), 5u);
    co_await aw::to_thread([] {});
    std::size_t other = 0;
    std::thread t([&] { other = aw::run([]() -> aw::task<std::size_t> { co_return aw::default_thread_limiter().total_tokens(); }); });
    t.join();
    EXPECT_EQ(other, 40u);  // another loop, its own limiter
  });
  aw::run([&]() -> aw::task<> {
    EXPECT_EQ(aw::default_thread_limiter().total_tokens(), 40u);  // a new loop on this thread: a new limiter
    co_return;
  });
  EXPECT_THROW(aw::default_thread_limiter(), std::logic_error);  // no loop
}

TEST(ToThread, CancelledWhileWaitingForATokenFnNeverRuns) {
  gate g;
  std::atomic<bool> first_started{false}, second_ran{false};
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter limiter(1);
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::to_thread(aw::thread_options{.limiter = &limiter}, [&] {
          first_started = true;
          g.wait();
        });
      });
      bool second_left = false;
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::to_thread(aw::thread_options{.limiter = &limiter}, [&] { second_ran = true; });
        });
        second_left = true;
      });
      co_await wait_until([&] { return first_started.load() && limiter.tasks_waiting() == 1; });
      scope.cancel();
      co_await wait_until([&] { return second_left; });
      EXPECT_EQ(limiter.tasks_waiting(), 0u);
      g.open();
    });
    EXPECT_EQ(limiter.borrowed_tokens(), 0u);
  });
  EXPECT_FALSE(second_ran);
}

TEST(ToThread, AnAbandonedCallGivesItsTokenBackAtOnce) {
  auto g = std::make_shared<gate>();
  std::atomic<bool> started{false};
  auto finished = std::make_shared<std::atomic<bool>>(false);
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter limiter(1);
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          auto fn = [g, finished, &started] {
            started = true;
            g->wait();
            *finished = true;
          };
          co_await aw::to_thread(aw::thread_options{.limiter = &limiter, .abandon_on_cancel = true}, std::move(fn));
        });
      });
      co_await wait_until([&] { return started.load(); });
      scope.cancel();
      co_await wait_until([&] { return limiter.borrowed_tokens() == 0; });
      // The token is free while the abandoned fn still runs: another call goes ahead.
      EXPECT_EQ(co_await aw::to_thread(aw::thread_options{.limiter = &limiter}, [] { return 8; }), 8);
      EXPECT_FALSE(finished->load());
      g->open();
      co_await wait_until([&] { return finished->load(); });
    });
  });
}

// The wait for a token is aborted by outer.cancel(), and in the same step inner is shielded,
// so that the scopes no longer say the caller is cancelled: the aborted wait still raises
// aw::cancelled, and fn never runs (it used to run without a token, whose release then failed).
TEST(ToThread, AnAbortedWaitForATokenRaisesThoughTheScopeIsShieldedAfterwards) {
  std::atomic<bool> ran{false};
  aw::run([&]() -> aw::task<> {
    aw::capacity_limiter limiter(1);
    int holder = 0;
    co_await limiter.acquire_on_behalf_of(&holder);
    aw::cancel_scope outer;
    aw::cancel_scope inner;
    bool cancelled = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
            try {
              co_await aw::to_thread(aw::thread_options{.limiter = &limiter}, [&] { ran = true; });
            } catch (const aw::cancelled&) {
              cancelled = true;
              throw;
            }
          });
        });
      });
      co_await wait_until([&] { return limiter.tasks_waiting() == 1; });
      outer.cancel();
      inner.set_shield(true);
    });
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(outer.cancelled_caught());
    EXPECT_EQ(limiter.borrowed_tokens(), 1u);  // the holder's only
    limiter.release_on_behalf_of(&holder);
  });
  EXPECT_FALSE(ran);
}

// ---------------------------------------------------------------------------------------
// aw::from_thread

TEST(FromThread, RunSyncRunsOnTheLoopAndGivesItsValue) {
  aw::run([&]() -> aw::task<> {
    const auto loop_thread = std::this_thread::get_id();
    int on_loop = 0;
    std::thread::id where;
    int r = co_await aw::to_thread([&] {
      int v = aw::from_thread::run_sync([&](int a, int b) { return a * b; }, 6, 7);
      aw::from_thread::run_sync([&] {
        ++on_loop;  // the loop's data, touched on the loop's thread
        where = std::this_thread::get_id();
      });
      int& ref = aw::from_thread::run_sync([&]() -> int& { return on_loop; });
      ++ref;  // the loop waits for us: no race
      return v;
    });
    EXPECT_EQ(r, 42);
    EXPECT_EQ(on_loop, 2);
    EXPECT_EQ(where, loop_thread);
  });
}

TEST(FromThread, RunAwaitsATaskOnTheLoopAndGivesItsValue) {
  aw::run([&]() -> aw::task<> {
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id where;
    std::string r = co_await aw::to_thread([&] {
      int n = aw::from_thread::run(
          [&](int base) -> aw::task<int> {
            co_await aw::sleep(1ms);
            where = std::this_thread::get_id();
            co_return base + 1;
          },
          41);
      aw::from_thread::run([]() -> aw::task<> { co_await aw::yield(); });
      std::unique_ptr<int> p = aw::from_thread::run([]() -> aw::task<std::unique_ptr<int>> { co_return std::make_unique<int>(3); });
      // The task may itself go back to a thread.
      int nested = aw::from_thread::run([]() -> aw::task<int> { co_return co_await aw::to_thread([] { return 5; }); });
      return std::to_string(n) + "," + std::to_string(*p) + "," + std::to_string(nested);
    });
    EXPECT_EQ(r, "42,3,5");
    EXPECT_EQ(where, loop_thread);
  });
}

TEST(FromThread, ExceptionsCrossBothWays) {
  aw::run([&]() -> aw::task<> {
    // The loop's exception reaches the worker...
    std::string seen = co_await aw::to_thread([] {
      try {
        aw::from_thread::run([]() -> aw::task<int> {
          co_await aw::yield();
          throw custom_error(3);
        });
      } catch (const custom_error& e) {
        return std::string(e.what());
      }
      return std::string("nothing");
    });
    EXPECT_EQ(seen, "custom 3");
    std::string sync_seen = co_await aw::to_thread([] {
      try {
        aw::from_thread::run_sync([]() -> int { throw std::out_of_range("sync"); });
      } catch (const std::out_of_range& e) {
        return std::string(e.what());
      }
      return std::string("nothing");
    });
    EXPECT_EQ(sync_seen, "sync");
    // ...and, not caught there, the caller.
    int code = 0;
    try {
      co_await aw::to_thread([] { aw::from_thread::run([]() -> aw::task<> { throw custom_error(4); }); });
    } catch (const custom_error& e) {
      code = e.code;
    }
    EXPECT_EQ(code, 4);
  });
}

TEST(FromThread, OutsideAWorkerIsALogicError) {
  auto all_fail = [] {
    int failures = 0;
    try {
      aw::from_thread::run_sync([] {});
    } catch (const std::logic_error& e) {
      failures += std::string(e.what()).find("aw::from_thread") != std::string::npos;
    }
    try {
      aw::from_thread::run([]() -> aw::task<> { co_return; });
    } catch (const std::logic_error&) {
      ++failures;
    }
    try {
      aw::from_thread::check_cancelled();
    } catch (const std::logic_error&) {
      ++failures;
    }
    return failures;
  };
  EXPECT_EQ(all_fail(), 3);  // no loop at all
  int own_thread = 0;
  std::thread([&] { own_thread = all_fail(); }).join();
  EXPECT_EQ(own_thread, 3);  // a thread of one's own
  aw::run([&]() -> aw::task<> {
    EXPECT_EQ(all_fail(), 3);  // the loop's thread: blocking there would deadlock
    co_return;
  });
}

TEST(FromThread, ATaskRunFromAThreadIsCancelledWithItsCaller) {
  std::atomic<bool> task_started{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    std::string outcome;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          outcome = co_await aw::to_thread([&] {
            try {
              aw::from_thread::run([&]() -> aw::task<> {
                task_started = true;
                co_await aw::sleep(1h);
              });
              return std::string("slept");
            } catch (const aw::cancelled&) {
              return std::string("cancelled");
            }
          });
        });
      });
      co_await wait_until([&] { return task_started.load(); });
      scope.cancel();
    });
    EXPECT_EQ(outcome, "cancelled");
    EXPECT_FALSE(scope.cancelled_caught());  // the worker caught it; the block ended normally
  });
}

TEST(FromThread, AfterTheCallerWasCancelledTasksAndCheckCancelledRaise) {
  gate g;
  std::atomic<bool> started{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    std::string outcome;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          outcome = co_await aw::to_thread([&] {
            started = true;
            g.wait();
            std::string r;
            try {
              aw::from_thread::check_cancelled();
              r += "unchecked ";
            } catch (const aw::cancelled&) {
              r += "checked ";
            }
            try {
              aw::from_thread::run([]() -> aw::task<> { co_await aw::yield(); });
              r += "ran ";
            } catch (const aw::cancelled&) {
              r += "cancelled ";
            }
            // A plain call is no wait: it runs (trio: run_sync raises only when abandoned).
            r += aw::from_thread::run_sync([] { return std::string("synced"); });
            return r;
          });
        });
      });
      co_await wait_until([&] { return started.load(); });
      scope.cancel();
      g.open();
    });
    EXPECT_EQ(outcome, "checked cancelled synced");
  });
}

TEST(FromThread, CheckCancelledLetsALoopInTheWorkerStop) {
  std::atomic<int> rounds{0};
  std::atomic<bool> stopped{false};
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::to_thread([&] {
            try {
              for (;;) {
                aw::from_thread::check_cancelled();
                ++rounds;
                std::this_thread::yield();
              }
            } catch (const aw::cancelled&) {
              stopped = true;
              throw;  // reaches the caller as its own cancellation
            }
          });
          ADD_FAILURE() << "the worker's aw::cancelled must reach the caller";
        });
      });
      co_await wait_until([&] { return rounds.load() > 0; });
      scope.cancel();
    });
    EXPECT_TRUE(scope.cancelled_caught());
  });
  EXPECT_TRUE(stopped);
}

TEST(FromThread, AbandonedWhileCallingBackTheCallerLeavesWhenTheCallEnds) {
  std::atomic<bool> in_task{false};
  auto log = std::make_shared<std::string>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          auto fn = [&in_task, log, done] {
            try {
              aw::from_thread::run([&]() -> aw::task<> {
                in_task = true;
                co_await aw::sleep(1h);
              });
            } catch (const aw::cancelled&) {
              *log += "task cancelled;";
            }
            try {
              aw::from_thread::run_sync([] {});
            } catch (const aw::cancelled&) {
              *log += "abandoned;";
            }
            *done = true;
          };
          co_await aw::to_thread(aw::thread_options{.abandon_on_cancel = true}, std::move(fn));
        });
      });
      co_await wait_until([&] { return in_task.load(); });
      scope.cancel();
    });
    EXPECT_TRUE(scope.cancelled_caught());
    co_await wait_until([&] { return done->load(); });
  });
  EXPECT_EQ(*log, "task cancelled;abandoned;");
}

// ---------------------------------------------------------------------------------------
// Races, many times over

// Cancellation at every moment of a job's life: before the pool takes it, while it runs,
// as it completes. Each round ends with the value or aw::cancelled; nothing leaks (the
// captured token counts the live jobs) and the sanitizers see no race.
void cancel_racing_completion(bool abandon) {
  auto token = std::make_shared<int>(0);
  std::atomic<int> ran{0};
  {
    aw::thread_pool pool(4);
    aw::run([&]() -> aw::task<> {
      int values = 0, cancelled = 0;
      for (int i = 0; i < 1000; ++i) {
        aw::cancel_scope scope;
        int got = -1;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
              auto fn = [token, &ran, i] {
                ++ran;
                return i;
              };
              got = co_await pool.run(std::move(fn), {.abandon_on_cancel = abandon});
            });
          });
          for (int k = 0; k < i % 4; ++k) co_await aw::yield();
          scope.cancel();
        });
        if (got == i)
          ++values;
        else if (got == -1)
          ++cancelled;
        else
          ADD_FAILURE() << "round " << i << " got " << got;
      }
      EXPECT_EQ(values + cancelled, 1000);
    });
  }  // every worker has exited: every job has been freed
  EXPECT_EQ(token.use_count(), 1);
  EXPECT_LE(ran, 1000);
}

TEST(Races, CancelRacingCompletionWaitingForFn) { cancel_racing_completion(false); }
TEST(Races, CancelRacingCompletionAbandoning) { cancel_racing_completion(true); }

// Cancellation racing calls back into the loop.
void cancel_racing_callbacks(bool abandon) {
  auto token = std::make_shared<int>(0);
  {
    aw::thread_pool pool(2);
    aw::run([&]() -> aw::task<> {
      for (int i = 0; i < 300; ++i) {
        aw::cancel_scope scope;
        int on_loop = 0;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
              auto fn = [token, &on_loop] {
                for (int k = 0; k < 3; ++k) {
                  try {
                    aw::from_thread::run_sync([&] { ++on_loop; });
                    aw::from_thread::run([&]() -> aw::task<> {
                      co_await aw::yield();
                      ++on_loop;
                    });
                  } catch (const aw::cancelled&) {
                    return;  // abandoned (the caller and on_loop may be gone), or the task was cancelled
                  }
                }
              };
              co_await pool.run(std::move(fn), {.abandon_on_cancel = abandon});
            });
          });
          for (int k = 0; k < i % 5; ++k) co_await aw::yield();
          scope.cancel();
        });
        EXPECT_LE(on_loop, 6);
      }
    });
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Races, CancelRacingCallbacksWaitingForFn) { cancel_racing_callbacks(false); }
TEST(Races, CancelRacingCallbacksAbandoning) { cancel_racing_callbacks(true); }

// Many loops, one pool, jobs that finish at once: completions posted concurrently.
TEST(Races, ManyLoopsShareOnePoolUnderLoad) {
  aw::thread_pool pool(4);
  std::atomic<long> total{0};
  std::vector<std::thread> loops;
  for (int t = 0; t < 3; ++t)
    loops.emplace_back([&] {
      aw::run([&]() -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          for (int i = 0; i < 300; ++i) tg.start_soon([&, i]() -> aw::task<> { total += co_await pool.run([i] { return long{i}; }); });
          co_return;
        });
      });
    });
  for (auto& l : loops) l.join();
  EXPECT_EQ(total, 3 * 44850L);
}

}  // namespace
