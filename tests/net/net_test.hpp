// Helpers of aw::net's tests: connected pairs made with plain blocking calls (so a stream
// test does not depend on the listener or connect code it is not about), and data patterns.
#pragma once

#include <aw/net/socket_stream.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

namespace net_test {

// A listening TCP socket on the loopback of `family`, any port, blocking.
inline int listen_loopback(int family, int backlog = 16) {
  int l = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(l, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  }
  EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&ss), len), 0);
  EXPECT_EQ(::listen(l, backlog), 0);
  return l;
}

// The port a socket is bound to.
inline std::uint16_t port_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// A connected TCP pair over loopback: {client, server}.
inline std::pair<aw::net::tcp_stream, aw::net::tcp_stream> tcp_pair(int family = AF_INET) {
  int l = listen_loopback(family);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&ss), &len);
  int c = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&ss), len), 0);  // loopback: the queue takes it at once
  int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(s, 0);
  ::close(l);
  return {aw::net::tcp_stream(c), aw::net::tcp_stream(s)};
}

// A client connected with a plain blocking connect (on loopback, and to a listener whose
// queue has room, it returns at once).
template <class Stream = aw::net::tcp_stream>
Stream connect_blocking(const aw::net::socket_address& a) {
  int c = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(::connect(c, a.data(), a.size()), 0) << a.to_string() << ": " << errno;
  return Stream(c);
}

// A connected Unix stream pair (socketpair): {a, b}.
inline std::pair<aw::net::unix_stream, aw::net::unix_stream> unix_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {aw::net::unix_stream(fds[0]), aw::net::unix_stream(fds[1])};
}

// `n` bytes of a pattern that differs with `seed` and with position (a shifted or lost
// chunk shows).
inline std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = 2463534242u ^ seed;
  for (auto& ch : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = static_cast<char>(x);
  }
  return s;
}

// Whether `fd` is an open descriptor.
inline bool is_open_fd(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) >= 0; }

// How many descriptors the process has open (for leak checks: the iterator's own descriptor
// counts every time alike).
inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace net_test
