// The FIFO queue of suspended tasks behind every synchronisation primitive (aw::event,
// aw::lock, aw::semaphore, aw::capacity_limiter, aw::condition, aw::memory_channel).
// Internal.
//
// A waiter is the record of one suspended wait. It lives in the awaiter object, in the
// frame of the waiting coroutine, and is linked into the primitive's queue intrusively:
// waiting allocates nothing. Everything runs on the loop's thread: no atomics, no locks.
//
// The life of a wait, the same for every primitive (sleep_awaiter is the model):
//   1. await_suspend: inside a cancelled scope, do not suspend; await_resume raises
//      aw::cancelled. When the primitive can satisfy the wait at once, do not suspend
//      either. Otherwise link the waiter into the queue and register it in its task
//      (ctx->waiting) so that cancellation can interrupt it.
//   2. Either the primitive completes the wait (wake(): it is unlinked, no longer
//      interruptible, and resumed on a later turn of the loop), or cancellation interrupts
//      it (abort_wait(): it is unlinked, marked aborted, and resumed on a later turn).
//   3. await_resume decides. An aborted wait raises aw::cancelled, whatever the scopes say
//      by then (trio: a wait aborted for cancellation is rescheduled with Cancelled): a
//      scope shielded, or a cancel_scope left, between the abort and the resumption must
//      not turn "not cancelled, not granted" into a success. A wait that was completed and
//      then cancelled before it resumed gives back what it was given (a lock, a token, an
//      item) where that can be undone, then raises aw::cancelled: cancellation is level
//      triggered.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/loop.hpp>

#include <coroutine>
#include <cstddef>

namespace aw {

// The constructor tag of aw::lock, aw::semaphore and aw::capacity_limiter that makes taking
// a free lock (unit, token) skip the yield to the loop (anyio's fast_acquire=True):
//   aw::lock lk(aw::fast_acquire);
struct fast_acquire_t {
  explicit fast_acquire_t() = default;
};
inline constexpr fast_acquire_t fast_acquire{};

}  // namespace aw

namespace aw::detail {

class wait_queue;

struct waiter : cancellable, intrusive_list_item<waiter> {
  std::coroutine_handle<> handle;
  task_context* ctx = nullptr;
  loop* lp = nullptr;
  bool granted = false;  // the primitive completed the wait (gave a lock, a token, an item)
  bool aborted = false;  // cancellation interrupted the wait: it ends with aw::cancelled

  // Resumes the waiter on a later turn of the loop. From here on cancellation can no
  // longer interrupt it; its await_resume sees a cancellation that arrives meanwhile.
  void wake() {
    if (ctx && ctx->waiting == this) ctx->waiting = nullptr;
    lp->schedule(handle);
  }
};

class wait_queue {
 public:
  wait_queue() noexcept = default;
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;

  bool empty() const noexcept { return list_.empty(); }
  std::size_t size() const noexcept { return size_; }
  waiter* front() const noexcept { return list_.front(); }

  void push_back(waiter& w) noexcept {
    list_.push_back(w);
    ++size_;
  }

  // Nothing when `w` is not queued (it was woken, or never waited).
  void remove(waiter& w) noexcept {
    if (!w.linked()) return;
    list_.erase(w);
    --size_;
  }

  waiter* pop_front() noexcept {
    waiter* w = list_.front();
    if (w) remove(*w);
    return w;
  }

  // In queue order. `waiter& w = *it++;` before removing `w` keeps `it` valid.
  intrusive_list<waiter>::iterator begin() noexcept { return list_.begin(); }
  intrusive_list<waiter>::iterator end() noexcept { return list_.end(); }

 private:
  intrusive_list<waiter> list_;
  std::size_t size_ = 0;
};

// Links `w` into `q` and makes it interruptible in its task. `h` resumes on wake or
// interrupt; `interrupt_fn` must unlink the waiter, mark it aborted and resume it (abort_wait).
// `what` names the primitive in the trace (aw/trace.hpp).
inline void suspend_in(wait_queue& q, waiter& w, std::coroutine_handle<> h, void (*interrupt_fn)(cancellable*) noexcept,
                       const char* what = nullptr) {
  w.handle = h;
  w.lp = &loop::current();
  w.interrupt = interrupt_fn;
  q.push_back(w);
  if (w.ctx) w.ctx->waiting = &w;
  if (trace_on) [[unlikely]]
    trace_wait(w.ctx, h, trace_kind::sync, what);
}

// The fair acquire's checkpoint (anyio's default, trio's): `take` takes the free lock (unit,
// token), then the waiter yields to the loop once, holding it. The other ready tasks run
// meanwhile and queue behind it, so a task that takes the lock in a loop takes turns with
// them instead of taking it straight back. Not interruptible: a cancellation meanwhile is
// seen by await_resume, which gives back what was taken (granted) and raises. When taking
// or scheduling throws, nothing is held and nothing is scheduled (`untake` undoes `take`).
template <class Take, class Untake>
bool take_and_yield(waiter& w, std::coroutine_handle<> h, Take take, Untake untake) {
  take();
  try {
    w.lp = &loop::current();
    w.lp->schedule(h);
    if (trace_on) [[unlikely]]
      trace_wait(w.ctx, h, trace_kind::yield, "fair acquire");
  } catch (...) {
    untake();
    throw;
  }
  w.granted = true;
  return true;
}

// What cancellation does to a waiter suspended in `q` (the usual interrupt_fn's body).
inline void abort_wait(wait_queue& q, waiter& w) noexcept {
  q.remove(w);
  w.aborted = true;
  w.lp->schedule(w.handle);
}

// On destruction of a suspended waiter (its frame was destroyed without resuming): leaves
// the queue and the task, so neither points at a dead record.
inline void abandon(wait_queue* q, waiter& w) noexcept {
  if (q) q->remove(w);
  if (w.ctx && w.ctx->waiting == &w) w.ctx->waiting = nullptr;
}

}  // namespace aw::detail
