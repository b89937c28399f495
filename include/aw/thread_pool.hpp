// aw::thread_pool: blocking code on worker threads, awaited from a coroutine (the pool behind
// anyio.to_thread; concurrent.futures.ThreadPoolExecutor with loop.run_in_executor).
//
//   aw::thread_pool pool(4);                      // at most four worker threads
//   std::string text = co_await pool.run([&] { return read_whole_file(path); });
//
// Most code wants aw::to_thread (aw/to_thread.hpp), which runs on a process-wide pool and is
// bounded by a capacity limiter as in anyio. A pool of its own suits a library that must
// keep its blocking calls apart (one per database client, say).
//
// Semantics:
// - run(fn) calls fn() once on a worker and gives its value (a reference stays one, void is
//   void, move-only values are moved) or rethrows its exception, on the awaiting task's loop.
// - Workers start lazily, up to max_threads; jobs beyond that wait in a FIFO queue. A worker
//   idle for idle_timeout (anyio: 10 s) exits. The destructor waits for every queued and
//   running job and for every worker to exit; destroying a pool while a task still awaits
//   it is a bug.
// - The wait is a cancellation point. Inside a cancelled scope it raises aw::cancelled and
//   fn never runs; a job still queued is dropped and raises at once. A running job cannot
//   be stopped: by default (anyio's abandon_on_cancel=False) the caller waits until fn
//   returns and gets its value; the cancellation is raised by the next wait. With
//   run_options{.abandon_on_cancel = true} the caller raises aw::cancelled at once and fn
//   finishes on its own; its value is dropped, and it must not use anything the caller
//   owned (capture by value).
// - fn may call back into the loop with aw::from_thread (aw/from_thread.hpp).
// - Any number of loops (threads running aw::run) may share one pool.
//
// CAUTION: the awaiting frame must not be destroyed while it waits (structured code cannot:
// its owner awaits it).
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/detail/thread_job.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

namespace aw {

struct run_options {
  // Leave at once when cancelled while fn runs (anyio's abandon_on_cancel).
  bool abandon_on_cancel = false;
};

namespace detail {

template <class R>
class [[nodiscard("co_await it: without co_await nothing runs")]] job_awaiter {
 public:
  job_awaiter(thread_pool& pool, std::unique_ptr<result_job<R>> job, bool abandon_on_cancel) noexcept
      : pool_(&pool), job_(std::move(job)), abandon_(abandon_on_cancel) {}
  job_awaiter(const job_awaiter&) = delete;
  job_awaiter& operator=(const job_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h);
  R await_resume() {
    switch (resolution_) {
      case job_resolution::completed:
        return job_->out.take();
      case job_resolution::abandoned:
        (void)job_.release();  // the worker frees it when fn returns
        throw cancelled{};
      default:
        throw cancelled{};
    }
  }

 private:
  thread_pool* pool_;
  std::unique_ptr<result_job<R>> job_;
  bool abandon_;
  job_resolution resolution_ = job_resolution::not_started;
};

template <class R>
task<R> await_job(thread_pool& pool, std::unique_ptr<result_job<R>> job, bool abandon_on_cancel) {
  co_return co_await job_awaiter<R>(pool, std::move(job), abandon_on_cancel);
}

// The value type of fn(args...) called with decayed copies, as rvalues.
template <class F, class... A>
using job_result_t = returned_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>;

template <class F, class... A>
std::unique_ptr<result_job<job_result_t<F, A...>>> make_job(F&& fn, A&&... args) {
  using R = job_result_t<F, A...>;
  return std::make_unique<bound_job<R, std::decay_t<F>, std::decay_t<A>...>>(std::forward<F>(fn), std::forward<A>(args)...);
}

}  // namespace detail

class thread_pool {
 public:
  // max_threads at least 1 (std::invalid_argument).
  explicit thread_pool(std::size_t max_threads, std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  // Runs fn() on a worker. fn is copied or moved into the job now; the job is queued when
  // the task is awaited.
  template <class F>
    requires std::invocable<std::decay_t<F>>
  task<detail::job_result_t<F>> run(F&& fn, run_options opts = {}) {
    return detail::await_job(*this, detail::make_job(std::forward<F>(fn)), opts.abandon_on_cancel);
  }

  std::size_t max_threads() const noexcept { return max_; }
  // Workers alive now, and those of them waiting for a job.
  std::size_t threads() const;
  std::size_t idle_threads() const;

 private:
  template <class R>
  friend class detail::job_awaiter;
  friend class detail::thread_job;
  // A job's completion (posted to its loop by the worker) and its cancellation (on the loop).
  static void complete(posted_call* c) noexcept;
  static void interrupt(detail::cancellable* c) noexcept;
  // Queues the job on behalf of a task on the current loop (which it keeps waiting).
  void submit(detail::thread_job& job);
  // Takes the job out of the queue if no worker has taken it yet.
  bool remove_if_queued(detail::thread_job& job) noexcept;
  void work() noexcept;

  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::condition_variable exited_;
  detail::intrusive_list<detail::thread_job> queue_;  // jobs no worker has taken yet, oldest first
  std::size_t queued_ = 0;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  std::size_t max_;
  std::chrono::milliseconds idle_timeout_;
  bool stopping_ = false;
};

// The process-wide pool of aw::to_thread: threads start as needed (the limiter bounds them),
// idle ones exit after 10 s. It is never destroyed, so a job abandoned forever cannot hold up
// the end of the process.
thread_pool& default_thread_pool();

template <class R>
template <class P>
bool detail::job_awaiter<R>::await_suspend(std::coroutine_handle<P> h) {
  task_context* ctx = context_of(h);
  if (ctx && ctx->cancelled()) return false;  // a cancellation point: fn never runs
  job_->ctx = ctx;
  job_->waiter = h;
  job_->resolution = &resolution_;
  job_->abandon_on_cancel = abandon_;
  pool_->submit(*job_);
  resolution_ = job_resolution::pending;
  if (ctx) ctx->waiting = job_.get();
  if (trace_on) [[unlikely]]
    trace_wait(ctx, h, trace_kind::worker, nullptr);
  return true;
}

}  // namespace aw
