// One request's transfer: the easy handle's options, libcurl's header and body callbacks,
// the waits of the task that reads the response, and the typed errors.
#include "internal.hpp"

#include <aw/http/session.hpp>
#include <aw/redact.hpp>

#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

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
  cancel_decode();
  dec.active = dec.deflate = dec.raw_tried = dec.seen = dec.started = dec.ended = dec.more = dec.finished = false;
  if (dec.coded.capacity() > keep_buffer)
    std::string().swap(dec.coded);
  else
    dec.coded.clear();
  dec.off = 0;
  decode_target = 0;
  max_body = 0;
  deadline = clock::time_point::max();
  if (owns_header_list) curl_slist_free_all(header_list);
  header_list = nullptr;
  owns_header_list = true;
  reset_upload();
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
  if (timeout.total.count() > 0) deadline = aw::now() + timeout.total;
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

void transfer::begin_body() noexcept {
  dec.active = false;
  auto coding = headers.get("content-encoding");
  if (!coding || method == "HEAD") return;
  std::string_view c = trim(*coding);
  int bits;
  if (headers::equal(c, "gzip") || headers::equal(c, "x-gzip"))
    bits = 15 + 16;
  else if (headers::equal(c, "deflate"))
    bits = 15;
  else
    return;  // identity, or a coding we did not ask for: the bytes as they came (httpx does the same)
  if (dec.ready ? inflateReset2(&dec.z, bits) != Z_OK : inflateInit2(&dec.z, bits) != Z_OK) {
    failure = make_error(CURLE_OK, "cannot start zlib");
    return;
  }
  dec.ready = true;
  dec.active = true;
  dec.deflate = bits == 15;
}

void transfer::schedule_decode() noexcept {
  if (dtimer.armed() || !s) return;
  dtimer.deadline = aw::now();
  s->lp->add_timer(dtimer);
}

void transfer::cancel_decode() noexcept {
  if (dtimer.armed() && s) s->lp->remove_timer(dtimer);
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

bool transfer::decode(std::size_t target) noexcept {
  if (!dec.active || failure || dec.finished) return false;
  bool progressed = false;
  try {
    std::size_t produced = 0;
    while (buffered() < target && produced < decode_step && (dec.pending() > 0 || dec.more)) {
      if (dec.ended) {
        // Bytes after the end: another gzip member (as gunzip reads them), else ignored.
        if (!dec.deflate && dec.pending() >= 2 && static_cast<unsigned char>(dec.coded[dec.off]) == 0x1f &&
            static_cast<unsigned char>(dec.coded[dec.off + 1]) == 0x8b) {
          inflateReset(&dec.z);
          dec.ended = false;
        } else {
          dec.off = dec.coded.size();
          break;
        }
      }
      const std::size_t room = std::min<std::size_t>(decode_step - produced, 64 * 1024);
      const std::size_t in = std::min<std::size_t>(dec.pending(), 1u << 30);
      char* to = buf.extend(room);
      dec.z.next_in = reinterpret_cast<Bytef*>(dec.coded.data() + dec.off);
      dec.z.avail_in = static_cast<uInt>(in);
      dec.z.next_out = reinterpret_cast<Bytef*>(to);
      dec.z.avail_out = static_cast<uInt>(room);
      int rc = inflate(&dec.z, Z_NO_FLUSH);
      const std::size_t out = room - dec.z.avail_out;
      dec.off += in - dec.z.avail_in;
      buf.commit(out);
      produced += out;
      progressed = progressed || out > 0 || in != dec.z.avail_in;
      dec.more = dec.z.avail_out == 0;
      if (out > 0) dec.started = true;
      if (rc == Z_STREAM_END) {
        dec.ended = true;
        dec.more = false;
      } else if (rc == Z_DATA_ERROR && dec.deflate && !dec.started && !dec.raw_tried) {
        inflateReset2(&dec.z, -15);  // not zlib-wrapped: try raw deflate from the start
        dec.raw_tried = true;
        dec.off = 0;
      } else if (rc == Z_BUF_ERROR) {
        dec.more = false;  // it needs more input
        break;
      } else if (rc != Z_OK) {
        std::string why = std::string("the body does not decode (") + (dec.deflate ? "deflate" : "gzip") + ": " +
                          (dec.z.msg ? dec.z.msg : "zlib error " + std::to_string(rc)) + ")";
        throw protocol_error("aw::http: " + describe() + ": " + why, redact(url.empty() ? request_url : url));
      }
    }
    if (dec.started && dec.off == dec.coded.size()) {
      dec.coded.clear();
      dec.off = 0;
    }
    if (produced > 0) touch();
    if (!stream && max_body && buffered() > max_body) std::rethrow_exception(too_large());
    if (done && dec.pending() == 0 && !dec.more) {
      if (dec.seen && !dec.ended)
        throw protocol_error(
            "aw::http: " + describe() + ": the body ends before its " + (dec.deflate ? "deflate" : "gzip") + " stream does",
            redact(url.empty() ? request_url : url));
      dec.finished = true;
    } else if (aw::now() >= deadline) {
      auto ms = std::to_string(timeout.total.count());
      throw timeout_error("aw::http: " + describe() + ": the total timeout of " + ms + " ms passed (decoding the body)",
                          redact(url.empty() ? request_url : url), timeout_phase::total);
    }
  } catch (...) {
    fail(std::current_exception());
    return true;
  }
  if (paused && dec.pending() < high_water / 2) unpause();
  return progressed;
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

// ---------------------------------------------------------------------------------------
// The reader's wait.

namespace {
bool reached(const transfer* t, wait_for what, std::size_t need) noexcept {
  switch (what) {
    case wait_for::headers:
      return t->headers_ready || t->done;
    case wait_for::data:
      return t->buffered() >= need || t->complete();
    case wait_for::done:
      return t->complete();
  }
  return true;
}
}  // namespace

bool transfer_wait::satisfied() const noexcept {
  return reached(t_, what_, need_) || (mode_ == mode::upload && t_->up.wanted && !t_->up.reading);
}

bool transfer_wait::pumping() const noexcept { return t_ && t_->up.active && !t_->done; }

aw::task<> transfer_wait::pump(transfer* t, wait_for what, std::size_t need) {
  while (!reached(t, what, need)) {
    if (t->up.wanted && !t->up.reading)
      co_await t->read_upload();
    else
      co_await transfer_wait(t, what, need, mode::upload);
  }
}

bool transfer_wait::await_ready() {
  if (!t_) return true;
  if (what_ != wait_for::headers) {
    t_->need_hint = what_ == wait_for::data ? need_ : 0;
    if (what_ == wait_for::done) t_->stream = false;
    // Decoded as far as this reader needs: a streamed body up to the high-water mark (no
    // further: the rest waits coded, small), a whole one to its end, a step at a time, each
    // on a turn of the loop of its own (the decode timer's). Not here: a reader of a gzip
    // bomb would find data every time and never let the loop turn.
    t_->decode_target = what_ == wait_for::done ? static_cast<std::size_t>(-1) : std::max(need_, transfer::high_water);
    if (t_->dec.active) {
      t_->decode(0);  // only the checks of a body whose coded bytes are all in
    } else {
      t_->unpause();
    }
    // A whole read of what a stream had buffered already.
    if (what_ == wait_for::done && t_->max_body && t_->buffered() > t_->max_body && !t_->failure) t_->fail(t_->too_large());
  }
  if (satisfied()) return true;
  if (what_ != wait_for::headers && t_->decodable()) t_->schedule_decode();  // the next step, on the next turn
  return false;
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
  if (pump_) pump_awaiter_.await_resume();  // the pump's aw::cancelled or failure
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

namespace {

// A multipart body with streamed parts, as a byte source: the parts' framing (held in
// memory) and their contents in order, each streamed part read from its own source.
struct multipart_stream {
  struct segment {
    std::string text;
    aw::byte_source source;  // when set, the segment is what it gives
  };
  struct state {
    std::vector<segment> segments;
    std::size_t index = 0, offset = 0;
  };
  std::shared_ptr<state> st;

  aw::task<std::size_t> operator()(std::span<char> buf) { return read(st, buf); }

  static aw::task<std::size_t> read(std::shared_ptr<state> st, std::span<char> buf) {
    std::size_t filled = 0;
    while (filled < buf.size() && st->index < st->segments.size()) {
      segment& seg = st->segments[st->index];
      if (seg.source) {
        if (filled > 0) break;  // hand over the framing first; the source fills the next buffer whole
        std::size_t n = co_await seg.source.receive_into(buf);
        if (n > 0) co_return n;
        seg.source = aw::byte_source();  // this part's end
        ++st->index;
        continue;
      }
      std::size_t k = std::min(buf.size() - filled, seg.text.size() - st->offset);
      std::memcpy(buf.data() + filled, seg.text.data() + st->offset, k);
      filled += k;
      st->offset += k;
      if (st->offset == seg.text.size()) {
        ++st->index;
        st->offset = 0;
      }
    }
    co_return filled;
  }
};

}  // namespace

body body::multipart(std::vector<part> parts) {
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
  // Held in memory unless a part streams: then the framing and the in-memory parts become
  // text segments between the streamed ones.
  auto stream = std::make_shared<multipart_stream::state>();
  std::optional<std::uint64_t> length = 0;
  std::string out;
  for (part& p : parts) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted(p.name) + "\"";
    if (!p.filename.empty()) out += "; filename=\"" + quoted(p.filename) + "\"";
    out += "\r\n";
    if (!p.content_type.empty() || !p.filename.empty())
      out += "Content-Type: " + (p.content_type.empty() ? std::string("application/octet-stream") : quoted(p.content_type)) + "\r\n";
    out += "\r\n";
    if (p.source) {
      if (length) length = p.size ? std::optional<std::uint64_t>(*length + out.size() + *p.size) : std::nullopt;
      stream->segments.push_back({std::exchange(out, {}), {}});
      stream->segments.push_back({{}, std::move(p.source)});
    } else {
      out += p.data;
    }
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  std::string content_type = "multipart/form-data; boundary=" + boundary;
  if (stream->segments.empty()) return body(std::move(out), std::move(content_type));
  if (length) *length += out.size();
  stream->segments.push_back({std::move(out), {}});
  return body(aw::byte_source(multipart_stream{std::move(stream)}), std::move(content_type), length);
}

// ---------------------------------------------------------------------------------------
// Preparing a request.

namespace detail {
namespace {

// Parses the request's URL (resolved against the session's base_url, with `params` appended)
// into t->uh, which libcurl then takes as it is (CURLOPT_CURLU): the URL is parsed once per
// request, not again by libcurl. Redaction for the error message happens only on failure.
void build_url(transfer* t, session_state* s, const session_options& opts, std::string_view url, const query& params) {
  auto fail = [&](CURLUcode rc) {
    std::string shown = redact(std::string(url));
    throw invalid_url("aw::http: invalid URL " + shown + ": " + curl_url_strerror(rc), shown);
  };
  if (!opts.base_url.empty() && s && !s->base_url) {  // parsed once per session
    CURLU* b = curl_url();
    if (!b) throw std::bad_alloc();
    if (CURLUcode rc = curl_url_set(b, CURLUPART_URL, opts.base_url.c_str(), 0)) {
      curl_url_cleanup(b);
      std::string base = redact(opts.base_url);
      throw invalid_url("aw::http: invalid base_url " + base + ": " + curl_url_strerror(rc), base);
    }
    s->base_url = b;
  }
  // The same URL as this (spare) transfer's last request, taken as it is: its parse is kept
  // (libcurl reads a CURLOPT_CURLU handle and never changes it). Saves a parse per request.
  const bool as_is = params.empty() && !(s && s->base_url);
  if (as_is && t->uh && t->uh_url == url) {
    t->request_url = t->uh_url;
    return;
  }
  t->uh_url.clear();
  t->uh_full.clear();
  if (t->uh) curl_url_cleanup(t->uh);
  t->uh = s && s->base_url ? curl_url_dup(s->base_url) : curl_url();
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
  t->max_body = ro.max_body_size ? *ro.max_body_size : so.max_body_size;

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
    if (so.cookies) curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
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
  const bool direct = proxy ? proxy->empty() : !so.trust_env || !(t->s && t->s->env_proxies);
  // All three every time (null: libcurl's default), as a spare handle has the last request's.
  curl_easy_setopt(e, CURLOPT_PROXY, direct ? "" : proxy ? proxy->c_str() : nullptr);
  // NOPROXY "" unless the environment decides: null makes libcurl read no_proxy and NO_PROXY
  // from the environment on every request, even a direct one.
  curl_easy_setopt(e, CURLOPT_NOPROXY, direct || proxy ? "" : nullptr);
  curl_easy_setopt(e, CURLOPT_USERAGENT, direct ? nullptr : so.user_agent.c_str());

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
  // Kept for reuse with its options set (an easy handle is costly to set up), except with
  // cookies on, where each handle is fresh (its CURLOPT_COOKIEFILE is set once, when made).
  if (s && s->is_open && !s->opts.cookies && s->spare.size() < 256) {
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
