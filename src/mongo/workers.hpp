// The client's dedicated worker threads (internal). libmongoc blocks; its calls run on an
// aw::thread_pool that belongs to the client (bounded by client_options::max_workers), so a
// slow database holds these threads only, never the loop, aw::to_thread's threads or another
// module's.
//
// The pool gives the job state machine and the completion path (aw/detail/thread_job.hpp):
// a job is heap-owned and owns everything the call touches (copies of the documents, names,
// options); its result reaches the loop through loop::call_soon_threadsafe, one wake-up for
// every completion that arrives before the loop runs. Jobs run with abandon_on_cancel: a
// cancelled caller leaves at once; a job still queued is dropped and never runs, a running
// one finishes on its worker with its own copies and frees itself. The worker never touches
// the caller's memory.
//
// Each job borrows a mongoc_client_t from the client's pool for the call (libmongoc's clients
// are not thread-safe, its pool is; a pooled client keeps its connection between calls). The
// pool stays alive until every job has finished: leaving the client destroys the
// thread_pool first, which waits for abandoned jobs too.
//
// A *lease* is a mongoc_client_t taken out of the pool for the lifetime of a cursor or a
// session (libmongoc binds both to one client). Jobs on a lease run on any worker but lock
// the lease, so an abandoned job and the next one on the same cursor never overlap. A cursor
// left while an abandoned job still holds its lease (a fetch stuck on a silent server) does
// not wait behind it: the job gives the lease back itself (give_back_from_worker) and tells
// the loop (lease_returns), which hands the slot to the next task waiting for one.
#pragma once

#include <aw/detail/trace.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>
#include <aw/thread_pool.hpp>

#include <mongoc/mongoc.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

namespace aw::mongo::detail {

struct client_state;

// The leases workers gave back and the loop has not counted yet (client_state::
// collect_returned counts them, and each one's slot goes to the next task waiting for one).
// While the client is open the loop listens: the first give-back since the loop last took
// them posts a call to it (loop::call_soon_threadsafe; aw::from_thread cannot serve, the job
// is abandoned), and that call collects them, so that a task waiting for a slot is woken.
// From the close on, give-backs are only counted (the loop may be gone before the last one)
// and the close collects them.
class lease_returns : posted_call {
 public:
  lease_returns() noexcept { run = &deliver; }
  lease_returns(const lease_returns&) = delete;
  lease_returns& operator=(const lease_returns&) = delete;

  // On a worker.
  void give_back() noexcept {
    std::lock_guard g(m_);
    ++count_;
    if (home_ && !posted_) {
      posted_ = true;
      home_->call_soon_threadsafe(*this);  // under m_: stop() cannot end the listening meanwhile
    }
  }
  // On the loop: how many were given back since the last take().
  std::size_t take() noexcept {
    std::lock_guard g(m_);
    return std::exchange(count_, 0);
  }
  // On the loop: give-backs post to `home`, which hands them to `owner`.
  void listen(loop& home, client_state& owner) noexcept {
    std::lock_guard g(m_);
    home_ = &home;
    owner_ = &owner;
  }
  // On the loop: no more posts. One made before still runs on the loop, before anything the
  // loop is told later by another thread (posted calls run in order).
  void stop() noexcept {
    std::lock_guard g(m_);
    home_ = nullptr;
  }
  // On the loop, after stop(), when the owner goes: a post still on its way finds no owner,
  // and keeps this record (`self`) alive until it has run.
  void detach(std::shared_ptr<lease_returns> self) noexcept {
    owner_ = nullptr;
    std::lock_guard g(m_);
    if (posted_) keep_ = std::move(self);
  }

 private:
  static void deliver(posted_call* c) noexcept;  // on the loop (client.cpp)

  std::mutex m_;
  std::size_t count_ = 0;                // under m_
  loop* home_ = nullptr;                 // under m_: set while the loop listens
  bool posted_ = false;                  // under m_: a post has not run yet
  client_state* owner_ = nullptr;        // the loop's thread only
  std::shared_ptr<lease_returns> keep_;  // the loop's thread only
};

struct lease {
  std::mutex m;
  mongoc_client_t* client = nullptr;
  mongoc_client_session_t* session = nullptr;  // when the lease belongs to a session
  mongoc_client_pool_t* pool = nullptr;
  std::shared_ptr<lease_returns> returns;  // the client's

  // On a worker, under m, by the last job of a lease whose owner left without it.
  void give_back_from_worker() noexcept {
    mongoc_client_pool_push(pool, client);
    client = nullptr;
    returns->give_back();
  }
};

class workers {
 public:
  // Up to n threads (started as calls arrive), borrowing clients from `pool`, which must
  // allow n clients besides the leases and outlive this object.
  workers(mongoc_client_pool_t* pool, std::size_t n) : pool_(pool), threads_(n) {}
  // Waits for every job, abandoned ones included: destroy it off the loop (client::aexit).
  ~workers() = default;
  workers(const workers&) = delete;
  workers& operator=(const workers&) = delete;

  // fn(mongoc_client_t*) on a worker, with the lease's client (under its lock) when `l` is
  // set, else with a client borrowed from the pool for the call. The wait is a cancellation
  // point that returns at once (see above). On the trace timeline (aw/trace.hpp) it is a
  // span named `label` ("Mongo call" when empty: callers build it only when tracing).
  template <class F>
  task<std::invoke_result_t<F&, mongoc_client_t*>> run(std::shared_ptr<lease> l, F fn, std::string label = {}) {
    // Everything the job needs is in the closure: the pool outlives every job (above).
    auto call = [pool = pool_, l = std::move(l), fn = std::move(fn)]() mutable -> std::invoke_result_t<F&, mongoc_client_t*> {
      if (l) {
        std::lock_guard g(l->m);
        return fn(l->client);
      }
      borrowed c(pool);
      return fn(c.client);
    };
    // Named, not temporaries in the co_await: g++ 12's aggregate-temporary bug.
    run_options o{.abandon_on_cancel = true};
    auto job = threads_.run(std::move(call), o);
    aw::detail::trace_span span("Mongo call", [&] { return std::move(label); });
    co_return co_await std::move(job);
  }

 private:
  struct borrowed {
    explicit borrowed(mongoc_client_pool_t* p) : pool(p), client(mongoc_client_pool_pop(p)) {}
    ~borrowed() { mongoc_client_pool_push(pool, client); }
    borrowed(const borrowed&) = delete;
    borrowed& operator=(const borrowed&) = delete;
    mongoc_client_pool_t* pool;
    mongoc_client_t* client;
  };

  mongoc_client_pool_t* pool_;
  thread_pool threads_;
};

}  // namespace aw::mongo::detail
