// aw::net's error types: what they say, and the categories of c-ares, OpenSSL and
// buffered-reading codes.
#include <aw/net/errors.hpp>

#include <ares.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace {

TEST(NetErrors, NameTheOperationAndTheAddress) {
  aw::net::connection_refused e(ECONNREFUSED, "connect to", "127.0.0.1:6379");
  EXPECT_EQ(e.code(), std::errc::connection_refused);
  EXPECT_EQ(e.address(), "127.0.0.1:6379");
  EXPECT_EQ(std::string(e.what()), "connect to 127.0.0.1:6379: " + std::generic_category().message(ECONNREFUSED));
  const aw::net::error& root = e;  // every error of the module is an aw::net::error
  EXPECT_EQ(root.address(), "127.0.0.1:6379");
}

TEST(NetErrors, HostNotFoundCarriesTheCaresStatus) {
  aw::net::host_not_found e(std::error_code(ARES_ENOTFOUND, aw::net::resolver_category()), "resolve", "nowhere.invalid");
  EXPECT_EQ(e.host(), "nowhere.invalid");
  EXPECT_STREQ(e.code().category().name(), "c-ares");
  EXPECT_EQ(e.code().message(), ares_strerror(ARES_ENOTFOUND));
  EXPECT_NE(std::string(e.what()).find("nowhere.invalid"), std::string::npos);
}

TEST(NetErrors, TlsErrorCarriesTheVerificationResult) {
  unsigned long code = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED);
  aw::net::tls_error e(std::error_code(static_cast<int>(code), aw::net::tls_category()), "TLS handshake with", "localhost:8443", 18,
                       "self-signed certificate");
  EXPECT_EQ(e.verify_result(), 18);
  EXPECT_EQ(e.verify_message(), "self-signed certificate");
  EXPECT_STREQ(e.code().category().name(), "openssl");
  EXPECT_NE(e.code().message().find("certificate verify failed"), std::string::npos);
  EXPECT_EQ(e.address(), "localhost:8443");
  EXPECT_EQ(std::string(e.what()), "TLS handshake with localhost:8443 (self-signed certificate): " + e.code().message());
}

TEST(NetErrors, BufferedReadingErrorsAreNetErrors) {
  aw::net::incomplete_read r("receive_exactly: the stream ended after 3 of 5 bytes");
  const aw::net::error& root = r;
  EXPECT_EQ(root.code(), std::error_code(1, aw::net::buffered_category()));
  EXPECT_EQ(std::string(r.what()), "receive_exactly: the stream ended after 3 of 5 bytes: incomplete read");
  aw::net::delimiter_not_found d("receive_until: not within 5 bytes");
  EXPECT_EQ(d.code(), std::error_code(2, aw::net::buffered_category()));
  EXPECT_STREQ(d.code().category().name(), "aw::net::buffered");
  EXPECT_EQ(d.code().message(), "delimiter not found");
}

}  // namespace
