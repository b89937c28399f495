// What the TLS tests share: certificates made at test time with the openssl CLI, transports
// (a socketpair, a loopback TCP connection, a small TCP listener), and a runner for a server
// and a client talking over one transport.
#pragma once

#include <aw/async_with.hpp>
#include <aw/byte_stream.hpp>
#include <aw/exception_group.hpp>
#include <aw/net/tls.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <system_error>
#include <utility>

namespace aw_tls_test {

namespace net = aw::net;

// The certificates, in a directory of this process (ctest runs tests in parallel processes):
// ca.pem (a CA), server.pem for "localhost" and 127.0.0.1 signed by it, self.pem (self-signed,
// same names), client.pem signed by the CA, each with its -key.pem.
class certificates {
 public:
  static void make() {
    dir_ = std::string(AW_NET_SCRATCH) + "/tls-" + std::to_string(::getpid());
    std::string log = dir_ + "/openssl.log";
    std::string script = "set -e; rm -rf '" + dir_ + "'; mkdir -p '" + dir_ + "'; cd '" + dir_ + "'; exec >openssl.log 2>&1\n" +
                         R"(K="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
SAN="subjectAltName=DNS:localhost,IP:127.0.0.1"
openssl req -x509 $K -days 2 -subj "/CN=aw test CA" -keyout ca-key.pem -out ca.pem
openssl req $K -subj "/CN=localhost" -addext "$SAN" -keyout server-key.pem -out server.csr
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -copy_extensions copy -out server.pem
openssl req -x509 $K -days 2 -subj "/CN=localhost" -addext "$SAN" -keyout self-key.pem -out self.pem
openssl req $K -subj "/CN=aw test client" -keyout client-key.pem -out client.csr
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out client.pem
)";
    int rc = std::system(script.c_str());
    ASSERT_EQ(rc, 0) << "openssl failed; see " << log;
  }
  static void remove() {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  static std::string file(const char* name) { return dir_ + "/" + name; }

 private:
  static inline std::string dir_;
};

inline net::tls_context server_context(const char* cert = "server") {
  std::string c = std::string(cert) + ".pem", k = std::string(cert) + "-key.pem";
  return net::tls_context::server(certificates::file(c.c_str()), certificates::file(k.c_str()));
}
// A client that trusts the test CA (and the system's).
inline net::tls_context client_context() { return net::tls_context::client().load_verify_locations(certificates::file("ca.pem")); }

inline net::tls_options server_options(net::tls_context ctx = server_context()) {
  net::tls_options o;
  o.context = std::move(ctx);
  return o;
}
inline net::tls_options client_options(net::tls_context ctx = client_context(), std::string host = "localhost") {
  net::tls_options o;
  o.context = std::move(ctx);
  o.server_hostname = std::move(host);
  return o;
}

struct transport_pair {
  aw::byte_stream client, server;
};

inline transport_pair unix_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::system_error(errno, std::generic_category(), "socketpair");
  return {aw::byte_stream(fds[0]), aw::byte_stream(fds[1])};
}

inline int listening_socket(int flags, int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::system_error(errno, std::generic_category(), "listen on 127.0.0.1");
  port = ntohs(a.sin_port);
  return fd;
}

// Connects to 127.0.0.1:port; on loopback the kernel completes it from the backlog, so the
// blocking call returns at once whether or not anyone accepts yet.
inline aw::byte_stream connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw std::system_error(err, std::generic_category(), "connect to 127.0.0.1");
  }
  return aw::byte_stream(fd);
}

// A real TCP connection over loopback.
inline transport_pair tcp_pair() {
  int port = 0;
  int l = listening_socket(0, port);
  aw::byte_stream c = connect_to(port);
  int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(l);
  if (s < 0) throw std::system_error(errno, std::generic_category(), "accept4");
  return {std::move(c), aw::byte_stream(s)};
}

// The smallest listener: accept() gives an aw::byte_stream (what tls_listener wraps).
class tcp_test_listener {
 public:
  tcp_test_listener() { fd_ = listening_socket(SOCK_NONBLOCK, port_); }
  tcp_test_listener(tcp_test_listener&& o) noexcept : fd_(std::exchange(o.fd_, -1)), port_(o.port_) {}
  tcp_test_listener& operator=(tcp_test_listener&&) = delete;
  ~tcp_test_listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const noexcept { return port_; }
  aw::task<aw::byte_stream> accept() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c >= 0) co_return aw::byte_stream(c);
      if (errno != EAGAIN && errno != EINTR) throw std::system_error(errno, std::generic_category(), "accept4");
      co_await aw::wait_readable(fd_);
    }
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

using side = std::function<aw::task<>(net::tls_stream&)>;

// One end: the handshake, then body(stream); what either raised is kept in `error`.
inline aw::task<> run_side(aw::byte_stream transport, net::tls_options options, const side& body, std::exception_ptr& error) {
  try {
    net::tls_stream s = co_await net::tls_stream::wrap(std::move(transport), options);
    co_await body(s);
  } catch (...) {
    error = std::current_exception();
  }
}

struct outcome {
  std::exception_ptr server, client;
};

// A server (with `so`) and a client (with `co`) at once over `p`. A side that fails
// destroys its stream, closing its end, so the other never waits for it forever.
inline outcome run_pair(transport_pair p, const net::tls_options& so, const net::tls_options& co, const side& server, const side& client) {
  outcome r;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(run_side, std::move(p.server), so, std::cref(server), std::ref(r.server));
      co_await run_side(std::move(p.client), co, client, r.client);
    });
  });
  return r;
}

// The exception in `e` as an E (rethrown and caught), or a test failure.
template <class E, class F>
void expect_error(std::exception_ptr e, F check) {
  ASSERT_TRUE(e) << "expected an exception";
  try {
    std::rethrow_exception(e);
  } catch (const E& x) {
    check(x);
  } catch (const std::exception& x) {
    ADD_FAILURE() << "unexpected exception: " << typeid(x).name() << ": " << x.what();
  }
}

// What `e` says, with a group's members.
inline std::string what(std::exception_ptr e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const aw::exception_group& g) {
    std::string s = g.what();
    for (const auto& m : g.exceptions()) s += "; " + what(m);
    return s;
  } catch (const std::exception& x) {
    return x.what();
  }
  return "(none)";
}

// aw::run(main), with what escaped from it reported as a test failure that says what it was.
template <class F>
void run_reporting(F main) {
  try {
    aw::run(main);
  } catch (...) {
    ADD_FAILURE() << what(std::current_exception());
  }
}

}  // namespace aw_tls_test
