// The errors aw::http raises: one type per thing a caller may want to handle differently.
//
//   try {
//     auto resp = co_await s.get("https://example.org/");
//     resp.raise_for_status();
//   } catch (const aw::http::timeout_error& e) {     // e.phase(): connect, read or total
//   } catch (const aw::http::connect_error& e) {     // refused, unreachable; dns_error too
//   } catch (const aw::http::status_error& e) {      // e.status(), e.body_excerpt()
//   } catch (const aw::http::body_too_large& e) {    // past max_body_size, e.limit()
//   } catch (const aw::http::error& e) {             // everything else aw::http raises
//   }
//
// Every error carries the URL it is about, with any password removed (as in what()).
// Cancellation is not an http error: a cancelled request raises aw::cancelled.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace aw::http {

class error : public std::runtime_error {
 public:
  error(const std::string& what, std::string url) : std::runtime_error(what), url_(std::move(url)) {}
  // The URL of the request (the last one of a redirect chain), password removed.
  const std::string& url() const noexcept { return url_; }

 private:
  std::string url_;
};

// The URL cannot be parsed, or its scheme is not http or https.
class invalid_url : public error {
 public:
  using error::error;
};

// No connection could be made: refused, unreachable, reset while connecting.
class connect_error : public error {
 public:
  using error::error;
};

// The host name did not resolve.
class dns_error : public connect_error {
 public:
  using connect_error::connect_error;
};

// The TLS handshake failed; what() has the reason (certificate not trusted, name mismatch...).
class tls_error : public error {
 public:
  using error::error;
};

enum class timeout_phase { connect, read, total };
const char* to_string(timeout_phase p) noexcept;

// A timeout of the session's or the request's `timeouts` passed.
class timeout_error : public error {
 public:
  timeout_error(const std::string& what, std::string url, timeout_phase p) : error(what, std::move(url)), phase_(p) {}
  timeout_phase phase() const noexcept { return phase_; }

 private:
  timeout_phase phase_;
};

// More redirects than `max_redirects` (a loop, usually).
class too_many_redirects : public error {
 public:
  using error::error;
};

// The server broke HTTP: a malformed status line or header, a body cut short by a disconnect,
// a response cut in its headers, a header line too large, a body that does not decode (corrupt
// or cut-short gzip), a JSON body that does not parse.
class protocol_error : public error {
 public:
  using error::error;
};

// A body read whole (awaited, bytes(), text(), json()), or one line of lines(), grew past
// `max_body_size` once decoded: a gzip bomb, or just more than the caller would hold in memory.
// The transfer stops there (aiohttp and httpx users guard their reads the same way).
class body_too_large : public error {
 public:
  body_too_large(const std::string& what, std::string url, std::size_t limit) : error(what, std::move(url)), limit_(limit) {}
  // The max_body_size that was exceeded.
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
};

// raise_for_status() on a 4xx or 5xx response.
class status_error : public error {
 public:
  status_error(const std::string& what, std::string url, int status, std::string excerpt)
      : error(what, std::move(url)), status_(status), excerpt_(std::move(excerpt)) {}
  int status() const noexcept { return status_; }
  // The start of the body (at most 512 bytes) as far as it had arrived.
  const std::string& body_excerpt() const noexcept { return excerpt_; }

 private:
  int status_;
  std::string excerpt_;
};

}  // namespace aw::http
