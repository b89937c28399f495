// aw::semaphore: a FIFO-fair counting semaphore for tasks (anyio.Semaphore; with a
// max_value, asyncio.BoundedSemaphore).
//
//   aw::semaphore slots(3);              // at most three downloads at a time
//   aw::task<> download(std::string url) {
//     // async with slots: ...
//     co_await aw::async_with(slots, [&](aw::semaphore&) -> aw::task<> { co_await fetch(url); });
//   }
//
// Semantics (anyio's):
// - acquire() takes one unit, waiting while the value is zero; release() gives one back.
//   Nobody owns a unit: any task may release.
// - Fair: waiters get units in the order they asked; release() hands the unit directly to
//   the first waiter, so a task that did not wait cannot take it first.
// - With a max_value, releasing when the value is already max_value raises
//   aw::semaphore_overflow (a std::logic_error; anyio raises ValueError).
// - acquire() is a cancellation point. A waiter cancelled while it waits leaves the queue
//   and gets nothing; one handed a unit and then cancelled before resuming gives the unit
//   on to the next waiter (or back to the count) and raises aw::cancelled.
// - Fair to a task that acquires in a loop (anyio's default): taking a free unit yields to
//   the loop once, holding it, so that the other ready tasks run and queue (a semaphore of
//   one taken five times by each of three tasks: 123123123123123). A cancellation during
//   that yield gives the unit on and raises aw::cancelled. aw::semaphore s(aw::fast_acquire,
//   n) takes a free unit without yielding (anyio's fast_acquire=True).
#pragma once

#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>

namespace aw {

// A bounded semaphore was released more times than it was acquired (anyio: ValueError).
class semaphore_overflow : public std::logic_error {
 public:
  semaphore_overflow() : std::logic_error("aw::semaphore::release: released too many times (the value is at max_value)") {}
};

class semaphore {
 public:
  // initial_value units; max_value (at least 1 and at least initial_value) bounds release().
  // Violations: std::invalid_argument (anyio: ValueError).
  explicit semaphore(std::size_t initial_value, std::optional<std::size_t> max_value = std::nullopt)
      : value_(initial_value), max_(max_value) {
    if (max_ && *max_ < 1) throw std::invalid_argument("aw::semaphore: max_value must be at least 1");
    if (max_ && initial_value > *max_) throw std::invalid_argument("aw::semaphore: max_value must be at least initial_value");
  }
  // Takes a free unit without yielding to the loop (anyio's Semaphore(fast_acquire=True)).
  semaphore(fast_acquire_t, std::size_t initial_value, std::optional<std::size_t> max_value = std::nullopt)
      : semaphore(initial_value, max_value) {
    fast_ = true;
  }
  semaphore(const semaphore&) = delete;  // waiters point at it
  semaphore& operator=(const semaphore&) = delete;

  std::size_t value() const noexcept { return value_; }
  std::optional<std::size_t> max_value() const noexcept { return max_; }
  std::size_t tasks_waiting() const noexcept { return waiters_.size(); }

  // Gives a unit back: to the first waiter if there is one, else to the count.
  void release() {
    if (max_ && value_ >= *max_) throw semaphore_overflow{};
    give();
  }

  // Takes a unit if one is free, without waiting (anyio's acquire_nowait, which raises
  // WouldBlock where this gives false). Not a cancellation point.
  bool try_acquire() noexcept {
    if (value_ == 0) return false;
    --value_;
    return true;
  }

  class [[nodiscard("co_await it: without co_await nothing is acquired")]] acquire_awaiter : detail::waiter {
   public:
    explicit acquire_awaiter(semaphore& s) noexcept : sem_(&s) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() { detail::abandon(&sem_->waiters_, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      ctx = detail::context_of(h);
      if (ctx && ctx->cancelled()) return false;
      if (sem_->value_ > 0) {  // a free unit means nobody waits: no barging past waiters
        if (!sem_->fast_) return detail::take_and_yield(*this, h, [this] { --sem_->value_; }, [this] { ++sem_->value_; });
        --sem_->value_;
        return false;
      }
      detail::suspend_in(
          sem_->waiters_, *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<acquire_awaiter*>(c);
            detail::abort_wait(self->sem_->waiters_, *self);
          },
          "semaphore");
      return true;
    }
    semaphore& await_resume() {
      if (aborted || (ctx && ctx->cancelled())) [[unlikely]] {
        if (granted) sem_->give();  // handed a unit, then cancelled: pass it on
        throw cancelled{};
      }
      return *sem_;
    }

   private:
    semaphore* sem_;
  };

  // co_await sem.acquire(): takes a unit, waiting while there is none (gives the semaphore).
  acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }

  // The async context manager: async with semaphore.
  acquire_awaiter aenter() noexcept { return acquire_awaiter(*this); }
  std::suspend_never aexit(std::exception_ptr) {
    release();
    return {};
  }

 private:
  void give() {
    if (detail::waiter* w = waiters_.pop_front()) {
      w->granted = true;
      w->wake();
    } else {
      ++value_;
    }
  }

  detail::wait_queue waiters_;
  std::size_t value_;
  std::optional<std::size_t> max_;
  bool fast_ = false;
};

}  // namespace aw
