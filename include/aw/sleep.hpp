// Time on the loop: aw::now, aw::sleep, aw::sleep_until, aw::yield (asyncio.sleep and
// loop.time()).
//
//   auto start = aw::now();
//   co_await aw::sleep(50ms);          // asyncio.sleep(0.05)
//   co_await aw::yield();              // asyncio.sleep(0): let every other ready task run
//
// Timers live in the loop's binary heap (O(log n) to arm, fire or cancel); the timer
// record is the awaiter itself, in the sleeping coroutine's frame, so sleeping allocates
// nothing.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <coroutine>

namespace aw {

// aw::now() (aw/loop.hpp) is the loop's clock, the clock of every deadline in asyncwith:
// CLOCK_MONOTONIC, or a virtual clock in tests (aw/testing/virtual_clock.hpp).

namespace detail {

// Every sleep is a cancellation point: inside a cancelled scope it raises aw::cancelled
// at once, and a scope cancelled while it sleeps interrupts it.
class [[nodiscard("co_await it: without co_await nothing sleeps")]] sleep_awaiter : timer_node, cancellable {
 public:
  explicit sleep_awaiter(clock::time_point deadline, bool yield_only) noexcept : yield_only_(yield_only) { this->deadline = deadline; }
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    if (armed()) loop_->remove_timer(*this);  // the sleeping frame was destroyed
    if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    ctx_ = context_of(h);
    if (ctx_ && ctx_->cancelled()) return false;  // raise in await_resume without waiting
    loop_ = &loop::current();
    waiter_ = h;
    if (yield_only_) {
      loop_->schedule(h);  // cancellation meanwhile is seen by await_resume
      if (trace_on) [[unlikely]]
        trace_wait(ctx_, h, detail::trace_kind::yield, nullptr);
      return true;
    }
    fire = [](timer_node* t) {
      auto* self = static_cast<sleep_awaiter*>(t);
      if (self->ctx_) self->ctx_->waiting = nullptr;
      self->loop_->schedule(self->waiter_);
    };
    interrupt = [](cancellable* c) noexcept {
      auto* self = static_cast<sleep_awaiter*>(c);
      self->aborted_ = true;
      self->loop_->remove_timer(*self);
      self->loop_->schedule(self->waiter_);
    };
    loop_->add_timer(*this);
    if (ctx_) ctx_->waiting = this;
    if (trace_on) [[unlikely]]
      trace_wait(ctx_, h, detail::trace_kind::sleep, nullptr);
    return true;
  }
  void await_resume() const {
    // Aborted: cancelled, even if the scopes no longer say so (a shield raised since).
    if (aborted_ || (ctx_ && ctx_->cancelled())) [[unlikely]]
      throw cancelled{};
  }

 private:
  loop* loop_ = nullptr;
  task_context* ctx_ = nullptr;
  std::coroutine_handle<> waiter_;
  bool yield_only_;
  bool aborted_ = false;
};

struct [[nodiscard("co_await it")]] yield_awaiter {
  task_context* ctx_ = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    ctx_ = context_of(h);
    if (ctx_ && ctx_->cancelled()) return false;
    loop::current().schedule(h);
    if (trace_on) [[unlikely]]
      trace_wait(ctx_, h, detail::trace_kind::yield, nullptr);
    return true;
  }
  void await_resume() const {
    if (ctx_ && ctx_->cancelled()) [[unlikely]]
      throw cancelled{};
  }
};

}  // namespace detail

// Suspends until `deadline`; a deadline already past still yields to the loop once.
inline detail::sleep_awaiter sleep_until(clock::time_point deadline) noexcept { return detail::sleep_awaiter(deadline, false); }

// Suspends for `d`; zero or negative is aw::yield().
template <class Rep, class Period>
detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
  if (d <= d.zero()) return detail::sleep_awaiter(clock::time_point{}, true);
  return detail::sleep_awaiter(now() + std::chrono::ceil<clock::duration>(d), false);
}

// Lets every other ready coroutine run, then continues (asyncio.sleep(0)). Like every wait,
// a cancellation point (trio's checkpoint).
inline detail::yield_awaiter yield() noexcept { return {}; }

}  // namespace aw
