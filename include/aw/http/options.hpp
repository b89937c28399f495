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
// g++ 12: name option structs before a co_await, as above; a braced temporary written inside
// the co_await expression itself is miscompiled by g++ 12 (see the README).
#pragma once

#include <aw/http/headers.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http {

// Each phase's limit; zero means none. `connect` covers DNS, TCP and TLS; `read` is the
// longest wait for the next bytes of the response (reset by every byte that arrives, and
// counted only while someone waits for them); `total` covers the whole request, body
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

// One part of a multipart/form-data body: a field, or a file when `filename` is set.
struct part {
  std::string name{};
  std::string data{};
  std::string filename{};
  std::string content_type{};
};

// A request body and its Content-Type (which a Content-Type header of the request overrides).
// Bodies are held in memory (a file part too); streaming request bodies are not done yet.
class body {
 public:
  body() = default;
  static body bytes(std::string data, std::string content_type = "application/octet-stream") {
    return body(std::move(data), std::move(content_type));
  }
  static body text(std::string data, std::string content_type = "text/plain; charset=utf-8") {
    return body(std::move(data), std::move(content_type));
  }
  static body json(const nlohmann::json& value) { return body(value.dump(), "application/json"); }
  static body form(const query& fields) { return body(form_encode(fields), "application/x-www-form-urlencoded"); }
  // multipart/form-data (aiohttp's FormData, httpx's files=), with a random boundary.
  static body multipart(const std::vector<part>& parts);

  bool has_value() const noexcept { return present_; }
  const std::string& data() const noexcept { return data_; }
  std::string& data() noexcept { return data_; }
  const std::string& content_type() const noexcept { return content_type_; }

 private:
  body(std::string data, std::string content_type) : data_(std::move(data)), content_type_(std::move(content_type)), present_(true) {}
  std::string data_;
  std::string content_type_;
  bool present_ = false;
};

struct session_options {
  // Relative request URLs are resolved against it (RFC 3986: keep the trailing slash).
  std::string base_url{};
  // Sent with every request; a request's own header of the same name replaces them.
  http::headers headers{};
  http::timeouts timeout{};
  // Redirects are followed (as aiohttp does) up to max_redirects; false returns the 3xx.
  bool follow_redirects = true;
  int max_redirects = 10;
  // TLS: verification on, against the system's CA store or `ca_file`; a client certificate
  // and its key (PEM) where the server asks for one.
  bool verify = true;
  std::string ca_file{};
  std::string client_cert{};
  std::string client_key{};
  // Cookies set by servers are kept and sent back, in this session only (opt-in).
  bool cookies = false;
  // Connections: at most `limit` open at once (0: no limit), `limit_per_host` per host.
  std::size_t limit = 100;
  std::size_t limit_per_host = 0;
  // HTTP/2 where the server offers it over TLS (ALPN); HTTP/1.1 otherwise.
  bool http2 = true;
  // Proxies from http_proxy, https_proxy, all_proxy and no_proxy (as aiohttp's trust_env).
  bool trust_env = true;
  std::string user_agent = "asyncwith-http/0.1";
};

struct request_options {
  // Appended to the URL's query, encoded.
  query params{};
  http::headers headers{};
  http::body body{};
  // Replace the session's, where given.
  std::optional<http::timeouts> timeout{};
  std::optional<bool> follow_redirects{};
};

}  // namespace aw::http
