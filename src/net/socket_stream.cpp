// socket_stream: receive, send, shutdown and close of a connected stream socket.
#include <aw/net/socket_stream.hpp>

#include "socket_ops.hpp"

#include <aw/loop.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/uring_op.hpp>
#include <aw/wait_fd.hpp>

#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <stdexcept>

namespace aw::net {

class socket_stream::in_flight : public detail::fd_in_use {
 public:
  explicit in_flight(socket_stream& s) noexcept : fd_in_use(s.fd_, s.in_flight_, s.closing_) {}
};

namespace {

[[noreturn]] void throw_closed(const char* operation) {
  throw closed_resource_error(std::string("aw::net: ") + operation + ": the stream is closed");
}

}  // namespace

socket_stream::socket_stream(int fd) : fd_(fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    detail::throw_error(errno, "fcntl(O_NONBLOCK) on", "fd " + std::to_string(fd));
  socklen_t len = socket_address::capacity();
  if (::getpeername(fd, remote_.data(), &len) < 0) {
    int err = errno;
    fd_ = -1;  // not adopted: the caller keeps the descriptor
    detail::throw_error(err, "getpeername of", "fd " + std::to_string(fd));
  }
  remote_.resize(len);
}

std::string socket_stream::name() const {
  std::string n = remote_.to_string();
  if (!n.empty()) return n;
  // An unnamed peer (an accepted Unix connection): the listener's path says which stream.
  socket_address local;
  socklen_t len = socket_address::capacity();
  if (fd_ >= 0 && ::getsockname(fd_, local.data(), &len) == 0) {
    local.resize(len);
    n = local.to_string();
  }
  return n.empty() ? "fd " + std::to_string(fd_) : n;
}

void socket_stream::raise(int err, const char* operation) const {
  // As trio and anyio: any socket error while receiving or sending breaks the stream; the
  // errno stays reachable underneath.
  error cause(err, operation, name());
  std::string what = cause.what();
  try {
    throw cause;
  } catch (...) {
    std::throw_with_nested(broken_resource_error(what));
  }
}

task<std::size_t> socket_stream::receive_into(std::span<char> buf) {
  if (fd_ < 0 || closing_) throw_closed("receive");
  if (buf.empty()) co_return 0;
  in_flight guard(*this);
  const std::size_t len = std::min(buf.size(), detail::max_io);
  if (loop::current().uring()) {
    int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd_, buf.data(), len, 0); });
    if (r > 0) co_return static_cast<std::size_t>(r);
    if (closing_) throw_closed("receive");
    if (r == 0) co_return 0;
    raise(-r, "receive from");
  }
  co_await detail::raise_if_cancelled{};
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), len, 0);
    if (n > 0) co_return static_cast<std::size_t>(n);
    if (closing_) throw_closed("receive");
    if (n == 0) co_return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) raise(errno, "receive from");
    co_await wait_readable(fd_);
  }
}

task<std::string> socket_stream::receive(std::size_t max) {
  if (max == 0) throw std::invalid_argument("aw::net::socket_stream::receive: max must be at least 1");
  std::string out(std::min(max, detail::max_io), '\0');
  std::size_t n = co_await receive_into(out);
  if (n == 0) throw end_of_stream("aw::net: receive from " + name() + ": end of stream");
  out.resize(n);
  // A short read must not pin the whole buffer for as long as the caller keeps the string.
  if (out.capacity() > 2 * n + 4096) out.shrink_to_fit();
  co_return out;
}

task<> socket_stream::send(std::string_view data) {
  if (fd_ < 0 || closing_) throw_closed("send");
  in_flight guard(*this);
  if (loop::current().uring()) {
    while (!data.empty()) {
      // MSG_WAITALL: the kernel sends the rest of a short send itself, a loop turn saved.
      const auto len = static_cast<unsigned>(std::min(data.size(), detail::max_io));
      int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_send(sqe, fd_, data.data(), len, MSG_NOSIGNAL | MSG_WAITALL); });
      if (r < 0) {
        if (closing_) throw_closed("send");
        raise(-r, "send to");
      }
      data.remove_prefix(static_cast<std::size_t>(r));
    }
    co_return;
  }
  co_await detail::raise_if_cancelled{};
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), std::min(data.size(), detail::max_io), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      if (closing_) throw_closed("send");
      raise(errno, "send to");
    }
    co_await wait_writable(fd_);
  }
}

task<> socket_stream::send_eof() {
  if (fd_ < 0 || closing_) throw_closed("send_eof");
  if (detail::uring_supports(IORING_OP_SHUTDOWN)) {
    int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_shutdown(sqe, fd_, SHUT_WR); });
    if (r < 0) raise(-r, "shutdown of");
    co_return;
  }
  co_await detail::raise_if_cancelled{};
  if (::shutdown(fd_, SHUT_WR) < 0) raise(errno, "shutdown of");
}

void socket_stream::close() noexcept {
  if (fd_ < 0 || closing_) return;
  if (in_flight_ > 0) {
    ::shutdown(fd_, SHUT_RDWR);
    closing_ = true;
    return;
  }
  ::close(std::exchange(fd_, -1));
}

int socket_stream::release() noexcept {
  if (closing_) return -1;
  return std::exchange(fd_, -1);
}

socket_address socket_stream::local_address() const {
  if (fd_ < 0 || closing_) throw_closed("local_address");
  socket_address a;
  socklen_t len = socket_address::capacity();
  if (::getsockname(fd_, a.data(), &len) < 0) detail::throw_error(errno, "getsockname of", name());
  a.resize(len);
  return a;
}

void socket_stream::set_option(int level, int name, int value) {
  if (fd_ < 0 || closing_) throw_closed("set_option");
  detail::set_int_option(fd_, level, name, value, this->name());
}

int socket_stream::get_option(int level, int name) const {
  if (fd_ < 0 || closing_) throw_closed("get_option");
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) < 0)
    detail::throw_error(errno, "getsockopt(" + std::to_string(level) + ", " + std::to_string(name) + ") of", this->name());
  return value;
}

void tcp_stream::set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }
bool tcp_stream::nodelay() const { return get_option(IPPROTO_TCP, TCP_NODELAY) != 0; }
void tcp_stream::set_keep_alive(bool on) { set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0); }
bool tcp_stream::keep_alive() const { return get_option(SOL_SOCKET, SO_KEEPALIVE) != 0; }

}  // namespace aw::net
