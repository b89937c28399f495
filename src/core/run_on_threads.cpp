// aw::run_on_threads: one loop per thread, siblings cancelled together. The calling thread
// runs a loop of its own (aw::run, so it owns SIGINT and SIGTERM) that waits for the
// threads and tells their loops to cancel, through call_soon_threadsafe.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/exceptions.hpp>
#include <aw/run.hpp>
#include <aw/run_on_threads.hpp>

#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace aw::detail {
namespace {

struct coordinator;
struct worker;

// A posted call that knows its worker.
struct worker_call : posted_call {
  worker* w = nullptr;
};

// One thread: how the coordinator reaches its loop, and what it left behind.
struct worker {
  coordinator* owner = nullptr;
  std::mutex m;                   // guards loop_ and scope, which the thread sets and clears
  aw::loop* loop_ = nullptr;      // the thread's loop, while its task runs
  cancel_scope* scope = nullptr;  // around fn(index): what a cancellation cancels
  bool cancel_requested = false;
  bool cancel_posted = false;  // a posted_call record may be queued once
  worker_call cancel_call;     // runs on the thread's loop
  worker_call done_call;       // runs on the coordinator's loop
  std::exception_ptr failure;  // written by the thread before done_call is posted

  // From the coordinator's thread.
  void cancel() {
    std::lock_guard<std::mutex> lock(m);
    cancel_requested = true;
    // A loop that has not started yet sees cancel_requested; one that has finished its task
    // is left alone (it may be gone).
    if (loop_ && !cancel_posted) {
      cancel_posted = true;
      loop_->call_soon_threadsafe(cancel_call);
    }
  }
};

struct coordinator {
  aw::loop* loop_ = nullptr;
  std::deque<worker> workers;
  std::size_t running = 0;
  event all_done;
  void cancel_all() {
    for (worker& w : workers) w.cancel();
  }
};

void on_cancel(posted_call* c) noexcept {
  worker* w = static_cast<worker_call*>(c)->w;  // on the worker's thread
  std::lock_guard<std::mutex> lock(w->m);
  if (w->scope) w->scope->cancel();
}

void on_done(posted_call* c) noexcept {
  worker* w = static_cast<worker_call*>(c)->w;  // on the coordinator's thread
  coordinator& co = *w->owner;
  if (w->failure) co.cancel_all();  // a failure cancels the siblings, as in a task group
  if (--co.running == 0) co.all_done.set();
}

void thread_main(worker& w, std::size_t index, const std::function<task<>(std::size_t)>& fn) {
  try {
    aw::run([&]() -> task<> {
      co_await async_with(cancel_scope{}, [&](cancel_scope& s) -> task<> {
        {
          std::lock_guard<std::mutex> lock(w.m);
          w.loop_ = &loop::current();
          w.scope = &s;
          if (w.cancel_requested) s.cancel();
        }
        struct unregister {
          worker& w;
          ~unregister() {
            std::lock_guard<std::mutex> lock(w.m);
            w.loop_ = nullptr;
            w.scope = nullptr;
          }
        } guard{w};
        co_await fn(index);
      });
    });
  } catch (...) {
    // A cancellation the coordinator asked for is not a failure (the scope absorbs it,
    // unless it escaped from an exit); any other exception is.
    bool asked;
    {
      std::lock_guard<std::mutex> lock(w.m);
      asked = w.cancel_requested;
    }
    if (!(asked && is_cancellation(std::current_exception()))) w.failure = std::current_exception();
  }
  w.owner->loop_->call_soon_threadsafe(w.done_call);
}

}  // namespace

void run_on_threads(std::size_t n, const std::function<task<>(std::size_t)>& fn) {
  if (loop::current_or_null()) throw std::logic_error("aw::run_on_threads: a loop is already running on this thread");
  if (n == 0) throw std::invalid_argument("aw::run_on_threads: n must be at least 1");
  coordinator co;
  std::vector<std::thread> threads;
  threads.reserve(n);
  aw::run([&]() -> task<> {
    co.loop_ = &loop::current();
    // The threads wake this loop when they finish; until then it waits on nothing it knows of.
    co.loop_->add_external_ref();
    std::exception_ptr interrupted;
    try {
      for (std::size_t i = 0; i < n; ++i) {
        worker& w = co.workers.emplace_back();
        w.owner = &co;
        w.cancel_call.run = on_cancel;
        w.cancel_call.w = &w;
        w.done_call.run = on_done;
        w.done_call.w = &w;
        threads.emplace_back(thread_main, std::ref(w), i, std::cref(fn));
        ++co.running;
      }
      co_await co.all_done.wait();
    } catch (...) {
      interrupted = std::current_exception();  // SIGINT/SIGTERM, or a thread that could not start
    }
    if (interrupted) {
      co.cancel_all();
      if (co.running > 0) {
        co_await async_with(cancel_scope(clock::time_point::max(), true), [&](cancel_scope&) -> task<> { co_await co.all_done.wait(); });
      }
    }
    co.loop_->release_external_ref();
    for (std::thread& t : threads) t.join();  // each has posted its end: they are leaving
    if (interrupted) std::rethrow_exception(interrupted);
  });
  std::vector<std::exception_ptr> failures;
  for (worker& w : co.workers)
    if (w.failure) failures.push_back(w.failure);
  if (!failures.empty()) throw exception_group("unhandled errors in run_on_threads", std::move(failures));
}

}  // namespace aw::detail
