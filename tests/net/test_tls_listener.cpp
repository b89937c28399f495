// aw::net::tls_listener over a loopback TCP listener: each connection's handshake in a task
// of its own, failed handshakes reported and closed without stopping the server.
#include "tls_common.hpp"

#include <aw/memory_channel.hpp>

#include <chrono>
#include <string>

namespace {

using namespace aw_tls_test;
using namespace std::chrono_literals;

class TlsListener : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates::make(); }
  static void TearDownTestSuite() { certificates::remove(); }
};

TEST_F(TlsListener, ServesEveryConnectionAndSurvivesABadHandshake) {
  tcp_test_listener l;
  int port = l.port();
  net::tls_listener<tcp_test_listener> tls(std::move(l), server_context());
  int failures = 0;
  std::string failure;
  tls.on_handshake_error = [&](std::exception_ptr e) {
    ++failures;
    failure = what(e);
  };
  run_reporting([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await tls.serve([](net::tls_stream& s) -> aw::task<> {
          std::string m = co_await s.receive();
          co_await s.send(m);
        });
      });
      // Not TLS: that handshake fails, the server closes the connection (OpenSSL sends no
      // alert to what is not TLS) and goes on.
      aw::byte_stream bad = connect_to(port);
      co_await bad.send("GET / HTTP/1.0\r\n\r\n");
      co_await bad.read_all();
      // Two at once: neither handshake waits for the other's handler.
      net::tls_options co = client_options();
      net::tls_stream a = co_await net::tls_stream::wrap(connect_to(port), co);
      net::tls_stream b = co_await net::tls_stream::wrap(connect_to(port), co);
      co_await b.send("to b");
      co_await a.send("to a");
      EXPECT_EQ(co_await b.receive(), "to b");
      EXPECT_EQ(co_await a.receive(), "to a");
      EXPECT_THROW(co_await a.receive(), aw::end_of_stream);  // the handler returned: close_notify
      co_await a.aclose();
      co_await b.aclose();
      tg.cancel();
    });
  });
  EXPECT_EQ(failures, 1);
  EXPECT_NE(failure.find("TLS handshake with a client: "), std::string::npos) << failure;
  EXPECT_NE(failure.find("http request"), std::string::npos) << failure;
}

TEST_F(TlsListener, AClientThatNeverSpeaksTimesOut) {
  tcp_test_listener l;
  int port = l.port();
  net::tls_listener<tcp_test_listener> tls(std::move(l), server_context());
  tls.handshake_timeout = 20ms;
  int timeouts = 0;
  tls.on_handshake_error = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const aw::timeout_error&) {
      ++timeouts;
    } catch (...) {
    }
  };
  run_reporting([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await tls.serve([](net::tls_stream&) -> aw::task<> { co_return; }); });
      aw::byte_stream silent = connect_to(port);
      EXPECT_EQ(co_await silent.read_all(), "");  // closed by the server when its time ran out
      tg.cancel();
    });
  });
  EXPECT_EQ(timeouts, 1);
}

TEST_F(TlsListener, AcceptIsOneConnectionWithItsHandshake) {
  tcp_test_listener l;
  int port = l.port();
  net::tls_listener<tcp_test_listener> tls(std::move(l), server_context(), false);
  EXPECT_FALSE(tls.standard_compatible());
  run_reporting([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        net::tls_options co = client_options();
        net::tls_stream c = co_await net::tls_stream::wrap(connect_to(port), co);
        co_await c.send("accepted");
        co_await c.aclose();
      });
      net::tls_stream s = co_await tls.accept();
      EXPECT_TRUE(s.server_side());
      EXPECT_FALSE(s.standard_compatible());
      EXPECT_EQ(co_await s.receive(), "accepted");
      EXPECT_THROW(co_await s.receive(), aw::end_of_stream);
    });
    co_await tls.aclose();
  });
}

}  // namespace
