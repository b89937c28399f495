// connect_tcp (Happy Eyeballs) and connect_unix: connecting, refusal, fallback from a
// refused ::1 and from a ::1 listener that never accepts, the errors, the options, and
// cancellation at each step with no socket left behind. Also the address ordering.
//
// A connect that hangs, deterministically, on loopback: a listener with backlog 0 holds one
// connection in its accept queue; once that one is there and nobody accepts, the kernel
// drops every further SYN (the queue is full) and the client retransmits for minutes.
// TCP_INFO on the listener says when the queue is full (tcpi_unacked > tcpi_sacked).
#include "net_test.hpp"

#include "../../src/net/resolve.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/exception_group.hpp>
#include <aw/net/connect.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/listener.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ares.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using aw::net::socket_address;
using aw::net::tcp_stream;
using aw::net::unix_stream;

// A plain socket the test holds: bound (refusing connections: nothing listens), or listening.
struct raw_socket {
  int fd = -1;
  raw_socket() = default;
  explicit raw_socket(int f) : fd(f) {}
  raw_socket(raw_socket&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  raw_socket& operator=(raw_socket&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~raw_socket() {
    if (fd >= 0) ::close(fd);
  }
};

// A socket bound to `a` (port 0: any); listening with `backlog` when backlog >= 0. -1 when
// the address is taken.
int bind_raw(const socket_address& a, int backlog) {
  int fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  if (a.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd, a.data(), a.size()) < 0) {
    ::close(fd);
    return -1;
  }
  if (backlog >= 0) {
    EXPECT_EQ(::listen(fd, backlog), 0);
  }
  return fd;
}

// Sockets on ::1 and 127.0.0.1 with one port: ::1 refusing (backlog -1), listening, or
// full; 127.0.0.1 likewise.
struct loopback_pair {
  raw_socket v6, v4, filler6, filler4;
  std::uint16_t port = 0;
};

enum class kind { refuse, listen, full };

int open_as(const socket_address& a, kind k) { return bind_raw(a, k == kind::refuse ? -1 : k == kind::listen ? 16 : 0); }

// Makes a backlog-0 listener's queue full: one connection that nobody accepts.
raw_socket fill(int listener, const socket_address& a) {
  raw_socket c(::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(c.fd, a.data(), a.size()), 0);
  for (;;) {  // the handshake's last ACK puts it in the queue, maybe a moment after connect
    tcp_info ti{};
    socklen_t len = sizeof ti;
    EXPECT_EQ(::getsockopt(listener, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    if (ti.tcpi_unacked > ti.tcpi_sacked) break;
    std::this_thread::sleep_for(1ms);
  }
  return c;
}

loopback_pair make_pair(kind k6, kind k4) {
  for (;;) {
    loopback_pair p;
    p.v6 = raw_socket(open_as(socket_address::ip("::1", 0), k6));
    p.port = net_test::port_of(p.v6.fd);
    p.v4 = raw_socket(open_as(socket_address::ip("127.0.0.1", p.port), k4));
    if (p.v4.fd < 0) continue;  // the port is taken on IPv4: another one
    if (k6 == kind::full) p.filler6 = fill(p.v6.fd, socket_address::ip("::1", p.port));
    if (k4 == kind::full) p.filler4 = fill(p.v4.fd, socket_address::ip("127.0.0.1", p.port));
    return p;
  }
}

using net_test::open_fds;

aw::net::connect_options with_delay(aw::clock::duration d) {
  aw::net::connect_options o;
  o.happy_eyeballs_delay = d;
  return o;
}

TEST(NetConnect, ConnectsToIpv4AndIpv6WithNodelay) {
  aw::run([&]() -> aw::task<> {
    for (const char* host : {"127.0.0.1", "::1"}) {
      aw::net::tcp_listener l = co_await aw::net::create_tcp_listener(host, 0);
      tcp_stream c = co_await aw::net::connect_tcp(host, l.local_address().port());
      tcp_stream s = co_await l.accept();
      EXPECT_EQ(c.remote_address(), l.local_address());
      EXPECT_EQ(c.local_address(), s.remote_address());
      EXPECT_TRUE(c.nodelay());
      EXPECT_FALSE(c.keep_alive());
      co_await c.send("hi");
      EXPECT_EQ(co_await s.receive(), "hi");
    }
  });
}

TEST(NetConnect, SocketOptionsAndLocalHost) {
  aw::run([&]() -> aw::task<> {
    aw::net::tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    aw::net::connect_options o;
    o.socket.tcp_nodelay = false;
    o.socket.keep_alive = true;
    o.local_host = "127.0.0.1";
    tcp_stream c = co_await aw::net::connect_tcp("localhost", l.local_address().port(), o);
    EXPECT_FALSE(c.nodelay());
    EXPECT_TRUE(c.keep_alive());
    EXPECT_EQ(c.local_address().host(), "127.0.0.1");
    EXPECT_EQ(c.remote_address().host(), "127.0.0.1");  // local_host's family chose IPv4
    o.local_host = "::1";                               // no IPv6 address in "127.0.0.1"
    EXPECT_THROW(co_await aw::net::connect_tcp("127.0.0.1", l.local_address().port(), o), aw::net::host_not_found);
  });
}

TEST(NetConnect, RefusedNamesTheAddress) {
  raw_socket refusing(bind_raw(socket_address::ip("127.0.0.1", 0), -1));
  const std::uint16_t port = net_test::port_of(refusing.fd);
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::net::connect_tcp("127.0.0.1", port);
      ADD_FAILURE() << "connected";
    } catch (const aw::net::connection_refused& e) {
      EXPECT_EQ(e.code(), std::errc::connection_refused);
      EXPECT_EQ(e.address(), "127.0.0.1:" + std::to_string(port));
      EXPECT_EQ(std::string(e.what()), "connect to 127.0.0.1:" + std::to_string(port) + ": " + e.code().message());
    }
  });
}

TEST(NetConnect, AllRefusedListsEveryAddressAndNestsEachError) {
  loopback_pair p = make_pair(kind::refuse, kind::refuse);
  aw::run([&]() -> aw::task<> {
    const std::string port = std::to_string(p.port);
    try {
      co_await aw::net::connect_tcp("localhost", p.port);
      ADD_FAILURE() << "connected";
    } catch (const aw::net::connection_refused& e) {
      EXPECT_EQ(e.address(), "[::1]:" + port + ", 127.0.0.1:" + port);
      try {
        std::rethrow_if_nested(e);
        ADD_FAILURE() << "nothing nested";
      } catch (const aw::exception_group& g) {
        EXPECT_EQ(g.exceptions().size(), 2u);
        if (g.exceptions().size() != 2) co_return;
        try {
          std::rethrow_exception(g.exceptions()[1]);
        } catch (const aw::net::connection_refused& second) {
          EXPECT_EQ(second.address(), "127.0.0.1:" + port);
        }
      }
    }
  });
}

TEST(NetConnect, HappyEyeballsFallsBackFromARefusedIpv6AtOnce) {
  loopback_pair p = make_pair(kind::refuse, kind::listen);
  aw::run([&]() -> aw::task<> {
    // A day's delay: only the refusal can have started the IPv4 attempt.
    aw::net::connect_options o = with_delay(24h);
    tcp_stream c = co_await aw::net::connect_tcp("localhost", p.port, o);
    EXPECT_EQ(c.remote_address(), socket_address::ip("127.0.0.1", p.port));
  });
}

TEST(NetConnect, HappyEyeballsFallsBackFromAnIpv6ListenerThatNeverAccepts) {
  loopback_pair p = make_pair(kind::full, kind::listen);
  aw::run([&]() -> aw::task<> {
    const std::size_t fds_before = open_fds();  // the loop's own included
    // The ::1 attempt hangs (a day's delay, a deadline: it is still waiting) ...
    aw::net::connect_options patient = with_delay(24h);
    bool connected = co_await aw::move_on_after(50ms, [&]() -> aw::task<> { co_await aw::net::connect_tcp("localhost", p.port, patient); });
    EXPECT_FALSE(connected);
    // ... so after the delay, 127.0.0.1 is tried beside it and wins.
    aw::net::connect_options o = with_delay(10ms);
    tcp_stream c = co_await aw::net::connect_tcp("localhost", p.port, o);
    EXPECT_EQ(c.remote_address(), socket_address::ip("127.0.0.1", p.port));
    EXPECT_EQ(open_fds(), fds_before + 1);  // the losing attempt's socket was closed
  });
}

TEST(NetConnect, CancellingAConnectLeavesNoSocket) {
  loopback_pair p = make_pair(kind::full, kind::full);
  aw::run([&]() -> aw::task<> {
    const std::size_t fds_before = open_fds();  // the loop's own included
    // One address, its connect waiting.
    bool connected = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await aw::net::connect_tcp("::1", p.port); });
    EXPECT_FALSE(connected);
    // Two addresses: the first attempt waiting, the second not started (the delay).
    aw::net::connect_options slow = with_delay(24h);
    connected = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await aw::net::connect_tcp("localhost", p.port, slow); });
    EXPECT_FALSE(connected);
    // Two attempts waiting.
    aw::net::connect_options fast = with_delay(1ms);
    connected = co_await aw::move_on_after(30ms, [&]() -> aw::task<> { co_await aw::net::connect_tcp("localhost", p.port, fast); });
    EXPECT_FALSE(connected);
    // Already cancelled: nothing starts.
    aw::cancel_scope scope;
    scope.cancel();
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::net::connect_tcp("127.0.0.1", p.port);
      ADD_FAILURE() << "connected in a cancelled scope";
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(open_fds(), fds_before);
  });
}

// A name other than localhost goes through aw::net::getaddrinfo: /etc/hosts first. The
// test takes a name /etc/hosts maps to 127.0.0.1 (every Debian machine has its host name
// there); names that do not exist are the resolver's tests, against a DNS server of their own.
TEST(NetConnect, NamesAreResolvedThroughTheResolver) {
  std::string name;
  std::ifstream hosts("/etc/hosts");
  for (std::string line; name.empty() && std::getline(hosts, line);) {
    std::istringstream in(line);
    std::string addr, n;
    if (!(in >> addr) || addr != "127.0.0.1") continue;
    while (in >> n)
      if (n.find("localhost") == std::string::npos) {
        name = n;
        break;
      }
  }
  if (name.empty()) GTEST_SKIP() << "/etc/hosts maps no name but localhost to 127.0.0.1";
  aw::run([&]() -> aw::task<> {
    aw::net::tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    tcp_stream c = co_await aw::net::connect_tcp(name, l.local_address().port());
    EXPECT_EQ(c.remote_address(), l.local_address());
  });
}

TEST(NetConnect, ConnectUnixToAPathAndAnAbstractName) {
  std::filesystem::create_directories(AW_NET_SCRATCH);
  const std::string path = std::string(AW_NET_SCRATCH) + "/connect.sock";
  const std::string abstract = std::string("\0aw-net-connect-", 16) + std::to_string(::getpid());
  aw::run([&]() -> aw::task<> {
    for (const std::string& where : {path, abstract}) {
      aw::net::unix_listener l = co_await aw::net::create_unix_listener(where);
      unix_stream c = co_await aw::net::connect_unix(where);
      unix_stream s = co_await l.accept();
      EXPECT_EQ(c.remote_address(), socket_address::unix_path(where));
      co_await s.send("unix");
      EXPECT_EQ(co_await c.receive(), "unix");
    }
    // The listener is gone, its file is not: refused. No file: not found.
    try {
      co_await aw::net::connect_unix(path);
      ADD_FAILURE() << "connected";
    } catch (const aw::net::connection_refused& e) {
      EXPECT_EQ(e.address(), path);
    }
    ::unlink(path.c_str());
    try {
      co_await aw::net::connect_unix(path);
      ADD_FAILURE() << "connected";
    } catch (const aw::net::error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    }
  });
}

TEST(NetConnect, ConnectUnixWaitsWhileTheListenersQueueIsFull) {
  const std::string name = std::string("\0aw-net-full-", 13) + std::to_string(::getpid());
  aw::run([&]() -> aw::task<> {
    aw::net::listener_options o;
    o.backlog = 0;  // one connection fills the queue
    aw::net::unix_listener l = co_await aw::net::create_unix_listener(name, o);
    unix_stream first = co_await aw::net::connect_unix(name);
    bool connected = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await aw::net::connect_unix(name); });
    EXPECT_FALSE(connected);  // waited, and was cancelled
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        unix_stream second = co_await aw::net::connect_unix(name);
        co_await second.send("made room");
      });
      co_await aw::sleep(10ms);
      unix_stream s1 = co_await l.accept();  // room for the second
      unix_stream s2 = co_await l.accept();
      EXPECT_EQ(co_await s2.receive(), "made room");
    });
  });
}

TEST(NetResolve, NumericLocalhostAndFamilies) {
  using aw::net::detail::resolve_for_connect;
  aw::run([&]() -> aw::task<> {
    auto v = co_await resolve_for_connect("127.0.0.1", 80, AF_UNSPEC);
    EXPECT_EQ(v, std::vector<socket_address>{socket_address::ip("127.0.0.1", 80)});
    v = co_await resolve_for_connect("LocalHost.", 80, AF_UNSPEC);
    EXPECT_EQ(v, (std::vector<socket_address>{socket_address::ip("::1", 80), socket_address::ip("127.0.0.1", 80)}));
    v = co_await resolve_for_connect("localhost", 80, AF_INET);
    EXPECT_EQ(v, std::vector<socket_address>{socket_address::ip("127.0.0.1", 80)});
    try {
      co_await resolve_for_connect("::1", 80, AF_INET);
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found& e) {
      EXPECT_EQ(e.code().value(), ARES_EBADFAMILY);  // a numeric host of the other family
    }
  });
}

TEST(NetResolve, InterleavesFamiliesIpv6First) {
  auto a4 = [](int i) { return socket_address::ip("10.0.0." + std::to_string(i), 1); };
  auto a6 = [](int i) { return socket_address::ip("fd00::" + std::to_string(i), 1); };
  auto out = aw::net::detail::interleave_families({a4(1), a4(2), a4(3), a6(1), a6(2)});
  EXPECT_EQ(out, (std::vector<socket_address>{a6(1), a4(1), a6(2), a4(2), a4(3)}));
}

}  // namespace
