// One request's transfer: the easy handle's options, libcurl's header and body callbacks,
// the waits of the task that reads the response, and the typed errors.
#include "internal.hpp"

#include <aw/http/session.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>

namespace aw::http {
namespace detail {

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool is_redirect(int status) noexcept { return status >= 300 && status < 400; }

}  // namespace

std::string redact(const std::string& url) {
  CURLU* u = curl_url();
  std::string out = url;
  if (u && curl_url_set(u, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    char* pw = nullptr;
    if (curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK) {
      curl_free(pw);
      curl_url_set(u, CURLUPART_PASSWORD, "***", 0);
      char* s = nullptr;
      if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
        out = s;
        curl_free(s);
      }
    }
  } else if (auto at = url.find('@'); at != std::string::npos) {
    out = "<invalid URL with credentials>";
  }
  if (u) curl_url_cleanup(u);
  return out;
}

transfer::transfer(session_state* st) : s(st), easy(curl_easy_init()) {
  if (!easy) throw std::bad_alloc();
  timer.t = this;
  timer.fire = [](timer_node* n) {
    transfer* t = static_cast<read_timer*>(n)->t;
    if (!t->waiter || t->done) return;
    curl_off_t pre = 0;
    curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    if (pre == 0) {  // still connecting: that is the connect timeout's business
      t->arm_read_timer();
      return;
    }
    auto ms = std::to_string(t->timeout.read.count());
    t->abort(std::make_exception_ptr(timeout_error("aw::http: " + t->describe() + ": no data for " + ms + " ms (read timeout)",
                                                   redact(t->url.empty() ? t->request_url : t->url), timeout_phase::read)));
  };
}

transfer::~transfer() {
  if (timer.armed() && s) s->lp->remove_timer(timer);
  if (added && s && s->multi) curl_multi_remove_handle(s->multi, easy);
  curl_easy_cleanup(easy);
  curl_slist_free_all(header_list);
}

std::string transfer::describe() const { return method + " " + redact(request_url); }

void transfer::reset_response() noexcept {
  status = 0;
  reason.clear();
  version.clear();
  url.clear();
  headers.clear();
  history.clear();
  buf.clear();
  off = 0;
  lent = 0;
  need_hint = 0;
  added = headers_ready = done = paused = false;
  stream = true;
  failure = nullptr;
  waiter = nullptr;
  errbuf[0] = 0;
  curl_slist_free_all(header_list);
  header_list = nullptr;
}

void transfer::consume(std::size_t n) noexcept {
  off += n;
  if (off >= buf.size()) {
    buf.clear();
    off = 0;
  } else if (off >= 64 * 1024 && off * 2 >= buf.size()) {
    buf.erase(0, off);
    off = 0;
  }
  if (paused && buffered() < high_water / 2) unpause();
}

void transfer::unpause() noexcept {
  if (!paused) return;
  paused = false;
  if (added) curl_easy_pause(easy, CURLPAUSE_CONT);  // may deliver the held-back data at once
}

void transfer::start() noexcept {
  if (added || done) return;
  if (!s || !s->is_open) {
    abort(std::make_exception_ptr(error("aw::http: " + describe() + ": the session is not open", redact(request_url))));
    return;
  }
  CURLMcode mc = curl_multi_add_handle(s->multi, easy);
  if (mc != CURLM_OK) {
    abort(std::make_exception_ptr(error("aw::http: " + describe() + ": " + curl_multi_strerror(mc), redact(request_url))));
    return;
  }
  added = true;
}

void transfer::notify() noexcept {
  if (waiter && waiter->satisfied()) waiter->wake();
}

void transfer::finish(CURLcode rc) noexcept {
  if (added && s) curl_multi_remove_handle(s->multi, easy);  // a complete transfer's connection goes back to the pool
  added = false;
  done = true;
  paused = false;
  if (rc != CURLE_OK && !failure) {
    try {
      failure = make_error(rc);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  notify();
}

void transfer::abort(std::exception_ptr e) noexcept {
  // Removing an unfinished transfer makes libcurl close its connection: the rest of the
  // response would otherwise arrive on it.
  if (added && s) curl_multi_remove_handle(s->multi, easy);
  added = false;
  paused = false;
  if (!done) {
    done = true;
    if (!failure) failure = std::move(e);
  }
  notify();
}

void transfer::arm_read_timer() noexcept {
  if (timeout.read.count() <= 0 || !s) return;
  s->lp->remove_timer(timer);
  timer.deadline = clock::now() + timeout.read;
  s->lp->add_timer(timer);
}

void transfer::disarm_read_timer() noexcept {
  if (s) s->lp->remove_timer(timer);
}

void transfer::touch() noexcept {
  if (timer.armed()) arm_read_timer();
}

std::exception_ptr transfer::make_error(CURLcode rc) {
  std::string detail = errbuf[0] ? std::string(trim(errbuf)) : std::string(curl_easy_strerror(rc));
  std::string u = redact(url.empty() ? request_url : url);
  if (char* eff = nullptr; curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) u = redact(eff);
  std::string what = "aw::http: " + method + " " + u + ": " + detail;
  switch (rc) {
    case CURLE_URL_MALFORMAT:  // the URL was checked before: a redirect's Location is bad
      return std::make_exception_ptr(invalid_url(what, u));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return std::make_exception_ptr(dns_error(what, u));
    case CURLE_COULDNT_CONNECT:
      return std::make_exception_ptr(connect_error(what, u));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      return std::make_exception_ptr(tls_error(what, u));
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t pre = 0;
      curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
      bool connect_phase = pre == 0 && (timeout.total.count() <= 0 || (timeout.connect.count() > 0 && timeout.connect <= timeout.total));
      return std::make_exception_ptr(timeout_error(what, u, connect_phase ? timeout_phase::connect : timeout_phase::total));
    }
    case CURLE_TOO_MANY_REDIRECTS:
      return std::make_exception_ptr(too_many_redirects(what, u));
    case CURLE_UNSUPPORTED_PROTOCOL:  // the scheme was checked before: an HTTP/0.9 reply, a redirect to ftp://
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      return std::make_exception_ptr(protocol_error(what, u));
    default:
      return std::make_exception_ptr(error(what, u));
  }
}

std::size_t transfer::on_header(char* data, std::size_t size, std::size_t n, void* p) {
  auto* t = static_cast<transfer*>(p);
  const std::size_t len = size * n;
  std::string_view line(data, len);
  try {
    if (line.starts_with("HTTP/")) {
      // A new response: the one before it was a redirect being followed, or a 1xx.
      if (is_redirect(t->status)) t->history.push_back(redirect{t->status, std::move(t->url), std::move(t->headers)});
      t->headers.clear();
      t->url.clear();
      line = trim(line);
      auto sp = line.find(' ');
      t->version = std::string(line.substr(0, sp));
      std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
      int code = 0;
      auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + std::min<std::size_t>(rest.size(), 3), code);
      if (ec != std::errc() || code < 100 || code > 999) return 0;  // libcurl reports the write error
      t->status = code;
      t->reason = std::string(trim(rest.substr(ptr - rest.data())));
      char* eff = nullptr;
      curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &eff);
      t->url = eff ? eff : t->request_url;
    } else if (trim(line).empty()) {
      // The end of a response's headers. It is the final one unless it is informational or
      // a redirect libcurl is about to follow.
      bool followed = t->follow && is_redirect(t->status) && t->headers.contains("location");
      if (t->status >= 200 && !followed && !t->headers_ready) {
        t->headers_ready = true;
        if (auto cl = t->headers.get("content-length"); cl && !t->stream && t->method != "HEAD") {  // read whole: one allocation
          std::size_t n = 0;
          std::from_chars(cl->data(), cl->data() + cl->size(), n);
          t->buf.reserve(std::min<std::size_t>(n, 64 << 20));
        }
        t->notify();
      }
    } else if ((line.front() == ' ' || line.front() == '\t') && !t->headers.empty()) {
      // obs-fold: a continuation of the previous field's value (the fields are ours to edit;
      // headers has no mutable iteration in its public interface)
      auto& last = const_cast<std::string&>(std::prev(t->headers.end())->second);
      last += ' ';
      last += trim(line);
    } else {
      auto colon = line.find(':');
      if (colon == std::string_view::npos) return len;  // not a field: ignored, as libcurl does
      t->headers.add(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    }
    t->touch();
    return len;
  } catch (...) {
    return 0;  // out of memory: fails the transfer
  }
}

std::size_t transfer::on_write(char* data, std::size_t size, std::size_t n, void* p) {
  auto* t = static_cast<transfer*>(p);
  const std::size_t len = size * n;
  if (!t->headers_ready) {
    if (t->follow && is_redirect(t->status) && t->headers.contains("location")) return len;  // a redirect's body
    t->headers_ready = true;
  }
  if (t->stream && t->buffered() >= high_water && t->buffered() >= t->need_hint) {
    t->paused = true;
    return CURL_WRITEFUNC_PAUSE;  // libcurl keeps this data and hands it over again on unpause
  }
  try {
    t->buf.append(data, len);
  } catch (...) {
    return 0;
  }
  t->touch();
  t->notify();
  return len;
}

// ---------------------------------------------------------------------------------------
// The reader's wait.

bool transfer_wait::satisfied() const noexcept {
  switch (what_) {
    case wait_for::headers:
      return t_->headers_ready || t_->done;
    case wait_for::data:
      return t_->buffered() >= need_ || t_->done;
    case wait_for::done:
      return t_->done;
  }
  return true;
}

bool transfer_wait::await_ready() {
  if (!t_) return true;
  if (what_ != wait_for::headers) {
    t_->need_hint = what_ == wait_for::data ? need_ : 0;
    if (what_ == wait_for::done) t_->stream = false;
    t_->unpause();
  }
  return satisfied();
}

bool transfer_wait::suspend(aw::detail::task_context* ctx, std::coroutine_handle<> h) {
  ctx_ = ctx;
  if (ctx_ && ctx_->cancelled()) {  // a cancellation point: raise without waiting
    cancelled_ = true;
    return false;
  }
  h_ = h;
  t_->waiter = this;
  interrupt = [](aw::detail::cancellable* c) noexcept {
    auto* self = static_cast<transfer_wait*>(c);
    self->cancelled_ = true;
    transfer* t = self->t_;
    t->waiter = nullptr;
    t->disarm_read_timer();
    t->abort(std::make_exception_ptr(error("aw::http: " + t->describe() + ": the request was cancelled", redact(t->request_url))));
    loop::current().schedule(self->h_);
  };
  if (ctx_) ctx_->waiting = this;
  t_->arm_read_timer();
  return true;
}

void transfer_wait::wake() noexcept {
  t_->waiter = nullptr;
  t_->disarm_read_timer();
  if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  loop::current().schedule(h_);
}

transfer_wait::~transfer_wait() {
  if (t_ && t_->waiter == this) {  // the waiting frame was destroyed
    t_->waiter = nullptr;
    t_->disarm_read_timer();
    if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  }
}

void transfer_wait::await_resume() {
  // Forget the transfer: the response the caller gets may be destroyed before this awaiter.
  transfer* t = std::exchange(t_, nullptr);
  if (!t) throw error("aw::http: the response was closed", "");
  t->need_hint = 0;
  if (cancelled_) throw cancelled{};
  if (t->failure) {
    bool short_of_it =
        what_ == wait_for::done || (what_ == wait_for::headers && !t->headers_ready) || (what_ == wait_for::data && t->buffered() < need_);
    if (short_of_it) std::rethrow_exception(t->failure);
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Encoding.

std::string url_encode(std::string_view s, bool form) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ' && form) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form_encode(const query& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += url_encode(k, true);
    out += '=';
    out += url_encode(v, true);
  }
  return out;
}

body body::multipart(const std::vector<part>& parts) {
  static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::string boundary = "aw-http-";
  for (int i = 0; i < 24; ++i) boundary += alphabet[rd() % 36];
  // Quotes and line breaks would end the quoted name early: percent-encode them, as browsers do.
  auto quoted = [](std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '"')
        out += "%22";
      else if (c == '\r')
        out += "%0D";
      else if (c == '\n')
        out += "%0A";
      else
        out += c;
    }
    return out;
  };
  std::string out;
  for (const part& p : parts) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted(p.name) + "\"";
    if (!p.filename.empty()) out += "; filename=\"" + quoted(p.filename) + "\"";
    out += "\r\n";
    if (!p.content_type.empty() || !p.filename.empty())
      out += "Content-Type: " + (p.content_type.empty() ? std::string("application/octet-stream") : quoted(p.content_type)) + "\r\n";
    out += "\r\n";
    out += p.data;
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  return body(std::move(out), "multipart/form-data; boundary=" + boundary);
}

// ---------------------------------------------------------------------------------------
// Preparing a request.

namespace detail {
namespace {

std::string build_url(const session_options& opts, std::string_view url, const query& params, const std::string& shown) {
  CURLU* u = curl_url();
  if (!u) throw std::bad_alloc();
  struct guard {
    CURLU* u;
    ~guard() { curl_url_cleanup(u); }
  } g{u};
  auto fail = [&](CURLUcode rc) { throw invalid_url("aw::http: invalid URL " + shown + ": " + curl_url_strerror(rc), shown); };
  std::string target(url);
  if (!opts.base_url.empty()) {
    if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, opts.base_url.c_str(), 0)) {
      std::string base = redact(opts.base_url);
      throw invalid_url("aw::http: invalid base_url " + base + ": " + curl_url_strerror(rc), base);
    }
  }
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, target.c_str(), CURLU_NON_SUPPORT_SCHEME)) fail(rc);
  char* scheme = nullptr;
  if (CURLUcode rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) fail(rc);
  std::string sch = scheme;
  curl_free(scheme);
  if (sch != "http" && sch != "https")
    throw invalid_url("aw::http: invalid URL " + shown + ": the scheme must be http or https, not " + sch, shown);
  for (const auto& [k, v] : params) {
    std::string pair = url_encode(k) + "=" + url_encode(v);
    if (CURLUcode rc = curl_url_set(u, CURLUPART_QUERY, pair.c_str(), CURLU_APPENDQUERY)) fail(rc);
  }
  char* full = nullptr;
  if (CURLUcode rc = curl_url_get(u, CURLUPART_URL, &full, 0)) fail(rc);
  std::string out = full;
  curl_free(full);
  return out;
}

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

void configure(transfer* t, const session_options& so, std::string_view method, std::string_view url, request_options& ro) {
  CURL* e = t->easy;
  t->method = std::string(method);
  if (method.empty() || !std::ranges::all_of(method, [](char c) { return c > ' ' && c < 127 && !std::strchr("()<>@,;:\\\"/[]?={}", c); }))
    throw error("aw::http: invalid method \"" + t->method + "\"", "");
  t->request_url = std::string(url);
  t->request_url = build_url(so, url, ro.params, redact(std::string(url)));
  t->body = std::move(ro.body);
  t->timeout = ro.timeout ? *ro.timeout : so.timeout;
  t->follow = ro.follow_redirects ? *ro.follow_redirects : so.follow_redirects;
  t->max_redirects = so.max_redirects;

  curl_easy_setopt(e, CURLOPT_URL, t->request_url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, static_cast<void*>(t));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, static_cast<void*>(t));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(t));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(so.max_redirects));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t->timeout.connect.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->timeout.total.count()));
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl decodes
  curl_easy_setopt(e, CURLOPT_USERAGENT, so.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, so.verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, so.verify ? 2L : 0L);
  if (!so.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, so.ca_file.c_str());
  if (!so.client_cert.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, so.client_cert.c_str());
  if (!so.client_key.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, so.client_key.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, so.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024);  // four times libcurl's default: fewer reads and callbacks for large bodies
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);            // prefer multiplexing on an HTTP/2 connection to opening another
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (!so.trust_env) curl_easy_setopt(e, CURLOPT_PROXY, "");
  if (t->s && t->s->share) curl_easy_setopt(e, CURLOPT_SHARE, t->s->share);
  if (so.cookies) curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");

  // Headers: the session's, unless the request has its own of that name.
  for (const auto& [k, v] : so.headers)
    if (!ro.headers.contains(k)) append_header(t->header_list, k, v);
  for (const auto& [k, v] : ro.headers) append_header(t->header_list, k, v);
  const bool has_body = t->body.has_value();
  if (has_body && !ro.headers.contains("content-type") && !so.headers.contains("content-type"))
    append_header(t->header_list, "Content-Type", t->body.content_type());
  // No "Expect: 100-continue" round trip before a body (libcurl adds one above 1 KiB).
  t->header_list = curl_slist_append(t->header_list, "Expect:");

  if (method == "GET" && !has_body) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    const bool wants_body = has_body || method == "POST" || method == "PUT" || method == "PATCH";
    if (wants_body) {
      // POST semantics on redirects (303 and, as browsers do, 301/302 turn into GET) hold
      // for POST only; other methods keep their method and body.
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.data().size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data().c_str());
      if (!has_body && !ro.headers.contains("content-type")) t->header_list = curl_slist_append(t->header_list, "Content-Type:");
    }
    if (method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method.c_str());
  }
  if (!t->header_list) throw std::bad_alloc();
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
  // Kept for reuse (an easy handle is costly to set up), except with cookies on: libcurl
  // 7.88's curl_easy_reset leaks the CURLOPT_COOKIEFILE list.
  if (s && s->is_open && !s->opts.cookies && s->spare.size() < 256) {
    try {
      s->spare.push_back(t);
      t->reset_response();
      t->body = http::body();
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
    curl_easy_reset(t->easy);
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
