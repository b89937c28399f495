// aw::net::connect_tls: connect_tcp and the TLS handshake in one call, against a
// tls_listener on loopback with certificates the openssl CLI makes when the suite starts.
#include "net_test.hpp"
#include "tls_common.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/net/connect.hpp>
#include <aw/net/listener.hpp>

#include <openssl/x509_vfy.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using namespace aw_tls_test;
using namespace std::chrono_literals;

class ConnectTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates::make(); }
  static void TearDownTestSuite() { certificates::remove(); }
};

// Runs an echo server (tls_listener over a TCP listener on 127.0.0.1 with `ctx`) beside
// client(port), then stops it. The SNI each handshake carried goes to `sni`.
template <class Client>
void with_tls_server(net::tls_context ctx, std::string& sni, Client client) {
  run_reporting([&]() -> aw::task<> {
    net::tcp_listener tcp = co_await net::create_tcp_listener("127.0.0.1", 0);
    const std::uint16_t port = tcp.local_address().port();
    net::tls_listener<net::tcp_listener> tls(std::move(tcp), ctx);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await tls.serve([&](net::tls_stream& s) -> aw::task<> {
          sni = s.server_hostname();
          std::string m = co_await s.receive();
          co_await s.send(m);
        });
      });
      co_await client(port);
      tg.cancel();
    });
    co_await tls.aclose();
  });
}

TEST_F(ConnectTls, HandshakesWithTheHostAsServerName) {
  std::string sni, reply, peer;
  with_tls_server(server_context(), sni, [&](std::uint16_t port) -> aw::task<> {
    net::tls_connect_options o;
    o.tls.context = client_context();
    net::tls_stream s = co_await net::connect_tls("localhost", port, o);
    EXPECT_FALSE(s.server_side());
    EXPECT_EQ(s.server_hostname(), "localhost");  // the host given, as anyio's tls_hostname default
    EXPECT_NE(s.transport_as<net::tcp_stream>(), nullptr);
    peer = s.peer_certificate_subject();
    co_await s.send("ping");
    reply = co_await s.receive();
    co_await s.aclose();
  });
  EXPECT_EQ(reply, "ping");
  EXPECT_EQ(sni, "localhost");
  EXPECT_EQ(peer, "CN=localhost");
}

TEST_F(ConnectTls, AnIpAddressIsCheckedButNotSentAsSni) {
  std::string sni = "unset", reply;
  with_tls_server(server_context(), sni, [&](std::uint16_t port) -> aw::task<> {
    net::tls_connect_options o;
    o.tls.context = client_context();
    net::tls_stream s = co_await net::connect_tls("127.0.0.1", port, o);  // the certificate names IP:127.0.0.1
    co_await s.send("by address");
    reply = co_await s.receive();
    co_await s.aclose();
  });
  EXPECT_EQ(reply, "by address");
  EXPECT_EQ(sni, "");  // RFC 6066: no SNI for an address
}

TEST_F(ConnectTls, TheServerHostnameOptionIsTheNameCheckedAndSent) {
  std::string sni, reply;
  with_tls_server(server_context(), sni, [&](std::uint16_t port) -> aw::task<> {
    net::tls_connect_options o;
    o.tls.context = client_context();
    o.tls.server_hostname = "localhost";  // connecting by address, verifying by name
    net::tls_stream s = co_await net::connect_tls("127.0.0.1", port, o);
    co_await s.send("by name");
    reply = co_await s.receive();
    co_await s.aclose();
    o.tls.server_hostname = "example.com";  // a name the certificate does not carry
    try {
      (void)co_await net::connect_tls("127.0.0.1", port, o);
      ADD_FAILURE() << "the handshake succeeded";
    } catch (const net::tls_error& e) {
      EXPECT_EQ(e.verify_result(), X509_V_ERR_HOSTNAME_MISMATCH) << e.what();
      EXPECT_EQ(e.address(), "example.com");
    }
  });
  EXPECT_EQ(reply, "by name");
  EXPECT_EQ(sni, "localhost");
}

TEST_F(ConnectTls, VerificationFailuresAreTlsErrors) {
  std::string sni;
  with_tls_server(server_context("self"), sni, [&](std::uint16_t port) -> aw::task<> {
    net::tls_connect_options o;
    o.tls.context = client_context();  // trusts the test CA, which did not sign self.pem
    try {
      (void)co_await net::connect_tls("localhost", port, o);
      ADD_FAILURE() << "the handshake succeeded";
    } catch (const net::tls_error& e) {
      EXPECT_EQ(e.verify_result(), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) << e.what();
      EXPECT_EQ(e.address(), "localhost");
    }
  });
  with_tls_server(server_context(), sni, [&](std::uint16_t port) -> aw::task<> {
    try {
      (void)co_await net::connect_tls("localhost", port);  // the system's CAs only
      ADD_FAILURE() << "the handshake succeeded";
    } catch (const net::tls_error& e) {
      EXPECT_EQ(e.verify_result(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) << e.what();
    }
  });
}

TEST_F(ConnectTls, ARefusedConnectionIsConnectTcpsError) {
  int l = net_test::listen_loopback(AF_INET);
  const std::uint16_t port = net_test::port_of(l);
  ::close(l);  // nobody listens there now
  run_reporting([&]() -> aw::task<> {
    EXPECT_THROW((void)co_await net::connect_tls("127.0.0.1", port), net::connection_refused);
    co_return;
  });
}

TEST_F(ConnectTls, CancellingTheHandshakeClosesTheSocket) {
  // A listener that never accepts: the kernel completes the connection from its queue, and
  // nobody answers the ClientHello; the handshake would wait for ever.
  int l = net_test::listen_loopback(AF_INET);
  const std::uint16_t port = net_test::port_of(l);
  bool connected = true;
  run_reporting([&]() -> aw::task<> {
    net::tls_connect_options o;
    o.tls.context = client_context();
    auto r = co_await aw::move_on_after(20ms, [&] { return net::connect_tls("127.0.0.1", port, o); });
    connected = r.has_value();
  });
  EXPECT_FALSE(connected);
  // The cancelled handshake closed its socket: the server side reads the ClientHello and
  // then the end of the stream.
  int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(s, 0);
  char buf[4096];
  ssize_t n = ::recv(s, buf, sizeof buf, 0);
  EXPECT_GT(n, 0);
  while (n > 0) n = ::recv(s, buf, sizeof buf, 0);
  EXPECT_EQ(n, 0);
  ::close(s);
  ::close(l);
}

}  // namespace
