// Connecting is bounded in time: a server that accepts the TCP connection and never answers
// (a socket that listens and never accepts: the kernel completes the handshake) makes
// connect() and the pool raise typed timeouts instead of waiting for ever.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "pg_test.hpp"

using namespace std::chrono_literals;

namespace {

// A port where the handshake completes and nothing is ever said.
struct silent_server {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  silent_server() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 16) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
  }
  ~silent_server() { ::close(fd); }
  std::string dsn() const { return "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres"; }
};

TEST(PgConnectTimeout, ConnectGivesUpOnASilentServer) {
  silent_server s;
  ASSERT_NE(s.port, 0);
  aw::run([&]() -> aw::task<> {
    aw::pg::connection_options o;
    o.connect_timeout = 500ms;
    try {
      co_await aw::async_with(aw::pg::connect(s.dsn() + " password=Sekr3tPw", o), [](aw::pg::connection&) -> aw::task<> { co_return; });
      ADD_FAILURE() << "connected to a silent server";
    } catch (const aw::pg::connect_timeout_error& e) {
      EXPECT_EQ(std::string(e.what()).find("Sekr3tPw"), std::string::npos) << e.what();
    }
    // The DSN's connect_timeout alone (libpq's, in seconds), in both forms.
    aw::pg::connection_options unbounded;
    unbounded.connect_timeout = 0ms;
    EXPECT_THROW(co_await aw::async_with(aw::pg::connect(s.dsn() + " connect_timeout=1", unbounded),
                                         [](aw::pg::connection&) -> aw::task<> { co_return; }),
                 aw::pg::connect_timeout_error);
    EXPECT_THROW(
        co_await aw::async_with(
            aw::pg::connect("postgresql://postgres@127.0.0.1:" + std::to_string(s.port) + "/postgres?connect_timeout=2", unbounded),
            [](aw::pg::connection&) -> aw::task<> { co_return; }),
        aw::pg::connect_timeout_error);
    // A connect_timeout error is a connection error.
    EXPECT_THROW(co_await aw::async_with(aw::pg::connect(s.dsn(), o), [](aw::pg::connection&) -> aw::task<> { co_return; }),
                 aw::pg::connection_error);
  });
}

TEST(PgConnectTimeout, PoolAcquireTimeoutCoversConnecting) {
  silent_server s;
  ASSERT_NE(s.port, 0);
  aw::run([&]() -> aw::task<> {
    aw::pg::pool_options po;
    po.min_size = 0;
    po.max_size = 2;
    po.connection.connect_timeout = 0ms;  // only acquire's timeout bounds it
    co_await aw::async_with(aw::pg::create_pool(s.dsn(), po), [&](aw::pg::pool& pool) -> aw::task<> {
      EXPECT_THROW(co_await aw::async_with(pool.acquire(500ms), [](aw::pg::connection&) -> aw::task<> { co_return; }), aw::timeout_error);
      EXPECT_EQ(pool.size(), 0u);
      // Every slot came back: two more attempts each get a slot (and time out).
      EXPECT_THROW(co_await aw::async_with(pool.acquire(200ms), [](aw::pg::connection&) -> aw::task<> { co_return; }), aw::timeout_error);
      EXPECT_THROW(co_await aw::async_with(pool.acquire(200ms), [](aw::pg::connection&) -> aw::task<> { co_return; }), aw::timeout_error);
      EXPECT_EQ(pool.size(), 0u);
    });
    po.connection.connect_timeout = 500ms;
    co_await aw::async_with(aw::pg::create_pool(s.dsn(), po), [&](aw::pg::pool& pool) -> aw::task<> {
      EXPECT_THROW(co_await pool.fetchval<std::int32_t>("SELECT 1"), aw::pg::connect_timeout_error);
      EXPECT_EQ(pool.size(), 0u);
    });
    // Opening the pool's min_size connections is bounded too.
    po.min_size = 1;
    EXPECT_THROW(co_await aw::async_with(aw::pg::create_pool(s.dsn(), po), [](aw::pg::pool&) -> aw::task<> { co_return; }),
                 aw::pg::connect_timeout_error);
  });
}

TEST(PgConnectTimeout, ARealServerConnectsWithinTheTimeouts) {
  aw::run([&]() -> aw::task<> {
    aw::pg::connection_options o;
    o.connect_timeout = 5s;
    co_await aw::async_with(aw::pg::connect(pg_test::dsn() + " connect_timeout=2", o),
                            [](aw::pg::connection& c) -> aw::task<> { EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1); });
  });
}

}  // namespace
