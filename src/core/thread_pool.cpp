// Worker threads for aw::thread_pool, aw::to_thread and aw::from_thread. The state machine
// of a job and who frees it: aw/detail/thread_job.hpp.
#include <aw/capacity_limiter.hpp>
#include <aw/detail/assert.hpp>
#include <aw/detail/thread_job.hpp>
#include <aw/exceptions.hpp>
#include <aw/from_thread.hpp>
#include <aw/loop.hpp>
#include <aw/thread_pool.hpp>
#include <aw/to_thread.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace aw {
namespace detail {
namespace {

thread_local thread_job* running_job = nullptr;

// Resumes the caller on its loop, its wait ended by `how`. The loop's thread only.
void resolve(thread_job& j, job_resolution how) noexcept {
  // Everything is read before anything is published: after an abandonment the worker may
  // free the job at any moment.
  loop* home = j.home;
  std::coroutine_handle<> waiter = j.waiter;
  *j.resolution = how;
  home->release_external_ref();
  home->schedule(waiter);
}

}  // namespace

thread_job::thread_job() noexcept {
  run = &thread_pool::complete;
  interrupt = &thread_pool::interrupt;
}

thread_job* current_thread_job() noexcept { return running_job; }

void callback::call() {
  thread_job* j = running_job;
  if (!j)
    throw std::logic_error(
        "aw::from_thread: this thread is not running a job of aw::to_thread or aw::thread_pool::run (only such a worker has a loop "
        "to call back into)");
  job_state expected = job_state::running;
  // acq_rel: the caller's abandonment (release) must be seen before we touch its loop.
  if (!j->state.compare_exchange_strong(expected, job_state::calling_back, std::memory_order_acq_rel, std::memory_order_acquire))
    throw cancelled{};  // abandoned: the caller left, its loop may be gone (trio raises Cancelled too)
  job_ = j;
  // Safe: in calling_back only the loop's thread moves the state on, so the caller is still
  // waiting and the loop is alive; the post's lock orders our writes before the call runs.
  j->home->call_soon_threadsafe(*this);
  std::unique_lock<std::mutex> lock(m_);
  cv_.wait(lock, [this] { return finished_; });
}

void callback::finish() noexcept {
  thread_job* j = job_;
  if (j->abandon_pending) {
    // The caller was cancelled with abandon_on_cancel while we were calling back: leave now.
    resolve(*j, job_resolution::abandoned);
    j->state.store(job_state::abandoned, std::memory_order_release);
  } else {
    j->state.store(job_state::running, std::memory_order_release);
  }
  // Notified under the lock: the worker cannot return (and destroy the record) before we are done with it.
  std::lock_guard<std::mutex> lock(m_);
  finished_ = true;
  cv_.notify_one();
}

}  // namespace detail

using detail::job_resolution;
using detail::job_state;
using detail::thread_job;

thread_pool::thread_pool(std::size_t max_threads, std::chrono::milliseconds idle_timeout) : max_(max_threads), idle_timeout_(idle_timeout) {
  if (max_threads < 1) throw std::invalid_argument("aw::thread_pool: max_threads must be at least 1");
}

thread_pool::~thread_pool() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  work_available_.notify_all();
  exited_.wait(lock, [this] { return threads_ == 0; });
}

std::size_t thread_pool::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

std::size_t thread_pool::idle_threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_;
}

void thread_pool::submit(thread_job& j) {
  loop& l = loop::current();
  j.pool = this;
  j.home = &l;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw std::logic_error("aw::thread_pool::run: the pool is being destroyed");
    // A new worker when the queue would outgrow the idle ones (one notified but not yet
    // awake still counts as idle, and will take one job).
    if (queued_ + 1 > idle_ && threads_ < max_) {
      try {
        std::thread(&thread_pool::work, this).detach();
        ++threads_;
      } catch (const std::system_error&) {
        if (threads_ == 0) throw;  // nothing could ever run the job
      }
    }
    queue_.push_back(j);
    ++queued_;
  }
  // Notified after unlocking: a worker woken under the lock would at once block on it (one
  // futex wait and wake more per job, dear on a paravirtualised machine). The pool outlives
  // this call, and a worker that finds the queue empty waits again.
  work_available_.notify_one();
  l.add_external_ref();  // released when the wait ends: a loop waiting for a worker is not deadlocked
}

bool thread_pool::remove_if_queued(thread_job& j) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  if (j.state.load(std::memory_order_relaxed) != job_state::queued) return false;  // queued -> running happens under this lock
  AW_ASSERT(j.linked(), "a job in state queued is in the pool's queue");
  queue_.erase(j);
  --queued_;
  j.state.store(job_state::dropped, std::memory_order_relaxed);
  return true;
}

void thread_pool::work() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool woken = work_available_.wait_for(lock, idle_timeout_, [this] { return !queue_.empty() || stopping_; });
      --idle_;
      if (!woken) break;  // idle for idle_timeout: exit
      continue;
    }
    thread_job* j = queue_.pop_front();
    --queued_;
    j->state.store(job_state::running, std::memory_order_relaxed);  // under the lock, as remove_if_queued reads it
    lock.unlock();

    detail::running_job = j;
    if (detail::trace_on) [[unlikely]] {
      std::int64_t start = detail::trace_now_ns();
      j->invoke();
      detail::trace_job_ran(*j, start, detail::trace_now_ns());
    } else {
      j->invoke();
    }
    detail::running_job = nullptr;
    job_state expected = job_state::running;
    // release: the outcome is published with `done`; acquire (on failure): the caller's last
    // use of the job happened before it abandoned it, so freeing it here is safe.
    if (j->state.compare_exchange_strong(expected, job_state::done, std::memory_order_acq_rel, std::memory_order_acquire))
      j->home->call_soon_threadsafe(*j);  // the caller still waits: its loop is alive; hands-off from here
    else
      delete j;  // abandoned: nobody else will touch it

    lock.lock();
  }
  --threads_;
  if (threads_ == 0) exited_.notify_all();  // under the lock: the pool may be destroyed as soon as we release it
}

void thread_pool::complete(posted_call* c) noexcept {
  auto& j = static_cast<thread_job&>(*c);
  if (j.ctx && j.ctx->waiting == &j) j.ctx->waiting = nullptr;
  if (detail::trace_on) [[unlikely]]
    detail::trace_job_done(j);
  detail::resolve(j, job_resolution::completed);
}

void thread_pool::interrupt(detail::cancellable* c) noexcept {
  auto& j = static_cast<thread_job&>(*c);
  j.cancel_requested.store(true, std::memory_order_relaxed);
  if (j.pool->remove_if_queued(j)) {
    detail::resolve(j, job_resolution::dropped);
    return;
  }
  if (!j.abandon_on_cancel) return;  // wait for fn; a from_thread coroutine is cancelled through its own scope
  loop* home = j.home;
  std::coroutine_handle<> waiter = j.waiter;
  job_resolution* resolution = j.resolution;
  job_state expected = job_state::running;
  if (j.state.compare_exchange_strong(expected, job_state::abandoned, std::memory_order_acq_rel, std::memory_order_acquire)) {
    // The worker owns the job now: use only what was read before.
    *resolution = job_resolution::abandoned;
    home->release_external_ref();
    home->schedule(waiter);
    return;
  }
  if (expected == job_state::calling_back) j.abandon_pending = true;  // callback::finish abandons
  // done: the completion is posted already and resolves the wait with fn's outcome.
}

void from_thread::check_cancelled() {
  thread_job* j = detail::running_job;
  if (!j)
    throw std::logic_error("aw::from_thread::check_cancelled: this thread is not running a job of aw::to_thread or aw::thread_pool::run");
  // relaxed: a flag, publishing nothing; a cancellation that is missed is seen by the next check.
  if (j->cancel_requested.load(std::memory_order_relaxed) || j->state.load(std::memory_order_relaxed) == job_state::abandoned)
    throw cancelled{};
}

thread_pool& default_thread_pool() {
  // Never destroyed: a job abandoned forever must not hold up the end of the process.
  static thread_pool* pool = new thread_pool(std::numeric_limits<std::size_t>::max());
  return *pool;
}

capacity_limiter& default_thread_limiter() {
  // Per loop, as anyio's (a RunVar): a capacity_limiter belongs to one loop. Keyed on the
  // loop's id, since the next loop on this thread may reuse the last one's address.
  loop& l = loop::current();
  thread_local std::uint64_t owner = 0;
  thread_local std::unique_ptr<capacity_limiter> limiter;
  if (!limiter || owner != l.id()) {
    limiter = std::make_unique<capacity_limiter>(default_thread_tokens);
    owner = l.id();
  }
  return *limiter;
}

}  // namespace aw
