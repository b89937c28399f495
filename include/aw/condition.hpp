// aw::condition: wait for a notification while holding a lock (anyio.Condition,
// asyncio.Condition).
//
//   aw::condition cond;                      // or aw::condition cond(existing_lock);
//   std::deque<job> jobs;
//   // consumer: async with cond: while not jobs: await cond.wait()
//   co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
//     while (jobs.empty()) co_await cond.wait();
//     run(jobs.front()); jobs.pop_front();
//   });
//   // producer
//   co_await aw::async_with(cond, [&](aw::condition&) -> aw::task<> {
//     jobs.push_back(j);
//     cond.notify();
//     co_return;                               // a coroutine even without a co_await
//   });
//
// Semantics (anyio's):
// - The condition is an async context manager that acquires its lock (acquire()/release()
//   and locked() by hand work too; they are the lock's). Acquiring is as fair as the lock
//   (aw/lock.hpp): the condition's own lock is fair; over aw::lock lk(aw::fast_acquire) a
//   free lock is taken without yielding.
// - wait() must be called holding the lock (else std::logic_error). It releases the lock,
//   waits for notify()/notify_all(), then reacquires the lock before it returns. Waiters are
//   notified first come, first served, and reacquire the lock in that order.
// - wait() is a cancellation point, and the lock is reacquired even then: a waiter that is
//   cancelled still waits for the lock (shielded) before aw::cancelled propagates, so the
//   block's exit always releases a lock the task holds.
// - notify(n) wakes up to n waiters, notify_all() every one. anyio checks that the calling
//   task holds the lock; asyncwith can only check that the lock is held (the caller's task
//   is known to awaiters, and notify is not awaited): std::logic_error when it is not.
#pragma once

#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/lock.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace aw {

class condition {
 public:
  // A condition with a lock of its own.
  condition() noexcept : lock_(&own_) {}
  // A condition over `lk`, which must outlive it.
  explicit condition(aw::lock& lk) noexcept : lock_(&lk) {}
  condition(const condition&) = delete;  // waiters point at it
  condition& operator=(const condition&) = delete;

  aw::lock& get_lock() noexcept { return *lock_; }
  bool locked() const noexcept { return lock_->locked(); }
  std::size_t tasks_waiting() const noexcept { return waiters_.size(); }

  aw::lock::acquire_awaiter acquire() noexcept { return lock_->acquire(); }
  aw::lock::release_awaiter release() noexcept { return lock_->release(); }

  // Wakes up to `n` waiters, longest waiting first; they reacquire the lock in that order.
  void notify(std::size_t n = 1) {
    if (!lock_->locked()) throw std::logic_error("aw::condition::notify: the lock is not held");
    for (; n > 0 && !waiters_.empty(); --n) static_cast<wait_awaiter*>(waiters_.pop_front())->reacquire();
  }
  void notify_all() { notify(waiters_.size()); }

  class [[nodiscard("co_await it: without co_await nothing waits")]] wait_awaiter : detail::waiter {
   public:
    explicit wait_awaiter(condition& c) noexcept : cond_(&c) {}
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() { detail::abandon(phase_ == phase::lock ? &cond_->lock_->waiters_ : &cond_->waiters_, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      ctx = detail::context_of(h);
      if (ctx && ctx->cancelled()) return false;  // raises before touching the lock (anyio's checkpoint)
      if (!cond_->lock_->locked() || cond_->lock_->holder_ != ctx) {
        not_holding_ = true;
        return false;
      }
      detail::suspend_in(
          cond_->waiters_, *this, h,
          [](detail::cancellable* c) noexcept {
            // Cancelled while waiting for a notification: leave the queue, then get the lock
            // back, shielded (this wait is no longer interruptible), before raising.
            auto* self = static_cast<wait_awaiter*>(c);
            self->cond_->waiters_.remove(*self);
            self->aborted = true;
            self->reacquire();
          },
          "condition");
      phase_ = phase::notify;
      cond_->lock_->hand_over();  // release; after linking in, so a notify from the next holder finds us
      return true;
    }
    void await_resume() const {
      if (not_holding_) [[unlikely]]
        throw std::logic_error("aw::condition::wait: the current task is not holding the lock");
      // Here the task holds the lock again, whatever happened.
      if (aborted || (ctx && ctx->cancelled())) [[unlikely]]
        throw cancelled{};
    }

   private:
    friend class condition;
    enum class phase : unsigned char { none, notify, lock };

    // Notified or cancelled: reacquire the lock, shielded; resume once it is ours.
    // Never throws: queueing is intrusive and scheduling has room (the ready queue grows
    // only when full, which a wake-up of one waiter cannot overflow in practice).
    void reacquire() noexcept {
      if (ctx && ctx->waiting == this) ctx->waiting = nullptr;
      granted = false;
      phase_ = phase::lock;
      if (cond_->lock_->take_or_queue_shielded(*this)) lp->schedule(handle);
    }

    condition* cond_;
    phase phase_ = phase::none;
    bool not_holding_ = false;
  };

  // co_await cond.wait(): releases the lock, waits for a notification, reacquires the lock.
  wait_awaiter wait() noexcept { return wait_awaiter(*this); }

  // Acquires the lock and gives the condition (aenter).
  class [[nodiscard("co_await it: without co_await nothing is acquired")]] enter_awaiter {
   public:
    explicit enter_awaiter(condition& c) noexcept : inner_(*c.lock_), cond_(&c) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      return inner_.await_suspend(h);
    }
    condition& await_resume() {
      inner_.await_resume();
      return *cond_;
    }

   private:
    aw::lock::acquire_awaiter inner_;
    condition* cond_;
  };

  // The async context manager: async with condition (holds its lock).
  enter_awaiter aenter() noexcept { return enter_awaiter(*this); }
  aw::lock::release_awaiter aexit(std::exception_ptr) noexcept { return lock_->release(); }

 private:
  aw::lock own_;
  aw::lock* lock_;
  detail::wait_queue waiters_;
};

}  // namespace aw
