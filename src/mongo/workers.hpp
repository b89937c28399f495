// The client's dedicated worker threads (internal). libmongoc blocks; each worker owns one
// mongoc_client_t popped from the client's pool and runs jobs on it, so a slow database
// holds these threads only, never the loop or another module's threads.
//
// A job is heap-owned and shared by the awaiting task and the worker, and owns everything
// the call touches (copies of the documents, names, options): a cancelled caller leaves at
// once (abandon()), and the worker then either skips the job (not started yet) or finishes
// it on its own and drops it. Completion reaches the loop through the job's eventfd, which
// the caller awaits with aw::wait_readable: a cancellation point like every other wait.
//
// This is the "to_thread" of aw::mongo, shaped like aw::thread_pool's run(fn,
// {.abandon_on_cancel = true}); it is its own pool because jobs need a per-thread mongoc
// client and leases (below), which a generic pool cannot give.
//
// A *lease* is a mongoc_client_t taken out of the pool for the lifetime of a cursor or a
// session (libmongoc binds both to one client). Jobs on a lease run on any worker but lock
// the lease, so an abandoned job and the next one on the same cursor never overlap.
#pragma once

#include <aw/mongo/errors.hpp>
#include <aw/task.hpp>
#include <aw/wait_fd.hpp>

#include <mongoc/mongoc.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace aw::mongo::detail {

struct lease {
  std::mutex m;
  mongoc_client_t* client = nullptr;
  mongoc_client_session_t* session = nullptr;  // when the lease belongs to a session
};

class job {
 public:
  job();
  virtual ~job();
  job(const job&) = delete;
  job& operator=(const job&) = delete;

  // Runs on a worker: with the lease's client when there is a lease, else the worker's.
  void execute(mongoc_client_t* worker_client) noexcept;
  // The caller gave up: a job not started yet is skipped.
  void abandon() noexcept { state_.store(abandoned, std::memory_order_release); }
  int fd() const noexcept { return fd_; }
  std::shared_ptr<lease> on_lease;

 protected:
  virtual void run(mongoc_client_t* c) = 0;
  std::exception_ptr error_;

 private:
  enum : int { queued, running, done, abandoned };
  std::atomic<int> state_{queued};
  int fd_ = -1;
};

template <class F>
class job_of final : public job {
 public:
  using result_type = std::invoke_result_t<F&, mongoc_client_t*>;
  explicit job_of(F fn) : fn_(std::move(fn)) {}
  // After completion, on the loop: the result or the worker's exception.
  result_type take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<result_type>) return std::move(*result_);
  }

 private:
  void run(mongoc_client_t* c) override {
    if constexpr (std::is_void_v<result_type>)
      fn_(c);
    else
      result_.emplace(fn_(c));
  }
  F fn_;
  std::conditional_t<std::is_void_v<result_type>, char, std::optional<result_type>> result_{};
};

class workers {
 public:
  // Starts n threads; each pops one client from `pool` (which must allow n more).
  workers(mongoc_client_pool_t* pool, std::size_t n);
  ~workers();  // joins; call shutdown() and await exited_fd() first
  workers(const workers&) = delete;
  workers& operator=(const workers&) = delete;

  // Queues a job; closed_error after shutdown().
  void submit(std::shared_ptr<job> j);
  // No new jobs; the threads finish the queue (abandoned jobs are skipped), give their
  // clients back and exit.
  void shutdown() noexcept;
  // Readable once every thread has exited.
  int exited_fd() const noexcept { return exited_fd_; }
  bool stopping() const noexcept;

 private:
  void main(mongoc_client_pool_t* pool);
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<job>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> alive_{0};
  int exited_fd_ = -1;
};

// Submits `fn` (run on a worker, with the lease's client when `l` is set) and awaits its
// result on the loop. Cancellation abandons the job and raises aw::cancelled at once.
template <class J>
auto await_job(std::shared_ptr<workers> w, std::shared_ptr<J> j) -> task<typename J::result_type> {
  if (!w) throw closed_error("aw::mongo: the client is closed (use it inside its async with block)");
  w->submit(j);
  std::exception_ptr e;
  try {
    co_await aw::wait_readable(j->fd());
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    j->abandon();
    std::rethrow_exception(e);
  }
  co_return j->take();
}

template <class F>
auto submit(std::shared_ptr<workers> w, std::shared_ptr<lease> l, F fn) -> task<typename job_of<F>::result_type> {
  auto j = std::make_shared<job_of<F>>(std::move(fn));
  j->on_lease = std::move(l);
  return await_job(std::move(w), std::move(j));
}

}  // namespace aw::mongo::detail
