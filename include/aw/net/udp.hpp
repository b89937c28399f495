// aw::net::udp_socket and aw::net::connected_udp_socket: UDP (anyio's create_udp_socket,
// create_connected_udp_socket, UDPSocket and ConnectedUDPSocket).
//
//   aw::net::udp_options o;                                  // named first (g++ 12)
//   o.local_host = "127.0.0.1";
//   o.local_port = 5353;
//   co_await aw::async_with(co_await aw::net::create_udp_socket(o), [](aw::net::udp_socket& u) -> aw::task<> {
//     auto [data, sender] = co_await u.receive();            // one datagram and who sent it
//     co_await u.send(data, sender);                         // echo it back
//   });
//   aw::net::connected_udp_socket c = co_await aw::net::create_connected_udp_socket("127.0.0.1", 5353);
//   co_await c.send("ping");
//   std::string pong = co_await c.receive();
//
// - create_udp_socket(options) binds to local_host:local_port (port 0: a free one). As in
//   anyio, it needs local_host or family (std::invalid_argument without either); an empty
//   local_host with a family is that family's wildcard address. reuse_port sets
//   SO_REUSEPORT. receive() gives (bytes, sender's address); send(data, address) and
//   sendto(data, host, port) send one datagram (the host resolved without blocking, the
//   first address of the socket's family).
// - create_connected_udp_socket(remote_host, remote_port, options) resolves the remote
//   host and connects (the kernel then keeps only that peer's datagrams): receive() gives
//   the bytes, send(data) sends to the peer. With local_host, its family chooses the
//   remote's addresses, as connect_tcp does.
// - One receive is one datagram, whole (receive(max) cuts a longer one at max bytes, as
//   Python's recvfrom(max) does; the default 65536 holds any UDP datagram). A datagram may
//   be empty. One send is one datagram: every byte or an error (EMSGSIZE beyond the limit).
// - Errors are aw::net::error naming the address: a connected socket whose peer answered
//   "port unreachable" raises aw::net::connection_refused on its next receive (or send),
//   as asyncio and anyio report ECONNREFUSED; the socket stays usable (a datagram socket
//   does not break). Using a socket after aclose() raises aw::closed_resource_error, and so
//   does a receive that another task's close() interrupted.
// - Every wait is a cancellation point with the core's rule: a cancelled receive either
//   received (and returns the datagram) or raises aw::cancelled having taken nothing; a
//   cancelled send either sent the whole datagram or raises aw::cancelled having sent
//   nothing.
// - Each socket is an async context manager that is its own resource; the exit closes it.
//   One receiver and one sender at a time (they may be two tasks). io_uring: recvmsg and
//   sendmsg are io_uring operations into the caller's buffers; epoll: the call is tried
//   first, readiness awaited on EAGAIN.
#pragma once

#include <aw/context.hpp>
#include <aw/net/address.hpp>
#include <aw/task.hpp>

#include <sys/socket.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace aw::net {

// create_udp_socket's and create_connected_udp_socket's options (anyio's keyword arguments).
struct udp_options {
  // The address to bind to (numeric, or a name resolved first); empty: the wildcard of
  // `family` (create_udp_socket), or what the kernel chooses on connect.
  std::string local_host;
  std::uint16_t local_port = 0;
  // AF_UNSPEC, AF_INET or AF_INET6.
  int family = AF_UNSPEC;
  // SO_REUSEPORT: several sockets (threads, processes) share the port.
  bool reuse_port = false;
};

namespace detail {

// What both UDP sockets share: the descriptor, closing it while operations wait on it,
// and the datagram calls.
class datagram_socket {
 public:
  // What receive() asks for by default: any UDP datagram fits (anyio's 65536).
  static constexpr std::size_t default_receive_size = 65536;

  datagram_socket() noexcept = default;  // closed
  // Adopts a non-blocking, bound (and perhaps connected) datagram socket.
  datagram_socket(int fd, const socket_address& remote) noexcept : remote_(remote), fd_(fd) {}
  datagram_socket(datagram_socket&& o) noexcept : remote_(o.remote_), fd_(std::exchange(o.fd_, -1)) {}
  datagram_socket& operator=(datagram_socket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      remote_ = o.remote_;
    }
    return *this;
  }
  datagram_socket(const datagram_socket&) = delete;
  datagram_socket& operator=(const datagram_socket&) = delete;
  ~datagram_socket() { close(); }

  // Closes the socket; idempotent. Receives and sends other tasks have in flight end with
  // aw::closed_resource_error.
  void close() noexcept;
  std::suspend_never aclose() noexcept {
    close();
    return {};
  }
  bool is_open() const noexcept { return fd_ >= 0 && !closing_; }

  // The address the socket is bound to (getsockname).
  socket_address local_address() const;
  // setsockopt/getsockopt with an int value (SO_RCVBUF, IP_TTL, SO_BROADCAST, ...).
  void set_option(int level, int name, int value);
  int get_option(int level, int name) const;
  // The descriptor, for what the class does not offer; -1 once closed. Do not close it.
  int fd() const noexcept { return closing_ ? -1 : fd_; }

 protected:
  // One datagram into `buf`: its size (cut at buf.size()); the sender in `from` if not null.
  task<std::size_t> receive_datagram(std::span<char> buf, socket_address* from);
  // One datagram to `to` (null: the connected peer).
  task<> send_datagram(std::string_view data, const socket_address* to);
  task<std::string> receive_string(std::size_t max, socket_address* from);

  socket_address remote_;  // the connected peer; empty on an unconnected socket

 private:
  class in_flight;
  [[noreturn]] void raise(int err, const char* operation, const socket_address* to) const;
  std::string name() const;

  int fd_ = -1;
  std::uint8_t in_flight_ = 0;
  bool closing_ = false;
};

}  // namespace detail

// An unconnected UDP socket (anyio's UDPSocket): datagrams from anyone, to anyone.
class udp_socket : public detail::datagram_socket {
 public:
  using detail::datagram_socket::datagram_socket;
  udp_socket() noexcept = default;

  // The next datagram (up to `max` bytes of it) and its sender. std::invalid_argument for max 0.
  task<std::pair<std::string, socket_address>> receive(std::size_t max = default_receive_size);
  // The next datagram into `buf`, without a copy or an allocation (socket.recvfrom_into):
  // its size, cut at buf.size() as receive(max) cuts; the sender in `from`.
  // std::invalid_argument for an empty buffer.
  task<std::size_t> receive_into(std::span<char> buf, socket_address& from);
  // One datagram to `to` (anyio's send((data, (host, port)))).
  task<> send(std::string_view data, const socket_address& to);
  // One datagram to host:port, the host resolved (numeric without I/O).
  task<> sendto(std::string_view data, std::string host, std::uint16_t port);

  aw::detail::ready<udp_socket&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }
};

// A UDP socket connected to one peer (anyio's ConnectedUDPSocket).
class connected_udp_socket : public detail::datagram_socket {
 public:
  using detail::datagram_socket::datagram_socket;
  connected_udp_socket() noexcept = default;

  // The next datagram from the peer (up to `max` bytes of it).
  task<std::string> receive(std::size_t max = default_receive_size);
  // The next datagram from the peer into `buf` (socket.recv_into): its size, cut at
  // buf.size(). std::invalid_argument for an empty buffer.
  task<std::size_t> receive_into(std::span<char> buf);
  // One datagram to the peer.
  task<> send(std::string_view data);

  const socket_address& remote_address() const noexcept { return remote_; }

  aw::detail::ready<connected_udp_socket&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }
};

task<udp_socket> create_udp_socket(udp_options options);
task<connected_udp_socket> create_connected_udp_socket(std::string remote_host, std::uint16_t remote_port);
task<connected_udp_socket> create_connected_udp_socket(std::string remote_host, std::uint16_t remote_port, udp_options options);

}  // namespace aw::net
