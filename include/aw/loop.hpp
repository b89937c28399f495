// The event loop behind aw::run, as resource modules see it.
//
// One loop per thread that called aw::run; it is single-threaded and lock-free. User code
// rarely touches it: aw::sleep, aw::wait_readable and the resource modules do. Modules
// reach the kernel through this small interface only: schedule a coroutine, arm a timer,
// wait for a file descriptor, submit an io_uring operation, cancel. The loop knows nothing
// of files, SQL or HTTP.
//
//   aw::loop& l = aw::loop::current();
//   if (io_uring_sqe* sqe = l.uring_sqe()) {        // null on the epoll backend
//     io_uring_prep_nop(sqe);
//     io_uring_sqe_set_data(sqe, &op);              // op: an aw::io_op whose complete() resumes the waiter
//     l.note_submitted();
//   }
//
// Completion records (io_op) are owned by their submitter and must stay alive until
// their completion has been delivered, even when the operation is cancelled: the kernel
// writes into buffers until it reports the end.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

struct io_uring;
struct io_uring_sqe;

namespace aw {

using clock = std::chrono::steady_clock;

namespace detail {
class backend;
}
namespace testing {
class virtual_clock;
}

// A pending kernel operation. `complete` is called on the loop's thread with the result
// (io_uring's cqe->res: a count, or -errno; for fd waits, the poll events).
// A multishot operation (IORING_*_MULTISHOT) completes many times: cqe_flags holds the
// delivered completion's io_uring flags, and while IORING_CQE_F_MORE is set in them the
// operation goes on (and counts as pending) and its record must stay alive.
struct io_op {
  void (*complete)(io_op* self, int result) = nullptr;
  std::uint32_t cqe_flags = 0;
};

// A one-shot wait for a file descriptor to become readable (POLLIN) or writable (POLLOUT).
// Errors and hang-ups count as ready, so the caller's next read or write reports them.
// Several waits on one fd, in either direction, are allowed; readiness completes them all.
struct fd_wait : io_op {
  int fd = -1;
  std::uint32_t events = 0;
  fd_wait* next_waiter = nullptr;  // backend bookkeeping: other waits on the same fd
};

// A pending timer. `fire` runs on the loop's thread when the deadline has passed.
struct timer_node {
  clock::time_point deadline{};
  std::uint64_t sequence = 0;  // FIFO among equal deadlines
  std::size_t heap_index = npos;
  void (*fire)(timer_node* self) = nullptr;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  bool armed() const noexcept { return heap_index != npos; }
};

// A call handed to a loop from another thread (loop::call_soon_threadsafe). The record is
// the caller's: it must stay alive until `run` has been called, on the loop's thread, and
// the loop must outlive the post (hold an external ref until the call has run).
struct posted_call {
  void (*run)(posted_call* self) = nullptr;
  posted_call* next = nullptr;  // the loop's bookkeeping
};

class loop {
 public:
  enum class backend_kind { io_uring, epoll };

  // Chooses the backend: AW_BACKEND=epoll|io_uring when set, else io_uring where the
  // kernel allows it, else epoll.
  loop();
  explicit loop(backend_kind kind);
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  // The loop running on this thread; throws std::logic_error outside aw::run.
  static loop& current() {
    if (!current_) [[unlikely]]
      no_running_loop();
    return *current_;
  }
  static loop* current_or_null() noexcept { return current_; }

  backend_kind kind() const noexcept { return kind_; }

  // The loop's time, which every deadline reads (aw::now()): CLOCK_MONOTONIC, or the
  // virtual clock of aw/testing/virtual_clock.hpp when the loop runs on one.
  clock::time_point now() const noexcept { return vclock_ ? virtual_now() : clock::now(); }
  // Puts the loop on `c` (null: the real clock) for as long as it runs; aw::run does this
  // for loop_options::clock. A clock serves one loop at a time (std::logic_error otherwise).
  void set_clock(testing::virtual_clock* c);
  const char* backend_name() const noexcept;

  // Runs `h` on a later turn of the loop, after the coroutines already scheduled (FIFO).
  void schedule(std::coroutine_handle<> h) {
    if (ready_count_ == ready_.size()) grow_ready();
    ready_[(ready_head_ + ready_count_) & (ready_.size() - 1)] = h;
    ++ready_count_;
  }

  void add_timer(timer_node& t);
  void remove_timer(timer_node& t) noexcept;
  std::size_t pending_timers() const noexcept { return timers_.size(); }

  // Starts a one-shot fd wait; its completion is delivered once, with the poll events,
  // or -ECANCELED after cancel_fd_wait.
  void start_fd_wait(fd_wait& w);
  void cancel_fd_wait(fd_wait& w) noexcept;

  // The io_uring instance on the io_uring backend, null on epoll. Submitters set
  // sqe->user_data to an io_op* and call note_submitted(); the loop submits before it waits.
  ::io_uring* uring() noexcept;
  // A free submission entry of the io_uring backend (the queue is flushed to the kernel when
  // full, so this never fails), or null on epoll. aw::uring_op is the awaitable built on it.
  ::io_uring_sqe* uring_sqe() noexcept;
  void note_submitted() noexcept { ++in_flight_; }
  // Asks the kernel to cancel `op`; its completion still arrives (usually -ECANCELED).
  void cancel_uring_op(io_op& op) noexcept;

  // Runs `main` from its start until it is done. The building block of aw::run; throws
  // aw::deadlock_error when `main` waits on something nothing can ever complete.
  void run(std::coroutine_handle<> main);

  // Wakes the loop from any thread or a signal handler (async-signal-safe): the loop
  // returns from its wait and calls the wake-up hook on its own thread.
  void wake() noexcept;
  // What the loop does when woken (one hook; aw::run uses it for SIGINT and SIGTERM).
  void set_wakeup_hook(void (*hook)(void* arg), void* arg) noexcept {
    wakeup_hook_ = hook;
    wakeup_arg_ = arg;
  }

  // From any thread (not a signal handler): runs c.run(&c) on the loop's thread, soon, in
  // the order of posting (asyncio's call_soon_threadsafe). The post and its wake-up happen
  // under a lock that the loop takes before running posted calls, so the poster never
  // touches the loop after the call can have run. See aw/thread_pool.hpp for the user.
  void call_soon_threadsafe(posted_call& c) noexcept;

  // Distinguishes loops over the life of the process (a new loop may reuse an old one's
  // address): per-loop state kept outside the loop (to_thread's default limiter) keys on it.
  std::uint64_t id() const noexcept { return id_; }

  // Counts external reasons to keep waiting (e.g. a worker thread will wake the loop);
  // without any, a loop with nothing ready and nothing pending is deadlocked.
  void add_external_ref() noexcept { ++external_refs_; }
  void release_external_ref() noexcept { --external_refs_; }

 private:
  void turn(std::coroutine_handle<> main);
  void run_ready();
  void fire_timers(clock::time_point now);
  void grow_ready();
  void heap_up(std::size_t i) noexcept;
  void heap_down(std::size_t i) noexcept;
  bool heap_less(const timer_node* a, const timer_node* b) const noexcept {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
  }

  clock::time_point virtual_now() const noexcept;
  [[noreturn]] static void no_running_loop();
  void on_wakeup();
  friend class detail::backend;
  static inline thread_local loop* current_ = nullptr;

  backend_kind kind_;
  std::unique_ptr<detail::backend> backend_;
  std::vector<std::coroutine_handle<>> ready_;
  std::size_t ready_head_ = 0;
  std::size_t ready_count_ = 0;
  std::vector<timer_node*> timers_;  // binary min-heap on (deadline, sequence)
  std::uint64_t timer_sequence_ = 0;
  std::size_t in_flight_ = 0;  // fd waits and io_uring operations not completed yet
  std::size_t external_refs_ = 0;
  int wake_fd_ = -1;
  void (*wakeup_hook_)(void*) = nullptr;
  void* wakeup_arg_ = nullptr;
  unsigned turns_since_poll_ = 0;
  testing::virtual_clock* vclock_ = nullptr;
  std::uint64_t wakeups_ = 0;  // wake-ups seen, so an idle poll can tell it saw none
  std::uint64_t id_;
  std::mutex posted_mutex_;  // guards the list of posted calls, the one state other threads touch
  posted_call* posted_head_ = nullptr;
  posted_call* posted_tail_ = nullptr;

 public:
  // Bookkeeping for backends: an operation completed.
  void note_completed() noexcept { --in_flight_; }
};

// The running loop's time (loop.time() in asyncio, trio.current_time()), the clock of every
// deadline; outside a loop (a worker thread, before aw::run) the real monotonic clock.
inline clock::time_point now() noexcept {
  const loop* l = loop::current_or_null();
  return l ? l->now() : clock::now();
}

}  // namespace aw
