// What aw::http's test files share: the servers' addresses (started by the ctest fixture
// http_servers), a session runner, and a port that nothing listens on.
#pragma once

#include <aw/async_with.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace aw_http_test {

namespace http = aw::http;

inline const std::string nginx = "http://127.0.0.1:18080";
inline const std::string nginx_tls = "https://127.0.0.1:18443";
inline const std::string nginx_mtls = "https://127.0.0.1:18444";  // ssl_verify_client on
inline const std::string scripted = "http://127.0.0.1:18081";     // also a forward proxy
inline const std::string scratch = AW_HTTP_TEST_SCRATCH;

// A port the kernel just handed out and took back: nothing listens there (the kernel does
// not hand it out again at once), unlike a fixed port some other program may hold.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/getsockname");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}
inline std::string refused_url() { return "http://127.0.0.1:" + std::to_string(free_port()); }

// Runs `body` inside a session with `options`.
inline void with_session(http::session_options options, std::function<aw::task<>(http::session&)> body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(http::session(std::move(options)), [&](http::session& s) -> aw::task<> { co_await body(s); });
  });
}
inline void with_session(std::function<aw::task<>(http::session&)> body) { with_session({}, std::move(body)); }

inline std::string unique_tag(const char* name) {
  static int n = 0;
  return std::string(name) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

}  // namespace aw_http_test
