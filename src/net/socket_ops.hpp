// The socket calls behind aw::net's streams and listeners, one place for both backends:
// io_uring operations where the loop has a ring, non-blocking calls and readiness waits on
// epoll. Internal.
#pragma once

#include <unistd.h>

#include <aw/detail/cancellation.hpp>
#include <aw/exceptions.hpp>
#include <aw/net/address.hpp>
#include <aw/net/socket_options.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace aw::net::detail {

// One operation waiting on a socket's descriptor, for the socket's close(): close() from
// another task must not close a descriptor an operation still waits on (an io_uring
// operation would wait for ever, the ring holding the file; epoll would keep a
// registration for a number the next socket may get). close() marks the socket closing and
// wakes the operations; the last one to leave closes the descriptor.
class fd_in_use {
 public:
  fd_in_use(int& fd, std::uint8_t& in_flight, bool& closing) noexcept : fd_(fd), in_flight_(in_flight), closing_(closing) { ++in_flight_; }
  fd_in_use(const fd_in_use&) = delete;
  fd_in_use& operator=(const fd_in_use&) = delete;
  ~fd_in_use() {
    if (--in_flight_ == 0 && closing_) {
      ::close(std::exchange(fd_, -1));
      closing_ = false;
    }
  }

 private:
  int& fd_;
  std::uint8_t& in_flight_;
  bool& closing_;
};

// A descriptor owned until released: every path out of a connect or a listen closes it.
class fd_guard {
 public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  fd_guard(fd_guard&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_guard& operator=(fd_guard&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept;

 private:
  int fd_;
};

// `co_await raise_if_cancelled{}`: aw::cancelled when the awaiting task is cancelled, without
// suspending. The epoll paths try their syscall before they wait; this keeps them a
// cancellation point as the io_uring paths are (uring_op raises before it submits), so a
// loop receiving from a busy peer still sees its scope's cancellation.
struct raise_if_cancelled {
  bool cancelled_ = false;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    aw::detail::task_context* ctx = aw::detail::context_of(h);
    cancelled_ = ctx && ctx->cancelled();
    return false;
  }
  void await_resume() const {
    if (cancelled_) throw cancelled{};
  }
};

// A non-blocking, close-on-exec stream socket of `family`; aw::net::error naming `address`.
int open_stream_socket(int family, const socket_address& address);

// Sets the options of `o` that apply to `family` (the TCP ones on IP sockets only).
void apply_socket_options(int fd, int family, const socket_options& o, const socket_address& address);

// setsockopt with an int; aw::net::error naming the option's operation and `address`.
void set_int_option(int fd, int level, int name, int value, const std::string& address);

// The error for `err` (an errno): connection_refused for ECONNREFUSED, else aw::net::error.
[[noreturn]] void throw_error(int err, const std::string& operation, const std::string& address);

// Connects `fd` to `to`: IORING_OP_CONNECT, or connect(2) and a wait for writability; a
// Unix listener with a full queue is waited for. A cancellation point; aw::net::error
// (connection_refused, ...) naming `to` on failure.
task<> connect_socket(int fd, const socket_address& to);

// Accepts one connection on the listening socket `fd`: the new descriptor (non-blocking,
// close-on-exec) and the peer's address in `peer`, or -errno. A cancellation point.
task<int> accept_socket(int fd, socket_address& peer);

// Accept errors that concern one incoming connection, not the listener (trio's list, and
// the network errors Linux passes on from the new socket): try the next one.
bool transient_accept_error(int err) noexcept;
// Accept errors that say the process or the kernel is out of something (descriptors,
// memory): the listener is fine, a later accept may succeed.
bool capacity_accept_error(int err) noexcept;

// True when the loop runs on io_uring and the kernel has the operation `op` (asked once).
bool uring_supports(int op);

// One io_uring operation or syscall moves at most this much (cqe->res is an int).
inline constexpr std::size_t max_io = std::size_t{1} << 30;

}  // namespace aw::net::detail
