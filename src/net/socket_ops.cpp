// Socket calls for both backends: open, options, connect, accept.
#include "socket_ops.hpp"

#include <aw/loop.hpp>
#include <aw/net/errors.hpp>
#include <aw/sleep.hpp>
#include <aw/uring_op.hpp>
#include <aw/wait_fd.hpp>

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace aw::net::detail {

namespace {

// What the running kernel's io_uring supports: asked once, the kernel does not change.
struct probe {
  bool ops[IORING_OP_LAST] = {};
  explicit probe(io_uring* ring) {
    if (io_uring_probe* p = io_uring_get_probe_ring(ring)) {
      for (int op = 0; op < IORING_OP_LAST; ++op) ops[op] = io_uring_opcode_supported(p, op) != 0;
      io_uring_free_probe(p);
    }
  }
};

// One connect: 0 or the errno.
task<int> connect_once(int fd, const socket_address& to) {
  if (loop::current().uring()) {
    int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_connect(sqe, fd, to.data(), to.size()); });
    co_return r < 0 ? -r : 0;
  }
  co_await raise_if_cancelled{};
  if (::connect(fd, to.data(), to.size()) == 0) co_return 0;
  // EINTR on a non-blocking connect: the connection goes on in the background, as with
  // EINPROGRESS.
  if (errno != EINPROGRESS && errno != EINTR) co_return errno;
  co_await wait_writable(fd);
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) so_error = errno;
  co_return so_error;
}

}  // namespace

bool uring_supports(int op) {
  io_uring* ring = loop::current().uring();
  if (!ring) return false;
  static const probe supported(ring);
  return op >= 0 && op < IORING_OP_LAST && supported.ops[op];
}

void fd_guard::reset() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void throw_error(int err, const std::string& operation, const std::string& address) {
  if (err == ECONNREFUSED) throw connection_refused(err, operation, address);
  throw error(err, operation, address);
}

int open_stream_socket(int family, const socket_address& address) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_error(errno, "socket for", address.to_string());
  return fd;
}

void set_int_option(int fd, int level, int name, int value, const std::string& address) {
  if (::setsockopt(fd, level, name, &value, sizeof value) < 0)
    throw_error(errno, "setsockopt(" + std::to_string(level) + ", " + std::to_string(name) + ") on", address);
}

void apply_socket_options(int fd, int family, const socket_options& o, const socket_address& address) {
  if (family != AF_INET && family != AF_INET6) return;
  // The kernel's defaults are off: a syscall only for what differs.
  if (o.tcp_nodelay) set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, address.to_string());
  if (o.keep_alive) set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, address.to_string());
}

task<> connect_socket(int fd, const socket_address& to) {
  // A Unix listener whose queue is full answers EAGAIN without starting anything, and
  // nothing signals room (poll reports an unconnected socket writable): wait as a blocking
  // connect would, polling with a growing pause, each pause a cancellation point.
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int err = co_await connect_once(fd, to);
    if (err == 0) co_return;
    if (err != EAGAIN || to.family() != AF_UNIX) throw_error(err, "connect to", to.to_string());
    co_await aw::sleep(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

task<int> accept_socket(int fd, socket_address& peer) {
  socklen_t len = socket_address::capacity();
  if (loop::current().uring()) {
    int r =
        co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_accept(sqe, fd, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC); });
    if (r >= 0) peer.resize(len);
    co_return r;
  }
  co_await raise_if_cancelled{};
  for (;;) {
    int c = ::accept4(fd, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) {
      peer.resize(len);
      co_return c;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return -errno;
    co_await wait_readable(fd);
    len = socket_address::capacity();
  }
}

bool transient_accept_error(int err) noexcept {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case EINTR:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

bool capacity_accept_error(int err) noexcept { return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS; }

}  // namespace aw::net::detail
