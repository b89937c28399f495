// Options of aw::http sessions and requests: timeouts, request bodies, and the settings
// aiohttp's ClientSession and httpx's AsyncClient take.
//
//   aw::http::session s({.base_url = "https://api.example.org/v1/",
//                        .headers = {{"Authorization", "Bearer ..."}},
//                        .timeout = {.connect = 5s, .read = 30s}});
//   ... (inside the session's block)
//   aw::http::request_options o{.params = {{"dry_run", "1"}}, .body = aw::http::body::json({{"name", "x"}})};
//   co_await s.post("items", std::move(o));
//
//   aw::http::request_options up{.body = aw::http::body::stream(aw::byte_source(f), "video/mp4", size)};
//   co_await s.put("upload", std::move(up));      // f: an open aw::files::file, read as it is sent
//
// g++ 12: name option structs before a co_await, as above; a braced temporary written inside
// the co_await expression itself is miscompiled by g++ 12 (see the README).
#pragma once

#include <aw/byte_source.hpp>
#include <aw/http/event_hooks.hpp>
#include <aw/http/headers.hpp>
#include <aw/http/mock_transport.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http {

// Each phase's limit; zero means none. `connect` covers DNS, TCP and TLS; `read` is the
// longest wait for the next bytes of the response (reset by every byte that arrives or that
// a streamed request body sends, and counted only while someone waits for them); `total` covers the whole request, body
// included, as aiohttp's `total`. A timeout raises aw::http::timeout_error naming its phase.
// Cancel scopes (aw::move_on_after, aw::fail_after) work on top of these, as everywhere.
struct timeouts {
  std::chrono::milliseconds connect{0};
  std::chrono::milliseconds read{0};
  std::chrono::milliseconds total{0};
};

using query = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded and query-string encoding (spaces as %20 in queries,
// as '+' in forms; everything but RFC 3986's unreserved characters percent-encoded).
std::string url_encode(std::string_view s, bool form = false);
std::string form_encode(const query& fields);

// One part of a multipart/form-data body: a field, or a file when `filename` is set
// (aiohttp's FormData.add_field, httpx's files=). The content is `data`, or, when `source`
// is set, whatever the source gives, streamed as the request is sent (a file of aw::files, a
// pipe, a generator); `size` is its length where known.
struct part {
  std::string name{};
  std::string data{};
  std::string filename{};
  std::string content_type{};
  aw::byte_source source{};
  std::optional<std::uint64_t> size{};
};

// A request body and its Content-Type (which a Content-Type header of the request overrides).
// bytes, text, json and form are held in memory. stream() sends what an async byte source
// gives as libcurl asks for it, one 64 KiB read at a time, never the whole body at once:
// with a Content-Length when `content_length` is given (the source must give exactly that
// many bytes, else the request fails with aw::http::error), chunked otherwise (HTTP/1.1; on
// HTTP/2 the frames carry the length). An aw::byte_source converts to a stream body
// (application/octet-stream, length unknown). A multipart body with a streamed part is
// streamed the same way (its length is known when every streamed part has a `size`).
// A stream body is read once: a redirect that must resend it (307, 308) fails with
// aw::http::error, as httpx refuses to replay a streamed body; 301, 302 and 303 after a POST
// turn it into a GET without a body. An exception from the source aborts the request and is
// raised where the response is awaited; cancelling a request while its source reads cancels
// that read too.
class body {
 public:
  body() = default;
  // A stream body: what `source` gives, length unknown (chunked).
  body(aw::byte_source source) : body(std::move(source), "application/octet-stream", std::nullopt) {}  // NOLINT: implicit on purpose
  static body bytes(std::string data, std::string content_type = "application/octet-stream") {
    return body(std::move(data), std::move(content_type));
  }
  static body text(std::string data, std::string content_type = "text/plain; charset=utf-8") {
    return body(std::move(data), std::move(content_type));
  }
  static body json(const nlohmann::json& value) { return body(value.dump(), "application/json"); }
  static body form(const query& fields) { return body(form_encode(fields), "application/x-www-form-urlencoded"); }
  // multipart/form-data (aiohttp's FormData, httpx's files=), with a random boundary; held in
  // memory unless a part has a `source`.
  static body multipart(std::vector<part> parts);
  static body stream(aw::byte_source source, std::string content_type = "application/octet-stream",
                     std::optional<std::uint64_t> content_length = std::nullopt) {
    return body(std::move(source), std::move(content_type), content_length);
  }

  bool has_value() const noexcept { return present_; }
  bool is_stream() const noexcept { return static_cast<bool>(source_); }
  // In memory: the bytes (empty for a stream body).
  const std::string& data() const noexcept { return data_; }
  std::string& data() noexcept { return data_; }
  const std::string& content_type() const noexcept { return content_type_; }
  // A stream body's source and length (the length of data() for the others).
  aw::byte_source& source() noexcept { return source_; }
  std::optional<std::uint64_t> content_length() const noexcept {
    return is_stream() ? length_ : std::optional<std::uint64_t>(data_.size());
  }

 private:
  body(std::string data, std::string content_type) : data_(std::move(data)), content_type_(std::move(content_type)), present_(true) {}
  body(aw::byte_source source, std::string content_type, std::optional<std::uint64_t> length)
      : content_type_(std::move(content_type)), source_(std::move(source)), length_(length), present_(true) {
    if (!source_) throw std::invalid_argument("aw::http::body::stream: an empty aw::byte_source");
  }
  std::string data_;
  std::string content_type_;
  aw::byte_source source_;
  std::optional<std::uint64_t> length_;
  bool present_ = false;
};

// Credentials, sent by libcurl (aiohttp's BasicAuth, httpx's auth=): Basic is sent with the
// first request (as aiohttp and httpx do), Bearer as "Authorization: Bearer <token>"; Digest
// (httpx's DigestAuth) answers the server's 401 challenge: libcurl sends the request, reads
// the challenge and sends it again with the answer (a POST, PUT or PATCH probes with an empty
// body first, so a streamed body is still sent once). Credentials are not sent to another
// host after a redirect (httpx drops Authorization there too). An Authorization header of the
// session's or the request's `headers` wins over `auth`; user:password in the URL is Basic.
class auth {
 public:
  enum class scheme : unsigned char { none, basic, digest, bearer };
  auth() = default;
  static auth none() { return {}; }
  static auth basic(std::string user, std::string password) { return auth(scheme::basic, std::move(user), std::move(password), {}); }
  static auth digest(std::string user, std::string password) { return auth(scheme::digest, std::move(user), std::move(password), {}); }
  static auth bearer(std::string token) { return auth(scheme::bearer, {}, {}, std::move(token)); }

  scheme type() const noexcept { return type_; }
  const std::string& user() const noexcept { return secrets().user; }
  const std::string& password() const noexcept { return secrets().password; }
  const std::string& token() const noexcept { return secrets().token; }

 private:
  // Behind a pointer: strings held in place made g++ 12 -O3 warn (maybe-uninitialized) on
  // every braced session_options temporary, as users write them.
  struct credentials {
    std::string user, password, token;
  };
  auth(scheme t, std::string user, std::string password, std::string token)
      : type_(t), credentials_(std::make_shared<const credentials>(credentials{std::move(user), std::move(password), std::move(token)})) {}
  const credentials& secrets() const noexcept {
    static const credentials empty;
    return credentials_ ? *credentials_ : empty;
  }
  scheme type_ = scheme::none;
  std::shared_ptr<const credentials> credentials_;
};

// Retries with backoff (urllib3's Retry, aiohttp-retry's ExponentialRetry), off by default
// (attempts = 0). Only idempotent requests are retried (GET, HEAD, OPTIONS, PUT, DELETE,
// TRACE) and only with a body held in memory (a stream is read once), after a connect error
// (refused, unreachable, DNS: connect_error), a connect timeout, or a final status in
// `statuses`, up to `attempts` more times. The wait before retry n (1, 2, ...) is
// backoff * 2^(n-1), or what the response's Retry-After says (seconds or an HTTP date), never
// more than max_backoff. The waits are aw::sleep in the task awaiting the request, so a
// cancel scope cancels them as any other wait. Each attempt has the whole of the `timeout`s.
// When the attempts are spent, the last outcome stands: its error is raised, or its response
// given (raise_for_status then applies).
struct retry {
  int attempts = 0;
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // A fixed array, zeros unused: a std::vector here made g++ 12 -O3 warn (maybe-uninitialized)
  // on every braced session_options temporary.
  std::array<int, 8> statuses{502, 503, 504};
};

struct session_options {
  // A request URL without a scheme is appended to it, as httpx joins: the base's path gets a
  // trailing '/' if it has none, the request URL loses its leading '/'s, so "/users",
  // "users" and "users?page=2" against "https://api.example.org/v1" all reach
  // ".../v1/users" ("" reaches the base itself). A URL with a scheme ("https:...") is taken as
  // it is. A base_url that does not parse, whose scheme is not http or https, or that has a
  // query or a fragment raises aw::http::invalid_url where the first relative request is awaited.
  std::string base_url{};
  // Sent with every request; a request's own header of the same name replaces them.
  http::headers headers{};
  http::timeouts timeout{};
  // Redirects are followed (as aiohttp does) up to max_redirects; false returns the 3xx.
  bool follow_redirects = true;
  int max_redirects = 10;
  // aiohttp's raise_for_status=True: a final response of status 400 or more raises
  // aw::http::status_error (status, URL, the start of the body as far as it came) where the
  // request is awaited (body read) or entered (at its headers, the body not read), and its
  // connection is released. A request's `raise_for_status` replaces it.
  bool raise_for_status = false;
  // Credentials for every request (see auth); a request's `auth` replaces them.
  http::auth auth{};
  // Retries of idempotent requests (see retry); a request's `retry` replaces it.
  http::retry retry{};
  // TLS: verification on, against the system's CA store or `ca_file`; a client certificate
  // and its key (PEM) where the server asks for one.
  bool verify = true;
  std::string ca_file{};
  std::string client_cert{};
  std::string client_key{};
  // The session's cookie jar (aiohttp's CookieJar, on by default): cookies that servers set
  // are kept and sent back to them under the usual rules (domain, path, secure, expiry), by
  // this session only; session.cookies() reads it, update_cookies() seeds it,
  // save_cookies()/load_cookies() write and read it in the Netscape format curl writes.
  // false is aiohttp's DummyCookieJar: nothing is kept (a request's own `cookies` are sent).
  bool cookie_jar = true;
  // Cookies the jar starts with, sent to every host (aiohttp's ClientSession(cookies=)).
  std::vector<std::pair<std::string, std::string>> cookies{};
  // Connections: at most `limit` open at once (0: no limit), `limit_per_host` per host.
  std::size_t limit = 100;
  std::size_t limit_per_host = 0;
  // The socket receive buffer of each connection (SO_RCVBUF), so that a server can hand over
  // a large body without waiting for every read of ours (on loopback, 1 MiB bodies came
  // three times faster with 4 MiB than with the kernel's autotuning, and the server spent
  // less CPU per byte). The kernel caps it at net.core.rmem_max; the memory is used only
  // while data waits to be read. 0 leaves the size to the kernel's autotuning.
  std::size_t receive_buffer = std::size_t{4} << 20;
  // The most bytes of a decoded body held in memory for a whole read (`co_await s.get(...)`,
  // bytes(), text(), json()) and for one line of lines(); past it the read raises
  // aw::http::body_too_large and the transfer stops. Streamed chunks() are not limited (they
  // are handed over as they come). 0: no limit. A gzip body of a megabyte may inflate to a
  // gigabyte: set one where the server is not yours (aiohttp and httpx users cap their reads).
  std::size_t max_body_size = 0;
  // HTTP/2 where the server offers it over TLS (ALPN); HTTP/1.1 otherwise.
  bool http2 = true;
  // A proxy for every request ("http://host:port", "http://user:password@host:port";
  // https:// URLs go through it with CONNECT), as aiohttp's and httpx's `proxy`. It wins
  // over the environment, and no_proxy does not apply to it.
  std::string proxy{};
  // Without `proxy`: proxies from http_proxy, https_proxy (or HTTPS_PROXY), all_proxy and
  // no_proxy, as aiohttp's trust_env; false ignores them. Whether any is set is looked at
  // when the session is entered (as httpx reads them when the client is made).
  bool trust_env = true;
  std::string user_agent = "asyncwith-http/0.1";
  // Callbacks around each request (see event_hooks.hpp); none by default.
  http::event_hooks hooks{};
  // A function that answers the requests instead of the network, for tests (see
  // mock_transport.hpp); none by default.
  http::mock_transport transport{};
};

struct request_options {
  // Appended to the URL's query, encoded.
  query params{};
  http::headers headers{};
  http::body body{};
  // Replace the session's, where given.
  std::optional<http::timeouts> timeout{};
  std::optional<bool> follow_redirects{};
  std::optional<bool> raise_for_status{};
  // auth::none() sends none of the session's credentials.
  std::optional<http::auth> auth{};
  std::optional<http::retry> retry{};
  // Sent with this request only, after the jar's (aiohttp's request(cookies=)); not kept.
  std::vector<std::pair<std::string, std::string>> cookies{};
  std::optional<std::size_t> max_body_size{};
  // The session's `proxy` for this request (aiohttp's request(proxy=)); "" goes direct.
  std::optional<std::string> proxy{};
};

}  // namespace aw::http
