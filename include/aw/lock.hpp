// aw::lock: a FIFO-fair mutual exclusion lock for tasks (anyio.Lock, asyncio.Lock).
//
//   aw::lock lk;
//   // async with lock: ...
//   co_await aw::async_with(lk, [&](aw::lock&) -> aw::task<> { co_await update(shared); });
//   // or, until the end of the enclosing task:
//   co_await aw::enter(lk);
//   // or by hand:
//   co_await lk.acquire();
//   ...
//   co_await lk.release();
//
// Semantics (anyio's):
// - The lock belongs to the task that acquired it (a task in anyio's sense: the main task
//   or one child of a task group). Releasing it from another task, or when it is not held,
//   raises std::logic_error (anyio: RuntimeError); acquiring it again in the task that
//   holds it raises std::logic_error instead of deadlocking.
// - Fair: waiters get the lock in the order they asked. release() hands the lock directly to
//   the first waiter, so a task that did not wait cannot barge in between.
// - acquire() is a cancellation point. A waiter cancelled while it waits leaves the queue
//   and never gets the lock. A waiter that was handed the lock and then cancelled before
//   it could resume passes the lock on to the next waiter and raises aw::cancelled: a
//   cancelled acquire never leaves the lock held.
// - Fair to a task that takes the lock in a loop (anyio's default, trio's): acquiring a free
//   lock takes it, then yields to the loop once, holding it, so that the other ready tasks
//   run and queue; release() then hands the lock to them in turn (three tasks taking it five
//   times each: 123123123123123, not 111112222233333). A cancellation during that yield
//   passes the lock on and raises aw::cancelled. aw::lock lk(aw::fast_acquire) takes a free
//   lock without yielding (anyio's fast_acquire=True): cheaper, but a task that takes it in a
//   loop without waiting for anything else keeps it from the others.
//
// Why release() and try_acquire() are awaited: the lock records its holder by task, and
// only an awaiter learns which task is calling (from the awaiting coroutine). Neither
// suspends. Forgetting the co_await is a compile error ([[nodiscard]] with -Werror).
#pragma once

#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace aw {

class condition;

class lock {
 public:
  lock() noexcept = default;
  // Takes a free lock without yielding to the loop (anyio's Lock(fast_acquire=True)).
  explicit lock(fast_acquire_t) noexcept : fast_(true) {}
  lock(const lock&) = delete;  // waiters point at it
  lock& operator=(const lock&) = delete;

  bool locked() const noexcept { return locked_; }
  // How many tasks are waiting to acquire it (anyio's LockStatistics.tasks_waiting).
  std::size_t tasks_waiting() const noexcept { return waiters_.size(); }

  class [[nodiscard("co_await it: without co_await nothing is acquired")]] acquire_awaiter : detail::waiter {
   public:
    explicit acquire_awaiter(lock& lk) noexcept : lk_(&lk) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() { detail::abandon(&lk_->waiters_, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      ctx = detail::context_of(h);
      if (ctx && ctx->cancelled()) return false;
      if (!lk_->locked_) {
        if (!lk_->fast_)
          return detail::take_and_yield(
              *this, h, [this] { lk_->take(ctx); },
              [this] {
                lk_->locked_ = false;
                lk_->holder_ = nullptr;
              });
        lk_->take(ctx);
        granted = true;
        return false;
      }
      if (ctx && lk_->holder_ == ctx) {
        reentered_ = true;
        return false;
      }
      detail::suspend_in(
          lk_->waiters_, *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<acquire_awaiter*>(c);
            detail::abort_wait(self->lk_->waiters_, *self);
          },
          "lock");
      return true;
    }
    lock& await_resume() {
      if (reentered_) [[unlikely]]
        throw std::logic_error("aw::lock: the current task already holds this lock");
      if (aborted || (ctx && ctx->cancelled())) [[unlikely]] {
        // Handed the lock, then cancelled before resuming: pass it on, never keep it.
        if (granted) lk_->hand_over();
        throw cancelled{};
      }
      return *lk_;
    }

   private:
    lock* lk_;
    bool reentered_ = false;
  };

  struct [[nodiscard("co_await it: without co_await nothing is released")]] release_awaiter {
    lock* lk;
    detail::task_context* ctx = nullptr;
    explicit release_awaiter(lock& l) noexcept : lk(&l) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      ctx = detail::context_of(h);
      return false;
    }
    void await_resume() const { lk->release_by(ctx); }
  };

  struct [[nodiscard("co_await it: it gives whether the lock was acquired")]] try_acquire_awaiter {
    lock* lk;
    detail::task_context* ctx = nullptr;
    explicit try_acquire_awaiter(lock& l) noexcept : lk(&l) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      ctx = detail::context_of(h);
      return false;
    }
    bool await_resume() const {
      if (!lk->locked_) {
        lk->take(ctx);
        return true;
      }
      if (ctx && lk->holder_ == ctx) throw std::logic_error("aw::lock: the current task already holds this lock");
      return false;
    }
  };

  // co_await lk.acquire(): waits until the lock is free, then holds it (gives the lock).
  acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }
  // co_await lk.release(): std::logic_error unless the calling task holds the lock.
  release_awaiter release() noexcept { return release_awaiter(*this); }
  // co_await lk.try_acquire(): takes the lock if it is free, without waiting (anyio's
  // acquire_nowait, which raises WouldBlock where this gives false). Not a cancellation
  // point.
  try_acquire_awaiter try_acquire() noexcept { return try_acquire_awaiter(*this); }

  // The async context manager: async with lock.
  acquire_awaiter aenter() noexcept { return acquire_awaiter(*this); }
  release_awaiter aexit(std::exception_ptr) noexcept { return release_awaiter(*this); }

 private:
  friend class condition;

  void take(detail::task_context* ctx) noexcept {
    locked_ = true;
    holder_ = ctx;
  }
  void release_by(detail::task_context* ctx) {
    if (!locked_) throw std::logic_error("aw::lock::release: the lock is not held");
    if (holder_ != ctx) throw std::logic_error("aw::lock::release: the current task is not holding this lock");
    hand_over();
  }
  // Gives the lock to the first waiter (it now holds it, before it even resumes), or frees it.
  void hand_over() {
    if (detail::waiter* w = waiters_.pop_front()) {
      holder_ = w->ctx;
      w->granted = true;
      w->wake();
    } else {
      locked_ = false;
      holder_ = nullptr;
    }
  }
  // Queues an uninterruptible waiter (aw::condition reacquiring after wait); it holds the
  // lock when it resumes. True when it got the lock at once.
  bool take_or_queue_shielded(detail::waiter& w) {
    if (!locked_) {
      take(w.ctx);
      w.granted = true;
      return true;
    }
    waiters_.push_back(w);
    return false;
  }

  detail::wait_queue waiters_;
  detail::task_context* holder_ = nullptr;
  bool locked_ = false;
  bool fast_ = false;
};

}  // namespace aw
