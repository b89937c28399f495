// aw::testing::virtual_clock: virtual time for tests (trio.testing.MockClock). A loop run on
// it reads this clock for every deadline (aw::now, sleep, move_on_after, fail_after, cancel
// scopes' deadlines, the modules' timeouts), so a test of a 30 s timeout takes no real time
// and its timings are exact.
//
//   aw::testing::virtual_clock clock({.autojump_threshold = 0s});  // MockClock(autojump_threshold=0)
//   aw::run([&]() -> aw::task<> {
//     auto start = aw::now();
//     bool done = co_await aw::move_on_after(30s, [] { return aw::sleep(1h); });
//     assert(!done && aw::now() - start == 30s);  // at once, and exactly 30 s later
//   }, {.clock = &clock});                        // trio.run(main, clock=clock)
//
// Semantics (MockClock's):
// - Time starts at zero (clock::time_point{}) and, at the default rate 0, stands still
//   unless something moves it: jump(d) (MockClock.jump) or the autojump. A rate r > 0 makes
//   it run at r virtual seconds per real second from then on (rate 1 is real time).
// - autojump_threshold (default: never, MockClock's math.inf): when every task of the loop
//   has been waiting for that much real time with nothing delivered, time jumps to the
//   earliest pending deadline, which then fires. Precisely: when no task is ready, the loop
//   waits for I/O (io_uring completions, fd readiness, wake-ups from worker threads,
//   from_thread calls, signals) for at most the threshold, in real time; if that wait ran
//   its whole length (a signal that cuts it short starts it again), delivered nothing, and
//   still no task is ready, the clock jumps. Threshold 0 polls I/O without waiting, so time
//   jumps as soon as everything waits and nothing is ready at that instant. A deadline that
//   the rate brings sooner than the threshold is simply waited for.
// - What runs outside the loop is not seen to be running: a worker thread (aw::to_thread),
//   a child process, a peer across a socket or pipe, the kernel finishing an io_uring
//   operation. With threshold 0, a virtual 1 h timeout around a to_thread call that takes
//   50 ms of real time fires before the call returns, as it does in trio; set the threshold
//   above the real time such work takes (0.1 s is trio's usual advice for tests with real
//   I/O), or keep it at 0 for code that only computes, sleeps and uses the loop's own
//   primitives (tasks, channels, locks, events), where jumps are exact and immediate.
// - With rate 0 and no autojump, a loop whose tasks all wait for deadlines, with no I/O or
//   worker pending, can never wake: aw::run raises aw::deadlock_error.
// - Only the loop it runs is virtual: code on other threads (a to_thread job, the loops of
//   aw::run_on_threads) reads the real clock from aw::now(). jump(), set_rate() and
//   set_autojump_threshold() are called on the loop's thread (from a task) or while no loop
//   runs on the clock; a clock serves one loop at a time and must outlive it. A clock may be
//   reused by a later aw::run: its time goes on from where it stopped.
// - The loop's timers fire in deadline order, ties in the order they were armed, whatever
//   the clock; a jump fires every timer it passes in that order, in one turn of the loop.
//
// Like trio.testing, this header is not part of <aw/aw.hpp>; include it in tests.
#pragma once

#include <aw/loop.hpp>

#include <chrono>

namespace aw::testing {

class virtual_clock {
 public:
  // A threshold that never triggers (trio's math.inf).
  static constexpr clock::duration never = clock::duration::max();

  struct options {
    double rate = 0.0;                           // virtual seconds per real second; >= 0
    clock::duration autojump_threshold = never;  // real time all tasks wait before a jump; >= 0
  };

  virtual_clock() noexcept : virtual_clock(options{}) {}
  // std::invalid_argument for a negative rate or threshold.
  explicit virtual_clock(options o);
  virtual_clock(const virtual_clock&) = delete;
  virtual_clock& operator=(const virtual_clock&) = delete;

  // The virtual time now (what aw::now() gives in a loop run on this clock).
  clock::time_point now() const noexcept;

  // Moves time forward by `d` (std::invalid_argument if negative: time can't go backwards).
  // The timers it passes fire on the loop's next turn, in deadline order.
  void jump(clock::duration d);

  double rate() const noexcept { return rate_; }
  // Time keeps its current value and runs at `r` from now on (std::invalid_argument if r < 0).
  void set_rate(double r);

  clock::duration autojump_threshold() const noexcept { return threshold_; }
  // Read by the loop each time it becomes idle (std::invalid_argument if negative).
  void set_autojump_threshold(clock::duration d);

 private:
  friend class aw::loop;
  // The real time the loop may wait before `deadline` arrives; never when rate is 0.
  clock::duration real_wait_until(clock::time_point deadline) const noexcept;

  clock::time_point real_base_;       // when the real clock said real_base_,
  clock::time_point virtual_base_{};  // virtual time was virtual_base_, and has run at rate_ since
  double rate_ = 0.0;
  clock::duration threshold_ = never;
  const loop* running_ = nullptr;  // the loop using this clock
};

}  // namespace aw::testing
