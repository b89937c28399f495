// Helpers of the aw::pg suite: the server's DSN (the ctest fixture sets AW_PG_TEST_DSN) and
// a test body that runs on a fresh connection.
#pragma once

#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstdlib>
#include <string>

namespace pg_test {

inline std::string dsn() {
  const char* d = std::getenv("AW_PG_TEST_DSN");
  return d ? d : "host=127.0.0.1 port=25433 user=postgres dbname=postgres";
}

// A port on 127.0.0.1 that nothing listens on: the kernel picks a free one, and closing the
// socket leaves it refusing connections (a fixed port may be another program's).
inline int refused_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (s >= 0 && ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0) ::close(s);
  return port;
}

// Runs body(conn) on a new connection inside aw::run.
template <class Body>
void with_connection(Body body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> { co_await body(c); });
  });
}

// SELECT $1::type and read it back as T.
template <class T>
aw::task<T> round_trip(aw::pg::connection& c, const char* type, const T& v) {
  co_return co_await c.fetchval<T>(std::string("SELECT $1::") + type, v);
}

}  // namespace pg_test

// gtest's ASSERT_* return from the function, which a coroutine cannot: these co_return.
#define PG_CO_ASSERT_TRUE(c)                       \
  do {                                             \
    if (!(c)) {                                    \
      ADD_FAILURE() << "assertion failed: " << #c; \
      co_return;                                   \
    }                                              \
  } while (0)
#define PG_CO_ASSERT_EQ(a, b)     \
  do {                            \
    EXPECT_EQ(a, b);              \
    if (!((a) == (b))) co_return; \
  } while (0)
