// aw::net::socket_address: one IPv4, IPv6 or Unix socket address, as the kernel takes it
// (Python's (host, port) tuples and path strings, in one value type).
//
//   auto a = aw::net::socket_address::ip("127.0.0.1", 8080);   // or "::1"; std::invalid_argument if not numeric
//   auto u = aw::net::socket_address::unix_path("/run/app.sock");
//   auto b = aw::net::socket_address::unix_path(std::string("\0name", 5));  // abstract namespace
//   a.to_string();   // "127.0.0.1:8080", "[::1]:8080", "/run/app.sock", "@name"
//
// It holds a sockaddr_storage and its length: no allocation, copyable, comparable.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace aw::net {

class socket_address {
 public:
  socket_address() noexcept;  // empty: family() == AF_UNSPEC
  // Copies `len` bytes of `sa` (what accept, getsockname, getaddrinfo give).
  socket_address(const sockaddr* sa, socklen_t len);

  // A numeric IPv4 or IPv6 address (an IPv6 scope "fe80::1%eth0" included) and a port;
  // std::invalid_argument when `host` is not numeric (names go through aw::net::getaddrinfo).
  static socket_address ip(std::string_view host, std::uint16_t port);
  // A Unix socket path; a leading NUL names the abstract namespace (Linux). std::invalid_argument
  // when it does not fit sun_path.
  static socket_address unix_path(std::string_view path);

  int family() const noexcept { return storage_.ss_family; }
  bool is_ip() const noexcept { return family() == AF_INET || family() == AF_INET6; }
  // The numeric host ("127.0.0.1", "::1"), or the Unix path ("@name" for an abstract one).
  std::string host() const;
  std::uint16_t port() const noexcept;  // 0 for a Unix address
  // "127.0.0.1:8080", "[::1]:8080", the path: what errors and logs print.
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  // For the kernel to fill (accept, recvfrom, getsockname): set the length it reported.
  void resize(socklen_t len) noexcept { len_ = len; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  friend bool operator==(const socket_address& a, const socket_address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_;
};

}  // namespace aw::net
