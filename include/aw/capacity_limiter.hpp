// aw::capacity_limiter: at most total_tokens borrowers at a time, each holding one token
// (anyio.CapacityLimiter, trio.CapacityLimiter).
//
//   aw::capacity_limiter limiter(10);      // ten connections at most
//   aw::task<> fetch(std::string url) {
//     // async with limiter: ...
//     co_await aw::async_with(limiter, [&](aw::capacity_limiter&) -> aw::task<> { co_await get(url); });
//   }
//
// Semantics (anyio's):
// - A borrower holds at most one token: a task acquiring a second token raises
//   std::logic_error (anyio: RuntimeError), and releasing one it does not hold raises
//   std::logic_error too. acquire()/release() borrow for the calling task (its task
//   context); acquire_on_behalf_of(b)/release_on_behalf_of(b) for any borrower identity b.
// - Fair: waiters get tokens in the order they asked; a released token goes directly to the
//   first waiter.
// - set_total_tokens() changes the total; growing it hands the new tokens to waiters at once,
//   shrinking it lets current borrowers finish (borrowed_tokens may exceed the total until
//   they do).
// - acquire() is a cancellation point; a waiter handed a token and then cancelled before
//   resuming gives it to the next waiter and raises aw::cancelled.
// - Fair to a task that borrows in a loop (anyio's, trio's): taking a free token yields to
//   the loop once, holding it, so that the other ready tasks run and queue (a limiter of one
//   token borrowed five times by each of three tasks: 123123123123123). A cancellation
//   during that yield gives the token on and raises aw::cancelled.
//   aw::capacity_limiter l(aw::fast_acquire, n) takes a free token without yielding, as
//   aw::lock and aw::semaphore do with it (anyio's CapacityLimiter has no such option).
//
// Why acquire()/release() for the calling task are awaited even where they never wait: only
// an awaiter learns which task is calling. Forgetting the co_await is a compile error
// ([[nodiscard]] with -Werror).
#pragma once

#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace aw {

class capacity_limiter {
 public:
  // total_tokens must be at least 1 (std::invalid_argument; anyio: ValueError).
  explicit capacity_limiter(std::size_t total_tokens) : total_(check_total(total_tokens)) {
    borrowers_.reserve(std::min<std::size_t>(total_, 64));
  }
  // Takes a free token without yielding to the loop (as aw::lock(aw::fast_acquire)).
  capacity_limiter(fast_acquire_t, std::size_t total_tokens) : capacity_limiter(total_tokens) { fast_ = true; }
  capacity_limiter(const capacity_limiter&) = delete;  // waiters point at it
  capacity_limiter& operator=(const capacity_limiter&) = delete;

  std::size_t total_tokens() const noexcept { return total_; }
  std::size_t borrowed_tokens() const noexcept { return borrowers_.size(); }
  std::size_t available_tokens() const noexcept { return total_ > borrowers_.size() ? total_ - borrowers_.size() : 0; }
  std::size_t tasks_waiting() const noexcept { return waiters_.size(); }
  // The borrowers holding tokens, in no particular order (anyio's statistics().borrowers).
  const std::vector<const void*>& borrowers() const noexcept { return borrowers_; }

  // Changes the total; new tokens go to waiters in order at once.
  void set_total_tokens(std::size_t n) {
    total_ = check_total(n);
    while (borrowers_.size() < total_ && !waiters_.empty()) grant_first();
  }

  // Takes a token for `borrower` without waiting: false when none is free (anyio's
  // acquire_on_behalf_of_nowait raises WouldBlock). std::logic_error when it holds one.
  bool try_acquire_on_behalf_of(const void* borrower) {
    if (holds(borrower)) throw std::logic_error("aw::capacity_limiter: this borrower is already holding one of this limiter's tokens");
    if (borrowers_.size() >= total_ || !waiters_.empty()) return false;
    borrowers_.push_back(borrower);
    return true;
  }
  // Gives back the token of `borrower`; std::logic_error when it holds none.
  void release_on_behalf_of(const void* borrower) {
    auto it = std::find(borrowers_.begin(), borrowers_.end(), borrower);
    if (it == borrowers_.end()) throw std::logic_error("aw::capacity_limiter: this borrower is not holding any of this limiter's tokens");
    *it = borrowers_.back();
    borrowers_.pop_back();
    if (borrowers_.size() < total_ && !waiters_.empty()) grant_first();
  }

  class [[nodiscard("co_await it: without co_await nothing is acquired")]] acquire_awaiter : detail::waiter {
   public:
    // A null borrower means "the awaiting task".
    acquire_awaiter(capacity_limiter& l, const void* borrower) noexcept : lim_(&l), borrower_(borrower) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() { detail::abandon(&lim_->waiters_, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      ctx = detail::context_of(h);
      if (!borrower_) borrower_ = ctx;
      if (ctx && ctx->cancelled()) return false;
      if (lim_->holds(borrower_)) {
        already_ = true;
        return false;
      }
      if (lim_->borrowers_.size() < lim_->total_ && lim_->waiters_.empty()) {
        if (!lim_->fast_)
          return detail::take_and_yield(
              *this, h, [this] { lim_->borrowers_.push_back(borrower_); }, [this] { lim_->borrowers_.pop_back(); });
        lim_->borrowers_.push_back(borrower_);
        return false;
      }
      detail::suspend_in(
          lim_->waiters_, *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<acquire_awaiter*>(c);
            detail::abort_wait(self->lim_->waiters_, *self);
          },
          "capacity_limiter");
      return true;
    }
    capacity_limiter& await_resume() {
      if (aborted || (ctx && ctx->cancelled())) [[unlikely]] {
        if (granted) lim_->release_on_behalf_of(borrower_);  // handed a token, then cancelled: pass it on
        throw cancelled{};
      }
      if (already_) [[unlikely]]
        throw std::logic_error("aw::capacity_limiter: this borrower is already holding one of this limiter's tokens");
      return *lim_;
    }

   private:
    friend class capacity_limiter;
    capacity_limiter* lim_;
    const void* borrower_;
    bool already_ = false;
  };

  struct [[nodiscard("co_await it: without co_await nothing is released")]] release_awaiter {
    capacity_limiter* lim;
    const void* borrower = nullptr;
    explicit release_awaiter(capacity_limiter& l) noexcept : lim(&l) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      borrower = detail::context_of(h);
      return false;
    }
    void await_resume() const { lim->release_on_behalf_of(borrower); }
  };

  // co_await limiter.acquire(): borrows a token for the calling task, waiting for one.
  acquire_awaiter acquire() noexcept { return acquire_awaiter(*this, nullptr); }
  // co_await limiter.acquire_on_behalf_of(b): borrows a token for `b` (not null).
  acquire_awaiter acquire_on_behalf_of(const void* borrower) noexcept { return acquire_awaiter(*this, borrower); }
  // co_await limiter.release(): gives back the calling task's token.
  release_awaiter release() noexcept { return release_awaiter(*this); }

  // The async context manager: async with limiter (a token for the calling task).
  acquire_awaiter aenter() noexcept { return acquire_awaiter(*this, nullptr); }
  release_awaiter aexit(std::exception_ptr) noexcept { return release_awaiter(*this); }

 private:
  static std::size_t check_total(std::size_t n) {
    if (n < 1) throw std::invalid_argument("aw::capacity_limiter: total_tokens must be at least 1");
    return n;
  }
  bool holds(const void* borrower) const noexcept { return std::find(borrowers_.begin(), borrowers_.end(), borrower) != borrowers_.end(); }
  void grant_first() {
    auto* w = static_cast<acquire_awaiter*>(waiters_.pop_front());
    borrowers_.push_back(w->borrower_);
    w->granted = true;
    w->wake();
  }

  detail::wait_queue waiters_;
  std::vector<const void*> borrowers_;  // linear search: limits are small (anyio's default is 40)
  std::size_t total_;
  bool fast_ = false;
};

}  // namespace aw
