// aw::http::session: an HTTP client session (aiohttp's ClientSession, httpx's AsyncClient):
// a pool of keep-alive connections (HTTP/1.1, HTTP/2 over TLS), shared by its requests.
// It is an async context manager; requests are made inside its block.
//
//   aw::http::session_options options{.base_url = "http://127.0.0.1:8080/"};
//   co_await aw::async_with(aw::http::session(std::move(options)), [&](aw::http::session& s) -> aw::task<> {
//     aw::http::response r = co_await s.get("status");      // read whole (httpx)
//     co_await aw::async_with(s.get("big"), [&](aw::http::response& resp) -> aw::task<> {
//       auto lines = resp.lines();                          // streamed (aiohttp)
//       while (auto line = co_await lines.next()) use(*line);
//     });
//   });
//
// libcurl does the protocol work (HTTP/1.1 and 2, TLS, proxies, DNS); the loop watches exactly
// the sockets and the one timer libcurl asks for (its multi-socket interface), so a thousand
// concurrent requests cost one wait per busy socket. gzip and deflate bodies are decoded by
// the session itself, a bounded step per turn of the loop and only as far as the reader has
// asked (see response.hpp).
// Leaving the block closes every connection; a response still alive after it keeps what it
// had read, and reading more raises aw::http::error. One block at a time enters a session.
// Requests may run concurrently from many tasks of one aw::run; a session belongs to the
// thread of the loop it was entered on.
#pragma once

#include <aw/http/errors.hpp>
#include <aw/http/headers.hpp>
#include <aw/http/options.hpp>
#include <aw/http/response.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http {

// A cookie of the session's jar, as libcurl keeps it (one line of the Netscape format).
struct cookie {
  std::string domain;  // without a leading '.'; empty for a cookie sent to every host
  bool include_subdomains = false;
  std::string path;
  bool secure = false;
  std::int64_t expires = 0;  // seconds since the epoch; 0: until the session ends
  std::string name;
  std::string value;
  bool http_only = false;
};

class [[nodiscard("enter it: co_await aw::async_with(aw::http::session(...), body); requests are made inside the block")]] session {
 public:
  // Two constructors rather than a default argument: a defaulted `session_options{}` would be
  // an aggregate temporary inside `co_await aw::async_with(aw::http::session(), ...)`,
  // which g++ 12 miscompiles.
  [[nodiscard("enter it: co_await aw::async_with(aw::http::session(...), body); requests are made inside the block")]] session();
  [[nodiscard("enter it: co_await aw::async_with(aw::http::session(...), body); requests are made inside the block")]] explicit session(
      session_options options);
  ~session();
  session(session&&) noexcept;
  session& operator=(session&&) = delete;

  aw::task<session&> aenter();
  aw::task<> aexit(std::exception_ptr e);

  // The cookie jar (session_options::cookie_jar), from the session's entry on and still
  // after its block, until the session is destroyed. With the jar off: empty, and seeding
  // does nothing (aiohttp's DummyCookieJar). Before the first entry they raise
  // std::logic_error.
  std::vector<http::cookie> cookies() const;
  // aiohttp's cookie_jar.update_cookies(cookies, response_url): for the host of `url` only
  // (path "/"), or, without a URL, for every host.
  void update_cookies(const std::vector<std::pair<std::string, std::string>>& cookies, std::string_view url = {});
  void clear_cookies();
  // The jar to a file and back, in the Netscape cookie file format (what curl's cookie jar
  // files hold, curl -b/-c read and write). Small blocking file I/O, as aiohttp's
  // CookieJar.save/load; raise std::system_error where the file cannot be written or read.
  // load_cookies adds to the jar.
  void save_cookies(const std::string& path) const;
  void load_cookies(const std::string& path);

  // Each gives a request: `co_await` it for the response read whole, or enter it
  // (aw::async_with, aw::enter) for the response to stream. Nothing is sent before that.
  // Errors (an invalid URL too) are raised there, not here.
  // g++ 12: do not write the options as a braced temporary inside a co_await expression
  // (`co_await s.get(url, {.params = ...})`): g++ 12 miscompiles aggregate temporaries there
  // (see the README's known compiler bugs). Name them first; the overloads without options
  // exist so that the common case makes no such temporary.
  http::request request(std::string_view method, std::string_view url, request_options options);
  http::request request(std::string_view method, std::string_view url);
  http::request get(std::string_view url) { return request("GET", url); }
  http::request get(std::string_view url, request_options o) { return request("GET", url, std::move(o)); }
  http::request post(std::string_view url) { return request("POST", url); }
  http::request post(std::string_view url, request_options o) { return request("POST", url, std::move(o)); }
  http::request put(std::string_view url) { return request("PUT", url); }
  http::request put(std::string_view url, request_options o) { return request("PUT", url, std::move(o)); }
  http::request patch(std::string_view url) { return request("PATCH", url); }
  http::request patch(std::string_view url, request_options o) { return request("PATCH", url, std::move(o)); }
  // `delete` is a keyword.
  http::request delete_(std::string_view url) { return request("DELETE", url); }
  http::request delete_(std::string_view url, request_options o) { return request("DELETE", url, std::move(o)); }
  http::request head(std::string_view url) { return request("HEAD", url); }
  http::request head(std::string_view url, request_options o) { return request("HEAD", url, std::move(o)); }
  http::request options(std::string_view url) { return request("OPTIONS", url); }
  http::request options(std::string_view url, request_options o) { return request("OPTIONS", url, std::move(o)); }

 private:
  std::unique_ptr<detail::session_state> state_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<session> enter_check_;
};

}  // namespace aw::http
