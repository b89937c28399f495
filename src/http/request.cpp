// Preparing a request: its URL, the easy handle's options and header list; the session's
// request(), and finished transfers kept as spares for reuse.
#include "internal.hpp"

#include <aw/http/session.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aw::http {

namespace detail {
namespace {

// Whether `url` starts with a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"):
// such a URL is absolute and base_url does not apply.
bool has_scheme(std::string_view url) noexcept {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (url.empty() || !alpha(url.front())) return false;
  for (char c : url.substr(1)) {
    if (c == ':') return true;
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

// The base_url as the prefix relative URLs are appended to: parsed, checked, normalised by
// libcurl, its path ending in '/'.
std::string base_prefix(const std::string& base_url) {
  std::string shown = redact(base_url);
  auto bad = [&](const std::string& why) { throw invalid_url("aw::http: invalid base_url " + shown + ": " + why, shown); };
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> b(curl_url(), &curl_url_cleanup);
  if (!b) throw std::bad_alloc();
  if (CURLUcode rc = curl_url_set(b.get(), CURLUPART_URL, base_url.c_str(), CURLU_NON_SUPPORT_SCHEME)) bad(curl_url_strerror(rc));
  auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* v = nullptr;
    if (curl_url_get(b.get(), which, &v, 0) != CURLUE_OK || !v) return std::nullopt;
    std::string out = v;
    curl_free(v);
    return out;
  };
  std::optional<std::string> scheme = part(CURLUPART_SCHEME);
  if (!scheme || (*scheme != "http" && *scheme != "https")) bad("the scheme must be http or https");
  if (part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT)) bad("a base URL has no query or fragment");
  std::optional<std::string> full = part(CURLUPART_URL);
  if (!full) bad("it does not parse");
  if (full->back() != '/') *full += '/';
  return *full;
}

// Parses the request's URL (appended to the session's base_url when it has no scheme, with
// `params` appended to its query) into t->uh, which libcurl then takes as it is
// (CURLOPT_CURLU): the URL is parsed once per request, not again by libcurl. Redaction for
// the error message happens only on failure.
void build_url(transfer* t, session_state* s, const session_options& opts, std::string_view url, const query& params) {
  std::string joined;
  if (!opts.base_url.empty() && !has_scheme(url)) {
    std::string local;
    if (s && s->base_prefix.empty()) s->base_prefix = base_prefix(opts.base_url);  // once per session
    const std::string& base = s ? s->base_prefix : (local = base_prefix(opts.base_url));
    std::string_view rel = url;
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    joined.reserve(base.size() + rel.size());
    joined += base;
    joined += rel;
    url = joined;
    t->request_url = joined;
  }
  auto fail = [&](CURLUcode rc) {
    std::string shown = redact(std::string(url));
    throw invalid_url("aw::http: invalid URL " + shown + ": " + curl_url_strerror(rc), shown);
  };
  // The same URL as this (spare) transfer's last request, taken as it is: its parse is kept
  // (libcurl reads a CURLOPT_CURLU handle and never changes it). Saves a parse per request.
  const bool as_is = params.empty();
  if (as_is && t->uh && t->uh_url == url) {
    t->request_url = t->uh_url;
    return;
  }
  t->uh_url.clear();
  t->uh_full.clear();
  if (t->uh) curl_url_cleanup(t->uh);
  t->uh = curl_url();
  if (!t->uh) throw std::bad_alloc();
  CURLU* u = t->uh;
  std::string target(url);
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, target.c_str(), CURLU_NON_SUPPORT_SCHEME)) fail(rc);
  // The common case, an absolute http(s) URL as it is: its scheme is read off the string and
  // the string is the request's URL (a curl_url_get call fewer).
  auto starts = [&](std::string_view prefix) {
    return target.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), target.begin(), [](char a, char b) {
             return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
           });
  };
  auto written = [&] {  // the URL as libcurl writes it
    char* full = nullptr;
    if (CURLUcode rc = curl_url_get(u, CURLUPART_URL, &full, 0)) fail(rc);
    t->uh_full = full;
    curl_free(full);
  };
  if (as_is && (starts("http://") || starts("https://"))) {
    written();
    t->request_url = target;
    t->uh_url = std::move(target);
    return;
  }
  char* scheme = nullptr;
  if (CURLUcode rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) fail(rc);
  std::string_view sch = scheme;
  if (sch != "http" && sch != "https") {
    std::string shown = redact(std::string(url));
    std::string what = "aw::http: invalid URL " + shown + ": the scheme must be http or https, not " + std::string(sch);
    curl_free(scheme);
    throw invalid_url(what, shown);
  }
  curl_free(scheme);
  for (const auto& [k, v] : params) {
    std::string pair = url_encode(k) + "=" + url_encode(v);
    if (CURLUcode rc = curl_url_set(u, CURLUPART_QUERY, pair.c_str(), CURLU_APPENDQUERY)) fail(rc);
  }
  written();
  t->request_url = t->uh_full;
}

// The codings decode() reads, gzip and deflate (aiohttp's and httpx's default without their
// optional brotli and zstd packages); a server that sends another gives its bytes as they came.
const char* accept_encoding_line() { return "Accept-Encoding: gzip, deflate"; }

void append_header(curl_slist*& list, const std::string& name, const std::string& value) {
  auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  if (name.empty() || std::ranges::any_of(name, [&](char c) { return bad(c) || c == ':' || c == ' '; }) || std::ranges::any_of(value, bad))
    throw error("aw::http: invalid header field " + name + " (empty name, or a line break in it)", "");
  // "Name;" sends an empty value; "Name:" would remove the header.
  std::string line = value.empty() ? name + ";" : name + ": " + value;
  curl_slist* l = curl_slist_append(list, line.c_str());
  if (!l) throw std::bad_alloc();
  list = l;
}

// The Authorization header libcurl would send at once: Basic and Bearer (Digest answers a
// challenge that a mock transport never makes).
std::string mock_authorization(const http::auth& a) {
  if (a.type() == http::auth::scheme::bearer) return "Bearer " + a.token();
  if (a.type() != http::auth::scheme::basic) return {};
  static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = a.user() + ":" + a.password();
  std::string out = "Basic ";
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

void configure(transfer* t, const session_options& so, std::string_view method, std::string_view url, request_options& ro) {
  CURL* e = t->easy;
  t->method = std::string(method);
  if (method.empty() || !std::ranges::all_of(method, [](char c) { return c > ' ' && c < 127 && !std::strchr("()<>@,;:\\\"/[]?={}", c); }))
    throw error("aw::http: invalid method \"" + t->method + "\"", "");
  t->request_url = std::string(url);  // what errors show if the URL does not parse
  build_url(t, t->s, so, url, ro.params);
  t->body = std::move(ro.body);
  t->timeout = ro.timeout ? *ro.timeout : so.timeout;
  t->follow = ro.follow_redirects ? *ro.follow_redirects : so.follow_redirects;
  t->max_redirects = so.max_redirects;
  t->raise_status = ro.raise_for_status ? *ro.raise_for_status : so.raise_for_status;
  t->retry = ro.retry ? std::move(*ro.retry) : so.retry;
  {
    static constexpr std::string_view idempotent[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
    const bool may_retry = std::ranges::find(idempotent, method) != std::end(idempotent) && !t->body.is_stream();
    t->retries_left = may_retry && !so.transport ? std::max(t->retry.attempts, 0) : 0;  // a mock is not retried (httpx)
    t->retried = 0;
  }
  t->max_body = ro.max_body_size ? *ro.max_body_size : so.max_body_size;
  t->hooks = so.hooks.get();
  const bool mock = static_cast<bool>(so.transport);

  // The session's options are set once per easy handle: a spare handle keeps them for its
  // next request (no curl_easy_reset), and only what a request may change is set again.
  if (!t->configured) {
    curl_easy_setopt(e, CURLOPT_PRIVATE, static_cast<void*>(t));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &transfer::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, static_cast<void*>(t));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(t));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &transfer::on_read);  // used only with CURLOPT_POST and no POSTFIELDS
    curl_easy_setopt(e, CURLOPT_READDATA, static_cast<void*>(t));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(so.max_redirects));
    // Content-Encoding is decoded by decode(), a step at a time (libcurl's decoding inflates
    // a whole read at once); the Accept-Encoding header is ours (accept_encoding_line).
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, so.verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, so.verify ? 2L : 0L);
    if (!so.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, so.ca_file.c_str());
    if (!so.client_cert.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, so.client_cert.c_str());
    if (!so.client_key.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, so.client_key.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, so.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    // Four times libcurl's default: fewer reads and callbacks for large bodies. Measured on
    // 1 MiB bodies: 16 and 32 KiB cost more CPU per byte, 128 KiB the same, 256 and 512 KiB
    // twice as much (the buffer no longer stays in the cache between the two copies).
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024);
    if (so.receive_buffer > 0) {
      // A fixed SO_RCVBUF, set before connecting (it decides the window the connection
      // starts with). The size travels in the callback's pointer: nothing to outlive.
      curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, reinterpret_cast<void*>(static_cast<std::uintptr_t>(so.receive_buffer)));
      curl_easy_setopt(
          e, CURLOPT_SOCKOPTFUNCTION, +[](void* size, curl_socket_t fd, curlsocktype purpose) -> int {
            if (purpose == CURLSOCKTYPE_IPCXN) {
              int bytes = static_cast<int>(reinterpret_cast<std::uintptr_t>(size));
              (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);  // a refusal leaves the kernel's size
            }
            return CURL_SOCKOPT_OK;
          });
    }
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  // prefer multiplexing on an HTTP/2 connection to opening another
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    if (t->s && t->s->share) curl_easy_setopt(e, CURLOPT_SHARE, t->s->share);
    if (so.cookie_jar) curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");  // the jar itself is the share's
    t->configured = true;
  }
  curl_easy_setopt(e, CURLOPT_CURLU, t->uh);
  // The URL string too: libcurl 7.88 takes the effective URL (CURLINFO_EFFECTIVE_URL, the
  // response's url()) from CURLOPT_CURLU only for a handle's first transfer or one after a
  // redirect, and otherwise keeps the last request's. The CURLU still decides the request.
  curl_easy_setopt(e, CURLOPT_URL, t->uh_full.c_str());
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t->timeout.connect.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->timeout.total.count()));
  // An explicit proxy wins over the environment and no_proxy (aiohttp's and httpx's proxy=);
  // "" goes direct. Without one, libcurl reads http_proxy, https_proxy, all_proxy, no_proxy.
  // Direct (no proxy anywhere, the environment's looked at when the session was entered), the
  // User-Agent goes in the header list, and libcurl neither formats it (an aprintf) nor reads
  // the proxy variables on each request: a few percent of a small request. Through a proxy,
  // libcurl sends it in CONNECT too.
  const std::string* proxy = ro.proxy ? &*ro.proxy : so.proxy.empty() ? nullptr : &so.proxy;
  const bool direct = mock || (proxy ? proxy->empty() : !so.trust_env || !(t->s && t->s->env_proxies));
  // All three every time (null: libcurl's default), as a spare handle has the last request's.
  curl_easy_setopt(e, CURLOPT_PROXY, direct ? "" : proxy ? proxy->c_str() : nullptr);
  // NOPROXY "" unless the environment decides: null makes libcurl read no_proxy and NO_PROXY
  // from the environment on every request, even a direct one.
  curl_easy_setopt(e, CURLOPT_NOPROXY, direct || proxy ? "" : nullptr);
  curl_easy_setopt(e, CURLOPT_USERAGENT, direct ? nullptr : so.user_agent.c_str());

  // Credentials, set again for each request (a spare handle has the last one's) unless
  // neither had any: three options fewer for the common request.
  const http::auth& a = ro.auth ? *ro.auth : so.auth;
  if (a.type() != http::auth::scheme::none || t->auth_set) {
    const bool userpwd = a.type() == http::auth::scheme::basic || a.type() == http::auth::scheme::digest;
    curl_easy_setopt(e, CURLOPT_HTTPAUTH,
                     a.type() == http::auth::scheme::digest   ? CURLAUTH_DIGEST
                     : a.type() == http::auth::scheme::bearer ? CURLAUTH_BEARER
                                                              : CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, userpwd ? a.user().c_str() : nullptr);
    curl_easy_setopt(e, CURLOPT_PASSWORD, userpwd ? a.password().c_str() : nullptr);
    curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, a.type() == http::auth::scheme::bearer ? a.token().c_str() : nullptr);
    t->auth_set = a.type() != http::auth::scheme::none;
  }
  if (mock) t->mock_authorization = mock_authorization(a);

  if (mock) t->mock_cookie.clear();
  // The session's cookies for every host and the request's own: CURLOPT_COOKIE, which libcurl
  // sends after the jar's in the same Cookie header. Cleared on a reused handle only where it had some.
  const std::vector<std::pair<std::string, std::string>>* every_host = t->s && !t->s->every_host.empty() ? &t->s->every_host : nullptr;
  if (!ro.cookies.empty() || every_host || t->cookie_set) {
    std::string line;
    auto add = [&](const std::string& k, const std::string& v) {
      if (!line.empty()) line += "; ";
      line += k;
      line += '=';
      line += v;
    };
    if (every_host)
      for (const auto& [k, v] : *every_host)
        if (std::ranges::none_of(ro.cookies, [&](const auto& kv) { return kv.first == k; })) add(k, v);  // the request's own win
    for (const auto& [k, v] : ro.cookies) {
      if (!valid_cookie(k, v))
        throw error("aw::http: invalid cookie " + k + " (an empty name, or a ';', '=', blank or line break in it)", "");
      add(k, v);
    }
    curl_easy_setopt(e, CURLOPT_COOKIE, line.empty() ? nullptr : line.c_str());
    t->cookie_set = !line.empty();
    if (mock) t->mock_cookie = line;
  }

  // Headers: the session's, unless the request has its own of that name.
  const bool has_body = t->body.has_value();
  const bool sends_body = has_body || t->body.is_stream() || method == "POST" || method == "PUT" || method == "PATCH";
  auto base_headers = [&](curl_slist*& list) {
    for (const auto& [k, v] : so.headers)
      if (!ro.headers.contains(k)) append_header(list, k, v);
    for (const auto& [k, v] : ro.headers) append_header(list, k, v);
    if (direct && !so.user_agent.empty() && !ro.headers.contains("user-agent") && !so.headers.contains("user-agent"))
      append_header(list, "User-Agent", so.user_agent);
    if (const char* ae = accept_encoding_line(); ae && !ro.headers.contains("accept-encoding") && !so.headers.contains("accept-encoding")) {
      curl_slist* l = curl_slist_append(list, ae);
      if (!l) throw std::bad_alloc();
      list = l;
    }
  };
  if (ro.headers.empty() && direct && !sends_body && t->s) {
    // The common request (the session's headers only, direct, no body) takes the session's
    // list, built at the first such request: no list to build and free per request.
    if (!t->s->plain_headers_built) {
      curl_slist* list = nullptr;
      try {
        base_headers(list);
      } catch (...) {
        curl_slist_free_all(list);
        throw;
      }
      t->s->plain_headers = list;
      t->s->plain_headers_built = true;
    }
    t->header_list = t->s->plain_headers;
    t->owns_header_list = false;
  } else {
    base_headers(t->header_list);
  }
  if (has_body && !ro.headers.contains("content-type") && !so.headers.contains("content-type"))
    append_header(t->header_list, "Content-Type", t->body.content_type());
  // No "Expect: 100-continue" round trip before a body (libcurl adds one above 1 KiB). Only
  // with a body: every entry of the list costs libcurl a scan per header it looks for (a few
  // percent of a small GET).
  if (has_body || t->body.is_stream()) {
    curl_slist* l = curl_slist_append(t->header_list, "Expect:");
    if (!l) throw std::bad_alloc();
    t->header_list = l;
  }

  // The method, from a clean state: no fields (setting them makes a POST, so first), a GET
  // with a body (HTTPGET also clears NOBODY), no custom method.
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, nullptr);
  if (method == "GET" && !has_body) {
    // done
  } else if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    const bool wants_body = has_body || method == "POST" || method == "PUT" || method == "PATCH";
    if (t->body.is_stream()) {
      // Read as libcurl sends it (on_read); without a length, HTTP/1.1 sends it chunked.
      std::optional<std::uint64_t> length = t->body.content_length();
      t->up.source = std::move(t->body.source());
      t->up.length = length;
      t->up.active = true;
      t->up.wanted = true;  // the first chunk is read while the connection is being made
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, length ? static_cast<curl_off_t>(*length) : curl_off_t{-1});
    } else if (wants_body) {
      // POST semantics on redirects (303 and, as browsers do, 301/302 turn into GET) hold
      // for POST only; other methods keep their method and body.
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.data().size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data().c_str());
      if (!has_body && !ro.headers.contains("content-type")) {
        curl_slist* l = curl_slist_append(t->header_list, "Content-Type:");
        if (!l) throw std::bad_alloc();
        t->header_list = l;
      }
    }
    if (method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method.c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
}

}  // namespace

void release(transfer* t) noexcept {
  if (!t) return;
  if (t->waiter) t->waiter = nullptr;  // cannot happen in structured code; be safe
  t->disarm_read_timer();
  if (t->added) t->abort(nullptr);
  session_state* s = t->s;
  if (s) s->unlink(t);
  // Kept for reuse with its options set (an easy handle is costly to set up). The cookie
  // engine stays on with it: the jar is the session's share, not the handle's.
  if (s && s->is_open && s->spare.size() < 256) {
    try {
      s->spare.push_back(t);
      t->reset_response();
      t->body = http::body();
      // The body buffer is kept too, so that the next response of its size is written into
      // memory already mapped (no page faults, no allocation), within a bound: none above
      // keep_buffer, and at most keep_buffers bytes over all the session's spares.
      const std::size_t cap = t->buf.capacity();
      if (cap > transfer::keep_buffer || s->kept + cap > session_state::keep_buffers)
        t->buf.release();
      else
        s->kept += cap;
      return;
    } catch (...) {
    }
  }
  delete t;
}

}  // namespace detail

http::request session::request(std::string_view method, std::string_view url) {
  request_options none;
  return request(method, url, std::move(none));
}

http::request session::request(std::string_view method, std::string_view url, request_options options) {
  detail::session_state* s = state_.get();
  if (!s || !s->is_open) throw std::logic_error("aw::http::session: make requests inside the session's block (enter it first)");
  detail::transfer* t;
  if (!s->spare.empty()) {
    t = s->spare.back();
    s->spare.pop_back();
    s->kept -= t->buf.capacity();
  } else {
    t = new detail::transfer(s);
  }
  s->link(t);
  detail::transfer_ptr owned(t);
  try {
    detail::configure(t, s->opts, method, url, options);
  } catch (const error&) {
    t->abort(std::current_exception());  // raised where the request is awaited
  }
  return http::request(std::move(owned));
}

detail::transfer* request::start(bool stream) noexcept {
  detail::transfer* t = resp_.t_.get();
  if (t) {
    t->stream = stream;
    t->start();
  }
  return t;
}

}  // namespace aw::http
