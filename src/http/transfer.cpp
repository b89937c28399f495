// One request's transfer: its life in libcurl's multi handle, libcurl's header, body and read
// callbacks, the streamed request body, the response's body buffer, and the typed errors.
#include "internal.hpp"

#include <aw/redact.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace aw::http {
namespace detail {

namespace {

bool is_redirect(int status) noexcept { return status >= 300 && status < 400; }

}  // namespace

std::string redact(const std::string& url) { return aw::redact_credentials(url); }

void body_buffer::grow_to(std::size_t c) {
  if (c < mapped_from) {
    void* q = std::realloc(p_, c);
    if (!q) throw std::bad_alloc();
    p_ = static_cast<char*>(q);
    cap_ = c;
    return;
  }
  const std::size_t page = 4096;
  c = (c + page - 1) / page * page;
  void* q;
  if (cap_ >= mapped_from) {
    q = ::mremap(p_, cap_, c, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) throw std::bad_alloc();
  } else {
    q = ::mmap(nullptr, c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) throw std::bad_alloc();
    if (n_) std::memcpy(q, p_, n_);
    std::free(p_);
  }
  p_ = static_cast<char*>(q);
  cap_ = c;
}

void body_buffer::release() noexcept {
  if (cap_ >= mapped_from)
    ::munmap(p_, cap_);
  else
    std::free(p_);
  p_ = nullptr;
  n_ = cap_ = 0;
}

transfer::transfer(session_state* st) : s(st), easy(curl_easy_init()) {
  if (!easy) throw std::bad_alloc();
  dtimer.t = this;
  dtimer.fire = [](timer_node* n) {
    transfer* t = static_cast<decode_timer*>(n)->t;
    if (!t->waiter) return;  // the reader went away: decode when it asks again
    const bool progressed = t->decode(t->decode_target);
    t->notify();
    if (t->waiter && progressed && t->decodable()) t->schedule_decode();  // never a turn without progress
  };
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
  cancel_decode();
  if (dec.ready) inflateEnd(&dec.z);
  if (added && s && s->multi) curl_multi_remove_handle(s->multi, easy);
  curl_easy_cleanup(easy);
  if (owns_header_list) curl_slist_free_all(header_list);
  if (uh) curl_url_cleanup(uh);
}

std::string transfer::describe() const { return method + " " + redact(request_url); }

void transfer::clear_response() noexcept {
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
  start_reported = end_reported = mock_pending = false;
  failure = nullptr;
  errbuf[0] = 0;
  cancel_decode();
  dec.active = dec.deflate = dec.raw_tried = dec.seen = dec.started = dec.ended = dec.more = dec.finished = false;
  if (dec.coded.capacity() > keep_buffer)
    std::string().swap(dec.coded);
  else
    dec.coded.clear();
  dec.off = 0;
  decode_target = 0;
  deadline = clock::time_point::max();
}

void transfer::reset_response() noexcept {
  clear_response();
  stream = true;
  waiter = nullptr;
  max_body = 0;
  retries_left = retried = 0;
  if (owns_header_list) curl_slist_free_all(header_list);
  header_list = nullptr;
  owns_header_list = true;
  reset_upload();
}

std::optional<clock::duration> transfer::retry_wait() const {
  if (retries_left <= 0) return std::nullopt;
  bool by_status = false;
  if (!headers_ready) {
    if (!failure) return std::nullopt;
    try {
      std::rethrow_exception(failure);
    } catch (const connect_error&) {  // dns_error too
    } catch (const timeout_error& e) {
      if (e.phase() != timeout_phase::connect) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
  } else {
    if (std::ranges::find(retry.statuses, status) == retry.statuses.end()) return std::nullopt;
    by_status = true;
  }
  using std::chrono::milliseconds;
  const milliseconds cap = std::max(retry.max_backoff, milliseconds(0));
  milliseconds wait = std::max(retry.backoff, milliseconds(0));
  for (int i = 0; i < retried && wait < cap; ++i) wait *= 2;
  if (by_status) {
    if (auto ra = headers.get("retry-after")) {
      std::string_view v = trim(*ra);
      long long secs = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
      if (ec == std::errc() && p == v.data() + v.size()) {
        wait = milliseconds(std::max(secs, 0LL) * 1000);
      } else if (time_t when = curl_getdate(std::string(v).c_str(), nullptr); when != -1) {
        wait = milliseconds(std::max<long long>(static_cast<long long>(when - std::time(nullptr)), 0) * 1000);
      }
    }
  }
  return std::min(wait, cap);
}

void transfer::drop_attempt() noexcept {
  // Unfinished (a retried status's body not read), its connection is closed.
  if (added && s) curl_multi_remove_handle(s->multi, easy);
  added = false;
  done = true;
  disarm_read_timer();
  cancel_decode();
  trace.end(false);
}

void transfer::restart() noexcept {
  clear_response();
  --retries_left;
  ++retried;
  start();
}

void transfer::reset_upload() noexcept {
  up.source = aw::byte_source();  // drops the reference to the caller's stream
  up.buf.reset();                 // not kept in spare transfers: most requests send no stream
  up.off = up.len = 0;
  up.given = 0;
  up.length.reset();
  up.active = up.wanted = up.reading = up.eof = up.paused = false;
  up.scope = nullptr;
}

void transfer::consume(std::size_t n) noexcept {
  off += n;
  if (off >= buf.size()) {
    buf.clear();
    off = 0;
  } else if (off >= 64 * 1024 && off * 2 >= buf.size()) {
    buf.erase_front(off);
    off = 0;
  }
  if (paused && !dec.active && buffered() < high_water / 2) unpause();  // a coded body unpauses as it decodes
}

void transfer::unpause() noexcept {
  if (!paused) return;
  paused = false;
  apply_pause();  // may deliver the held-back data at once
}

void transfer::resume_upload() noexcept {
  if (!up.paused) return;
  up.paused = false;
  apply_pause();
}

void transfer::apply_pause() noexcept {
  // The pause state of both directions at once: unpausing one must not unpause the other.
  if (added) curl_easy_pause(easy, (paused ? CURLPAUSE_RECV : 0) | (up.paused ? CURLPAUSE_SEND : 0));
}

void transfer::start() noexcept {
  if (added || done || mock_pending) return;
  if (!s || !s->is_open) {
    abort(std::make_exception_ptr(error("aw::http: " + describe() + ": the session is not open", redact(request_url))));
    return;
  }
  if (observed(this)) [[unlikely]] {
    report_start(this);
    if (done) return;  // a hook threw
  }
  if (s->opts.transport) {
    mock_pending = true;  // the awaiting task runs the handler (transfer_wait::pump)
  } else {
    CURLMcode mc = curl_multi_add_handle(s->multi, easy);
    if (mc != CURLM_OK) {
      abort(std::make_exception_ptr(error("aw::http: " + describe() + ": " + curl_multi_strerror(mc), redact(request_url))));
      return;
    }
    added = true;
  }
  if (timeout.total.count() > 0) deadline = aw::now() + timeout.total;
  if (aw::detail::trace_on) [[unlikely]] {
    auto label = [this] {
      std::string l = "HTTP transfer ";
      l += describe();
      return l;
    };
    trace.begin("HTTP transfer", label);
  }
}

void transfer::notify() noexcept {
  if (waiter && waiter->satisfied()) waiter->wake();
}

void transfer::finish(CURLcode rc) noexcept {
  if (added && s) curl_multi_remove_handle(s->multi, easy);  // a complete transfer's connection goes back to the pool
  added = false;
  done = true;
  paused = false;
  if (up.scope) up.scope->cancel();  // nothing more will be sent: stop reading the source
  if (!failure && (rc != CURLE_OK || !headers_ready)) {
    try {
      // libcurl 7.88 reports success for a response cut before the end of its headers
      // (with the status line's code): nothing of it can be trusted, as httpx and aiohttp
      // judge too.
      failure = rc == CURLE_OK ? make_error(CURLE_OK, "the response ended in its headers") : make_error(rc);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (dec.active && !failure) {
    decode(0);  // no decoding, only the checks of a body that ended
    if (waiter && decodable()) schedule_decode();
  }
  trace.end(failure != nullptr);
  notify();
}

void transfer::abort(std::exception_ptr e) noexcept {
  // Removing an unfinished transfer makes libcurl close its connection: the rest of the
  // response would otherwise arrive on it.
  if (added && s) curl_multi_remove_handle(s->multi, easy);
  added = false;
  paused = false;
  cancel_decode();
  if (up.scope) up.scope->cancel();
  if (!done) {
    done = true;
    if (!failure) failure = std::move(e);
  }
  trace.end(failure != nullptr);
  notify();
}

void transfer::arm_read_timer() noexcept {
  if (timeout.read.count() <= 0 || !s) return;
  s->lp->remove_timer(timer);
  timer.deadline = aw::now() + timeout.read;
  s->lp->add_timer(timer);
}

void transfer::disarm_read_timer() noexcept {
  if (s) s->lp->remove_timer(timer);
}

void transfer::touch() noexcept {
  if (timer.armed()) arm_read_timer();
}

std::exception_ptr transfer::make_error(CURLcode rc, const char* reason) {
  // libcurl's own text may quote a piece of the URL.
  std::string detail = scrub_credentials(reason      ? std::string(reason)
                                         : errbuf[0] ? std::string(trim(errbuf))
                                                     : std::string(curl_easy_strerror(rc)),
                                         request_url);
  std::string u = redact(url.empty() ? request_url : url);
  if (char* eff = nullptr; curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) u = redact(eff);
  std::string what = "aw::http: " + method + " " + u + ": " + detail;
  if (rc == CURLE_OK) return std::make_exception_ptr(protocol_error(what, u));  // a fault libcurl let through
  if (rc == CURLE_OUT_OF_MEMORY && !headers_ready) {
    // libcurl 7.88 keeps a header line in a buffer of at most 100 KiB (CURL_MAX_HTTP_HEADER)
    // and reports a longer one as out of memory.
    return std::make_exception_ptr(
        protocol_error("aw::http: " + method + " " + u + ": a response header line is too large (libcurl's limit is 100 KiB)", u));
  }
  switch (rc) {
    case CURLE_URL_MALFORMAT:  // the URL was checked before: a redirect's Location is bad
      return std::make_exception_ptr(invalid_url(what, u));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return std::make_exception_ptr(dns_error(what, u));
    case CURLE_COULDNT_CONNECT:
    case CURLE_PROXY:  // the proxy's handshake failed
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
    case CURLE_SSL_CLIENTCERT:
      return std::make_exception_ptr(tls_error(what, u));
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t pre = 0;
      curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
      bool connect_phase = pre == 0 && (timeout.total.count() <= 0 || (timeout.connect.count() > 0 && timeout.connect <= timeout.total));
      return std::make_exception_ptr(timeout_error(what, u, connect_phase ? timeout_phase::connect : timeout_phase::total));
    }
    case CURLE_TOO_MANY_REDIRECTS:
      return std::make_exception_ptr(too_many_redirects(what, u));
    case CURLE_SEND_FAIL_REWIND:  // a 307/308 (or an auth retry) would send a streamed body again
      return std::make_exception_ptr(error(what + " (a streamed body is read once and cannot be sent again)", u));
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
      t->version.assign(line.substr(0, sp));  // assigned: a spare's strings keep their capacity
      std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
      int code = 0;
      auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + std::min<std::size_t>(rest.size(), 3), code);
      if (ec != std::errc() || code < 100 || code > 999) {
        t->failure = t->make_error(CURLE_OK, "an invalid status line");  // finish() raises it
        return 0;
      }
      t->status = code;
      t->reason.assign(trim(rest.substr(ptr - rest.data())));
      char* eff = nullptr;
      curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &eff);
      t->url = eff ? eff : t->request_url;
    } else if (trim(line).empty()) {
      // The end of a response's headers. It is the final one unless it is informational or
      // a redirect libcurl is about to follow.
      bool followed = t->follow && is_redirect(t->status) && t->headers.contains("location");
      if (t->status >= 200 && !followed && !t->headers_ready) {
        t->headers_ready = true;
        t->begin_body();
        if (auto cl = t->headers.get("content-length"); cl && !t->stream && t->method != "HEAD") {  // read whole: one allocation
          std::size_t n = 0;
          std::from_chars(cl->data(), cl->data() + cl->size(), n);
          if (t->dec.active)
            t->dec.coded.reserve(std::min<std::size_t>(n, 64 << 20));
          else
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
    t->begin_body();
  }
  if (t->dec.active) {
    // Paused once 256 KiB of coded bytes wait, read whole or streamed: decoding sets the pace,
    // and one step of libcurl's reads no more than that (unpaused, it read what the 4 MiB
    // receive buffer held: 20 ms of one step).
    if (t->dec.pending() >= high_water) {
      t->paused = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    try {
      if (t->dec.started && t->dec.off > 0 && t->dec.off * 2 >= t->dec.coded.size()) {  // before it grows: reuse the space read
        t->dec.coded.erase(0, t->dec.off);
        t->dec.off = 0;
      }
      t->dec.coded.append(data, len);
    } catch (...) {
      return 0;
    }
    t->dec.seen = true;
    t->touch();
    if (t->waiter) t->schedule_decode();  // not here: one call of libcurl's may bring many of these
    return len;
  }
  if (t->stream && t->buffered() >= high_water && t->buffered() >= t->need_hint) {
    t->paused = true;
    return CURL_WRITEFUNC_PAUSE;  // libcurl keeps this data and hands it over again on unpause
  }
  if (!t->stream && t->max_body && t->buffered() + len > t->max_body) {
    t->failure = t->too_large();  // finish() raises it
    return 0;
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

void transfer::fail(std::exception_ptr e) noexcept {
  if (!failure) failure = std::move(e);
  abort(nullptr);  // stops libcurl where it still runs, and wakes the reader
}

std::exception_ptr transfer::too_large() {
  std::string u = redact(url.empty() ? request_url : url);
  return std::make_exception_ptr(body_too_large(
      "aw::http: " + method + " " + u + ": the body is larger than max_body_size (" + std::to_string(max_body) + " bytes)", u, max_body));
}

std::size_t transfer::on_read(char* data, std::size_t size, std::size_t n, void* p) {
  auto* t = static_cast<transfer*>(p);
  upload_state& up = t->up;
  if (up.off < up.len) {
    std::size_t k = std::min(size * n, up.len - up.off);
    std::memcpy(data, up.buf.get() + up.off, k);
    up.off += k;
    if (up.off == up.len) {
      up.off = up.len = 0;
      // Read the next chunk while libcurl sends this one.
      if (!up.reading && !up.eof && !(up.length && up.given >= *up.length)) {
        up.wanted = true;
        t->notify();
      }
    }
    t->touch();
    return k;
  }
  if (!up.active || up.eof || (up.length && up.given >= *up.length)) return 0;  // the end of the body
  if (!up.reading && !up.wanted) {
    up.wanted = true;
    t->notify();
  }
  up.paused = true;  // libcurl pauses the send direction until resume_upload()
  return CURL_READFUNC_PAUSE;
}

aw::task<> transfer::read_upload() {
  up.wanted = false;
  up.reading = true;
  std::size_t n = 0;
  std::exception_ptr err;
  {
    aw::cancel_scope scope;  // cancelled by finish() and abort(): the transfer ended
    up.scope = &scope;
    try {
      if (!up.buf) up.buf = std::make_unique<char[]>(upload_state::chunk);
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        n = co_await up.source.receive_into(std::span<char>(up.buf.get(), upload_state::chunk));
      });
    } catch (...) {
      err = std::current_exception();
    }
    up.scope = nullptr;
  }
  up.reading = false;
  if (err && aw::is_cancellation(err)) {
    // The caller's scope was cancelled while the source read: take the request out of libcurl.
    abort(std::make_exception_ptr(error("aw::http: " + describe() + ": the request was cancelled", redact(request_url))));
    std::rethrow_exception(err);
  }
  if (done) co_return;  // the transfer ended while the source was read
  if (err) {
    abort(err);  // the source's own exception, raised where the request is awaited
    co_return;
  }
  if (up.length && (n == 0 ? up.given < *up.length : *up.length - up.given < n)) {
    std::string what = n == 0 ? "ended after " + std::to_string(up.given) + " bytes" : "gave more bytes";
    abort(std::make_exception_ptr(
        error("aw::http: " + describe() + ": the body's source " + what + " than its content_length " + std::to_string(*up.length),
              redact(request_url))));
    co_return;
  }
  if (n == 0) {
    up.eof = true;
  } else {
    up.off = 0;
    up.len = n;
    up.given += n;
  }
  resume_upload();
}

}  // namespace detail
}  // namespace aw::http
