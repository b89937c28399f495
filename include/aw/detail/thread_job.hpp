// A call that runs on a worker thread while a coroutine waits for it on its loop: the record
// shared by aw::thread_pool::run, aw::to_thread and aw::from_thread. Internal.
//
// The job lives on the heap, not in the waiting frame: with abandon_on_cancel the caller
// leaves while the worker still runs the function, so whichever side finishes last frees
// it. Who that is follows from one atomic state:
//
//   queued ──(worker takes it, under the pool's mutex)──> running ──(fn returned)──> done
//     │                                                   │   ▲                        │
//     └─(cancelled while queued, under the pool's mutex)  │   │ from_thread            └─ posted to the loop:
//        -> dropped: the caller frees it                  │   ▼                           the caller resumes
//                                                         │  calling_back                 and frees it
//                                                         │   │ (abandon requested meanwhile:
//                                                         │   │  abandoned when the call ends)
//                                                         └───┴─(abandon_on_cancel)─> abandoned:
//                                                                 the worker frees it when fn returns
//
// running -> done (worker) races running -> abandoned (loop): one compare-exchange wins.
// The successful transitions are acq_rel: `done` publishes the result to the loop (the loop's
// posted-call mutex publishes it too), `abandoned` hands the record to the worker after the
// loop's last use of it. Only the loop's thread leaves calling_back, so a worker inside
// aw::from_thread can rely on its loop being alive: its caller cannot have left.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/loop.hpp>

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace aw {

class thread_pool;

namespace detail {

// The value or the exception of a call, to be handed to another thread (or task).
template <class T>
class outcome {
 public:
  // Runs f() and keeps what it gives: a value, a reference, nothing, or the exception.
  template <class F>
  void capture(F&& f) noexcept {
    try {
      if constexpr (std::is_void_v<T>) {
        std::forward<F>(f)();
      } else if constexpr (std::is_reference_v<T>) {
        ref_ = std::addressof(std::forward<F>(f)());
      } else {
        value_.emplace(std::forward<F>(f)());
      }
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  void set_exception(std::exception_ptr e) noexcept { error_ = std::move(e); }
  T take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (std::is_reference_v<T>)
      return static_cast<T>(*ref_);
    else if constexpr (!std::is_void_v<T>)
      return std::move(*value_);
  }

 private:
  struct none {};
  using stored = std::conditional_t<std::is_void_v<T> || std::is_reference_v<T>, none, std::remove_cv_t<T>>;
  [[no_unique_address]] std::optional<stored> value_;
  std::remove_reference_t<T>* ref_ = nullptr;
  std::exception_ptr error_;
};

// What a call gives back: a reference stays one; an rvalue reference becomes a value (the
// object it names may not outlive the call).
template <class R>
using returned_t = std::conditional_t<std::is_rvalue_reference_v<R>, std::remove_cvref_t<R>, R>;

enum class job_state : std::uint8_t { queued, running, calling_back, done, abandoned, dropped };
// How the caller's wait ended (the loop's thread only).
enum class job_resolution : std::uint8_t { pending, completed, dropped, abandoned, not_started };

// Linked into the pool's queue (under the pool's mutex) from submit until a worker takes it.
class thread_job : public posted_call, public cancellable, public intrusive_list_item<thread_job> {
 public:
  thread_job() noexcept;  // run = the completion, interrupt = the cancellation (thread_pool.cpp)
  thread_job(const thread_job&) = delete;
  thread_job& operator=(const thread_job&) = delete;
  virtual ~thread_job() = default;
  // Runs the function on the worker and keeps its outcome; never throws.
  virtual void invoke() noexcept = 0;

  std::atomic<job_state> state{job_state::queued};
  std::atomic<bool> cancel_requested{false};  // a hint for from_thread::check_cancelled (relaxed)
  // Set on the loop's thread before the job is queued; the worker reads `home` only.
  thread_pool* pool = nullptr;
  loop* home = nullptr;
  task_context* ctx = nullptr;
  std::coroutine_handle<> waiter;
  job_resolution* resolution = nullptr;
  bool abandon_on_cancel = false;
  bool abandon_pending = false;  // the loop's thread only: abandon when the from_thread call ends
  // Written by the worker when tracing (aw/trace.hpp), read by the loop after the completion.
  std::int64_t trace_start = 0;
  std::int64_t trace_end = 0;
  std::uint32_t trace_tid = 0;
};

template <class R>
class result_job : public thread_job {
 public:
  outcome<R> out;
};

// fn(args...) with decayed copies, called as rvalues (as std::thread and start_soon do).
template <class R, class F, class... A>
class bound_job final : public result_job<R> {
 public:
  template <class G, class... B>
  explicit bound_job(G&& fn, B&&... args) : fn_(std::forward<G>(fn)), args_(std::forward<B>(args)...) {}
  void invoke() noexcept override {
    this->out.capture([this]() -> R { return std::apply(std::move(fn_), std::move(args_)); });
  }

 private:
  F fn_;
  std::tuple<A...> args_;
};

// The job the calling worker thread is running, or null (not a pool's worker, or between jobs).
thread_job* current_thread_job() noexcept;

// A call from a worker to its job's loop (aw::from_thread). The record lives on the worker's
// stack; the worker blocks until finish() was called on the loop's thread.
class callback : public posted_call {
 public:
  callback() = default;
  callback(const callback&) = delete;
  callback& operator=(const callback&) = delete;

  // On the worker: posts the call to the job's loop and waits until it finished.
  // std::logic_error outside a worker, aw::cancelled when the job was abandoned.
  void call();
  // On the loop's thread, when the call is over: hands the job back to the worker (or
  // completes an abandonment requested meanwhile) and wakes the worker. The worker may
  // destroy the record as soon as this returns.
  void finish() noexcept;
  // Runs a coroutine of the call inside the waiting caller's cancel scope (anyio 4: a
  // cancelled caller cancels what its thread runs on the loop).
  void enter_host_scope(task_context& t, scope_state& s) noexcept {
    s.owner = &t;
    s.link(job_->ctx ? job_->ctx->innermost() : nullptr);
    t.scope = &s;
  }

 private:
  thread_job* job_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  bool finished_ = false;
};

}  // namespace detail
}  // namespace aw
