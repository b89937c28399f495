// aw::signal_receiver: Unix signals as a stream, through a process-wide registry of pipes.
//
// The handler may run on any thread, at any moment, so everything it touches is a lock-free
// atomic and all it does is write(2). Opening and closing receivers (rare) take a mutex.
// SIGINT and SIGTERM: aw::run's interrupt_guard (interrupts.cpp) installs its handler at
// the start of the run where the disposition is the default. A receiver opened later saves
// that handler as "previous", replaces it while it is open, and puts it back when it
// closes; so while a receiver has the signal, aw::run never sees it and nothing is
// cancelled, as in anyio.
#include <aw/signal_receiver.hpp>
#include <aw/wait_fd.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

namespace aw {
namespace {

constexpr int max_signal = 64;     // SIGRTMAX on Linux
constexpr int max_receivers = 64;  // open at once, in the whole process

struct receiver_slot {
  std::atomic<int> fd{-1};             // the write end of the receiver's pipe
  std::atomic<std::uint64_t> mask{0};  // bit sig-1 for each signal it receives
};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

receiver_slot slots[max_receivers];
std::atomic<int> handlers_running{0};

std::mutex registry_mutex;  // guards what follows; never taken by the handler
bool slot_used[max_receivers];
int subscribers[max_signal + 1];
struct sigaction previous_action[max_signal + 1];

constexpr std::uint64_t bit(int sig) noexcept { return std::uint64_t{1} << (sig - 1); }

extern "C" void on_signal(int sig) {
  int saved_errno = errno;
  handlers_running.fetch_add(1);
  for (auto& s : slots) {
    if (!(s.mask.load() & bit(sig))) continue;
    int fd = s.fd.load();
    unsigned char b = static_cast<unsigned char>(sig);
    // A full pipe (64 Ki signals nobody received) drops this one: the handler never blocks.
    if (fd >= 0) {
      [[maybe_unused]] ssize_t n = ::write(fd, &b, 1);
    }
  }
  handlers_running.fetch_sub(1);
  errno = saved_errno;
}

// Restores the previous action of each signal in `mask` whose last receiver this was.
void unsubscribe(std::uint64_t mask) noexcept {
  for (int sig = 1; sig <= max_signal; ++sig)
    if ((mask & bit(sig)) && --subscribers[sig] == 0) ::sigaction(sig, &previous_action[sig], nullptr);
}

}  // namespace

signal_receiver::signal_receiver(signal_receiver&& o) noexcept : signals_(std::move(o.signals_)), enter_check_(std::move(o.enter_check_)) {
  if (o.read_fd_ >= 0) std::terminate();  // the registry points at an open receiver's slot
}

void signal_receiver::open() {
  enter_check_.entered();
  if (read_fd_ >= 0) throw std::logic_error("aw::signal_receiver: already open");
  std::uint64_t mask = 0;
  for (int sig : signals_) {
    if (sig < 1 || sig > max_signal || sig == SIGKILL || sig == SIGSTOP)
      throw std::system_error(EINVAL, std::generic_category(),
                              "aw::open_signal_receiver: signal " + std::to_string(sig) + " cannot be caught");
    mask |= bit(sig);
  }
  // Both ends non-blocking: the handler must never block, the loop waits for the read end.
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "aw::open_signal_receiver: pipe2");

  std::lock_guard lock(registry_mutex);
  int slot = -1;
  for (int i = 0; i < max_receivers; ++i)
    if (!slot_used[i]) {
      slot = i;
      break;
    }
  if (slot < 0) {
    ::close(p[0]);
    ::close(p[1]);
    throw std::runtime_error("aw::open_signal_receiver: " + std::to_string(max_receivers) + " receivers are open already");
  }
  // The slot first, then the handlers: a signal that arrives in between is received.
  slot_used[slot] = true;
  slots[slot].fd.store(p[1]);
  slots[slot].mask.store(mask);
  std::uint64_t installed = 0;
  for (int sig = 1; sig <= max_signal; ++sig) {
    if (!(mask & bit(sig))) continue;
    if (subscribers[sig] == 0) {
      struct sigaction sa{};
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      if (::sigaction(sig, &sa, &previous_action[sig]) != 0) {
        int err = errno;
        unsubscribe(installed);
        slots[slot].mask.store(0);
        slots[slot].fd.store(-1);
        while (handlers_running.load() != 0) sched_yield();
        slot_used[slot] = false;
        ::close(p[0]);
        ::close(p[1]);
        throw std::system_error(err, std::generic_category(), "aw::open_signal_receiver: sigaction(" + std::to_string(sig) + ")");
      }
    }
    ++subscribers[sig];
    installed |= bit(sig);
  }
  read_fd_ = p[0];
  slot_ = slot;
  head_ = tail_ = 0;
}

void signal_receiver::close() noexcept {
  if (read_fd_ < 0) return;
  std::lock_guard lock(registry_mutex);
  receiver_slot& s = slots[slot_];
  unsubscribe(s.mask.load());
  s.mask.store(0);
  int write_fd = s.fd.exchange(-1);
  // A handler running on another thread may have read the descriptor before it was taken
  // out; closing it under that handler could let it write into a recycled descriptor.
  while (handlers_running.load() != 0) sched_yield();
  ::close(write_fd);
  ::close(read_fd_);
  read_fd_ = -1;
  slot_used[slot_] = false;
  slot_ = -1;
  head_ = tail_ = 0;
}

task<std::optional<int>> signal_receiver::next() {
  for (;;) {
    if (read_fd_ < 0) co_return std::nullopt;
    if (head_ < tail_) co_return static_cast<int>(buf_[head_++]);
    ssize_t n = ::read(read_fd_, buf_, sizeof buf_);
    if (n > 0) {
      head_ = 0;
      tail_ = static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "aw::signal_receiver: read");
    co_await wait_readable(read_fd_);
  }
}

task<int> signal_receiver::receive() {
  if (read_fd_ < 0) throw std::logic_error("aw::signal_receiver::receive: the receiver is closed");
  std::optional<int> sig = co_await next();
  if (!sig) throw std::logic_error("aw::signal_receiver::receive: the receiver was closed");
  co_return *sig;
}

}  // namespace aw
