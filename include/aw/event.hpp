// aw::event: a one-shot notification that any number of tasks can wait for (anyio.Event,
// trio.Event).
//
//   aw::event ready;
//   co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
//     tg.start_soon([&]() -> aw::task<> { co_await load(); ready.set(); });
//     co_await ready.wait();           // every waiter is woken by set()
//     std::puts("loaded");
//   });
//
// As in anyio and trio, an event cannot be cleared: once set it stays set, and a fresh
// event replaces it. That rules out the lost-wake-up races of a resettable event.
//
// wait() is a cancellation point: inside a cancelled scope it raises aw::cancelled even when
// the event is set, and a cancellation that arrives while it waits interrupts it. On a set
// event it completes without suspending (anyio yields to the loop once there; asyncwith
// saves that turn). set() resumes the waiters in the order they started waiting, on later
// turns of the loop, not inside set().
#pragma once

#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>

namespace aw {

class event {
 public:
  event() noexcept = default;
  event(const event&) = delete;  // waiters point at it
  event& operator=(const event&) = delete;

  // Sets the event and wakes every task waiting for it. Setting it again does nothing.
  void set() {
    if (set_) return;
    set_ = true;
    while (detail::waiter* w = waiters_.pop_front()) w->wake();
  }
  bool is_set() const noexcept { return set_; }
  // How many tasks are waiting (anyio's EventStatistics.tasks_waiting).
  std::size_t tasks_waiting() const noexcept { return waiters_.size(); }

  class [[nodiscard("co_await it: without co_await nothing waits")]] wait_awaiter : detail::waiter {
   public:
    explicit wait_awaiter(event& ev) noexcept : ev_(&ev) {}
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() { detail::abandon(&ev_->waiters_, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      ctx = detail::context_of(h);
      if ((ctx && ctx->cancelled()) || ev_->set_) return false;
      detail::suspend_in(
          ev_->waiters_, *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<wait_awaiter*>(c);
            detail::abort_wait(self->ev_->waiters_, *self);
          },
          "event");
      return true;
    }
    // Nothing to give back when set() and a cancellation both happened: it raises, as
    // every wait inside a cancelled scope does.
    void await_resume() const {
      if (aborted || (ctx && ctx->cancelled())) [[unlikely]]
        throw cancelled{};
    }

   private:
    event* ev_;
  };

  // co_await ev.wait(): returns once the event is set (at once if it is).
  wait_awaiter wait() noexcept { return wait_awaiter(*this); }

 private:
  detail::wait_queue waiters_;
  bool set_ = false;
};

}  // namespace aw
