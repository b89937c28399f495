// The error types of aw::net and the error categories of c-ares, OpenSSL and buffered reading.
#include <aw/net/errors.hpp>

#include <ares.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <utility>

namespace aw::net {
namespace {

std::string compose(const std::string& operation, const std::string& address) {
  return address.empty() ? operation : operation + " " + address;
}

class resolver_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "c-ares"; }
  std::string message(int status) const override {
    // c-ares 1.18 has no text for the service error it defines.
    if (status == ARES_ESERVICE) return "Invalid service name or number";
    return ares_strerror(status);
  }
};

class tls_category_impl : public std::error_category {
 public:
  // The reason strings are loaded on first use; without them messages are bare numbers.
  tls_category_impl() noexcept { OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr); }
  const char* name() const noexcept override { return "openssl"; }
  std::string message(int code) const override {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(code), buf, sizeof buf);
    return buf;
  }
};

class buffered_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "aw::net::buffered"; }
  std::string message(int code) const override {
    switch (code) {
      case 1:
        return "incomplete read";
      case 2:
        return "delimiter not found";
      default:
        return "unknown buffered-reading error";
    }
  }
};

}  // namespace

error::error(std::error_code ec, const std::string& operation, std::string address)
    : std::system_error(ec, compose(operation, address)), address_(std::move(address)) {}

error::error(std::error_code ec, composed what, std::string address) : std::system_error(ec, what.what_arg), address_(std::move(address)) {}

tls_error::tls_error(std::error_code ec, const std::string& operation, std::string address, long verify_result, std::string verify_message)
    : error(ec, composed{compose(operation, address) + (verify_message.empty() ? "" : " (" + verify_message + ")")}, address),
      verify_result_(verify_result),
      verify_message_(std::move(verify_message)) {}

incomplete_read::incomplete_read(const std::string& what) : error(std::error_code(1, buffered_category()), composed{what}, {}) {}

delimiter_not_found::delimiter_not_found(const std::string& what) : error(std::error_code(2, buffered_category()), composed{what}, {}) {}

const std::error_category& resolver_category() noexcept {
  static const resolver_category_impl c;
  return c;
}

const std::error_category& tls_category() noexcept {
  static const tls_category_impl c;
  return c;
}

const std::error_category& buffered_category() noexcept {
  static const buffered_category_impl c;
  return c;
}

}  // namespace aw::net
