// aw::net::tcp_stream and aw::net::unix_stream: a connected stream socket (anyio's
// SocketStream and UNIXSocketStream), made by connect_tcp / connect_unix or a listener's
// accept().
//
//   co_await aw::async_with(co_await aw::net::connect_tcp("localhost", 6379), [](aw::net::tcp_stream& s) -> aw::task<> {
//     co_await s.send("PING\r\n");                  // every byte, or an error
//     std::string reply = co_await s.receive();     // what has arrived, up to 64 KiB
//     co_await s.send_eof();                        // shutdown(SHUT_WR): the peer reads its end
//   });                                             // leaving the block closes the socket
//
// - receive(max) gives what has arrived (1 to max bytes) as soon as there is something, and
//   raises aw::end_of_stream once the peer has closed its side and everything before was
//   read, as anyio does. receive_into(buf) is the same without the copy, and gives 0 at the
//   end instead (the contract of aw::byte_source, which an HTTP body or a COPY takes).
// - send(data) sends every byte before it returns (MSG_NOSIGNAL: never SIGPIPE).
//   send_eof() shuts down the sending side; receiving goes on.
// - The stream is an aw::byte_source and aw::byte_sink (aw::byte_source(s), aw::byte_sink(s)),
//   and an async context manager that is its own resource: the exit closes it.
// - Errors: a peer that reset the connection, or any other socket error while receiving or
//   sending, raises aw::broken_resource_error (anyio's BrokenResourceError) with an
//   aw::net::error nested (std::rethrow_if_nested reaches it: the errno, the operation, the
//   address). Using the stream after close raises aw::closed_resource_error, and so does a
//   receive or send that another task's close() interrupted (close() shuts the socket down
//   to wake them). set_option and the address accessors raise aw::net::error.
// - Every wait is a cancellation point with the core's rule: a cancelled receive either
//   received (and returns the bytes) or raises aw::cancelled having taken nothing. A
//   cancelled send raises aw::cancelled, and may have sent a prefix of the data (as in
//   trio and anyio: what the peer got is then unknown; close the stream).
// - One task receives and one task sends at a time (they may be different tasks: a stream
//   is full duplex). io_uring: recv, send, shutdown are io_uring operations into the
//   caller's buffer; epoll: the call is tried first, readiness awaited only on EAGAIN.
#pragma once

#include <aw/context.hpp>
#include <aw/net/address.hpp>
#include <aw/net/socket_options.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace aw::net {

class socket_stream {
 public:
  // What receive() asks for by default (anyio's 65536).
  static constexpr std::size_t default_receive_size = 65536;

  socket_stream() noexcept = default;  // closed
  // Adopts a connected stream socket (closes it when closed or destroyed) and makes it
  // non-blocking; the remote address is asked of the kernel.
  explicit socket_stream(int fd);
  // Adopts a non-blocking connected socket whose peer is `remote` (what connect and
  // accept know already).
  socket_stream(int fd, const socket_address& remote) noexcept : fd_(fd), remote_(remote) {}
  socket_stream(socket_stream&& o) noexcept : fd_(std::exchange(o.fd_, -1)), remote_(o.remote_) {}
  socket_stream& operator=(socket_stream&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      remote_ = o.remote_;
    }
    return *this;
  }
  socket_stream(const socket_stream&) = delete;
  socket_stream& operator=(const socket_stream&) = delete;
  ~socket_stream() { close(); }

  // Fills a prefix of `buf` with what has arrived, waiting until something has: the
  // count, 0 at end of stream (or for an empty `buf`).
  task<std::size_t> receive_into(std::span<char> buf);
  // Up to `max` bytes (at least 1), waiting until some have arrived; aw::end_of_stream at
  // the end. std::invalid_argument for max 0.
  task<std::string> receive(std::size_t max = default_receive_size);
  // Sends all of `data` (which must stay alive until the task completes).
  task<> send(std::string_view data);
  // Closes the sending side (shutdown SHUT_WR): the peer receives the end of stream.
  task<> send_eof();

  // Closes the socket; idempotent. Receives and sends other tasks have in flight end with
  // aw::closed_resource_error (the socket is shut down to wake them; the descriptor is
  // closed when the last of them has ended).
  void close() noexcept;
  std::suspend_never aclose() noexcept {
    close();
    return {};
  }
  bool is_open() const noexcept { return fd_ >= 0 && !closing_; }

  // The async context manager: the stream is its own resource; the exit closes it.
  aw::detail::ready<socket_stream&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }

  // The address this end is bound to (getsockname), and the peer's.
  socket_address local_address() const;
  const socket_address& remote_address() const noexcept { return remote_; }

  // setsockopt/getsockopt with an int value, for the options this class does not name
  // (SO_SNDBUF, TCP_KEEPIDLE, ...).
  void set_option(int level, int name, int value);
  int get_option(int level, int name) const;
  // The descriptor, for what the class does not offer; -1 once closed. Do not close it.
  int fd() const noexcept { return closing_ ? -1 : fd_; }
  // Gives up the descriptor without closing it (-1 when closed).
  int release() noexcept;

 private:
  class in_flight;
  [[noreturn]] void raise(int err, const char* operation) const;
  std::string name() const;

  int fd_ = -1;
  std::uint8_t in_flight_ = 0;  // receives and sends waiting on fd_: close() defers to them
  bool closing_ = false;
  socket_address remote_;
};

// A TCP connection (anyio's SocketStream over TCP).
class tcp_stream : public socket_stream {
 public:
  using socket_stream::socket_stream;
  tcp_stream() noexcept = default;
  explicit tcp_stream(socket_stream&& s) noexcept : socket_stream(std::move(s)) {}

  aw::detail::ready<tcp_stream&> aenter() noexcept { return {*this}; }

  // TCP_NODELAY (on by default: connect and accept set it) and SO_KEEPALIVE.
  void set_nodelay(bool on);
  bool nodelay() const;
  void set_keep_alive(bool on);
  bool keep_alive() const;
};

// A Unix stream socket connection (anyio's UNIXSocketStream). Its remote address is the
// path connected to, or unnamed (an accepted connection, a socketpair).
class unix_stream : public socket_stream {
 public:
  using socket_stream::socket_stream;
  unix_stream() noexcept = default;
  explicit unix_stream(socket_stream&& s) noexcept : socket_stream(std::move(s)) {}

  aw::detail::ready<unix_stream&> aenter() noexcept { return {*this}; }
};

}  // namespace aw::net
