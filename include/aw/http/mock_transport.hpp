// aw::http::mock_transport: a session whose requests go to a function of the program
// instead of the network, for tests of code that uses aw::http (httpx's MockTransport).
//
//   aw::http::session_options o{.base_url = "https://api.example.org/v1/",
//                               .transport = aw::http::mock_transport(
//                                   [](const aw::http::mock_request& r) -> aw::task<aw::http::mock_response> {
//                                     if (r.url.ends_with("/users/1")) co_return {.status = 200, .body = R"({"id":1})"};
//                                     co_return {.status = 404};
//                                   })};
//   // Inside the session's block, co_await s.get("users/1") gives a response whose json()
//   // is {"id":1}, as from the network.
//
// Semantics:
// - The handler is a coroutine returning aw::task<mock_response>, or a plain function
//   returning mock_response. It runs in the task that awaits (or enters) the request, when
//   the request is sent, so it may await (a sleep, a channel) and the caller's cancel scopes
//   reach it: cancelling the request cancels the handler's wait, and the request raises
//   aw::cancelled. An exception the handler throws is raised where the request is awaited or
//   entered, as it is (httpx propagates it too).
// - The user gets the same aw::http::response as from the network: status, headers, url,
//   body, bytes/text/json, chunks() and lines(), raise_for_status().
// - The request the handler sees is the one the network would get: the URL joined to
//   base_url with params appended; the session's headers and the request's (the request's
//   win), User-Agent, Content-Type of the body, Authorization for auth::basic and
//   auth::bearer, a Cookie header from session_options::cookies, update_cookies() without
//   a URL and the request's cookies; the body, a streamed one read whole first.
// - Applied as with the network: base_url, headers, params, auth (but Digest, which needs a
//   server's challenge: no Authorization is sent), cookies as above, raise_for_status (the
//   option), max_body_size for a whole read, event_hooks (no connection hooks; timings have
//   only `total`), AW_DEBUG's lines.
// - Not applied, as httpx's MockTransport does not: redirects (a 3xx is the response),
//   retries, timeouts (use a cancel scope), and the cookie jar (Set-Cookie of a mock response
//   is not kept; cookies() reads what update_cookies() put there). Connection settings
//   (limit, proxy, verify, TLS files, http2, receive_buffer) mean nothing without one.
// - The body is given as the handler gave it (no Content-Encoding is decoded); version() is
//   "HTTP/1.1", reason() is empty.
#pragma once

#include <aw/http/headers.hpp>
#include <aw/task.hpp>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace aw::http {

struct mock_request {
  std::string method;
  std::string url;
  http::headers headers;
  std::string body;
};

struct mock_response {
  int status = 200;
  http::headers headers{};
  std::string body{};
};

class mock_transport {
 public:
  using handler = std::function<aw::task<mock_response>(const mock_request&)>;

  mock_transport() = default;  // none: the network
  template <class F>
    requires std::is_invocable_v<F&, const mock_request&>
  explicit mock_transport(F f) {
    using R = std::invoke_result_t<F&, const mock_request&>;
    if constexpr (std::is_same_v<R, aw::task<mock_response>>) {
      h_ = std::make_shared<const handler>(std::move(f));
    } else {
      static_assert(std::is_convertible_v<R, mock_response>,
                    "aw::http::mock_transport: the handler returns aw::task<mock_response> or mock_response");
      // The plain function, held by the handler's state: the coroutine reads it through `fn`,
      // which the session keeps alive while requests run.
      auto fn = std::make_shared<F>(std::move(f));
      h_ = std::make_shared<const handler>([fn](const mock_request& r) { return call(fn, r); });
    }
  }

  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  const handler& get() const noexcept { return *h_; }

 private:
  template <class F>
  static aw::task<mock_response> call(std::shared_ptr<F> fn, const mock_request& r) {
    co_return (*fn)(r);
  }
  std::shared_ptr<const handler> h_;
};

}  // namespace aw::http
