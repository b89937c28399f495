// aw::net::udp_socket and connected_udp_socket over 127.0.0.1 and ::1: datagrams both ways,
// addresses, the errors of an unreachable port, closing, and cancellation of every wait.
#include "net_test.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/udp.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace {

namespace net = aw::net;
using namespace std::chrono_literals;

class Udp : public ::testing::TestWithParam<const char*> {
 protected:
  std::string loopback() const { return GetParam(); }
  net::udp_options bound() const {
    net::udp_options o;
    o.local_host = loopback();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Loopback, Udp, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return std::string(info.param) == "::1" ? "IPv6" : "IPv4"; });

TEST_P(Udp, DatagramsBothWaysWithTheSendersAddress) {
  aw::run([&]() -> aw::task<> {
    net::udp_options o = bound();
    net::udp_socket a = co_await net::create_udp_socket(o);
    net::udp_socket b = co_await net::create_udp_socket(o);
    const net::socket_address a_addr = a.local_address(), b_addr = b.local_address();
    EXPECT_EQ(a_addr.host(), loopback());
    EXPECT_NE(a_addr.port(), 0);
    co_await a.send("hello", b_addr);
    co_await a.sendto("", loopback(), b_addr.port());  // an empty datagram is a datagram
    auto [data, from] = co_await b.receive();
    EXPECT_EQ(data, "hello");
    EXPECT_EQ(from, a_addr);
    auto [empty, from2] = co_await b.receive();
    EXPECT_EQ(empty, "");
    EXPECT_EQ(from2, a_addr);
    co_await b.send(net_test::pattern(60000, 1), from);  // a large datagram arrives whole
    auto [big, from3] = co_await a.receive();
    EXPECT_EQ(big, net_test::pattern(60000, 1));
    EXPECT_EQ(from3, b_addr);
    co_await b.send("truncated", a_addr);
    auto [cut, from4] = co_await a.receive(4);  // the rest of the datagram is dropped, as recvfrom(4)
    EXPECT_EQ(cut, "trun");
    co_await b.send("next", a_addr);
    EXPECT_EQ((co_await a.receive()).first, "next");
  });
}

TEST_P(Udp, ConnectedSocketsTalkToTheirPeerOnly) {
  aw::run([&]() -> aw::task<> {
    net::udp_options o = bound();
    net::udp_socket server = co_await net::create_udp_socket(o);
    const std::uint16_t port = server.local_address().port();
    co_await aw::async_with(co_await net::create_connected_udp_socket(loopback(), port), [&](net::connected_udp_socket& c) -> aw::task<> {
      EXPECT_EQ(c.remote_address(), server.local_address());
      EXPECT_EQ(c.local_address().host(), loopback());
      co_await c.send("ping");
      auto [data, from] = co_await server.receive();
      EXPECT_EQ(data, "ping");
      EXPECT_EQ(from, c.local_address());
      // A stranger's datagram does not reach a connected socket; the peer's does.
      net::udp_socket stranger = co_await net::create_udp_socket(o);
      co_await stranger.send("not for you", from);
      co_await server.send("pong", from);
      EXPECT_EQ(co_await c.receive(), "pong");
    });
  });
}

TEST_P(Udp, ReceiveIntoFillsTheCallersBuffer) {
  aw::run([&]() -> aw::task<> {
    net::udp_socket server = co_await net::create_udp_socket(bound());
    co_await aw::async_with(co_await net::create_connected_udp_socket(loopback(), server.local_address().port()),
                            [&](net::connected_udp_socket& c) -> aw::task<> {
                              char buf[8];
                              net::socket_address from;
                              co_await c.send("ping");
                              EXPECT_EQ(co_await server.receive_into(buf, from), 4u);
                              EXPECT_EQ(std::string(buf, 4), "ping");
                              EXPECT_EQ(from, c.local_address());
                              co_await server.send("a datagram longer than 8 bytes", from);
                              EXPECT_EQ(co_await c.receive_into(buf), 8u);  // cut, the rest dropped
                              EXPECT_EQ(std::string(buf, 8), "a datagr");
                              co_await server.send("", from);
                              EXPECT_EQ(co_await c.receive_into(buf), 0u);  // an empty datagram
                              EXPECT_THROW(co_await c.receive_into(std::span<char>()), std::invalid_argument);
                              EXPECT_THROW(co_await server.receive_into(std::span<char>(), from), std::invalid_argument);
                            });
  });
}

TEST_P(Udp, LocalHostAndPortOfAConnectedSocket) {
  aw::run([&]() -> aw::task<> {
    net::udp_socket server = co_await net::create_udp_socket(bound());
    // A port of our own first: bind it, note it, free it for the connected socket.
    std::uint16_t local_port = 0;
    {
      net::udp_socket probe = co_await net::create_udp_socket(bound());
      local_port = probe.local_address().port();
    }
    net::udp_options o = bound();
    o.local_port = local_port;
    net::connected_udp_socket c = co_await net::create_connected_udp_socket(loopback(), server.local_address().port(), o);
    EXPECT_EQ(c.local_address(), net::socket_address::ip(loopback(), local_port));
    co_await c.send("from a chosen port");
    auto [data, from] = co_await server.receive();
    EXPECT_EQ(from.port(), local_port);
  });
}

TEST_P(Udp, ANobodyListensPortIsConnectionRefusedOnTheNextReceive) {
  aw::run([&]() -> aw::task<> {
    std::uint16_t port = 0;
    {
      net::udp_socket gone = co_await net::create_udp_socket(bound());
      port = gone.local_address().port();
    }
    net::connected_udp_socket c = co_await net::create_connected_udp_socket(loopback(), port);
    co_await c.send("anyone?");  // the kernel answers with ICMP port unreachable
    try {
      (void)co_await c.receive();
      ADD_FAILURE() << "received a datagram";
    } catch (const net::connection_refused& e) {
      EXPECT_EQ(e.address(), c.remote_address().to_string());
      EXPECT_EQ(e.code().value(), ECONNREFUSED);
    }
    // The socket still works: a listener on the port now gets the next datagram.
    net::udp_options o = bound();
    o.local_port = port;
    net::udp_socket now = co_await net::create_udp_socket(o);
    co_await c.send("now?");
    EXPECT_EQ((co_await now.receive()).first, "now?");
  });
}

TEST_P(Udp, ReusePortLetsTwoSocketsBindOnePort) {
  aw::run([&]() -> aw::task<> {
    net::udp_options o = bound();
    o.reuse_port = true;
    net::udp_socket a = co_await net::create_udp_socket(o);
    o.local_port = a.local_address().port();
    net::udp_socket b = co_await net::create_udp_socket(o);
    EXPECT_EQ(b.local_address(), a.local_address());
    EXPECT_EQ(b.get_option(SOL_SOCKET, SO_REUSEPORT), 1);
    o.reuse_port = false;
    try {
      (void)co_await net::create_udp_socket(o);
      ADD_FAILURE() << "bound a used port without SO_REUSEPORT";
    } catch (const net::error& e) {
      EXPECT_EQ(e.code().value(), EADDRINUSE);
      EXPECT_EQ(e.address(), a.local_address().to_string());
    }
  });
}

TEST_P(Udp, CancellingAReceiveTakesNothing) {
  aw::run([&]() -> aw::task<> {
    net::udp_socket u = co_await net::create_udp_socket(bound());
    // Nobody sends: the receive would wait for ever; the test ending proves the cancellation.
    auto r = co_await aw::move_on_after(10ms, [&] { return u.receive(); });
    EXPECT_FALSE(r.has_value());
    net::connected_udp_socket c = co_await net::create_connected_udp_socket(loopback(), u.local_address().port());
    auto rc = co_await aw::move_on_after(10ms, [&] { return c.receive(); });
    EXPECT_FALSE(rc.has_value());
    // A datagram sent after the cancellation is the next receive's: nothing was lost.
    co_await c.send("after");
    EXPECT_EQ((co_await u.receive()).first, "after");
  });
}

TEST_P(Udp, ACancelledSendSendsNothing) {
  aw::run([&]() -> aw::task<> {
    net::udp_socket u = co_await net::create_udp_socket(bound());
    net::connected_udp_socket c = co_await net::create_connected_udp_socket(loopback(), u.local_address().port());
    co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope& s) -> aw::task<> {
      s.cancel();
      EXPECT_THROW(co_await c.send("cancelled"), aw::cancelled);
      EXPECT_THROW(co_await u.send("cancelled", c.local_address()), aw::cancelled);
    });
    co_await c.send("sent");
    EXPECT_EQ((co_await u.receive()).first, "sent");  // not "cancelled": it never left
  });
}

TEST_P(Udp, CloseFromAnotherTaskEndsAWaitingReceive) {
  aw::run([&]() -> aw::task<> {
    net::udp_socket u = co_await net::create_udp_socket(bound());
    net::connected_udp_socket c = co_await net::create_connected_udp_socket(loopback(), u.local_address().port());
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { EXPECT_THROW((void)co_await u.receive(), aw::closed_resource_error); });
      tg.start_soon([&]() -> aw::task<> { EXPECT_THROW((void)co_await c.receive(), aw::closed_resource_error); });
      co_await aw::sleep(5ms);  // let both wait
      u.close();
      c.close();
      EXPECT_FALSE(u.is_open());
      co_return;
    });
    EXPECT_THROW(co_await u.send("x", net::socket_address::ip(loopback(), 9)), aw::closed_resource_error);
    EXPECT_THROW((void)co_await c.receive(), aw::closed_resource_error);
    EXPECT_THROW((void)u.local_address(), aw::closed_resource_error);
  });
}

TEST(UdpOptions, FamilyOrLocalHostIsNeeded) {
  aw::run([&]() -> aw::task<> {
    net::udp_options o;  // named: g++ 12 miscompiles an aggregate temporary in a co_await
    EXPECT_THROW((void)co_await net::create_udp_socket(o), std::invalid_argument);
    o.family = AF_INET6;
    net::udp_socket u = co_await net::create_udp_socket(o);  // every IPv6 address, a free port
    EXPECT_EQ(u.local_address().host(), "::");
    net::udp_socket sender = co_await net::create_udp_socket(o);
    co_await sender.sendto("to the wildcard", "::1", u.local_address().port());
    EXPECT_EQ((co_await u.receive()).first, "to the wildcard");
  });
}

TEST(UdpOptions, LocalHostsFamilyChoosesTheRemoteAddress) {
  aw::run([&]() -> aw::task<> {
    net::udp_options o;
    o.local_host = "127.0.0.1";
    net::udp_socket server = co_await net::create_udp_socket(o);
    net::connected_udp_socket c = co_await net::create_connected_udp_socket("localhost", server.local_address().port(), o);
    EXPECT_EQ(c.remote_address().host(), "127.0.0.1");  // not ::1, which "localhost" gives first
    o.local_host = "::1";                               // no IPv6 address in "127.0.0.1": nothing to connect to
    EXPECT_THROW((void)co_await net::create_connected_udp_socket("127.0.0.1", 9, o), net::host_not_found);
  });
}

}  // namespace
