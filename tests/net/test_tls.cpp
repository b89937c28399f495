// aw::net::tls_stream: handshakes, verification, ALPN, client certificates and the ways a
// TLS stream ends, over a socketpair and over loopback TCP, with certificates the openssl CLI
// makes when the suite starts.
#include "tls_common.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/memory_channel.hpp>
#include <aw/sleep.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace aw_tls_test;
using namespace std::chrono_literals;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates::make(); }
  static void TearDownTestSuite() { certificates::remove(); }
};

// Echoes one message, then closes with close_notify.
const side echo_once = [](net::tls_stream& s) -> aw::task<> {
  std::string m = co_await s.receive();
  co_await s.send(m);
  co_await s.aclose();
};

TEST_F(Tls, HandshakeAndEchoWithTheCa) {
  std::string server_sni, server_peer, client_peer, version, cipher;
  bool server_is_server = false, client_is_server = true;
  side server = [&](net::tls_stream& s) -> aw::task<> {
    server_sni = s.server_hostname();
    server_peer = s.peer_certificate();
    server_is_server = s.server_side();
    std::string m = co_await s.receive();
    std::string reply = "echo: " + m;
    co_await s.send(reply);
    co_await s.aclose();
  };
  std::string reply;
  side client = [&](net::tls_stream& s) -> aw::task<> {
    client_peer = s.peer_certificate_subject();
    client_is_server = s.server_side();
    version = s.tls_version();
    cipher = s.cipher();
    co_await s.send("ping");
    reply = co_await s.receive();
    EXPECT_EQ(co_await s.receive_into(std::span<char>()), 0u);
    char buf[16];
    EXPECT_EQ(co_await s.receive_into(buf), 0u);  // close_notify: the end, every time
    EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
    EXPECT_NE(s.transport_as<aw::byte_stream>(), nullptr);
    co_await s.aclose();
    EXPECT_FALSE(s.is_open());
    EXPECT_THROW(co_await s.send("x"), aw::closed_resource_error);
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "echo: ping");
  EXPECT_EQ(server_sni, "localhost");
  EXPECT_TRUE(server_peer.empty());  // no client certificate asked for
  EXPECT_EQ(client_peer, "CN=localhost");
  EXPECT_TRUE(server_is_server);
  EXPECT_FALSE(client_is_server);
  EXPECT_EQ(version, "TLSv1.3");
  EXPECT_FALSE(cipher.empty());
}

TEST_F(Tls, OverTcpCheckingAnIpAddress) {
  std::string reply;
  side client = [&](net::tls_stream& s) -> aw::task<> {
    co_await s.send("over tcp");
    reply = co_await s.receive();
    co_await s.aclose();
  };
  auto r = run_pair(tcp_pair(), server_options(), client_options(client_context(), "127.0.0.1"), echo_once, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "over tcp");
}

TEST_F(Tls, TheDefaultContextRejectsASelfSignedCertificate) {
  net::tls_options co;  // no context: the system's CAs, verification and host name checks
  co.server_hostname = "localhost";
  side never = [](net::tls_stream&) -> aw::task<> {
    ADD_FAILURE() << "the handshake succeeded";
    co_return;
  };
  auto r = run_pair(unix_pair(), server_options(server_context("self")), co, never, never);
  expect_error<net::tls_error>(r.client, [](const net::tls_error& e) {
    EXPECT_EQ(e.verify_result(), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    EXPECT_EQ(e.address(), "localhost");
    EXPECT_STREQ(e.code().category().name(), "openssl");
    EXPECT_NE(std::string(e.what()).find("self-signed"), std::string::npos) << e.what();
  });
  // The client's alert reached the server: it fails with a TLS error, not a bare close.
  expect_error<net::tls_error>(r.server, [](const net::tls_error& e) { EXPECT_EQ(e.verify_result(), X509_V_OK); });
}

TEST_F(Tls, TheDefaultContextDoesNotKnowTheTestCa) {
  net::tls_options co;
  co.server_hostname = "localhost";
  side never = [](net::tls_stream&) -> aw::task<> { co_return; };
  auto r = run_pair(unix_pair(), server_options(), co, never, never);
  expect_error<net::tls_error>(
      r.client, [](const net::tls_error& e) { EXPECT_EQ(e.verify_result(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) << e.what(); });
}

TEST_F(Tls, AWrongHostNameFails) {
  side never = [](net::tls_stream&) -> aw::task<> { co_return; };
  auto r = run_pair(unix_pair(), server_options(), client_options(client_context(), "example.com"), never, never);
  expect_error<net::tls_error>(r.client, [](const net::tls_error& e) {
    EXPECT_EQ(e.verify_result(), X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(e.address(), "example.com");
    EXPECT_NE(std::string(e.what()).find("example.com"), std::string::npos) << e.what();
  });
  r = run_pair(unix_pair(), server_options(), client_options(client_context(), "127.0.0.2"), never, never);
  expect_error<net::tls_error>(r.client, [](const net::tls_error& e) { EXPECT_EQ(e.verify_result(), X509_V_ERR_IP_ADDRESS_MISMATCH); });
}

TEST_F(Tls, HostNameChecksNeedAServerHostname) {
  run_reporting([]() -> aw::task<> {
    auto p = unix_pair();
    net::tls_options co;
    co.context = client_context();
    EXPECT_THROW(co_await net::tls_stream::wrap(std::move(p.client), co), std::invalid_argument);
    // The failed wrap closed its transport: the other end reads the end of the stream.
    EXPECT_EQ(co_await p.server.read_all(), "");
  });
  auto ctx = net::tls_context::client();
  EXPECT_THROW(ctx.set_verify_mode(net::tls_verify_mode::none), std::invalid_argument);  // Python's ValueError
}

TEST_F(Tls, NoVerificationAcceptsAnyCertificate) {
  auto ctx = net::tls_context::client();
  ctx.set_check_hostname(false).set_verify_mode(net::tls_verify_mode::none);
  EXPECT_EQ(ctx.verify_mode(), net::tls_verify_mode::none);
  std::string reply;
  side client = [&](net::tls_stream& s) -> aw::task<> {
    co_await s.send("unchecked");
    reply = co_await s.receive();
  };
  auto r = run_pair(unix_pair(), server_options(server_context("self")), client_options(ctx, ""), echo_once, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "unchecked");
}

TEST_F(Tls, AlpnNegotiatesInTheServersOrder) {
  struct result {
    std::string server, client;
  };
  auto negotiate = [](std::vector<std::string> server_protocols, std::vector<std::string> client_protocols, bool per_stream) {
    auto sctx = server_context();
    sctx.set_alpn_protocols(server_protocols);
    auto co = client_options();
    if (per_stream)
      co.alpn_protocols = client_protocols;
    else
      co.context.set_alpn_protocols(client_protocols);
    result res;
    side server = [&](net::tls_stream& s) -> aw::task<> {
      res.server = s.alpn_protocol();
      co_return;
    };
    side client = [&](net::tls_stream& s) -> aw::task<> {
      res.client = s.alpn_protocol();
      co_return;
    };
    auto r = run_pair(unix_pair(), server_options(sctx), co, server, client);
    EXPECT_FALSE(r.server) << what(r.server);
    EXPECT_FALSE(r.client) << what(r.client);
    return res;
  };
  auto a = negotiate({"h2", "http/1.1"}, {"http/1.1"}, false);
  EXPECT_EQ(a.server, "http/1.1");
  EXPECT_EQ(a.client, "http/1.1");
  auto b = negotiate({"h2", "http/1.1"}, {"http/1.1", "h2"}, true);
  EXPECT_EQ(b.server, "h2");
  EXPECT_EQ(b.client, "h2");
  auto c = negotiate({"h2"}, {"spdy/3"}, false);  // nothing in common: no ALPN, no failure
  EXPECT_EQ(c.server, "");
  EXPECT_EQ(c.client, "");
  EXPECT_THROW(net::tls_context::client().set_alpn_protocols({""}), std::invalid_argument);
}

net::tls_context requiring_client_certificates() {
  auto ctx = server_context();
  ctx.load_verify_locations(certificates::file("ca.pem")).set_verify_mode(net::tls_verify_mode::required);
  return ctx;
}

TEST_F(Tls, AServerRequiringClientCertificatesRefusesAClientWithout) {
  // TLS 1.3: the client's handshake ends before the server checks; the server's alert
  // reaches it at its first receive.
  side client = [](net::tls_stream& s) -> aw::task<> { co_await s.receive(); };
  side never = [](net::tls_stream&) -> aw::task<> { co_return; };
  auto r = run_pair(unix_pair(), server_options(requiring_client_certificates()), client_options(), never, client);
  expect_error<net::tls_error>(r.server, [](const net::tls_error& e) {
    EXPECT_NE(std::string(e.what()).find("peer did not return a certificate"), std::string::npos) << e.what();
  });
  expect_error<net::tls_error>(r.client, [](const net::tls_error& e) {
    EXPECT_NE(std::string(e.what()).find("certificate required"), std::string::npos) << e.what();
  });
}

TEST_F(Tls, AServerRequiringClientCertificatesAcceptsOneSignedByItsCa) {
  std::string subject, pem, der;
  side server = [&](net::tls_stream& s) -> aw::task<> {
    subject = s.peer_certificate_subject();
    pem = s.peer_certificate();
    der = s.peer_certificate_binary();
    co_await echo_once(s);
  };
  std::string reply;
  side client = [&](net::tls_stream& s) -> aw::task<> {
    co_await s.send("with a certificate");
    reply = co_await s.receive();
  };
  auto cctx = client_context();
  cctx.load_cert_chain(certificates::file("client.pem"), certificates::file("client-key.pem"));
  auto r = run_pair(unix_pair(), server_options(requiring_client_certificates()), client_options(cctx), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "with a certificate");
  EXPECT_EQ(subject, "CN=aw test client");
  EXPECT_EQ(pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u) << pem;
  EXPECT_FALSE(der.empty());
}

TEST_F(Tls, AServerRequiringClientCertificatesRefusesOneItsCaDidNotSign) {
  auto cctx = client_context();
  cctx.load_cert_chain(certificates::file("self.pem"), certificates::file("self-key.pem"));
  side client = [](net::tls_stream& s) -> aw::task<> { co_await s.receive(); };
  side never = [](net::tls_stream&) -> aw::task<> { co_return; };
  auto r = run_pair(unix_pair(), server_options(requiring_client_certificates()), client_options(cctx), never, client);
  expect_error<net::tls_error>(r.server,
                               [](const net::tls_error& e) { EXPECT_EQ(e.verify_result(), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT); });
  expect_error<net::tls_error>(r.client, [](const net::tls_error&) {});
}

// The server closes its transport without close_notify (standard_compatible = false).
void ragged_close(transport_pair p, bool client_standard_compatible) {
  net::tls_options so = server_options();
  so.standard_compatible = false;
  net::tls_options co = client_options();
  co.standard_compatible = client_standard_compatible;
  side server = [](net::tls_stream& s) -> aw::task<> {
    co_await s.send("last words");
    co_await s.aclose();
  };
  side client = [&](net::tls_stream& s) -> aw::task<> {
    EXPECT_EQ(co_await s.receive(), "last words");
    if (client_standard_compatible) {
      try {
        co_await s.receive();
        ADD_FAILURE() << "no error at an end without close_notify";
      } catch (const aw::broken_resource_error& e) {
        try {
          std::rethrow_if_nested(e);
          ADD_FAILURE() << "no cause nested";
        } catch (const net::tls_error& cause) {
          EXPECT_NE(std::string(cause.what()).find("unexpected eof"), std::string::npos) << cause.what();
        }
      }
      EXPECT_THROW(co_await s.receive(), aw::broken_resource_error);
    } else {
      EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
      char buf[8];
      EXPECT_EQ(co_await s.receive_into(buf), 0u);
    }
    co_await s.aclose();
  };
  auto r = run_pair(std::move(p), so, co, server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, APeerClosingWithoutCloseNotifyBreaksAStandardCompatibleStream) {
  ragged_close(unix_pair(), true);
  ragged_close(tcp_pair(), true);
}

TEST_F(Tls, APeerClosingWithoutCloseNotifyEndsAStreamThatIsNotStandardCompatible) {
  ragged_close(unix_pair(), false);
  ragged_close(tcp_pair(), false);
}

TEST_F(Tls, LeavingAsyncWithByAnExceptionSendsNoCloseNotify) {
  side server = [](net::tls_stream& s) -> aw::task<> {
    EXPECT_EQ(co_await s.receive(), "half");
    EXPECT_THROW(co_await s.receive(), aw::broken_resource_error);  // not a clean end
  };
  side client = [](net::tls_stream& s) -> aw::task<> {
    try {
      co_await aw::async_with(s, [](net::tls_stream& s) -> aw::task<> {
        co_await s.send("half");
        throw std::runtime_error("the body failed");
      });
    } catch (const std::runtime_error&) {
    }
    EXPECT_FALSE(s.is_open());
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, CloseAfterThePeerLeftIsNotAnError) {
  side server = [](net::tls_stream& s) -> aw::task<> { co_await s.aclose(); };
  side client = [](net::tls_stream& s) -> aw::task<> {
    EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
    co_await aw::sleep(10ms);  // the server's socket is closed by now: our close_notify meets EPIPE
    co_await s.aclose();
    co_await s.aclose();  // idempotent
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, SendEofIsAHalfCloseOnTls13) {
  std::string reply;
  side server = [](net::tls_stream& s) -> aw::task<> {
    std::string request;
    try {
      for (;;) request += co_await s.receive();
    } catch (const aw::end_of_stream&) {
    }
    std::string answer = "got " + request;
    co_await s.send(answer);
    co_await s.aclose();
  };
  side client = [&](net::tls_stream& s) -> aw::task<> {
    co_await s.send("request");
    co_await s.send_eof();
    EXPECT_THROW(co_await s.send("more"), aw::closed_resource_error);
    reply = co_await s.receive();
    EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
    co_await s.aclose();
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "got request");
}

TEST_F(Tls, Tls12WorksAndHasNoHalfClose) {
  auto sctx = server_context();
  sctx.set_maximum_version(net::tls_version::tls1_2);
  std::string version;
  side client = [&](net::tls_stream& s) -> aw::task<> {
    version = s.tls_version();
    EXPECT_THROW(co_await s.send_eof(), std::logic_error);
    co_await s.send("twelve");
    EXPECT_EQ(co_await s.receive(), "twelve");
    co_await s.aclose();
  };
  auto r = run_pair(unix_pair(), server_options(sctx), client_options(), echo_once, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(version, "TLSv1.2");
}

char pattern(std::size_t i) { return static_cast<char>(i % 251); }

// `total` bytes each way at once: both ends send and receive concurrently, so each side's
// sends wait for the other's receives, through full socket buffers and full rings.
void bulk_both_ways(transport_pair p, std::size_t total) {
  auto both = [total](net::tls_stream& s) -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        std::string chunk(300000, '\0');
        for (std::size_t sent = 0; sent < total;) {
          std::size_t n = std::min(chunk.size(), total - sent);
          for (std::size_t i = 0; i < n; ++i) chunk[i] = pattern(sent + i);
          co_await s.send(std::string_view(chunk.data(), n));
          sent += n;
        }
      });
      std::vector<char> buf(65536);
      std::size_t got = 0;
      bool intact = true;
      while (got < total) {
        std::size_t n = co_await s.receive_into(buf);
        if (n == 0) break;
        for (std::size_t i = 0; i < n; ++i) intact = intact && buf[i] == pattern(got + i);
        got += n;
      }
      EXPECT_EQ(got, total);
      EXPECT_TRUE(intact);
    });
  };
  side server = [&](net::tls_stream& s) -> aw::task<> {
    co_await both(s);
    co_await s.aclose();
  };
  side client = [&](net::tls_stream& s) -> aw::task<> {
    co_await both(s);
    co_await s.aclose();
  };
  auto r = run_pair(std::move(p), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, SeveralMebibytesBothWaysAtOnce) {
  bulk_both_ways(unix_pair(), 8u << 20);
  bulk_both_ways(tcp_pair(), 8u << 20);
}

TEST_F(Tls, AHandshakeIsCancellable) {
  run_reporting([]() -> aw::task<> {
    // A server that never answers: the client waits for its ServerHello until cancelled.
    auto p = unix_pair();
    net::tls_options co = client_options();
    bool finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
      co_await net::tls_stream::wrap(std::move(p.client), co);
      ADD_FAILURE() << "the handshake finished";
    });
    EXPECT_FALSE(finished);
    // The cancelled wrap closed its transport: the other end reads the ClientHello, then the end.
    EXPECT_FALSE((co_await p.server.read_all()).empty());

    // A client that never speaks: the server waits for its ClientHello until cancelled.
    auto q = unix_pair();
    net::tls_options so = server_options();
    finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await net::tls_stream::wrap(std::move(q.server), so); });
    EXPECT_FALSE(finished);
    EXPECT_EQ(co_await q.client.read_all(), "");
  });
}

TEST_F(Tls, APeerThatLeavesDuringTheHandshake) {
  // anyio: BrokenResourceError when standard_compatible, EndOfStream otherwise.
  for (bool standard : {true, false}) {
    run_reporting([standard]() -> aw::task<> {
      auto p = unix_pair();
      net::tls_options co = client_options();
      co.standard_compatible = standard;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          std::vector<char> hello(4096);
          co_await p.server.receive_into(hello);  // the ClientHello; no answer
          p.server.close();
        });
        if (standard)
          EXPECT_THROW(co_await net::tls_stream::wrap(std::move(p.client), co), aw::broken_resource_error);
        else
          EXPECT_THROW(co_await net::tls_stream::wrap(std::move(p.client), co), aw::end_of_stream);
      });
    });
  }
}

TEST_F(Tls, ACancelledReceiveLosesNothing) {
  aw::event may_send;
  side server = [&](net::tls_stream& s) -> aw::task<> {
    co_await may_send.wait();
    co_await s.send("late");
    EXPECT_EQ(co_await s.receive(), "bye");
    co_await s.aclose();
  };
  side client = [&](net::tls_stream& s) -> aw::task<> {
    auto got = co_await aw::move_on_after(20ms, [&] { return s.receive(); });  // nothing comes
    EXPECT_FALSE(got);
    may_send.set();
    EXPECT_EQ(co_await s.receive(), "late");
    co_await s.send("bye");
    EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, ACancelledSendBreaksTheStream) {
  aw::event cancelled;
  side server = [&](net::tls_stream& s) -> aw::task<> {
    co_await cancelled.wait();  // not reading until then: the client's send fills every buffer
    std::vector<char> buf(65536);
    bool broken = false;
    try {
      while (co_await s.receive_into(buf) != 0) {
      }
    } catch (const aw::broken_resource_error&) {
      broken = true;  // a record cut short, then the end: never a clean end
    }
    EXPECT_TRUE(broken);
  };
  side client = [&](net::tls_stream& s) -> aw::task<> {
    std::string big(16u << 20, 'x');
    EXPECT_FALSE(co_await aw::move_on_after(20ms, [&] { return s.send(big); }));
    cancelled.set();
    EXPECT_THROW(co_await s.send("more"), aw::broken_resource_error);
    co_await s.aclose();  // no close_notify after a record cut short
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
}

TEST_F(Tls, TlsInsideTls) {
  // The inner session runs over the outer stream as over any transport (a TLS proxy's case).
  std::string reply;
  side server = [&](net::tls_stream& outer) -> aw::task<> {
    net::tls_options so = server_options();
    net::tls_stream inner = co_await net::tls_stream::wrap(std::move(outer), so);
    co_await echo_once(inner);
  };
  side client = [&](net::tls_stream& outer) -> aw::task<> {
    net::tls_options co = client_options();
    net::tls_stream inner = co_await net::tls_stream::wrap(std::move(outer), co);
    EXPECT_NE(inner.transport_as<net::tls_stream>(), nullptr);
    co_await inner.send("inside");
    reply = co_await inner.receive();
    EXPECT_THROW(co_await inner.receive(), aw::end_of_stream);
    co_await inner.aclose();
  };
  auto r = run_pair(unix_pair(), server_options(), client_options(), server, client);
  EXPECT_FALSE(r.server) << what(r.server);
  EXPECT_FALSE(r.client) << what(r.client);
  EXPECT_EQ(reply, "inside");
}

TEST_F(Tls, ContextErrorsNameTheFile) {
  try {
    net::tls_context::server(certificates::file("missing.pem"), certificates::file("server-key.pem"));
    ADD_FAILURE() << "no error";
  } catch (const net::tls_error& e) {
    EXPECT_NE(e.address().find("missing.pem"), std::string::npos) << e.what();
  }
  EXPECT_THROW(net::tls_context::server(certificates::file("server.pem"), certificates::file("client-key.pem")), net::tls_error);
  EXPECT_THROW(net::tls_context::client().load_verify_locations(certificates::file("missing.pem")), net::tls_error);
  net::tls_context empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW(empty.set_ciphers("HIGH"), std::logic_error);
}

}  // namespace
