// Proxies and client certificates. The scripted server is the forward proxy (absolute-form
// requests for http://, CONNECT tunnels for https://) and logs what it carried per
// User-Agent, so each test counts its own requests; nginx on 18444 requires a client
// certificate signed by the CA its fixture generated.
#include <aw/async_with.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include "common.hpp"

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace aw_http_test;

// What the proxy carried for clients that sent User-Agent `ua` (asked directly, not proxied).
nlohmann::json proxied_for(const std::string& ua) {
  nlohmann::json out;
  http::session_options o{.trust_env = false};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::request_options ro{.params = {{"ua", ua}}};
    out = co_await (co_await s.get(scripted + "/proxy-log", std::move(ro))).json();
  });
  return out;
}

// Sets environment variables for its lifetime (the suite's processes run one test each).
class env_guard {
 public:
  explicit env_guard(std::vector<std::pair<std::string, std::string>> vars) {
    for (auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~env_guard() {
    for (auto& [k, v] : saved_) {
      if (v)
        ::setenv(k.c_str(), v->c_str(), 1);
      else
        ::unsetenv(k.c_str());
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

http::session_options via(std::string proxy, std::string ua) {
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem", .proxy = std::move(proxy)};
  o.user_agent = std::move(ua);
  return o;
}

TEST(HttpProxy, TheProxyOptionCarriesHttpRequests) {
  std::string ua = unique_tag("proxy-http");
  with_session(via(scripted, ua), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/small");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), std::string(100, 'a'));
    EXPECT_EQ(r.headers().get("via"), "aw-test-proxy");
    http::request_options o;
    o.body = http::body::text("through");
    auto j = co_await (co_await s.post(scripted + "/echo", std::move(o))).json();  // the proxy forwards the body
    EXPECT_EQ(j["body"], "through");
  });
  auto log = proxied_for(ua);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["kind"], "absolute");
  EXPECT_EQ(log[0]["target"], nginx + "/small");
  EXPECT_EQ(log[1]["target"], scripted + "/echo");
}

TEST(HttpProxy, TheProxyOptionTunnelsHttps) {
  std::string ua = unique_tag("proxy-https");
  with_session(via(scripted, ua), [&](http::session& s) -> aw::task<> {
    for (int i = 0; i < 3; ++i) {
      http::response r = co_await s.get(nginx_tls + "/small");
      EXPECT_EQ(r.status(), 200);
      EXPECT_EQ(r.version(), "HTTP/2");  // ALPN through the tunnel
      EXPECT_FALSE(r.headers().contains("via"));
    }
  });
  auto log = proxied_for(ua);
  ASSERT_EQ(log.size(), 1u);  // one tunnel, kept alive for the three requests
  EXPECT_EQ(log[0]["kind"], "connect");
  EXPECT_EQ(log[0]["target"], "127.0.0.1:18443");
}

TEST(HttpProxy, ARequestCanGoDirect) {
  std::string ua = unique_tag("proxy-direct");
  with_session(via(scripted, ua), [&](http::session& s) -> aw::task<> {
    http::request_options o{.proxy = ""};
    http::response r = co_await s.get(nginx + "/small", std::move(o));
    EXPECT_EQ(r.status(), 200);
    EXPECT_FALSE(r.headers().contains("via"));
  });
  EXPECT_TRUE(proxied_for(ua).empty());
}

TEST(HttpProxy, TheEnvironmentsProxies) {
  env_guard env({{"http_proxy", scripted}, {"https_proxy", scripted}, {"no_proxy", ""}});
  std::string ua = unique_tag("proxy-env");
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem"};
  o.user_agent = ua;
  with_session(o, [&](http::session& s) -> aw::task<> {
    EXPECT_EQ((co_await s.get(nginx + "/small")).headers().get("via"), "aw-test-proxy");
    EXPECT_EQ((co_await s.get(nginx_tls + "/small")).status(), 200);
  });
  auto log = proxied_for(ua);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["kind"], "absolute");
  EXPECT_EQ(log[1]["kind"], "connect");

  // trust_env = false ignores them.
  std::string ua2 = unique_tag("proxy-env-off");
  o.user_agent = ua2;
  o.trust_env = false;
  with_session(o, [&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await s.get(nginx + "/small")).headers().contains("via"));
    EXPECT_EQ((co_await s.get(nginx_tls + "/small")).status(), 200);
  });
  EXPECT_TRUE(proxied_for(ua2).empty());
}

TEST(HttpProxy, NoProxyExemptsHosts) {
  env_guard env({{"http_proxy", scripted}, {"https_proxy", scripted}, {"no_proxy", "example.org,127.0.0.1"}});
  std::string ua = unique_tag("proxy-noproxy");
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem"};
  o.user_agent = ua;
  with_session(o, [&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await s.get(nginx + "/small")).headers().contains("via"));
    EXPECT_EQ((co_await s.get(nginx_tls + "/small")).status(), 200);
  });
  EXPECT_TRUE(proxied_for(ua).empty());

  // An explicit proxy is used for every host, no_proxy or not (aiohttp's proxy=).
  std::string ua2 = unique_tag("proxy-explicit");
  with_session(via(scripted, ua2), [&](http::session& s) -> aw::task<> {
    EXPECT_EQ((co_await s.get(nginx + "/small")).headers().get("via"), "aw-test-proxy");
  });
  EXPECT_EQ(proxied_for(ua2).size(), 1u);
}

TEST(HttpProxy, AnUnreachableProxyIsAConnectError) {
  std::string refused = refused_url();
  with_session(via(refused, "x"), [&](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(nginx + "/small"), http::connect_error);
    EXPECT_THROW(co_await s.get(nginx_tls + "/small"), http::connect_error);
  });
  with_session(via("http://no-such-proxy.invalid:3128", "x"),
               [&](http::session& s) -> aw::task<> { EXPECT_THROW(co_await s.get(nginx + "/small"), http::dns_error); });
}

// ---------------------------------------------------------------------------------------
// Client certificates.

TEST(HttpClientCert, WithTheCertificateTheRequestSucceeds) {
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem"};
  o.client_cert = scratch + "/nginx/client.pem";
  o.client_key = scratch + "/nginx/client-key.pem";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx_mtls + "/small");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), std::string(100, 'a'));
  });
}

TEST(HttpClientCert, WithoutOneNginxAnswers400) {
  with_session({.ca_file = scratch + "/nginx/ca.pem"}, [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx_mtls + "/small");
    EXPECT_EQ(r.status(), 400);
    try {
      r.raise_for_status();
      ADD_FAILURE() << "no error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_NE(e.body_excerpt().find("No required SSL certificate was sent"), std::string::npos) << e.body_excerpt();
    }
  });
}

TEST(HttpClientCert, AnotherCasCertificateIsRefused) {
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem"};
  o.client_cert = scratch + "/nginx/stranger.pem";
  o.client_key = scratch + "/nginx/stranger-key.pem";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx_mtls + "/small");
    EXPECT_EQ(r.status(), 400);
    EXPECT_NE(std::string(r.body()).find("The SSL certificate error"), std::string::npos) << r.body();
  });
}

TEST(HttpClientCert, AMissingOrMismatchedCertificateIsATlsError) {
  http::session_options o{.ca_file = scratch + "/nginx/ca.pem"};
  o.client_cert = scratch + "/nginx/no-such-cert.pem";
  o.client_key = scratch + "/nginx/client-key.pem";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    try {
      co_await s.get(nginx_mtls + "/small");
      ADD_FAILURE() << "no error";
    } catch (const http::tls_error& e) {
      EXPECT_NE(std::string(e.what()).find("no-such-cert.pem"), std::string::npos) << e.what();
    }
  });
  http::session_options m{.ca_file = scratch + "/nginx/ca.pem"};
  m.client_cert = scratch + "/nginx/client.pem";
  m.client_key = scratch + "/nginx/stranger-key.pem";  // not the certificate's key
  with_session(std::move(m), [&](http::session& s) -> aw::task<> { EXPECT_THROW(co_await s.get(nginx_mtls + "/small"), http::tls_error); });
}

}  // namespace
