// socket_stream (tcp_stream, unix_stream): receiving, sending, half-close, reset, close,
// cancellation of each wait, and the byte_source/byte_sink and manager protocols. The pairs
// are made with plain blocking calls (net_test.hpp); the suite runs on both backends.
#include "net_test.hpp"

#include <aw/async_with.hpp>
#include <aw/byte_source.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/socket_stream.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>

namespace {

using namespace std::chrono_literals;
using aw::net::tcp_stream;
using aw::net::unix_stream;
using net_test::is_open_fd;
using net_test::pattern;

static_assert(aw::async_byte_receiver<tcp_stream> && aw::async_byte_sender<tcp_stream>);
static_assert(aw::async_byte_receiver<unix_stream> && aw::async_byte_sender<unix_stream>);
static_assert(aw::async_context_manager<tcp_stream> && std::is_same_v<aw::resource_t<tcp_stream>, tcp_stream&>);
static_assert(aw::async_context_manager<unix_stream> && std::is_same_v<aw::resource_t<unix_stream>, unix_stream&>);

// Everything the stream gives until its end.
aw::task<std::string> read_to_end(aw::net::socket_stream& s) {
  std::string out;
  char buf[65536];
  for (;;) {
    std::size_t n = co_await s.receive_into(buf);
    if (n == 0) co_return out;
    out.append(buf, n);
  }
}

TEST(NetStream, SendAndReceive) {
  auto [c, s] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    co_await c.send("hello");
    EXPECT_EQ(co_await s.receive(), "hello");
    co_await s.send("world");
    EXPECT_EQ(co_await c.receive(3), "wor");  // at most max
    EXPECT_EQ(co_await c.receive(), "ld");
  });
}

TEST(NetStream, AddressesOfBothEnds) {
  for (int family : {AF_INET, AF_INET6}) {
    auto [c, s] = net_test::tcp_pair(family);
    EXPECT_EQ(c.remote_address(), s.local_address());
    EXPECT_EQ(s.remote_address(), c.local_address());
    EXPECT_EQ(c.remote_address().family(), family);
    EXPECT_EQ(c.remote_address().host(), family == AF_INET ? "127.0.0.1" : "::1");
  }
}

TEST(NetStream, EndOfStreamRaisesFromReceiveAndIsZeroFromReceiveInto) {
  auto [c, s] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    co_await c.send("last");
    co_await c.send_eof();
    EXPECT_EQ(co_await s.receive(), "last");
    EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
    char buf[8];
    EXPECT_EQ(co_await s.receive_into(buf), 0u);
    EXPECT_EQ(co_await s.receive_into(buf), 0u);  // and stays there
    EXPECT_THROW(co_await s.receive(0), std::invalid_argument);
  });
}

TEST(NetStream, HalfCloseLeavesTheOtherDirectionOpen) {
  auto [c, s] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    co_await c.send("question");
    co_await c.send_eof();
    EXPECT_EQ(co_await read_to_end(s), "question");
    co_await s.send("answer");  // the server's side is still open
    co_await s.send_eof();
    EXPECT_EQ(co_await read_to_end(c), "answer");
    EXPECT_THROW(co_await c.send("more"), aw::broken_resource_error);  // EPIPE: this side was shut down
  });
}

TEST(NetStream, ResetByPeerIsBrokenWithTheErrnoNested) {
  auto [c, s] = net_test::tcp_pair();
  linger lg{1, 0};  // close sends RST
  ASSERT_EQ(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  std::string peer = c.remote_address().to_string();
  s.close();
  aw::run([&]() -> aw::task<> {
    std::exception_ptr e;
    try {
      co_await c.receive();
    } catch (const aw::broken_resource_error&) {
      e = std::current_exception();
    }
    if (!e) {
      ADD_FAILURE() << "no broken_resource_error";
      co_return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const aw::broken_resource_error& b) {
      EXPECT_NE(std::string(b.what()).find(peer), std::string::npos) << b.what();
      try {
        std::rethrow_if_nested(b);
        ADD_FAILURE() << "no nested error";
      } catch (const aw::net::error& n) {
        EXPECT_EQ(n.code(), std::errc::connection_reset);
        EXPECT_EQ(n.address(), peer);
      }
    }
    // Sending after the reset breaks too (EPIPE), and never raises SIGPIPE.
    EXPECT_THROW(co_await c.send("x"), aw::broken_resource_error);
  });
}

TEST(NetStream, SendToAClosedPeerIsBrokenNotSigpipe) {
  auto [a, b] = net_test::unix_pair();
  b.close();
  aw::run([&]() -> aw::task<> { EXPECT_THROW(co_await a.send("x"), aw::broken_resource_error); });
}

TEST(NetStream, LargeTransfersBothWaysAtOnce) {
  const std::size_t n = std::size_t{16} << 20;
  const std::string up = pattern(n, 1), down = pattern(n, 2);
  auto [c, s] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    std::string got_up, got_down;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await c.send(up);
        co_await c.send_eof();
      });
      tg.start_soon([&]() -> aw::task<> {
        co_await s.send(down);
        co_await s.send_eof();
      });
      tg.start_soon([&]() -> aw::task<> { got_up = co_await read_to_end(s); });
      tg.start_soon([&]() -> aw::task<> { got_down = co_await read_to_end(c); });
      co_return;
    });
    EXPECT_TRUE(got_up == up);
    EXPECT_TRUE(got_down == down);
  });
}

TEST(NetStream, UnixPairWorksAndIsUnnamed) {
  auto [a, b] = net_test::unix_pair();
  EXPECT_EQ(a.remote_address().family(), AF_UNIX);
  EXPECT_EQ(a.remote_address().to_string(), "");
  aw::run([&]() -> aw::task<> {
    co_await a.send("over unix");
    EXPECT_EQ(co_await b.receive(), "over unix");
  });
}

TEST(NetStream, CancelledReceiveLosesNothing) {
  auto [a, b] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    // Nothing to receive: the 24 h wait is cancelled by the deadline.
    bool completed = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await a.receive(); });
    EXPECT_FALSE(completed);
    co_await b.send("after");
    EXPECT_EQ(co_await a.receive(), "after");
  });
}

TEST(NetStream, ReceiveInACancelledScopeTakesNothing) {
  auto [a, b] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    co_await b.send("waiting");
    co_await aw::sleep(10ms);  // in a's receive queue by now
    aw::cancel_scope scope;
    scope.cancel();
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await a.receive();
      ADD_FAILURE() << "received in a cancelled scope";
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(co_await a.receive(), "waiting");
  });
}

TEST(NetStream, CancelledSendEnds) {
  auto [a, b] = net_test::tcp_pair();
  const std::string big(std::size_t{32} << 20, 'x');  // more than both socket buffers hold
  aw::run([&]() -> aw::task<> {
    // b never reads: the send waits for room that never comes, until the deadline.
    bool completed = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await a.send(big); });
    EXPECT_FALSE(completed);
    aw::cancel_scope scope;
    scope.cancel();
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await a.send("x"); });
    EXPECT_TRUE(scope.cancelled_caught());
  });
}

TEST(NetStream, CancelledSendEofDoesNothing) {
  auto [a, b] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    scope.cancel();
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await a.send_eof(); });
    EXPECT_TRUE(scope.cancelled_caught());
    co_await a.send("still open");
    EXPECT_EQ(co_await b.receive(), "still open");
  });
}

TEST(NetStream, CloseFromAnotherTaskEndsItsReceiveAndSend) {
  auto [a, b] = net_test::tcp_pair();
  const int fd = a.fd();
  const std::string big(std::size_t{32} << 20, 'x');
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { EXPECT_THROW(co_await a.receive(), aw::closed_resource_error); });
      tg.start_soon([&]() -> aw::task<> { EXPECT_THROW(co_await a.send(big), aw::closed_resource_error); });
      co_await aw::sleep(20ms);  // both wait by now (a never gets data, b never reads)
      EXPECT_TRUE(a.is_open());
      a.close();
      EXPECT_FALSE(a.is_open());
    });
    EXPECT_FALSE(is_open_fd(fd));  // the last of the two closed the descriptor
    EXPECT_EQ(a.fd(), -1);
  });
}

TEST(NetStream, UseAfterCloseIsClosedResourceError) {
  auto [a, b] = net_test::tcp_pair();
  const int fd = a.fd();
  aw::run([&]() -> aw::task<> {
    co_await a.aclose();
    co_await a.aclose();  // idempotent
    EXPECT_FALSE(is_open_fd(fd));
    EXPECT_THROW(co_await a.receive(), aw::closed_resource_error);
    EXPECT_THROW(co_await a.send("x"), aw::closed_resource_error);
    EXPECT_THROW(co_await a.send_eof(), aw::closed_resource_error);
    EXPECT_THROW(a.local_address(), aw::closed_resource_error);
    EXPECT_EQ(co_await read_to_end(b), "");  // the peer saw the end
  });
}

TEST(NetStream, AsyncWithTakesTheStreamAsAPrvalueAndClosesIt) {
  auto [c, s] = net_test::tcp_pair();
  const int fd = c.fd();
  aw::run([&]() -> aw::task<> {
    auto hand_over = [&]() -> aw::task<tcp_stream> { co_return std::move(c); };
    co_await aw::async_with(co_await hand_over(), [&](tcp_stream& st) -> aw::task<> {
      EXPECT_EQ(st.fd(), fd);
      co_await st.send("in the block");
    });
    EXPECT_FALSE(is_open_fd(fd));
    EXPECT_EQ(co_await read_to_end(s), "in the block");
  });
}

TEST(NetStream, IsAByteSourceAndAByteSink) {
  auto [a, b] = net_test::unix_pair();
  aw::run([&]() -> aw::task<> {
    aw::byte_sink sink(a);
    co_await sink.send("through ");
    co_await sink.send("the sink");
    co_await a.send_eof();
    aw::byte_source source(b);
    std::string got;
    char buf[4];
    for (;;) {
      std::size_t n = co_await source.receive_into(buf);
      if (n == 0) break;
      got.append(buf, n);
    }
    EXPECT_EQ(got, "through the sink");
  });
}

TEST(NetStream, SocketOptions) {
  auto [c, s] = net_test::tcp_pair();
  c.set_nodelay(true);
  EXPECT_TRUE(c.nodelay());
  c.set_nodelay(false);
  EXPECT_FALSE(c.nodelay());
  c.set_keep_alive(true);
  EXPECT_TRUE(c.keep_alive());
  EXPECT_EQ(c.get_option(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  c.set_option(SOL_SOCKET, SO_RCVBUF, 1 << 16);
  EXPECT_GE(c.get_option(SOL_SOCKET, SO_RCVBUF), 1 << 16);
  EXPECT_THROW(c.set_option(SOL_SOCKET, -12345, 1), aw::net::error);
}

TEST(NetStream, AdoptingADescriptorThatIsNotConnectedFailsAndLeavesIt) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_THROW(tcp_stream{fd}, aw::net::error);
  EXPECT_TRUE(is_open_fd(fd));  // still the caller's
  ::close(fd);
}

TEST(NetStream, ReleaseGivesTheDescriptorUp) {
  auto [a, b] = net_test::tcp_pair();
  int fd = a.release();
  EXPECT_FALSE(a.is_open());
  EXPECT_TRUE(is_open_fd(fd));
  ::close(fd);
}

}  // namespace
