// The errors of aw::net, as anyio raises them, each naming the address or host it concerns.
//
//   try {
//     auto s = co_await aw::net::connect_tcp("localhost", 6379);
//   } catch (const aw::net::connection_refused& e) {      // ECONNREFUSED on every address tried
//     std::printf("%s\n", e.what());                      // "connect to 127.0.0.1:6379: Connection refused"
//   } catch (const aw::net::host_not_found& e) {          // the name does not resolve
//     std::printf("%s\n", e.host().c_str());
//   }
//
// - aw::net::error is the root of every error the module raises itself: a std::system_error
//   (code() is the errno, or a c-ares or OpenSSL code in their own categories) with the
//   operation and the address in what().
// - A stream whose peer reset it, or that broke while sending, raises
//   aw::broken_resource_error (anyio's BrokenResourceError) with the aw::net::error that
//   caused it nested (std::rethrow_if_nested reaches it). A receive at the end of the stream
//   raises aw::end_of_stream (anyio's EndOfStream); using a stream after aclose() raises
//   aw::closed_resource_error. Those three are core's, shared with aw::memory_channel.
// - Buffered reading raises incomplete_read (the stream ended before the bytes asked for)
//   and delimiter_not_found (not within max_bytes), anyio's IncompleteRead and
//   DelimiterNotFound, both aw::net::errors.
// Bad arguments raise std::invalid_argument and misuse std::logic_error, as the standard
// library does (Python's ValueError and TypeError): bugs to fix, not conditions to handle.
#pragma once

#include <string>
#include <system_error>

namespace aw::net {

class error : public std::system_error {
 public:
  // `what` reads "<operation> <address>: <message of ec>".
  error(std::error_code ec, const std::string& operation, std::string address);
  error(int errno_value, const std::string& operation, std::string address)
      : error(std::error_code(errno_value, std::generic_category()), operation, std::move(address)) {}
  // The address or host name the failed operation was for ("127.0.0.1:6379", "[::1]:443",
  // a Unix socket path, "example.com"); empty when there is none.
  const std::string& address() const noexcept { return address_; }

 protected:
  // `what` reads "<what_arg>: <message of ec>" (for subclasses that say more than the address).
  struct composed {
    std::string what_arg;
  };
  error(std::error_code ec, composed what, std::string address);

 private:
  std::string address_;
};

// Every address tried refused the connection (ECONNREFUSED).
class connection_refused : public error {
 public:
  using error::error;
};

// Name resolution failed: the name does not exist, or no address of the family asked for.
// code() is in c-ares's category (ares_strerror gives the message).
class host_not_found : public error {
 public:
  using error::error;
  const std::string& host() const noexcept { return address(); }
};

// The TLS handshake or a TLS record failed. code() is OpenSSL's error (ERR_get_error), in
// its own category; verify_result() is the certificate verification result
// (X509_V_OK when verification was not the cause), verify_message() its text, which what()
// gives after the address: "TLS handshake with localhost (self-signed certificate): ...".
class tls_error : public error {
 public:
  tls_error(std::error_code ec, const std::string& operation, std::string address, long verify_result = 0, std::string verify_message = {});
  long verify_result() const noexcept { return verify_result_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_result_;
  std::string verify_message_;
};

// The stream ended before receive_exactly() got every byte asked for (anyio's IncompleteRead).
// code() is buffered_category()'s 1.
class incomplete_read : public error {
 public:
  explicit incomplete_read(const std::string& what);
};

// receive_until() did not find the delimiter within max_bytes (anyio's DelimiterNotFound).
// code() is buffered_category()'s 2.
class delimiter_not_found : public error {
 public:
  explicit delimiter_not_found(const std::string& what);
};

// The categories of c-ares's status codes, of OpenSSL's packed error codes, and of the two
// errors of buffered reading, which have no errno.
const std::error_category& resolver_category() noexcept;
const std::error_category& tls_category() noexcept;
const std::error_category& buffered_category() noexcept;

}  // namespace aw::net
