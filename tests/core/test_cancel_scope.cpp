// Cancellation: aw::cancel_scope (cancel, deadlines, shields, nesting), every wait as a
// cancellation point, aw::move_on_after, aw::fail_after, aw::current_deadline, and exits
// that run shielded from the cancellation that caused them.
//
// The reference is anyio 4's documented behaviour (trio's model): cancelling a scope makes
// every wait inside it raise aw::cancelled until the scope is left (level triggered); the
// scope that was cancelled swallows it (cancelled_caught), unless a cancelled outer scope
// is visible, in which case the outermost one does; a shielded scope is deaf to
// cancellation from outside. Where asyncwith deliberately differs from anyio (exits run
// shielded; anyio's __aexit__ runs in the cancelled scope unless it shields itself), the
// test says so.
//
// Task groups are tested in test_task_group.cpp. Most tests run on virtual time
// (virtual_time.hpp): their deadlines fire exactly when due and take no real time, so their
// time assertions are equalities. A few run on the real clock, with lower bounds ("not
// before the deadline"), never upper bounds; a wait of an hour proves by the test finishing
// that it was cancelled.
#include "protocol_helpers.hpp"
#include "virtual_time.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace {

using namespace aw_test;
using namespace std::chrono_literals;

constexpr auto never = aw::clock::time_point::max();

bool is_cancelled(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const aw::cancelled&) {
    return true;
  } catch (...) {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

// Runs a task beside the main task, as a plain frame on the loop outside every cancel scope
// (as a callback from elsewhere would run), and destroys its frame when the helper goes out
// of scope. Declare it inside the main coroutine: the frame may hold a timer of the loop.
class beside {
 public:
  explicit beside(aw::task<> t) : h_(t.release()) { aw::loop::current().schedule(h_); }
  beside(const beside&) = delete;
  beside& operator=(const beside&) = delete;
  ~beside() { h_.destroy(); }
  bool done() const noexcept { return h_.done(); }

 private:
  std::coroutine_handle<> h_;
};

aw::task<> cancel_after(aw::cancel_scope& scope, std::chrono::milliseconds d) {
  if (d > d.zero()) co_await aw::sleep(d);
  scope.cancel();
}

// A pipe whose ends close with it.
class pipe_pair {
 public:
  pipe_pair() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    read_end = p[0];
    write_end = p[1];
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
  ~pipe_pair() {
    ::close(read_end);
    ::close(write_end);
  }
  void put(char c = 'x') const { ASSERT_EQ(::write(write_end, &c, 1), 1); }
  // Writes until the kernel refuses more: the write end is then not writable.
  void fill() const {
    static const char chunk[4096] = {};
    while (::write(write_end, chunk, sizeof chunk) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
  }
  void drain() const {
    char buf[4096];
    while (::read(read_end, buf, sizeof buf) > 0) {
    }
  }
  int read_end = -1;
  int write_end = -1;
};

// What an exit saw and did.
struct exit_probe {
  bool started = false;
  bool finished = false;
  bool grace_timed_out = false;
  std::exception_ptr seen;                   // the exception aexit received
  aw::clock::time_point deadline_in_exit{};  // aw::current_deadline() inside the exit
  aw::clock::time_point finished_at{};
};

// A manager whose exit sleeps for `d`, then records that it finished.
class slow_exit {
 public:
  slow_exit(exit_probe& probe, std::chrono::milliseconds d) : probe_(&probe), d_(d) {}
  aw::task<slow_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr e) {
    probe_->started = true;
    probe_->seen = e;
    probe_->deadline_in_exit = co_await aw::current_deadline();
    co_await aw::sleep(d_);
    probe_->finished = true;
    probe_->finished_at = aw::now();
  }

 private:
  exit_probe* probe_;
  std::chrono::milliseconds d_;
};

// A manager whose exit would take 10 s, bounded by a grace period of its own.
class graceful_exit {
 public:
  graceful_exit(exit_probe& probe, std::chrono::milliseconds grace) : probe_(&probe), grace_(grace) {}
  aw::task<graceful_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr e) {
    probe_->started = true;
    probe_->seen = e;
    bool completed = co_await aw::move_on_after(grace_, []() -> aw::task<> { co_await aw::sleep(10s); });
    probe_->grace_timed_out = !completed;
    probe_->finished = true;
    probe_->finished_at = aw::now();
  }

 private:
  exit_probe* probe_;
  std::chrono::milliseconds grace_;
};

// Generator form: the body's exception is captured out of co_yield, the cleanup sleeps
// (outside the catch handler: no co_await there), then the exception is rethrown.
aw::context_manager<int> sleeping_generator(exit_probe& probe, std::chrono::milliseconds d) {
  int value = 7;
  std::exception_ptr e;
  try {
    co_yield value;
  } catch (...) {
    e = std::current_exception();
  }
  probe.started = true;
  probe.seen = e;
  co_await aw::sleep(d);
  probe.finished = true;
  probe.finished_at = aw::now();
  if (e) std::rethrow_exception(e);
}

// Generator form with the cleanup after the co_yield inside the try block (it runs when the
// body succeeded); a failure is recorded and rethrown.
aw::context_manager<int> cleanup_after_yield(exit_probe& probe, std::chrono::milliseconds d) {
  int value = 7;
  try {
    co_yield value;
    probe.started = true;
    co_await aw::sleep(d);
    probe.finished = true;
    probe.finished_at = aw::now();
  } catch (...) {
    probe.seen = std::current_exception();
    throw;
  }
}

// ---------------------------------------------------------------------------------------
// cancel_scope: cancel()

TEST(CancelScope, CancelInsideTheBodyRaisesAtTheNextWaitAndTheScopeSwallowsIt) {
  log_t log;
  aw::cancel_scope scope;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      EXPECT_EQ(&s, &scope);
      log.push_back("before cancel");
      s.cancel();
      log.push_back("after cancel");  // cancel() itself raises nothing
      try {
        co_await aw::sleep(1h);
        log.push_back("slept");
      } catch (const aw::cancelled&) {
        log.push_back("cancelled");
        throw;
      }
    });
    log.push_back("after block");
    co_await aw::sleep(1ms);  // the scope is left: waits work again
    log.push_back("slept after");
  });
  EXPECT_EQ(log, (log_t{"before cancel", "after cancel", "cancelled", "after block", "slept after"}));
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(CancelScope, CancelFromElsewhereInterruptsAWaitInProgress) {
  aw::cancel_scope scope;
  aw::clock::time_point start{};
  aw::run([&]() -> aw::task<> {
    start = aw::now();
    beside canceller(cancel_after(scope, 10ms));
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
    EXPECT_GE(aw::now() - start, 10ms);
    EXPECT_TRUE(canceller.done());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);  // the interrupted sleep took its timer along
  });
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(CancelScope, CancelBeforeEnteringCancelsAtTheFirstWait) {
  log_t log;
  aw::cancel_scope scope;
  scope.cancel();
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_FALSE(scope.cancelled_caught());
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      log.push_back("body starts");  // code before the first wait runs
      co_await aw::yield();
      log.push_back("not reached");
    });
    log.push_back("after block");
  });
  EXPECT_EQ(log, (log_t{"body starts", "after block"}));
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(CancelScope, CancellationIsLevelTriggered) {
  // Catching aw::cancelled inside the scope does not end it: every following wait raises again.
  int caught = 0;
  log_t log;
  aw::cancel_scope scope;
  run_virtual([&]() -> aw::task<> {
    pipe_pair p;
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        ++caught;
      }
      log.push_back("after sleep");
      try {
        co_await aw::yield();
      } catch (const aw::cancelled&) {
        ++caught;
      }
      log.push_back("after yield");
      try {
        co_await aw::sleep_until(aw::now() + 1h);
      } catch (const aw::cancelled&) {
        ++caught;
      }
      try {
        co_await aw::wait_readable(p.read_end);
      } catch (const aw::cancelled&) {
        ++caught;
      }
      try {
        co_await aw::sleep(0ms);
      } catch (const aw::cancelled&) {
        ++caught;
      }
      log.push_back("last wait");
      co_await aw::sleep(1h);  // this one goes to the scope
      log.push_back("not reached");
    });
    log.push_back("after block");
  });
  EXPECT_EQ(caught, 5);
  EXPECT_EQ(log, (log_t{"after sleep", "after yield", "last wait", "after block"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(CancelScope, CancelIsIdempotent) {
  aw::cancel_scope scope;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      s.cancel();
      co_await aw::yield();
    });
    scope.cancel();  // after leaving: nothing happens
    co_await aw::yield();
  });
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_TRUE(scope.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// cancel_scope: deadlines

TEST(CancelScope, DeadlineInThePastCancelsAtTheFirstWait) {
  log_t log;
  auto past = aw::now() - 1s;
  aw::cancel_scope scope(past);
  EXPECT_EQ(scope.deadline(), past);
  EXPECT_FALSE(scope.cancel_called());
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      log.push_back("body starts");
      co_await aw::sleep(1h);
      log.push_back("not reached");
    });
    log.push_back("after block");
  });
  EXPECT_EQ(log, (log_t{"body starts", "after block"}));
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(CancelScope, DeadlineInterruptsAWaitInProgressNotBefore) {
  aw::clock::time_point deadline{};
  aw::run([&]() -> aw::task<> {
    deadline = aw::now() + 20ms;
    aw::cancel_scope scope(deadline);
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
    EXPECT_GE(aw::now(), deadline);
    EXPECT_TRUE(scope.cancel_called());
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(CancelScope, ScopeThatEndsBeforeItsDeadlineRemovesItsTimer) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope scope(aw::now() + 1h);
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      EXPECT_EQ(aw::loop::current().pending_timers(), 1u);  // the scope's deadline
      co_await aw::sleep(1ms);
    });
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
    EXPECT_FALSE(scope.cancel_called());
    EXPECT_FALSE(scope.cancelled_caught());
  });
}

TEST(CancelScope, SetDeadlineWhileEnteredArmsIt) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope scope;
    aw::clock::time_point deadline{};
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      EXPECT_EQ(s.deadline(), never);
      deadline = aw::now() + 20ms;
      s.set_deadline(deadline);
      EXPECT_EQ(s.deadline(), deadline);
      co_await aw::sleep(1h);
    });
    EXPECT_EQ(aw::now(), deadline);
    EXPECT_TRUE(scope.cancelled_caught());
  });
}

TEST(CancelScope, SetDeadlineWhileEnteredReplacesTheOldOne) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope scope(aw::now() + 10ms);
    bool slept = false;
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.set_deadline(aw::now() + 1h);                       // later: the 10 ms deadline is gone
      EXPECT_EQ(aw::loop::current().pending_timers(), 1u);  // one timer, not two
      co_await aw::sleep(30ms);
      slept = true;
    });
    EXPECT_TRUE(slept);
    EXPECT_FALSE(scope.cancel_called());
    EXPECT_FALSE(scope.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(CancelScope, SetDeadlineIntoThePastWhileEnteredCancels) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope scope(aw::now() + 1h);
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      co_await aw::yield();
      s.set_deadline(aw::now() - 1ms);
      EXPECT_TRUE(s.cancel_called());
      log.push_back("set");
      co_await aw::yield();
      log.push_back("not reached");
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
  EXPECT_EQ(log, (log_t{"set"}));
}

TEST(CancelScope, ADeadlineThatPassesWithoutAWaitCatchesNothing) {
  // The deadline passed, but no wait saw it: like anyio, cancel_called but not cancelled_caught.
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope(aw::now() + 1ms);
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      auto until = aw::now() + 5ms;
      while (aw::now() < until) {
      }  // busy: no wait, no cancellation point
      co_return;
    });
    EXPECT_FALSE(scope.cancelled_caught());
  });
}

// ---------------------------------------------------------------------------------------
// cancel_scope: what it does not catch

TEST(CancelScope, AScopeThatIsNotCancelledCatchesNothing) {
  aw::cancel_scope scope;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::sleep(1ms);
      throw aw::cancelled{};  // not this scope's cancellation
    });
  });
  EXPECT_TRUE(is_cancelled(caught));
  EXPECT_FALSE(scope.cancel_called());
  EXPECT_FALSE(scope.cancelled_caught());

  aw::cancel_scope quiet;
  run_virtual([&]() -> aw::task<> { co_await aw::async_with(quiet, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1ms); }); });
  EXPECT_FALSE(quiet.cancel_called());
  EXPECT_FALSE(quiet.cancelled_caught());
}

TEST(CancelScope, OtherExceptionsPassThroughACancelledScopeUntouched) {
  aw::cancel_scope scope;
  std::exception_ptr thrown;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(caught, thrown);  // the same exception object
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_FALSE(scope.cancelled_caught());
}

TEST(CancelScope, AnExceptionRaisedInsteadOfTheCancellationPassesThrough) {
  aw::cancel_scope scope;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      bool was_cancelled = false;
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        was_cancelled = true;
      }
      if (was_cancelled) throw test_error("instead");
    });
  });
  EXPECT_EQ(what(caught), "instead");
  EXPECT_FALSE(scope.cancelled_caught());
}

TEST(CancelScope, CatchingTheCancellationInsideLeavesNothingForTheScope) {
  aw::cancel_scope scope;
  bool after = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
      }
    });
    after = true;
  });
  EXPECT_TRUE(after);
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_FALSE(scope.cancelled_caught());  // as trio and anyio: nothing reached it
}

TEST(CancelScope, AScopeGivesTheBodysValueAndNothingWhenItCaughtTheCancellation) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope a;
    std::optional<int> r = co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<int> {
      co_await aw::yield();
      co_return 5;
    });
    EXPECT_EQ(r, std::optional<int>(5));

    aw::cancel_scope b;
    std::optional<int> s = co_await aw::async_with(b, [&](aw::cancel_scope& self) -> aw::task<int> {
      self.cancel();
      co_await aw::yield();
      co_return 5;
    });
    EXPECT_FALSE(s.has_value());
  });
}

// ---------------------------------------------------------------------------------------
// cancel_scope: nesting

TEST(CancelScope, OuterCancelledFromInsideTheInnerPropagatesThroughTheInner) {
  log_t log;
  aw::cancel_scope outer, inner;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
        outer.cancel();
        log.push_back("inner body");
        co_await aw::sleep(1h);
      });
      log.push_back("after inner: not reached");
    });
    log.push_back("after outer");
  });
  EXPECT_EQ(log, (log_t{"inner body", "after outer"}));
  EXPECT_FALSE(inner.cancel_called());
  EXPECT_FALSE(inner.cancelled_caught());
  EXPECT_TRUE(outer.cancelled_caught());
}

TEST(CancelScope, OuterDeadlineInterruptsAWaitInsideTheInner) {
  aw::clock::time_point deadline{};
  run_virtual([&]() -> aw::task<> {
    deadline = aw::now() + 15ms;
    aw::cancel_scope outer(deadline), inner(aw::now() + 1h);
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
    });
    EXPECT_EQ(aw::now(), deadline);
    EXPECT_FALSE(inner.cancel_called());
    EXPECT_FALSE(inner.cancelled_caught());
    EXPECT_TRUE(outer.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(CancelScope, WhenBothAreCancelledTheOutermostCatches) {
  for (bool outer_first : {true, false}) {
    aw::cancel_scope outer, inner;
    run_virtual([&]() -> aw::task<> {
      co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
          if (outer_first) {
            outer.cancel();
            inner.cancel();
          } else {
            inner.cancel();
            outer.cancel();
          }
          co_await aw::yield();
        });
        ADD_FAILURE() << "the outer body went on after the inner scope";
      });
    });
    EXPECT_FALSE(inner.cancelled_caught()) << "outer_first=" << outer_first;
    EXPECT_TRUE(outer.cancelled_caught()) << "outer_first=" << outer_first;
  }
}

TEST(CancelScope, TheOutermostCancelledScopeCatchesNotTheOutermostScope) {
  log_t log;
  aw::cancel_scope outer, middle, inner;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(middle, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
          inner.cancel();
          middle.cancel();
          co_await aw::sleep(1h);
        });
        log.push_back("after inner: not reached");
      });
      log.push_back("after middle");
      co_await aw::sleep(1ms);  // the outer scope is not cancelled
      log.push_back("outer slept");
    });
  });
  EXPECT_EQ(log, (log_t{"after middle", "outer slept"}));
  EXPECT_FALSE(inner.cancelled_caught());
  EXPECT_TRUE(middle.cancelled_caught());
  EXPECT_FALSE(outer.cancel_called());
  EXPECT_FALSE(outer.cancelled_caught());
}

TEST(CancelScope, AnInnerCancellationLeavesTheOuterScopeRunning) {
  log_t log;
  aw::cancel_scope outer, inner;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(inner, [&](aw::cancel_scope& s) -> aw::task<> {
        s.cancel();
        co_await aw::sleep(1h);
      });
      log.push_back("after inner");
      co_await aw::sleep(1ms);
      log.push_back("outer slept");
    });
  });
  EXPECT_EQ(log, (log_t{"after inner", "outer slept"}));
  EXPECT_TRUE(inner.cancelled_caught());
  EXPECT_FALSE(outer.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// cancel_scope: shields

TEST(CancelScope, AShieldedScopeIsDeafToTheOutersCancel) {
  log_t log;
  aw::cancel_scope outer;
  aw::cancel_scope shielded(never, true);
  EXPECT_TRUE(shielded.shield());
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(shielded, [&](aw::cancel_scope&) -> aw::task<> {
        outer.cancel();
        auto start = aw::now();
        co_await aw::sleep(20ms);
        EXPECT_EQ(aw::now() - start, 20ms);
        co_await aw::yield();
        co_await aw::sleep(0ms);
        log.push_back("shielded waits completed");
      });
      log.push_back("after shield");  // no wait yet: runs
      co_await aw::sleep(1h);         // the first wait after the shield sees the cancellation
      log.push_back("not reached");
    });
    log.push_back("after outer");
  });
  EXPECT_EQ(log, (log_t{"shielded waits completed", "after shield", "after outer"}));
  EXPECT_FALSE(shielded.cancel_called());
  EXPECT_FALSE(shielded.cancelled_caught());
  EXPECT_TRUE(outer.cancelled_caught());
}

TEST(CancelScope, AnOuterDeadlineThatPassesInsideAShieldIsSeenAfterIt) {
  aw::clock::time_point start{};
  bool shielded_done = false;
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    aw::cancel_scope outer(start + 10ms);
    aw::cancel_scope shielded(never, true);
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(shielded, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::sleep(30ms);  // the outer deadline passes meanwhile
        shielded_done = true;
      });
      EXPECT_TRUE(outer.cancel_called());
      co_await aw::yield();
      ADD_FAILURE() << "the yield after the shield was not cancelled";
    });
    EXPECT_TRUE(outer.cancelled_caught());
    EXPECT_FALSE(shielded.cancelled_caught());
    EXPECT_EQ(aw::now() - start, 30ms);
  });
  EXPECT_TRUE(shielded_done);
}

TEST(CancelScope, AShieldedScopeCanCancelItself) {
  log_t log;
  aw::cancel_scope outer;
  aw::cancel_scope shielded(never, true);
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      outer.cancel();
      co_await aw::async_with(shielded, [&](aw::cancel_scope& s) -> aw::task<> {
        s.cancel();
        co_await aw::sleep(1h);
      });
      log.push_back("after shield");
      co_await aw::yield();
      log.push_back("not reached");
    });
  });
  EXPECT_EQ(log, (log_t{"after shield"}));
  // The shield hides the outer cancellation: the shielded scope owns the one raised inside.
  EXPECT_TRUE(shielded.cancelled_caught());
  EXPECT_TRUE(outer.cancelled_caught());
}

TEST(CancelScope, AShieldedScopesOwnDeadlineStillCancelsIt) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope shielded(aw::now() + 10ms, true);
    co_await aw::async_with(shielded, [&](aw::cancel_scope&) -> aw::task<> { co_await aw::sleep(1h); });
    EXPECT_TRUE(shielded.cancelled_caught());
  });
}

TEST(CancelScope, SetShieldWhileEntered) {
  log_t log;
  aw::cancel_scope outer, inner;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(inner, [&](aw::cancel_scope& s) -> aw::task<> {
        s.set_shield(true);
        outer.cancel();
        co_await aw::yield();
        log.push_back("shielded");
        s.set_shield(false);
        co_await aw::yield();
        log.push_back("not reached");
      });
    });
  });
  EXPECT_EQ(log, (log_t{"shielded"}));
  EXPECT_FALSE(inner.cancelled_caught());
  EXPECT_TRUE(outer.cancelled_caught());
}

aw::task<> cancel_then_unshield(aw::cancel_scope& outer, aw::cancel_scope& inner, const pipe_pair& p) {
  co_await aw::sleep(5ms);
  outer.cancel();  // the main task waits behind inner's shield: nothing happens
  co_await aw::sleep(5ms);
  inner.set_shield(false);  // now the outer cancellation reaches it
  co_await aw::sleep(20ms);
  p.put();  // would wake the wait, had dropping the shield not interrupted it
}

TEST(CancelScope, DroppingTheShieldDeliversAPendingCancellationToAWaitInProgress) {
  // trio and anyio deliver the outer cancellation as soon as the shield is dropped, also to
  // a task that is waiting at that moment. A pipe that becomes readable only later tells the
  // two outcomes apart without a clock: interrupted, the wait raises; not interrupted, it
  // gives the events of the data written afterwards.
  bool raised = false, returned = false;
  aw::cancel_scope outer;
  aw::cancel_scope inner(never, true);
  run_virtual([&]() -> aw::task<> {
    pipe_pair p;
    beside unshield(cancel_then_unshield(outer, inner, p));
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
        try {
          co_await aw::wait_readable(p.read_end);
          returned = true;
        } catch (const aw::cancelled&) {
          raised = true;
          throw;
        }
      });
    });
  });
  EXPECT_TRUE(raised);
  EXPECT_FALSE(returned);
  EXPECT_TRUE(outer.cancelled_caught());
  EXPECT_FALSE(inner.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// cancel_scope: misuse

TEST(CancelScope, EnteringAScopeTwiceIsALogicError) {
  aw::cancel_scope scope;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_return; });
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      ADD_FAILURE() << "entered a second time";
      co_return;
    });
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), std::logic_error);
}

TEST(CancelScope, EnteringAScopeInsideItselfIsALogicError) {
  aw::cancel_scope scope;
  bool inner_body = false;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      co_await aw::async_with(s, [&](aw::cancel_scope&) -> aw::task<> {
        inner_body = true;
        co_return;
      });
    });
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), std::logic_error);
  EXPECT_FALSE(inner_body);
}

TEST(CancelScope, EnteringACancelledScopeTwiceIsStillALogicError) {
  aw::cancel_scope scope;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      co_await aw::yield();
    });
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_return; });
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), std::logic_error);
  EXPECT_TRUE(scope.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// Scopes left out of order (trio's "Cancel scope stack corrupted"; its
// test_cancel_scope_misnesting). An exit stack can keep a scope open past the scopes
// entered after it; leaving it first is a std::logic_error, and the scopes still open
// inside it move under its parent, so the tree stays whole.

bool says_corrupted(const std::logic_error& e) { return std::string(e.what()).find("cancel scope stack corrupted") != std::string::npos; }

TEST(CancelScopeMisnesting, LeavingAnOuterScopeFromInsideAnInnerOneIsALogicError) {
  aw::cancel_scope outer;
  aw::cancel_scope inner;
  int raised = 0;
  bool after_inner = false;
  run_virtual([&]() -> aw::task<> {
    aw::exit_stack stack;
    co_await stack.enter_context(outer);
    co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
      try {
        co_await stack.aclose();
      } catch (const std::logic_error& e) {
        EXPECT_TRUE(says_corrupted(e)) << e.what();
        ++raised;
      }
      co_await aw::yield();  // still inside `inner`, which still works
    });
    after_inner = true;  // leaving `inner` afterwards raises nothing more
  });
  EXPECT_EQ(raised, 1);
  EXPECT_TRUE(after_inner);
}

aw::task<> sleep_counting_cancellation(int& cancelled) {
  try {
    co_await aw::sleep(24h);
  } catch (const aw::cancelled&) {
    ++cancelled;
    throw;
  }
}

TEST(CancelScopeMisnesting, ALaterCancelOfTheParentReachesEveryTaskInsideTheInnerScope) {
  // Scope A, kept open by an exit stack, is left from inside scope B, where children wait
  // (one of them inside a scope of its own). Cancelling the parent of A and B must still
  // reach them all: the waits are of a day, so the test ends only if it does.
  aw::cancel_scope parent;
  int raised = 0;
  int cancelled = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(parent, [&](aw::cancel_scope&) -> aw::task<> {
      aw::exit_stack stack;
      aw::cancel_scope a;
      co_await stack.enter_context(a);
      co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
          g.start_soon([&] { return sleep_counting_cancellation(cancelled); });
          g.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope&) { return sleep_counting_cancellation(cancelled); });
          });
          co_await aw::yield();  // both children are waiting
          try {
            co_await stack.aclose();  // leaves A
          } catch (const std::logic_error& e) {
            EXPECT_TRUE(says_corrupted(e)) << e.what();
            ++raised;
          }
          g.start_soon([&]() -> aw::task<> {
            co_await aw::yield();
            parent.cancel();
          });
          co_await sleep_counting_cancellation(cancelled);
        });
      });
    });
  });
  EXPECT_EQ(raised, 1);
  EXPECT_EQ(cancelled, 3);
  EXPECT_TRUE(parent.cancelled_caught());
}

TEST(CancelScopeMisnesting, ScopesThatMoveUnderACancelledParentAreCancelled) {
  // The shielded A keeps the parent's cancellation from the child inside it; once A is
  // gone the child's group is under the cancelled parent, and the wait in progress is
  // interrupted (a day long: the test ends only if it is).
  aw::cancel_scope parent;
  int raised = 0;
  int cancelled = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(parent, [&](aw::cancel_scope&) -> aw::task<> {
      aw::exit_stack stack;
      aw::cancel_scope a(never, /*shield=*/true);
      co_await stack.enter_context(a);
      parent.cancel();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
        g.start_soon([&] { return sleep_counting_cancellation(cancelled); });
        co_await aw::yield();  // the child is waiting, shielded by A
        try {
          co_await stack.aclose();
        } catch (const std::logic_error& e) {
          EXPECT_TRUE(says_corrupted(e)) << e.what();
          ++raised;
        }
      });
    });
  });
  EXPECT_EQ(raised, 1);
  EXPECT_EQ(cancelled, 1);
  EXPECT_TRUE(parent.cancelled_caught());
}

TEST(CancelScopeMisnesting, LeavingATaskGroupFromInsideAScopeEnteredAfterItIsALogicError) {
  aw::task_group group;
  int raised = 0;
  run_virtual([&]() -> aw::task<> {
    // By hand: aw::enter and exit stacks refuse task groups at compile time.
    co_await group.aenter();
    co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope&) -> aw::task<> {
      try {
        co_await group.aexit(nullptr);
      } catch (const std::logic_error& e) {
        EXPECT_TRUE(says_corrupted(e)) << e.what();
        ++raised;
      }
      co_return;
    });
  });
  EXPECT_EQ(raised, 1);
}

TEST(CancelScopeMisnesting, ATaskGroupLeftOutOfOrderKeepsItsChildrensErrors) {
  // The misnesting error joins the children's errors instead of replacing them, and the
  // group forgets its host: cancelling it afterwards is harmless.
  aw::task_group group;
  std::vector<std::string> messages;
  run_virtual([&]() -> aw::task<> {
    co_await group.aenter();
    group.start_soon([]() -> aw::task<> {
      throw std::runtime_error("child failed");
      co_return;
    });
    co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope&) -> aw::task<> {
      try {
        co_await group.aexit(nullptr);
      } catch (const aw::exception_group& g) {
        for (const auto& e : g.exceptions()) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            messages.push_back(x.what());
          }
        }
      }
    });
  });
  group.cancel();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "child failed");
  EXPECT_NE(messages[1].find("cancel scope stack corrupted"), std::string::npos) << messages[1];
}

TEST(CancelScopeMisnesting, LeavingAScopeFromAnotherTaskRaisesAndChangesNothing) {
  // trio: exiting a scope from an unrelated task raises without affecting any state; the
  // scope can still be cancelled afterwards, and it catches that cancellation.
  bool raised = false;
  bool caught = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
      aw::cancel_scope* scope = co_await g.start([&](aw::task_status<aw::cancel_scope*>& status) -> aw::task<> {
        aw::cancel_scope s;
        co_await aw::async_with(s, [&](aw::cancel_scope& entered) -> aw::task<> {
          status.started(&entered);
          co_await aw::sleep(24h);
        });
        caught = s.cancelled_caught();
      });
      try {
        co_await scope->aexit(nullptr);
      } catch (const std::logic_error&) {
        raised = true;
      }
      scope->cancel();
    });
  });
  EXPECT_TRUE(raised);
  EXPECT_TRUE(caught);
}

TEST(CancelScopeMisnesting, LeavingAScopeTwiceIsALogicError) {
  aw::cancel_scope scope;
  std::string message;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_return; });
    try {
      co_await scope.aexit(nullptr);
    } catch (const std::logic_error& e) {
      message = e.what();
    }
  });
  EXPECT_NE(message.find("already"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------
// Every wait is a cancellation point

TEST(CancelScopeWaits, SleepIsACancellationPoint) {
  run_virtual([&]() -> aw::task<> {
    // Already cancelled: raises without waiting.
    aw::cancel_scope a;
    a.cancel();
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::sleep(1h);
      ADD_FAILURE();
    });
    EXPECT_TRUE(a.cancelled_caught());
    // Cancelled while sleeping.
    auto deadline = aw::now() + 10ms;
    aw::cancel_scope b(deadline);
    co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::sleep(1h);
      ADD_FAILURE();
    });
    EXPECT_EQ(aw::now(), deadline);
    EXPECT_TRUE(b.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(CancelScopeWaits, SleepUntilIsACancellationPoint) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope a;
    a.cancel();
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::sleep_until(aw::now() - 1s);  // even a deadline in the past
      ADD_FAILURE();
    });
    EXPECT_TRUE(a.cancelled_caught());
    auto deadline = aw::now() + 10ms;
    aw::cancel_scope b(deadline);
    co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::sleep_until(aw::now() + 1h);
      ADD_FAILURE();
    });
    EXPECT_EQ(aw::now(), deadline);
    EXPECT_TRUE(b.cancelled_caught());
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(CancelScopeWaits, YieldIsACancellationPoint) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope a;
    a.cancel();
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::yield();
      ADD_FAILURE();
    });
    EXPECT_TRUE(a.cancelled_caught());
    // Cancelled by another coroutine that runs while this one yields.
    aw::cancel_scope b;
    co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
      beside canceller(cancel_after(b, 0ms));
      co_await aw::yield();
      ADD_FAILURE();
    });
    EXPECT_TRUE(b.cancelled_caught());
  });
}

TEST(CancelScopeWaits, WaitReadableIsACancellationPointAndTheWaitIsRemoved) {
  run_virtual([&]() -> aw::task<> {
    pipe_pair p;  // nothing is ever written until the end: never readable
    aw::cancel_scope a;
    a.cancel();
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::wait_readable(p.read_end);
      ADD_FAILURE();
    });
    EXPECT_TRUE(a.cancelled_caught());
    for (int i = 0; i < 20; ++i) {
      auto deadline = aw::now() + 2ms;
      aw::cancel_scope b(deadline);
      co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::wait_readable(p.read_end);
        ADD_FAILURE();
      });
      EXPECT_EQ(aw::now(), deadline);
      EXPECT_TRUE(b.cancelled_caught());
    }
    // The cancelled waits are gone: a new wait on the same fd works.
    p.put();
    std::uint32_t ev = co_await aw::wait_readable(p.read_end);
    EXPECT_TRUE(ev & POLLIN);
    // And once more after draining, cancelled again, then ready again.
    p.drain();
    std::optional<std::uint32_t> r =
        co_await aw::move_on_after(5ms, [&]() -> aw::task<std::uint32_t> { co_return co_await aw::wait_readable(p.read_end); });
    EXPECT_FALSE(r.has_value());
    p.put();
    ev = co_await aw::wait_readable(p.read_end);
    EXPECT_TRUE(ev & POLLIN);
  });
}

TEST(CancelScopeWaits, WaitWritableIsACancellationPointAndTheWaitIsRemoved) {
  run_virtual([&]() -> aw::task<> {
    pipe_pair p;
    p.fill();  // the write end is not writable until the pipe is drained
    aw::cancel_scope a;
    a.cancel();
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::wait_writable(p.write_end);
      ADD_FAILURE();
    });
    EXPECT_TRUE(a.cancelled_caught());
    for (int i = 0; i < 20; ++i) {
      auto deadline = aw::now() + 2ms;
      aw::cancel_scope b(deadline);
      co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::wait_writable(p.write_end);
        ADD_FAILURE();
      });
      EXPECT_EQ(aw::now(), deadline);
      EXPECT_TRUE(b.cancelled_caught());
    }
    p.drain();
    std::uint32_t ev = co_await aw::wait_writable(p.write_end);
    EXPECT_TRUE(ev & POLLOUT);
  });
}

TEST(CancelScopeWaits, WaitReadableOrWritableWakesOnEitherAndIsACancellationPoint) {
  // A socket whose send buffer is full and with nothing to read: neither direction is
  // ready. The wait ends with whichever comes first; a read wait beside it is unaffected.
  run_virtual([&]() -> aw::task<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char block[4096] = {};
    std::size_t filled = 0;
    for (;;) {
      ssize_t n = ::send(sv[0], block, sizeof block, 0);
      if (n <= 0) break;
      filled += static_cast<std::size_t>(n);
    }
    std::optional<std::uint32_t> r =
        co_await aw::move_on_after(5ms, [&]() -> aw::task<std::uint32_t> { co_return co_await aw::wait_readable_or_writable(sv[0]); });
    EXPECT_FALSE(r.has_value());
    // Readable first: the peer sends one byte.
    EXPECT_EQ(::send(sv[1], "x", 1, 0), 1);
    std::uint32_t ev = co_await aw::wait_readable_or_writable(sv[0]);
    EXPECT_TRUE(ev & POLLIN);
    EXPECT_FALSE(ev & POLLOUT);
    char c;
    EXPECT_EQ(::recv(sv[0], &c, 1, 0), 1);
    // Writable next: the peer drains what was sent.
    while (filled > 0) {
      ssize_t n = ::recv(sv[1], block, sizeof block, 0);
      if (n <= 0) break;
      filled -= static_cast<std::size_t>(n);
    }
    ev = co_await aw::wait_readable_or_writable(sv[0]);
    EXPECT_TRUE(ev & POLLOUT);
    ::close(sv[0]);
    ::close(sv[1]);
  });
}

TEST(CancelScopeWaits, AReaderAndAWriterOnOnePipeAreCancelledIndependently) {
  // A socket-like fd with both directions waited on: cancelling the read wait leaves the
  // write wait (in another scope, outside) working.
  run_virtual([&]() -> aw::task<> {
    pipe_pair p;
    std::optional<std::uint32_t> r =
        co_await aw::move_on_after(5ms, [&]() -> aw::task<std::uint32_t> { co_return co_await aw::wait_readable(p.read_end); });
    EXPECT_FALSE(r.has_value());
    std::uint32_t ev = co_await aw::wait_writable(p.write_end);
    EXPECT_TRUE(ev & POLLOUT);
  });
}

aw::task<> put_then_cancel(const pipe_pair& p, aw::cancel_scope& scope, bool sleep_first) {
  if (sleep_first) co_await aw::sleep(1ms);  // the wait is armed in the kernel by then
  p.put();
  scope.cancel();
}

TEST(CancelScopeWaits, ReadinessAndCancellationAtOnceEndTheSameWayEveryTime) {
  // The fd becomes ready and the scope is cancelled in the same loop iteration. The wait
  // either raises aw::cancelled or gives the events (the backend decides which won), never
  // hangs; either way the scope is cancelled for the next wait, and the data is still there.
  int raised = 0, returned = 0;
  run_virtual([&]() -> aw::task<> {
    for (int i = 0; i < 100; ++i) {
      pipe_pair p;
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        beside other(put_then_cancel(p, scope, i % 2 == 1));
        try {
          std::uint32_t ev = co_await aw::wait_readable(p.read_end);
          EXPECT_TRUE(ev & POLLIN);
          ++returned;
        } catch (const aw::cancelled&) {
          ++raised;
        }
        co_await aw::yield();
        ADD_FAILURE() << "the yield after was not cancelled";
      });
      EXPECT_TRUE(scope.cancelled_caught());
      std::uint32_t ev = co_await aw::wait_readable(p.read_end);
      EXPECT_TRUE(ev & POLLIN);
    }
  });
  EXPECT_EQ(raised + returned, 100);
}

// ---------------------------------------------------------------------------------------
// move_on_after

TEST(MoveOnAfter, GivesNothingWhenTheDeadlinePassed) {
  run_virtual([&]() -> aw::task<> {
    bool after = false;
    auto start = aw::now();
    std::optional<int> r = co_await aw::move_on_after(20ms, [&]() -> aw::task<int> {
      co_await aw::sleep(1h);
      after = true;
      co_return 1;
    });
    EXPECT_FALSE(r.has_value());
    EXPECT_FALSE(after);
    EXPECT_EQ(aw::now() - start, 20ms);
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(MoveOnAfter, GivesTheValueWhenTheBodyFinishedInTime) {
  run_virtual([&]() -> aw::task<> {
    std::optional<int> r = co_await aw::move_on_after(1h, [&]() -> aw::task<int> {
      co_await aw::sleep(1ms);
      co_return 42;
    });
    EXPECT_EQ(r, std::optional<int>(42));
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);  // the scope's timer is gone
    std::optional<std::unique_ptr<int>> p = co_await aw::move_on_after(1h, [&]() -> aw::task<std::unique_ptr<int>> {
      co_await aw::yield();
      co_return std::make_unique<int>(3);
    });
    EXPECT_TRUE(p && *p && **p == 3);
  });
}

TEST(MoveOnAfter, VoidBodyGivesFalseWhenTheDeadlinePassedAndTrueOtherwise) {
  run_virtual([&]() -> aw::task<> {
    bool timed = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await aw::sleep(1h); });
    EXPECT_FALSE(timed);
    bool in_time = co_await aw::move_on_after(1h, [&]() -> aw::task<> { co_await aw::sleep(1ms); });
    EXPECT_TRUE(in_time);
  });
}

TEST(MoveOnAfter, ZeroOrNegativeDurationCancelsAtTheFirstWait) {
  run_virtual([&]() -> aw::task<> {
    bool ran = false;
    bool completed = co_await aw::move_on_after(0ms, [&]() -> aw::task<> {
      ran = true;
      co_await aw::yield();
    });
    EXPECT_TRUE(ran);
    EXPECT_FALSE(completed);
    // A body without a wait is never cancelled (as in anyio: the deadline is only seen at a
    // cancellation point).
    std::optional<int> r = co_await aw::move_on_after(-1s, [&]() -> aw::task<int> { co_return 9; });
    EXPECT_EQ(r, std::optional<int>(9));
  });
}

TEST(MoveOnAfter, TheBodysExceptionsPropagate) {
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::move_on_after(1h, [&]() -> aw::task<int> {
      co_await aw::yield();
      throw test_error("boom");
    });
  });
  EXPECT_EQ(what(caught), "boom");
  // Also one raised after the deadline passed.
  caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::move_on_after(1ms, [&]() -> aw::task<> {
      bool was_cancelled = false;
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        was_cancelled = true;
      }
      if (was_cancelled) throw test_error("after the deadline");
    });
  });
  EXPECT_EQ(what(caught), "after the deadline");
}

TEST(MoveOnAfter, AnOuterCancellationGoesThroughToTheOuterScope) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    std::optional<int> outer = co_await aw::move_on_after(10ms, [&]() -> aw::task<int> {
      std::optional<int> inner = co_await aw::move_on_after(1h, [&]() -> aw::task<int> {
        co_await aw::sleep(1h);
        co_return 1;
      });
      log.push_back(inner ? "inner gave a value" : "inner gave nothing");  // not reached
      co_return 2;
    });
    EXPECT_FALSE(outer.has_value());
  });
  EXPECT_TRUE(log.empty());
}

TEST(MoveOnAfter, AnInnerTimeoutLeavesTheOuterRunning) {
  run_virtual([&]() -> aw::task<> {
    std::optional<int> outer = co_await aw::move_on_after(1h, [&]() -> aw::task<int> {
      std::optional<int> inner = co_await aw::move_on_after(5ms, [&]() -> aw::task<int> {
        co_await aw::sleep(1h);
        co_return 1;
      });
      EXPECT_FALSE(inner.has_value());
      co_await aw::sleep(1ms);
      co_return 2;
    });
    EXPECT_EQ(outer, std::optional<int>(2));
  });
}

// ---------------------------------------------------------------------------------------
// fail_after

TEST(FailAfter, ThrowsTimeoutErrorWhenTheDeadlinePassed) {
  aw::clock::time_point start{}, raised_at{};
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    start = aw::now();
    try {
      int v = co_await aw::fail_after(20ms, [&]() -> aw::task<int> {
        co_await aw::sleep(1h);
        co_return 1;
      });
      ADD_FAILURE() << "fail_after gave " << v;
    } catch (...) {
      raised_at = aw::now();
      throw;
    }
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::timeout_error);
  EXPECT_EQ(raised_at - start, 20ms);

  caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::fail_after(5ms, [&]() -> aw::task<> { co_await aw::sleep(1h); });
    ADD_FAILURE() << "fail_after returned";
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::timeout_error);
  static_assert(std::is_base_of_v<std::runtime_error, aw::timeout_error>);
}

TEST(FailAfter, GivesTheValueWhenTheBodyFinishedInTime) {
  run_virtual([&]() -> aw::task<> {
    int v = co_await aw::fail_after(1h, [&]() -> aw::task<int> {
      co_await aw::sleep(1ms);
      co_return 42;
    });
    EXPECT_EQ(v, 42);
    std::unique_ptr<int> p = co_await aw::fail_after(1h, [&]() -> aw::task<std::unique_ptr<int>> { co_return std::make_unique<int>(4); });
    EXPECT_TRUE(p && *p == 4);
    bool ran = false;
    co_await aw::fail_after(1h, [&]() -> aw::task<> {
      co_await aw::yield();
      ran = true;
    });
    EXPECT_TRUE(ran);
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

TEST(FailAfter, TheBodysExceptionsPropagate) {
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::fail_after(1h, [&]() -> aw::task<int> {
      co_await aw::yield();
      throw test_error("boom");
    });
  });
  EXPECT_EQ(what(caught), "boom");
}

TEST(FailAfter, AnOuterCancellationIsNotATimeout) {
  // The outer scope's cancellation goes through fail_after as aw::cancelled (it is not
  // fail_after's own deadline) and the outer scope catches it.
  aw::cancel_scope outer;
  bool timeout = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      try {
        co_await aw::fail_after(1h, [&]() -> aw::task<> { co_await aw::sleep(1h); });
      } catch (const aw::timeout_error&) {
        timeout = true;
      }
    });
  });
  EXPECT_FALSE(timeout);
  EXPECT_TRUE(outer.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// Timeouts around any awaitable: the body may return an awaitable that is not an aw::task
// (an HTTP request object, aw::sleep(...)); it is awaited as it is.

// An awaiter of the test's own: resumes on the next turn of the loop with its value.
struct next_turn {
  explicit next_turn(int v) : value(v) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { aw::loop::current().schedule(h); }
  int await_resume() const noexcept { return value; }
  int value;
};

// An awaitable through operator co_await (as aw::http::request is): it holds a task and
// hands out the task's awaiter, so a wait inside it is cancellable.
struct deferred {
  explicit deferred(aw::task<int> t) : work(std::move(t)) {}
  auto operator co_await() && { return std::move(work).operator co_await(); }
  aw::task<int> work;
};

aw::task<int> sleep_then(std::chrono::milliseconds d, int v) {
  co_await aw::sleep(d);
  co_return v;
}

TEST(TimeoutsAroundAnyAwaitable, AnAwaiterGivesItsValue) {
  run_virtual([&]() -> aw::task<> {
    std::optional<int> a = co_await aw::move_on_after(1h, [] { return next_turn(1); });
    EXPECT_EQ(a, std::optional<int>(1));
    int b = co_await aw::fail_after(1h, [] { return next_turn(2); });
    EXPECT_EQ(b, 2);
    aw::cancel_scope scope;  // the block form
    std::optional<int> c = co_await aw::async_with(scope, [](aw::cancel_scope&) { return next_turn(3); });
    EXPECT_EQ(c, std::optional<int>(3));
  });
}

TEST(TimeoutsAroundAnyAwaitable, AnAwaitableWithOperatorCoAwaitIsCancelledByTheDeadline) {
  run_virtual([&]() -> aw::task<> {
    std::optional<int> r = co_await aw::move_on_after(1h, [] { return deferred(sleep_then(1ms, 3)); });
    EXPECT_EQ(r, std::optional<int>(3));
    r = co_await aw::move_on_after(5ms, [] { return deferred(sleep_then(1h, 4)); });
    EXPECT_FALSE(r);
    bool timed_out = false;
    try {
      co_await aw::fail_after(5ms, [] { return deferred(sleep_then(1h, 5)); });
    } catch (const aw::timeout_error&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
  });
}

// The library's own waits are awaitables too: a body may return one directly.
TEST(TimeoutsAroundAnyAwaitable, AVoidAwaitableGivesWhetherItFinished) {
  run_virtual([&]() -> aw::task<> {
    bool finished = co_await aw::move_on_after(5ms, [] { return aw::sleep(1h); });
    EXPECT_FALSE(finished);
    finished = co_await aw::move_on_after(1h, [] { return aw::yield(); });
    EXPECT_TRUE(finished);
    bool timed_out = false;
    try {
      co_await aw::fail_after(5ms, [] { return aw::sleep(1h); });
    } catch (const aw::timeout_error&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
}

// ---------------------------------------------------------------------------------------
// current_deadline

TEST(CurrentDeadline, IsMaxWithoutAScope) {
  run_virtual([&]() -> aw::task<> {
    auto outside = co_await aw::current_deadline();
    EXPECT_EQ(outside, never);
    aw::cancel_scope plain;
    co_await aw::async_with(plain, [&](aw::cancel_scope&) -> aw::task<> {
      auto inside = co_await aw::current_deadline();
      EXPECT_EQ(inside, never);
    });
  });
}

TEST(CurrentDeadline, IsTheScopesDeadline) {
  run_virtual([&]() -> aw::task<> {
    auto d = aw::now() + 1h;
    aw::cancel_scope scope(d);
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      auto inside = co_await aw::current_deadline();
      EXPECT_EQ(inside, d);
    });
    auto after = co_await aw::current_deadline();
    EXPECT_EQ(after, never);
  });
}

TEST(CurrentDeadline, InsideMoveOnAfterIsItsDeadline) {
  run_virtual([&]() -> aw::task<> {
    auto before = aw::now();
    aw::clock::time_point seen{};
    co_await aw::move_on_after(1h, [&]() -> aw::task<> {
      seen = co_await aw::current_deadline();
      co_return;
    });
    auto after = aw::now();
    EXPECT_GE(seen, before + 1h);
    EXPECT_LE(seen, after + 1h);
  });
}

TEST(CurrentDeadline, IsTheEarliestOfNestedDeadlines) {
  run_virtual([&]() -> aw::task<> {
    auto early = aw::now() + 10min;
    auto late = aw::now() + 1h;
    aw::cancel_scope a(late), b(early);
    co_await aw::async_with(a, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(b, [&](aw::cancel_scope&) -> aw::task<> {
        auto inner = co_await aw::current_deadline();
        EXPECT_EQ(inner, early);  // the inner one is earlier
      });
    });
    aw::cancel_scope c(early), d(late), e;
    co_await aw::async_with(c, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(d, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::async_with(e, [&](aw::cancel_scope&) -> aw::task<> {
          auto innermost = co_await aw::current_deadline();
          EXPECT_EQ(innermost, early);  // the outermost one is earlier
        });
      });
    });
  });
}

TEST(CurrentDeadline, AShieldHidesTheOuterDeadlines) {
  run_virtual([&]() -> aw::task<> {
    auto outer_deadline = aw::now() + 1h;
    aw::cancel_scope outer(outer_deadline);
    aw::cancel_scope shielded(never, true);
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(shielded, [&](aw::cancel_scope&) -> aw::task<> {
        auto in_shield = co_await aw::current_deadline();
        EXPECT_EQ(in_shield, never);
        auto own = aw::now() + 2h;  // later than the outer one, and still the one that counts
        aw::cancel_scope inner(own);
        co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
          auto in_inner = co_await aw::current_deadline();
          EXPECT_EQ(in_inner, own);
        });
      });
      auto after_shield = co_await aw::current_deadline();
      EXPECT_EQ(after_shield, outer_deadline);
    });
    auto own = aw::now() + 2h;
    aw::cancel_scope outer2(aw::now() + 1h);
    aw::cancel_scope shielded_with_deadline(own, true);
    co_await aw::async_with(outer2, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(shielded_with_deadline, [&](aw::cancel_scope&) -> aw::task<> {
        auto in_shield = co_await aw::current_deadline();
        EXPECT_EQ(in_shield, own);
      });
    });
  });
}

TEST(CurrentDeadline, IsMinWhenAlreadyCancelled) {
  run_virtual([&]() -> aw::task<> {
    aw::cancel_scope outer;
    aw::cancel_scope shielded(never, true);
    co_await aw::async_with(outer, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      auto cancelled = co_await aw::current_deadline();
      EXPECT_EQ(cancelled, aw::clock::time_point::min());
      aw::cancel_scope inner(aw::now() + 1h);
      co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
        auto in_inner = co_await aw::current_deadline();
        EXPECT_EQ(in_inner, aw::clock::time_point::min());  // an outer cancellation counts
      });
      co_await aw::async_with(shielded, [&](aw::cancel_scope&) -> aw::task<> {
        auto in_shield = co_await aw::current_deadline();
        EXPECT_EQ(in_shield, never);  // not behind a shield
      });
    });
    aw::cancel_scope past(aw::now() - 1s);
    co_await aw::async_with(past, [&](aw::cancel_scope&) -> aw::task<> {
      auto expired = co_await aw::current_deadline();
      EXPECT_EQ(expired, aw::clock::time_point::min());
    });
  });
}

// ---------------------------------------------------------------------------------------
// Exits run shielded from the cancellation that caused them.
//
// anyio differs here: its __aexit__ runs inside the cancelled scope, and an exit that
// awaits must shield itself (CancelScope(shield=True)). asyncwith shields every exit
// (doc/design.md, rule 3), so aexit can close a connection gracefully, and an exit
// bounds its own cleanup with a scope of its own.

TEST(ShieldedExit, ATimeoutAroundAsyncWithRunsTheExitToCompletion) {
  exit_probe probe;
  slow_exit manager(probe, 30ms);
  aw::clock::time_point start{};
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    completed = co_await aw::move_on_after(
        20ms, [&]() -> aw::task<> { co_await aw::async_with(manager, [&](slow_exit&) -> aw::task<> { co_await aw::sleep(1h); }); });
  });
  EXPECT_FALSE(completed);  // the timeout still reports that it timed out
  EXPECT_TRUE(probe.finished);
  EXPECT_TRUE(is_cancelled(probe.seen));
  EXPECT_EQ(probe.deadline_in_exit, never);  // inside the exit, the timeout is invisible
  EXPECT_EQ(probe.finished_at - start, 20ms + 30ms);
}

TEST(ShieldedExit, CancelScopeAroundAsyncWithRunsEveryExitInOrder) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  recorder b("B", log, {.sleep_in_exit = true});
  aw::cancel_scope scope;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      co_await aw::async_with(a, b, [&](plain_recorder&, recorder&) -> aw::task<> {
        s.cancel();
        log.push_back("body");
        co_await aw::sleep(1h);
      });
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body", "exit B(aw::cancelled)", "exit B finished", "exit A(aw::cancelled)",
                        "exit A finished", "after"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(ShieldedExit, ADeadlineThatPassesWhileAnExitRunsIsSeenAfterTheBlock) {
  // The body finished in time; the deadline passes while the exit sleeps. The exit
  // completes; the first wait after the block is cancelled.
  exit_probe probe;
  slow_exit manager(probe, 40ms);
  log_t log;
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(15ms, [&]() -> aw::task<> {
      co_await aw::async_with(manager, [&](slow_exit&) -> aw::task<> {
        log.push_back("body");
        co_return;
      });
      log.push_back("after block");
      co_await aw::yield();
      log.push_back("not reached");
    });
  });
  EXPECT_EQ(log, (log_t{"body", "after block"}));
  EXPECT_TRUE(probe.finished);
  EXPECT_EQ(probe.seen, nullptr);
  EXPECT_FALSE(completed);
}

TEST(ShieldedExit, GeneratorCleanupInCatchAndRethrowRunsToCompletion) {
  exit_probe probe;
  aw::clock::time_point start{};
  std::optional<int> r;
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    r = co_await aw::move_on_after(20ms, [&]() -> aw::task<int> {
      co_await aw::async_with(sleeping_generator(probe, 30ms), [&](int& v) -> aw::task<> {
        EXPECT_EQ(v, 7);
        co_await aw::sleep(1h);
      });
      co_return 1;
    });
  });
  EXPECT_FALSE(r.has_value());
  EXPECT_TRUE(probe.finished);
  EXPECT_TRUE(is_cancelled(probe.seen));
  EXPECT_EQ(probe.finished_at - start, 20ms + 30ms);
}

TEST(ShieldedExit, GeneratorCleanupAfterTheYieldRunsWhileTheDeadlinePasses) {
  exit_probe probe;
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(10ms, [&]() -> aw::task<> {
      co_await aw::async_with(cleanup_after_yield(probe, 30ms), [&](int&) -> aw::task<> { co_return; });
      co_await aw::yield();  // cancelled: the deadline passed during the cleanup
    });
  });
  EXPECT_FALSE(completed);
  EXPECT_TRUE(probe.started);
  EXPECT_TRUE(probe.finished);
  EXPECT_EQ(probe.seen, nullptr);
}

TEST(ShieldedExit, GeneratorSeesTheCancellationOutOfItsYield) {
  exit_probe probe;
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::async_with(cleanup_after_yield(probe, 30ms), [&](int&) -> aw::task<> { co_await aw::sleep(1h); });
    });
  });
  EXPECT_FALSE(completed);
  EXPECT_FALSE(probe.started);  // the success-path cleanup after the yield did not run
  EXPECT_TRUE(is_cancelled(probe.seen));
}

aw::task<> enter_and_wait(slow_exit& manager, log_t& log) {
  co_await aw::enter(manager);
  log.push_back("entered");
  co_await aw::sleep(1h);
  log.push_back("not reached");
}

TEST(ShieldedExit, EntersDeferredExitRunsToCompletionUnderATimeout) {
  exit_probe probe;
  slow_exit manager(probe, 30ms);
  log_t log;
  aw::clock::time_point start{};
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    completed = co_await aw::move_on_after(20ms, [&]() { return enter_and_wait(manager, log); });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"entered", "after"}));
  EXPECT_FALSE(completed);
  EXPECT_TRUE(probe.finished);
  EXPECT_TRUE(is_cancelled(probe.seen));
  EXPECT_EQ(probe.deadline_in_exit, never);
  EXPECT_EQ(probe.finished_at - start, 20ms + 30ms);
}

aw::task<> enter_and_return(slow_exit& manager, log_t& log) {
  co_await aw::enter(manager);
  log.push_back("returned");
}

// The task succeeds, so its lone exit runs without a driver frame: still shielded.
TEST(ShieldedExit, EntersLoneExitAfterSuccessRunsToCompletionWhenTheDeadlinePassesDuringIt) {
  exit_probe probe;
  slow_exit manager(probe, 30ms);
  log_t log;
  aw::clock::time_point start{};
  aw::run([&]() -> aw::task<> {
    start = aw::now();
    (void)co_await aw::move_on_after(10ms, [&]() { return enter_and_return(manager, log); });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"returned", "after"}));
  EXPECT_TRUE(probe.finished);
  EXPECT_EQ(probe.seen, nullptr);
  EXPECT_EQ(probe.deadline_in_exit, never);
  EXPECT_GE(probe.finished_at - start, 30ms);
}

TEST(ShieldedExit, EnteredGeneratorsCleanupRunsToCompletionUnderATimeout) {
  exit_probe probe;
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(10ms, [&]() -> aw::task<> {
      int& v = co_await aw::enter(sleeping_generator(probe, 30ms));
      EXPECT_EQ(v, 7);
      co_await aw::sleep(1h);
    });
  });
  EXPECT_FALSE(completed);
  EXPECT_TRUE(probe.finished);
  EXPECT_TRUE(is_cancelled(probe.seen));
}

TEST(ShieldedExit, ExitStackExitsRunToCompletionUnderATimeout) {
  exit_probe entered, generator;
  slow_exit manager(entered, 20ms);
  std::exception_ptr pushed_seen;
  bool pushed_done = false, callback_done = false;
  log_t order;
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(10ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(manager);
        co_await stack.enter_context(sleeping_generator(generator, 10ms));
        stack.push_exit([&](std::exception_ptr e) -> aw::task<> {
          pushed_seen = e;
          co_await aw::sleep(10ms);
          pushed_done = true;
          order.push_back("push_exit");
        });
        stack.callback([&]() -> aw::task<> {
          co_await aw::sleep(10ms);
          callback_done = true;
          order.push_back("callback");
        });
        co_await aw::sleep(1h);
      });
    });
  });
  EXPECT_FALSE(completed);
  EXPECT_EQ(order, (log_t{"callback", "push_exit"}));
  EXPECT_TRUE(callback_done);
  EXPECT_TRUE(pushed_done);
  EXPECT_TRUE(is_cancelled(pushed_seen));
  EXPECT_TRUE(generator.finished);
  EXPECT_TRUE(is_cancelled(generator.seen));
  EXPECT_TRUE(entered.finished);
  EXPECT_TRUE(is_cancelled(entered.seen));
  EXPECT_GE(entered.finished_at, generator.finished_at);  // entered first, exited last
}

TEST(ShieldedExit, AnExitBoundsItsCleanupWithItsOwnGraceDeadline) {
  exit_probe probe;
  graceful_exit manager(probe, 20ms);
  aw::clock::time_point start{};
  bool completed = true;
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    completed = co_await aw::move_on_after(
        10ms, [&]() -> aw::task<> { co_await aw::async_with(manager, [&](graceful_exit&) -> aw::task<> { co_await aw::sleep(1h); }); });
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
  EXPECT_FALSE(completed);
  EXPECT_TRUE(is_cancelled(probe.seen));
  EXPECT_TRUE(probe.finished);
  EXPECT_TRUE(probe.grace_timed_out);  // the 10 s cleanup was cut short by the exit's own scope
  EXPECT_EQ(probe.finished_at - start, 10ms + 20ms);
}

TEST(ShieldedExit, AGraceDeadlineWorksInEveryForm) {
  // The same grace-bounded exit through aw::enter and aw::exit_stack.
  exit_probe via_enter, via_stack;
  graceful_exit a(via_enter, 5ms), b(via_stack, 5ms);
  run_virtual([&]() -> aw::task<> {
    bool c1 = co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::enter(a);
      co_await aw::sleep(1h);
    });
    EXPECT_FALSE(c1);
    bool c2 = co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(b);
        co_await aw::sleep(1h);
      });
    });
    EXPECT_FALSE(c2);
  });
  for (auto* p : {&via_enter, &via_stack}) {
    EXPECT_TRUE(p->finished);
    EXPECT_TRUE(p->grace_timed_out);
    EXPECT_TRUE(is_cancelled(p->seen));
  }
}

// ---------------------------------------------------------------------------------------
// Cancellation and exception replacement, suppression and aw::enter's deferred exits

TEST(ShieldedExit, AnExitThatThrowsReplacesTheCancellation) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed"});
  aw::cancel_scope scope;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
        s.cancel();
        co_await aw::sleep(1h);
      });
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(aw::cancelled)"}));
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_TRUE(is_cancelled(aw::exception_context(caught)));
  EXPECT_TRUE(scope.cancel_called());
  EXPECT_FALSE(scope.cancelled_caught());  // what reached the scope was not a cancellation
}

TEST(ShieldedExit, AnExitThatThrowsUnderMoveOnAfterPropagatesOutOfIt) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed"});
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::enter(a);
      co_await aw::sleep(1h);
    });
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_TRUE(is_cancelled(aw::exception_context(caught)));
}

TEST(ShieldedExit, AGraceDeadlineThatFailsReplacesTheCancellation) {
  // An exit that uses fail_after for its cleanup: its timeout_error replaces the
  // cancellation, which stays reachable.
  struct strict_exit {
    aw::task<strict_exit&> aenter() { co_return *this; }
    aw::task<> aexit(std::exception_ptr) {
      co_await aw::fail_after(5ms, []() -> aw::task<> { co_await aw::sleep(10s); });
    }
  };
  strict_exit m;
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::move_on_after(
        5ms, [&]() -> aw::task<> { co_await aw::async_with(m, [&](strict_exit&) -> aw::task<> { co_await aw::sleep(1h); }); });
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::timeout_error);
  EXPECT_TRUE(is_cancelled(aw::exception_context(caught)));
}

TEST(ShieldedExit, ExitStackReplacementChainStartsAtTheCancellation) {
  log_t log;
  plain_recorder a("A", log), b("B", log, {.throw_in_exit = "B failed"});
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(a);
        co_await stack.enter_context(b);
        co_await aw::sleep(1h);
      });
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(aw::cancelled)", "exit A(B failed)"}));
  EXPECT_EQ(what(caught), "B failed");
  EXPECT_TRUE(is_cancelled(aw::exception_context(caught)));
}

TEST(ShieldedExit, AManagerThatSwallowsTheCancellationDoesNotEndIt) {
  // Level triggered: a manager that suppresses aw::cancelled only lets the body after its
  // block run until the next wait, which raises again; the scope still catches it.
  log_t log;
  recorder swallower("S", log, {.suppress = true});
  aw::cancel_scope scope;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      co_await aw::async_with(swallower, [&](recorder&) -> aw::task<> {
        s.cancel();
        co_await aw::sleep(1h);
      });
      log.push_back("after block");
      co_await aw::sleep(1h);
      log.push_back("not reached");
    });
    log.push_back("after scope");
  });
  EXPECT_EQ(log, (log_t{"enter S", "exit S(aw::cancelled)", "after block", "after scope"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(ShieldedExit, EnteringACancelScopeWithEnterScopesTheRestOfTheTask) {
  // auto& scope = co_await aw::enter(scope): the rest of the task is the scope's body; the
  // deferred exits run most recent first, B shielded, then the scope swallows the
  // cancellation, so the task<void> returns normally.
  log_t log;
  plain_recorder a("A", log), b("B", log, {.sleep_in_exit = true});
  aw::clock::time_point start{}, deadline{};
  aw::cancel_scope scope;
  auto child = [&]() -> aw::task<> {
    co_await aw::enter(a);
    aw::cancel_scope& s = co_await aw::enter(scope);
    EXPECT_EQ(&s, &scope);
    co_await aw::enter(b);
    log.push_back("body");
    co_await aw::sleep(1h);
    log.push_back("not reached");
  };
  run_virtual([&]() -> aw::task<> {
    start = aw::now();
    deadline = start + 15ms;
    scope.set_deadline(deadline);
    co_await child();
    log.push_back("after child");
    EXPECT_EQ(aw::now(), deadline + 1ms);  // B's exit slept 1 ms after the deadline
    co_await aw::sleep(1ms);               // the scope is gone: the caller is not cancelled
    log.push_back("slept");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body", "exit B(aw::cancelled)", "exit B finished", "exit A(null)", "after child", "slept"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(ShieldedExit, AnEnteredScopeThatSwallowsTheCancellationOfAValueTaskGivesNoResultError) {
  aw::cancel_scope scope;
  auto child = [&]() -> aw::task<int> {
    co_await aw::enter(scope);
    scope.cancel();
    co_await aw::yield();
    co_return 1;
  };
  std::exception_ptr caught = run_virtual_catching([&]() -> aw::task<> { co_await child(); });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::no_result_error);
  EXPECT_TRUE(is_cancelled(aw::exception_context(caught)));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(ShieldedExit, ACancellationRaisedInATaskWithEnteredManagersReachesTheCallersScope) {
  // The child enters managers and is cancelled from its caller's scope: the deferred exits
  // run shielded, each sees aw::cancelled, then the caller's scope catches it.
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  recorder b("B", log, {.sleep_in_exit = true});
  aw::cancel_scope scope;
  auto child = [&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    scope.cancel();
    co_await aw::sleep(1h);
    co_return 1;
  };
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      int v = co_await child();
      log.push_back("child gave " + std::to_string(v));  // not reached
    });
    log.push_back("after scope");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(aw::cancelled)", "exit B finished", "exit A(aw::cancelled)", "exit A finished",
                        "after scope"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

TEST(ShieldedExit, ACancellationThatArrivesAfterTheTaskReturnedIsSeenByTheCallersNextWait) {
  // The child cancels its caller's scope and returns without a wait: its exits see no
  // exception, it gives its value, and the caller's next wait is cancelled.
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  aw::cancel_scope scope;
  auto child = [&]() -> aw::task<int> {
    co_await aw::enter(a);
    scope.cancel();
    co_return 3;
  };
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      int v = co_await child();
      log.push_back("child gave " + std::to_string(v));
      co_await aw::yield();
      log.push_back("not reached");
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "exit A finished", "child gave 3"}));
  EXPECT_TRUE(scope.cancelled_caught());
}

// ---------------------------------------------------------------------------------------
// An exit's shield becomes a scope of the chain only when something needs one there (a
// scope or a task group entered in the exit); until then it is a mark on the task. Each
// test below begins its exits with the outer scope already cancelled, in every form.

// An exit that runs a task group of two children, each sleeping 10 ms.
class group_exit {
 public:
  explicit group_exit(log_t& log) : log_(&log) {}
  aw::task<group_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) {
    aw::task_group group;
    co_await aw::async_with(group, [&](aw::task_group& g) -> aw::task<> {
      for (const char* name : {"a", "b"})
        g.start_soon(
            [](log_t* log, const char* n) -> aw::task<> {
              co_await aw::sleep(10ms);
              log->push_back(std::string("child ").append(n).append(" at ").append(std::to_string(aw::now().time_since_epoch() / 1ms)));
            },
            log_, name);
      co_return;
    });
    log_->push_back("exit done");
  }

 private:
  log_t* log_;
};

// A task that enters `m`, then cancels `scope`, which it runs in, and returns: its lone
// exit begins in a cancelled scope.
template <class M>
aw::task<> enter_cancel_return(M& m, aw::cancel_scope& scope) {
  co_await aw::enter(m);
  scope.cancel();
}

TEST(ShieldedExit, ATaskGroupInAnExitIsShieldedInEveryForm) {
  for (int form = 0; form < 3; ++form) {
    log_t log;
    group_exit manager(log);
    aw::cancel_scope scope;
    aw::clock::time_point start{};
    run_virtual([&]() -> aw::task<> {
      start = aw::now();
      co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
        if (form == 0) {
          co_await enter_cancel_return(manager, s);  // a lone exit, no exception
        } else if (form == 1) {
          co_await aw::enter(manager);  // the exits' driver, with aw::cancelled
          s.cancel();
          co_await aw::sleep(1h);
        } else {
          co_await aw::async_with(manager, [&](group_exit&) -> aw::task<> {
            s.cancel();
            co_await aw::sleep(1h);
          });
        }
      });
    });
    const std::string at = std::to_string((start + 10ms).time_since_epoch() / 1ms);
    EXPECT_EQ(log, (log_t{std::string("child a at ").append(at), std::string("child b at ").append(at), "exit done"})) << "form " << form;
    // Form 0 reaches no wait in the cancelled scope after cancelling it: nothing to catch.
    EXPECT_EQ(scope.cancelled_caught(), form != 0) << "form " << form;
  }
}

// An exit whose own exit runs inside it: each is shielded, the outer one still after the
// inner one has ended, and a scope entered after that is cancelled only by its deadline.
class nested_exit {
 public:
  nested_exit(exit_probe& inner_probe, log_t& log) : inner_(inner_probe, 5ms), log_(&log) {}
  aw::task<nested_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) {
    co_await enter_and_return(inner_, *log_);  // the inner exit sleeps 5 ms
    log_->push_back("inner done");
    co_await aw::sleep(5ms);
    deadline_after_inner = co_await aw::current_deadline();
    bool completed = co_await aw::move_on_after(1h, []() -> aw::task<> { co_await aw::sleep(5ms); });
    log_->push_back(completed ? "scope completed" : "scope cut");
    bool cut = !co_await aw::move_on_after(5ms, []() -> aw::task<> { co_await aw::sleep(1h); });
    log_->push_back(cut ? "deadline cut" : "deadline missed");
    co_await aw::sleep(5ms);
    log_->push_back("exit done");
    finished_at = aw::now();
  }

  aw::clock::time_point deadline_after_inner{};
  aw::clock::time_point finished_at{};

 private:
  slow_exit inner_;
  log_t* log_;
};

TEST(ShieldedExit, AnExitInsideAnExitLeavesTheOuterOneShielded) {
  for (int form = 0; form < 2; ++form) {
    exit_probe inner;
    log_t log;
    nested_exit manager(inner, log);
    aw::cancel_scope scope;
    aw::clock::time_point start{};
    run_virtual([&]() -> aw::task<> {
      start = aw::now();
      co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
        if (form == 0) {
          co_await enter_cancel_return(manager, s);
        } else {
          co_await aw::enter(manager);
          s.cancel();
          co_await aw::sleep(1h);
        }
      });
    });
    EXPECT_EQ(log, (log_t{"returned", "inner done", "scope completed", "deadline cut", "exit done"})) << "form " << form;
    EXPECT_TRUE(inner.finished) << "form " << form;
    EXPECT_EQ(inner.deadline_in_exit, never) << "form " << form;
    EXPECT_EQ(manager.deadline_after_inner, never) << "form " << form;
    EXPECT_EQ(manager.finished_at - start, 5ms + 5ms + 5ms + 5ms + 5ms) << "form " << form;
    // Form 0 reaches no wait in the cancelled scope after cancelling it: nothing to catch.
    EXPECT_EQ(scope.cancelled_caught(), form != 0) << "form " << form;
  }
}

}  // namespace
