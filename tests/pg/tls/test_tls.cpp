// TLS against a server started with ssl = on and a certificate made at test time
// (tests/fixtures/postgres/start-tls): sslmode=require encrypts without checking the
// certificate, verify-full checks it against the CA and the host name, and a failed check
// is an aw::pg::connection_error that names the reason libpq gives.
#include <gtest/gtest.h>

#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

namespace {

// The directory of the TLS server's certificates, from the ctest fixture (one variable: a
// list in gtest_discover_tests' ENVIRONMENT property would be split apart).
std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}
std::string port() { return "25435"; }  // tests/pg/CMakeLists.txt
std::string certs() { return env("AW_PG_TLS_CERTS", "/tmp/aw-pg-tls-certs"); }

// The pieces appended one by one (g++ 12 -O3 warns on "literal" + std::string).
std::string join(std::initializer_list<std::string_view> pieces) {
  std::string s;
  for (std::string_view p : pieces) s.append(p);
  return s;
}
std::string dsn(std::initializer_list<std::string_view> pieces) {
  std::string d = join(pieces);
  d += " port=";
  d += port();
  d += " user=postgres dbname=postgres";
  return d;
}

// Connects, and gives whether the session is encrypted (pg_stat_ssl) and its TLS version.
std::string tls_of(const std::string& d) {
  std::string got;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(d), [&](aw::pg::connection& c) -> aw::task<> {
      got = co_await c.fetchval<std::string>(
          "SELECT CASE WHEN ssl THEN version ELSE 'plain' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    });
  });
  return got;
}

// The message of the connection_error that connecting raises ("" when it connects).
std::string refusal(const std::string& d) {
  std::string what;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::pg::connect(d), [](aw::pg::connection&) -> aw::task<> { co_return; });
    } catch (const aw::pg::connection_error& e) {
      what = e.what();
    }
  });
  return what;
}

TEST(PgTls, RequireEncryptsWithoutCheckingTheCertificate) {
  std::string v = tls_of(dsn({"host=127.0.0.1 sslmode=require"}));
  EXPECT_EQ(v.rfind("TLSv1.", 0), 0u) << v;
  // The same server without TLS: the query above tells the two apart.
  EXPECT_EQ(tls_of(dsn({"host=127.0.0.1 sslmode=disable"})), "plain");
}

TEST(PgTls, VerifyFullWithTheCaSucceeds) {
  std::string ca = join({" sslrootcert=", certs(), "/ca.crt"});
  // By name: resolved on the loop, the name kept for the certificate check.
  EXPECT_EQ(tls_of(dsn({"host=localhost sslmode=verify-full", ca})).rfind("TLSv1.", 0), 0u);
  // By address: the certificate names 127.0.0.1 too.
  EXPECT_EQ(tls_of(dsn({"host=127.0.0.1 sslmode=verify-full", ca})).rfind("TLSv1.", 0), 0u);
  // As a URL.
  std::string url = join({"postgresql://postgres@localhost:", port(), "/postgres?sslmode=verify-full&sslrootcert=", certs(), "/ca.crt"});
  EXPECT_EQ(tls_of(url).rfind("TLSv1.", 0), 0u);
}

TEST(PgTls, VerifyFullWithAnotherHostNameFails) {
  std::string ca = join({" sslrootcert=", certs(), "/ca.crt"});
  std::string what = refusal(dsn({"hostaddr=127.0.0.1 host=wrong.example sslmode=verify-full", ca}));
  EXPECT_NE(what.find("does not match host name \"wrong.example\""), std::string::npos) << what;
}

TEST(PgTls, VerifyFullWithoutTheCaFails) {
  // A CA that did not sign the server's certificate.
  std::string what = refusal(dsn({"host=127.0.0.1 sslmode=verify-full sslrootcert=", certs(), "/other-ca.crt"}));
  EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
  // No CA file at all.
  what = refusal(dsn({"host=127.0.0.1 sslmode=verify-full sslrootcert=", certs(), "/no-such-ca.crt"}));
  EXPECT_NE(what.find("root certificate file"), std::string::npos) << what;
  EXPECT_NE(what.find("does not exist"), std::string::npos) << what;
  // verify-ca checks the CA but not the name: the wrong name passes, the wrong CA does not.
  std::string ca = join({" sslrootcert=", certs(), "/ca.crt"});
  EXPECT_EQ(tls_of(dsn({"hostaddr=127.0.0.1 host=wrong.example sslmode=verify-ca", ca})).rfind("TLSv1.", 0), 0u);
  what = refusal(dsn({"host=127.0.0.1 sslmode=verify-ca sslrootcert=", certs(), "/other-ca.crt"}));
  EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
}

}  // namespace
