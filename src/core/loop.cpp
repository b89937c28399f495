// aw::loop: choosing the backend (AW_BACKEND), the run queue, timers, and the run of one
// loop to its end.
#include "backend.hpp"

#include <aw/detail/debug.hpp>
#include <aw/detail/trace.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/testing/virtual_clock.hpp>
#include <aw/trace.hpp>

#include <sys/eventfd.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace aw {
namespace {

loop::backend_kind kind_from_environment() {
  const char* b = std::getenv("AW_BACKEND");
  if (!b || !*b) return loop::backend_kind::io_uring;
  if (std::strcmp(b, "epoll") == 0) return loop::backend_kind::epoll;
  if (std::strcmp(b, "io_uring") == 0) return loop::backend_kind::io_uring;
  throw std::invalid_argument(std::string("AW_BACKEND must be epoll or io_uring, not '") + b + "'");
}

void read_debug_environment() {
  const char* d = std::getenv("AW_DEBUG");
  if (d && *d && std::strcmp(d, "0") != 0) detail::debug_on = true;
}

void read_trace_environment() {
  const char* t = std::getenv("AW_TRACE");
  if (t && *t) aw::set_trace(t);
}

std::atomic<std::uint64_t> next_loop_id{1};

timespec to_timespec(clock::duration d) {
  if (d < clock::duration::zero()) d = clock::duration::zero();
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
  return timespec{static_cast<time_t>(s.count()), static_cast<long>((d - s).count())};
}

}  // namespace

loop::loop() : loop(kind_from_environment()) {
  // Without AW_BACKEND the kernel decides: io_uring where it is allowed, epoll otherwise.
}

loop::loop(backend_kind kind) : kind_(kind), ready_(256), id_(next_loop_id.fetch_add(1, std::memory_order_relaxed)) {
  read_debug_environment();
  if (detail::debug_on) detail::debug_loop_started();
  read_trace_environment();
  if (detail::trace_on) detail::trace_loop_start(nullptr, 0, id_);
  if (kind == backend_kind::io_uring) {
    backend_ = detail::make_uring_backend(*this);
    if (!backend_) {
      const char* b = std::getenv("AW_BACKEND");
      if (b && std::strcmp(b, "io_uring") == 0) throw std::runtime_error("AW_BACKEND=io_uring, but this kernel does not allow io_uring");
      kind_ = backend_kind::epoll;
    }
  }
  if (!backend_) backend_ = detail::make_epoll_backend(*this);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  backend_->watch_wakeup(wake_fd_);
}

void loop::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);  // EAGAIN: a wake-up is pending already
}

void loop::call_soon_threadsafe(posted_call& c) noexcept {
  c.next = nullptr;
  std::lock_guard<std::mutex> lock(posted_mutex_);
  if (posted_tail_) {
    posted_tail_->next = &c;  // a wake-up is pending already: the first post of the batch wrote it
  } else {
    posted_head_ = &c;
    wake();  // under the lock: once the call can run (and its poster's loop end), the poster is done with us
  }
  posted_tail_ = &c;
}

void loop::on_wakeup() {
  ++wakeups_;
  std::uint64_t count;
  while (::read(wake_fd_, &count, sizeof count) > 0) {
  }
  posted_call* c;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    c = std::exchange(posted_head_, nullptr);
    posted_tail_ = nullptr;
  }
  while (c) {
    posted_call* next = c->next;  // read first: running the call may end the record's life
    c->run(c);
    c = next;
  }
  if (wakeup_hook_) wakeup_hook_(wakeup_arg_);
}

loop::~loop() {
  if (vclock_) vclock_->running_ = nullptr;
  backend_.reset();  // before the eventfd it watches
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (detail::debug_on) detail::debug_shutdown_report();
  detail::trace_loop_end();  // cheap without a trace: one thread-local test
}

void loop::no_running_loop() { throw std::logic_error("asyncwith: no running loop on this thread (call this inside aw::run)"); }

void loop::set_clock(testing::virtual_clock* c) {
  if (c == vclock_) return;
  if (c && c->running_)
    throw std::logic_error("aw::testing::virtual_clock: the clock of another loop already (a clock serves one loop at a time)");
  if (vclock_) vclock_->running_ = nullptr;
  vclock_ = c;
  if (c) c->running_ = this;
}

clock::time_point loop::virtual_now() const noexcept { return vclock_->now(); }

const char* loop::backend_name() const noexcept { return backend_->name(); }
::io_uring* loop::uring() noexcept { return backend_->uring(); }
::io_uring_sqe* loop::uring_sqe() noexcept { return backend_->get_sqe(); }
void loop::cancel_uring_op(io_op& op) noexcept { backend_->cancel_uring_op(op); }

void loop::start_fd_wait(fd_wait& w) {
  backend_->start_fd_wait(w);
  ++in_flight_;
}

void loop::cancel_fd_wait(fd_wait& w) noexcept { backend_->cancel_fd_wait(w); }

void loop::grow_ready() {
  std::vector<std::coroutine_handle<>> bigger(ready_.size() * 2);
  for (std::size_t i = 0; i < ready_count_; ++i) bigger[i] = ready_[(ready_head_ + i) & (ready_.size() - 1)];
  ready_.swap(bigger);
  ready_head_ = 0;
}

void loop::add_timer(timer_node& t) {
  t.sequence = timer_sequence_++;
  t.heap_index = timers_.size();
  timers_.push_back(&t);
  heap_up(t.heap_index);
}

void loop::remove_timer(timer_node& t) noexcept {
  if (!t.armed()) return;
  std::size_t i = t.heap_index;
  t.heap_index = timer_node::npos;
  timer_node* last = timers_.back();
  timers_.pop_back();
  if (last == &t) return;
  timers_[i] = last;
  last->heap_index = i;
  heap_up(i);
  heap_down(last->heap_index);
}

void loop::heap_up(std::size_t i) noexcept {
  timer_node* t = timers_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!heap_less(t, timers_[parent])) break;
    timers_[i] = timers_[parent];
    timers_[i]->heap_index = i;
    i = parent;
  }
  timers_[i] = t;
  t->heap_index = i;
}

void loop::heap_down(std::size_t i) noexcept {
  timer_node* t = timers_[i];
  const std::size_t n = timers_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_less(timers_[child + 1], timers_[child])) ++child;
    if (!heap_less(timers_[child], t)) break;
    timers_[i] = timers_[child];
    timers_[i]->heap_index = i;
    i = child;
  }
  timers_[i] = t;
  t->heap_index = i;
}

void loop::fire_timers(clock::time_point now) {
  while (!timers_.empty() && timers_.front()->deadline <= now) {
    timer_node* t = timers_.front();
    remove_timer(*t);
    t->fire(t);
  }
}

void loop::run_ready() {
  // Only what was ready when the turn began runs in it; what those coroutines schedule
  // waits for the next turn, so timers and I/O get their share (asyncio does the same).
  std::size_t n = ready_count_;
  const std::size_t mask = ready_.size() - 1;
  if (detail::debug_on || detail::trace_on) [[unlikely]] {
    const bool debug = detail::debug_on, trace = detail::trace_on;
    while (n--) {
      std::coroutine_handle<> h = ready_[ready_head_];
      ready_head_ = (ready_head_ + 1) & (ready_.size() - 1);
      --ready_count_;
      const void* code = detail::resume_address(h);  // the frame may be destroyed by the step
      auto start = clock::now();
      if (trace) detail::trace_step_begin(h);
      h.resume();
      if (trace) detail::trace_step_end();
      if (debug) detail::debug_slow_step(code, clock::now() - start);
    }
    return;
  }
  while (n--) {
    std::coroutine_handle<> h = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) & mask;
    --ready_count_;
    h.resume();
  }
}

void loop::turn(std::coroutine_handle<> main) {
  run_ready();
  if (main.done()) return;
  clock::time_point t{};
  if (!timers_.empty()) {
    t = now();
    fire_timers(t);
  }
  if (ready_count_ != 0) {
    // Busy: look at I/O without waiting. io_uring completions are read from shared memory,
    // so look every turn; epoll costs a system call, so look every 32 turns.
    // Outstanding external work (a thread job) may post calls: look at the wake-up eventfd too.
    if ((in_flight_ != 0 || external_refs_ != 0) && (kind_ == backend_kind::io_uring || ++turns_since_poll_ >= 32)) {
      turns_since_poll_ = 0;
      timespec zero{};
      backend_->poll(&zero);
    }
    return;
  }
  if (timers_.empty() && in_flight_ == 0 && external_refs_ == 0)
    throw deadlock_error("aw::run: the main task waits, but no task is ready and no timer or I/O is pending: nothing can wake it");
  // Every task waits: wait for I/O until the next deadline, in real time.
  clock::duration wait = testing::virtual_clock::never;
  bool primed = false;  // the wait is the autojump threshold's, not the deadline's
  if (!timers_.empty()) {
    if (!vclock_) {
      wait = timers_.front()->deadline - t;
    } else {
      wait = vclock_->real_wait_until(timers_.front()->deadline);
      if (vclock_->threshold_ < wait) {
        wait = vclock_->threshold_;
        primed = true;
      }
      if (wait == testing::virtual_clock::never && in_flight_ == 0 && external_refs_ == 0)
        throw deadlock_error(
            "aw::run: every task waits for a deadline, but the virtual clock stands still (rate 0, no autojump) and no I/O is "
            "pending: call jump() from a task, or set an autojump threshold");
    }
  }
  timespec ts;
  if (wait != testing::virtual_clock::never) ts = to_timespec(wait);
  const std::uint64_t wakeups_before = wakeups_;
  const clock::time_point idle_since = primed ? clock::now() : clock::time_point{};
  std::size_t delivered = backend_->poll(wait != testing::virtual_clock::never ? &ts : nullptr);
  turns_since_poll_ = 0;
  if (timers_.empty()) return;
  fire_timers(now());
  // trio's autojump: the wait ran its whole length (not cut short by a signal) with nothing
  // delivered, and still no task is ready.
  if (primed && delivered == 0 && wakeups_ == wakeups_before && ready_count_ == 0 && !timers_.empty() &&
      clock::now() - idle_since >= wait) {
    clock::time_point next = timers_.front()->deadline;
    clock::time_point at = vclock_->now();
    if (next > at) vclock_->jump(next - at);
    fire_timers(now());
  }
}

void loop::run(std::coroutine_handle<> main) {
  struct current_guard {
    loop* self;
    loop* previous;
    ~current_guard() { current_ = previous; }
  } guard{this, current_};
  current_ = this;
  schedule(main);
  while (!main.done()) turn(main);
}

}  // namespace aw
