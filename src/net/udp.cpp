// UDP sockets: creating, binding and connecting them, and one datagram per receive or send.
#include <aw/net/udp.hpp>

#include "resolve.hpp"
#include "socket_ops.hpp"

#include <aw/loop.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/uring_op.hpp>
#include <aw/wait_fd.hpp>

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <vector>

namespace aw::net {
namespace detail {

class datagram_socket::in_flight : public detail::fd_in_use {
 public:
  explicit in_flight(datagram_socket& s) noexcept : fd_in_use(s.fd_, s.in_flight_, s.closing_) {}
};

namespace {

[[noreturn]] void throw_closed(const char* operation) {
  throw closed_resource_error(std::string("aw::net: ") + operation + ": the UDP socket is closed");
}

}  // namespace

std::string datagram_socket::name() const {
  if (remote_.family() != AF_UNSPEC) return remote_.to_string();
  socket_address local;
  socklen_t len = socket_address::capacity();
  if (fd_ >= 0 && ::getsockname(fd_, local.data(), &len) == 0) {
    local.resize(len);
    return local.to_string();
  }
  return "fd " + std::to_string(fd_);
}

void datagram_socket::raise(int err, const char* operation, const socket_address* to) const {
  // Not broken_resource_error, as a stream's: an ICMP error reported on a datagram socket
  // concerns one datagram, and the socket goes on working.
  throw_error(err, operation, to ? to->to_string() : name());
}

task<std::size_t> datagram_socket::receive_datagram(std::span<char> buf, socket_address* from) {
  if (fd_ < 0 || closing_) throw_closed("receive");
  in_flight guard(*this);
  iovec iov{buf.data(), std::min(buf.size(), max_io)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (from) {
    msg.msg_name = from->data();
    msg.msg_namelen = socket_address::capacity();
  }
  if (loop::current().uring()) {
    int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_recvmsg(sqe, fd_, &msg, 0); });
    if (closing_) throw_closed("receive");
    if (r < 0) raise(-r, "receive from", nullptr);
    if (from) from->resize(msg.msg_namelen);
    co_return static_cast<std::size_t>(r);
  }
  co_await raise_if_cancelled{};
  for (;;) {
    ssize_t n = ::recvmsg(fd_, &msg, 0);
    // After close() from another task: the shutdown made the socket readable, and the
    // receive finds nothing (or a datagram nobody wants now).
    if (closing_) throw_closed("receive");
    if (n >= 0) {
      if (from) from->resize(msg.msg_namelen);
      co_return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) raise(errno, "receive from", nullptr);
    co_await wait_readable(fd_);
    msg.msg_namelen = from ? socket_address::capacity() : 0;
  }
}

task<> datagram_socket::send_datagram(std::string_view data, const socket_address* to) {
  if (fd_ < 0 || closing_) throw_closed("send");
  in_flight guard(*this);
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (to) {
    msg.msg_name = const_cast<sockaddr*>(to->data());
    msg.msg_namelen = to->size();
  }
  if (loop::current().uring()) {
    int r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_sendmsg(sqe, fd_, &msg, MSG_NOSIGNAL); });
    if (closing_ && r < 0) throw_closed("send");
    if (r < 0) raise(-r, "send to", to);
    co_return;  // a datagram is sent whole or not at all
  }
  co_await raise_if_cancelled{};
  for (;;) {
    if (::sendmsg(fd_, &msg, MSG_NOSIGNAL) >= 0) co_return;
    if (closing_) throw_closed("send");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) raise(errno, "send to", to);
    co_await wait_writable(fd_);
  }
}

task<std::string> datagram_socket::receive_string(std::size_t max, socket_address* from) {
  if (max == 0) throw std::invalid_argument("aw::net: UDP receive: max must be at least 1");
  std::string out(std::min(max, max_io), '\0');
  std::size_t n = co_await receive_datagram(out, from);
  out.resize(n);
  // A small datagram must not pin a 64 KiB buffer for as long as the caller keeps it.
  if (out.capacity() > 2 * n + 4096) out.shrink_to_fit();
  co_return out;
}

void datagram_socket::close() noexcept {
  if (fd_ < 0 || closing_) return;
  if (in_flight_ > 0) {
    // The shutdown wakes the waiting receives on both backends, even on an unconnected
    // socket (Linux's "hack to wake up other listeners" in inet_shutdown); they see
    // closing_ and raise closed_resource_error.
    ::shutdown(fd_, SHUT_RDWR);
    closing_ = true;
    return;
  }
  ::close(std::exchange(fd_, -1));
}

socket_address datagram_socket::local_address() const {
  if (fd_ < 0 || closing_) throw_closed("local_address");
  socket_address a;
  socklen_t len = socket_address::capacity();
  if (::getsockname(fd_, a.data(), &len) < 0) throw_error(errno, "getsockname of", name());
  a.resize(len);
  return a;
}

void datagram_socket::set_option(int level, int name, int value) {
  if (fd_ < 0 || closing_) throw_closed("set_option");
  set_int_option(fd_, level, name, value, this->name());
}

int datagram_socket::get_option(int level, int name) const {
  if (fd_ < 0 || closing_) throw_closed("get_option");
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) < 0)
    throw_error(errno, "getsockopt(" + std::to_string(level) + ", " + std::to_string(name) + ") of", this->name());
  return value;
}

}  // namespace detail

namespace {

// The wildcard address of `family` with `port` (create_udp_socket without local_host).
socket_address any_address(int family, std::uint16_t port) { return socket_address::ip(family == AF_INET6 ? "::" : "0.0.0.0", port); }

// A non-blocking UDP socket of `family`, with SO_REUSEPORT if asked, bound to `local` if given.
detail::fd_guard open_udp(int family, const socket_address* local, const udp_options& o, const std::string& for_address) {
  detail::fd_guard fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) detail::throw_error(errno, "UDP socket for", for_address);
  if (o.reuse_port) detail::set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, for_address);
  if (local && ::bind(fd.get(), local->data(), local->size()) < 0) detail::throw_error(errno, "bind to", local->to_string());
  return fd;
}

}  // namespace

task<std::pair<std::string, socket_address>> udp_socket::receive(std::size_t max) {
  socket_address from;
  std::string data = co_await receive_string(max, &from);
  co_return std::pair<std::string, socket_address>(std::move(data), from);
}

task<std::size_t> udp_socket::receive_into(std::span<char> buf, socket_address& from) {
  if (buf.empty()) throw std::invalid_argument("aw::net: UDP receive_into: the buffer is empty");
  return receive_datagram(buf, &from);
}

task<> udp_socket::send(std::string_view data, const socket_address& to) { return send_datagram(data, &to); }

task<> udp_socket::sendto(std::string_view data, std::string host, std::uint16_t port) {
  if (!is_open()) throw closed_resource_error("aw::net: sendto: the UDP socket is closed");
  const int family = local_address().family();
  const std::vector<socket_address> to = co_await detail::resolve_for_connect(host, port, family);
  co_await send_datagram(data, &to.front());
}

task<std::string> connected_udp_socket::receive(std::size_t max) { return receive_string(max, nullptr); }

task<std::size_t> connected_udp_socket::receive_into(std::span<char> buf) {
  if (buf.empty()) throw std::invalid_argument("aw::net: UDP receive_into: the buffer is empty");
  return receive_datagram(buf, nullptr);
}

task<> connected_udp_socket::send(std::string_view data) { return send_datagram(data, nullptr); }

task<udp_socket> create_udp_socket(udp_options options) {
  if (options.local_host.empty() && options.family == AF_UNSPEC)
    throw std::invalid_argument("aw::net::create_udp_socket: either family or local_host must be given");
  const socket_address local = options.local_host.empty()
                                   ? any_address(options.family, options.local_port)
                                   : (co_await detail::resolve_for_connect(options.local_host, options.local_port, options.family)).front();
  detail::fd_guard fd = open_udp(local.family(), &local, options, local.to_string());
  co_return udp_socket(fd.release(), socket_address());
}

task<connected_udp_socket> create_connected_udp_socket(std::string remote_host, std::uint16_t remote_port) {
  return create_connected_udp_socket(std::move(remote_host), remote_port, udp_options{});
}

task<connected_udp_socket> create_connected_udp_socket(std::string remote_host, std::uint16_t remote_port, udp_options options) {
  int family = options.family;
  std::optional<socket_address> local;
  if (!options.local_host.empty()) {
    local = (co_await detail::resolve_for_connect(options.local_host, options.local_port, family)).front();
    family = local->family();
  }
  const socket_address remote = (co_await detail::resolve_for_connect(remote_host, remote_port, family)).front();
  if (!local && options.local_port != 0) local = any_address(remote.family(), options.local_port);
  detail::fd_guard fd = open_udp(remote.family(), local ? &*local : nullptr, options, remote.to_string());
  // A UDP connect only records the peer: it never waits.
  if (::connect(fd.get(), remote.data(), remote.size()) < 0) detail::throw_error(errno, "connect to", remote.to_string());
  co_return connected_udp_socket(fd.release(), remote);
}

}  // namespace aw::net
