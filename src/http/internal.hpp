// aw::http's internals: the session's libcurl multi handle driven by the loop, and one
// transfer per request.
//
// How the loop drives libcurl (the multi-socket interface):
//   libcurl --CURLMOPT_SOCKETFUNCTION--> socket_record::want --sync()--> one-shot fd waits
//   fd wait completes --> curl_multi_socket_action(fd) --> transfers progress --> waiters woken
//   libcurl --CURLMOPT_TIMERFUNCTION--> session_state::timer (one loop timer)
// Nothing but scheduling happens inside libcurl's callbacks: a waiter is resumed on a later
// turn, never from inside curl, so curl is never re-entered from its own callbacks.
//
// CAUTION, lifetimes: an fd wait's completion arrives after it was started, even when it was
// cancelled, and maybe after libcurl closed the socket (its number may be reused by then).
// So a socket_record is a heap object that outlives libcurl's interest in the socket: closing
// it cancels its pending waits and it frees itself when the last completion arrives. The
// session's exit waits for those completions (session_state::draining).
//
// A streamed request body (body::stream, multipart with a streamed part) is bridged from the
// async source to libcurl's synchronous read callback, with no thread and no whole-body buffer:
//   libcurl --CURLOPT_READFUNCTION--> on_read: hands over what `upload` buffers; when that
//     is empty, returns CURL_READFUNC_PAUSE and marks the upload `wanted`
//   the task awaiting the transfer (transfer_wait, in pumping mode) wakes for `wanted`, reads
//     the next chunk from the source in its own task (so the caller's cancel scopes reach the
//     read), then unpauses the send direction (curl_easy_pause)
// The source read runs inside a cancel scope the transfer cancels when it ends (a timeout, an
// early response, the session closing), so a silent source never holds a finished request.
//
// A coded body (Content-Encoding gzip or deflate) is decoded here, not by libcurl, whose
// decoding inflates everything one read brings inside curl_multi_socket_action (a gzip bomb's
// 64 KiB read became 64 MiB in one step of the loop, and a paused stream kept it all):
//   libcurl --CURLOPT_WRITEFUNCTION--> on_write appends the coded bytes to `dec.coded`
//     (and pauses libcurl when 256 KiB of them wait)
//   the reader's wait, then the decode timer on later turns while it waits, inflate them into
//     `buf`: at most decode_step bytes per step of the loop, and only as far as the reader
//     needs (its chunk, the high-water mark, the whole body), checking max_body_size and the
//     total timeout between steps.
#pragma once

#include <aw/byte_source.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/detail/debug.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/detail/trace.hpp>
#include <aw/http/options.hpp>
#include <aw/http/response.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <curl/curl.h>
#include <poll.h>
#include <zlib.h>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http::detail {

struct session_state;

struct socket_record {
  struct wait : fd_wait {
    socket_record* rec = nullptr;
    bool pending = false;
    bool cancelling = false;
  };
  socket_record(session_state* s, curl_socket_t fd) noexcept : s(s), fd(fd) {
    in.rec = out.rec = this;
    in.fd = out.fd = fd;
    in.events = POLLIN;
    out.events = POLLOUT;
  }
  void sync();
  void close();
  void free_if_idle() noexcept;
  static void on_ready(io_op* op, int result);

  session_state* s;
  curl_socket_t fd;
  wait in, out;
  int want = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits
  bool closed = false;
  bool busy = false;  // inside curl_multi_socket_action on its behalf
  std::size_t index = 0;
};

// The response body's buffer. A large one (1 MiB and up) is a mapping of its own, grown with
// mremap: its pages move, nothing is copied. A body read whole then grows to a gigabyte
// without a step of the loop copying half of it, as std::string's doubling did (a 512 MiB
// copy into fresh pages blocked the loop for a second; realloc copies too, below glibc's
// mmap threshold, which rises to 32 MiB). Bytes are added without being zeroed first
// (extend, then commit what was written).
class body_buffer {
 public:
  body_buffer() = default;
  ~body_buffer() { release(); }
  body_buffer(const body_buffer&) = delete;
  body_buffer& operator=(const body_buffer&) = delete;

  std::size_t size() const noexcept { return n_; }
  std::size_t capacity() const noexcept { return cap_; }
  char* data() noexcept { return p_; }
  const char* data() const noexcept { return p_; }
  operator std::string_view() const noexcept { return {p_, n_}; }  // NOLINT: implicit on purpose
  void clear() noexcept { n_ = 0; }
  void erase_front(std::size_t k) noexcept {
    std::memmove(p_, p_ + k, n_ - k);
    n_ -= k;
  }
  void reserve(std::size_t c) {
    if (c > cap_) grow_to(c);
  }
  // Room for `k` more bytes at the end; commit() counts those written.
  char* extend(std::size_t k) {
    if (k > cap_ - n_) grow_to(std::max(n_ + k, cap_ * 2));
    return p_ + n_;
  }
  void commit(std::size_t k) noexcept { n_ += k; }
  void append(const char* d, std::size_t k) {
    if (k == 0) return;
    std::memcpy(extend(k), d, k);
    n_ += k;
  }
  void release() noexcept;

 private:
  void grow_to(std::size_t c);
  static constexpr std::size_t mapped_from = std::size_t{1} << 20;
  char* p_ = nullptr;
  std::size_t n_ = 0, cap_ = 0;
};

// In its session's `live` list from session::request until it is released or the session closes.
struct transfer : aw::detail::intrusive_list_item<transfer> {
  struct read_timer : timer_node {
    transfer* t = nullptr;
  };
  struct decode_timer : timer_node {
    transfer* t = nullptr;
  };

  explicit transfer(session_state* s);
  ~transfer();

  std::size_t buffered() const noexcept { return buf.size() - off; }
  void consume(std::size_t n) noexcept;
  void settle() noexcept { consume(std::exchange(lent, 0)); }
  void reset_response() noexcept;
  void clear_response() noexcept;  // the last response only: the request stays as configured
  // Retries: the wait before the next attempt if this one's outcome calls for it (and some
  // are left); drop_attempt() takes it out of libcurl, restart() sends it again.
  std::optional<clock::duration> retry_wait() const;
  void drop_attempt() noexcept;
  void restart() noexcept;
  void start() noexcept;
  void notify() noexcept;
  void finish(CURLcode rc) noexcept;
  void abort(std::exception_ptr e) noexcept;
  void unpause() noexcept;
  void arm_read_timer() noexcept;
  void disarm_read_timer() noexcept;
  void touch() noexcept;
  // The streamed body: one read of the source into `up.buf`, then libcurl is unpaused.
  aw::task<> read_upload();
  void resume_upload() noexcept;
  void apply_pause() noexcept;
  // The coded body: begin_body() at the end of the final headers; decode() inflates until
  // `target` bytes are buffered (at most decode_step per call) and sets what it finds (a
  // corrupt or cut-short body, max_body_size, the total timeout) as the transfer's failure.
  void begin_body() noexcept;
  bool decode(std::size_t target) noexcept;  // false: nothing moved
  bool decodable() const noexcept { return dec.active && !failure && !dec.finished && (dec.pending() > 0 || dec.more); }
  void schedule_decode() noexcept;
  void cancel_decode() noexcept;
  // libcurl is done, and so is the decoding of a coded body.
  bool complete() const noexcept { return done && (failure || !dec.active || dec.finished); }
  void fail(std::exception_ptr e) noexcept;
  std::exception_ptr too_large();
  // The typed error for libcurl's result `rc` (`reason` replaces libcurl's message); for
  // CURLE_OK, a protocol_error: a fault of the response that libcurl let through.
  std::exception_ptr make_error(CURLcode rc, const char* reason = nullptr);
  std::string describe() const;  // "GET http://host/path" without a password

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* p);
  static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* p);
  static std::size_t on_read(char* data, std::size_t size, std::size_t n, void* p);

  session_state* s;  // null once the session is gone
  CURL* easy = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* header_list = nullptr;
  bool owns_header_list = true;  // false: it is the session's plain_headers
  CURLU* uh = nullptr;           // the parsed request URL, handed to libcurl (CURLOPT_CURLU)
  std::string uh_url;            // the URL `uh` was parsed from when it was taken as it is, else empty
  std::string uh_full;           // `uh` written out by libcurl (normalised): the effective URL

  // The request.
  std::string method;
  std::string request_url;
  http::body body;
  http::timeouts timeout;
  bool follow = true;
  int max_redirects = 10;
  bool raise_status = false;
  http::retry retry;                                      // the policy, where retries_left > 0
  int retries_left = 0;                                   // retries still allowed: the wait is in its retry phase while > 0
  int retried = 0;                                        // raise_for_status
  std::size_t max_body = 0;                               // max_body_size; 0: none
  clock::time_point deadline = clock::time_point::max();  // of the total timeout

  // The response.
  int status = 0;
  std::string reason, version, url;
  http::headers headers;
  std::vector<redirect> history;
  body_buffer buf;
  std::size_t off = 0;
  std::size_t lent = 0;       // handed to a reader as a view: consumed at the next read
  std::size_t need_hint = 0;  // a reader waits for this many bytes: do not pause below it

  bool configured = false;  // the session's options are set on `easy` (kept by spares)
  bool auth_set = false;    // credentials are set on `easy` (kept by spares)
  bool cookie_set = false;  // CURLOPT_COOKIE is set on `easy` (kept by spares)
  bool added = false;       // in the multi handle
  bool headers_ready = false;
  bool done = false;
  bool paused = false;
  bool stream = true;  // pause when the buffer is full
  std::exception_ptr failure;
  transfer_wait* waiter = nullptr;
  read_timer timer;
  // Event hooks and the debug mode's lines (hooks.cpp): the session's hooks, null when none.
  const event_hooks::lists* hooks = nullptr;
  bool start_reported = false;  // this attempt's request_start was given
  bool end_reported = false;    // this attempt's request_end was given
  clock::time_point started_at{};
  // A mock transport (mock.cpp): the handler is still to run; what the request's headers
  // gave beyond the header list.
  bool mock_pending = false;
  std::string mock_cookie;
  std::string mock_authorization;
  aw::detail::trace_span trace;  // each attempt on the trace timeline (aw/trace.hpp), start to end

  // The coded body on its way to `buf`.
  struct decoder_state {
    z_stream z{};
    bool ready = false;    // inflateInit2 done (kept by spares, reset for each body)
    bool active = false;   // this response's body is coded: on_write fills `coded`
    bool deflate = false;  // "deflate": zlib-wrapped, or raw as some servers send it
    bool raw_tried = false;
    bool seen = false;      // coded bytes arrived
    bool started = false;   // output came out (no going back to try raw deflate)
    bool ended = false;     // the end of the coded stream
    bool more = false;      // inflate may have output without more input
    bool finished = false;  // the whole body is decoded
    std::string coded;
    std::size_t off = 0;  // coded[off, size) not inflated yet
    std::size_t pending() const noexcept { return coded.size() - off; }
  } dec;
  decode_timer dtimer;
  std::size_t decode_target = 0;  // what the waiter needs buffered

  // A streamed request body on its way to libcurl.
  struct upload_state {
    aw::byte_source source;
    std::unique_ptr<char[]> buf;  // one chunk read from the source: [off, len) not yet sent
    std::size_t off = 0, len = 0;
    std::uint64_t given = 0;              // bytes read from the source so far
    std::optional<std::uint64_t> length;  // the declared Content-Length
    bool active = false;                  // a source is being streamed
    bool wanted = false;                  // the buffer is empty: a read is due
    bool reading = false;                 // a read of the source is in progress
    bool eof = false;                     // the source ended
    bool paused = false;                  // libcurl's send direction is paused
    aw::cancel_scope* scope = nullptr;    // around the read in progress
    static constexpr std::size_t chunk = 64 * 1024;
  } up;
  void reset_upload() noexcept;

  static constexpr std::size_t high_water = 256 * 1024;
  // Decoded bytes per step of the loop: about 1 ms of inflate for text.
  static constexpr std::size_t decode_step = 256 * 1024;
  static constexpr std::size_t keep_buffer = 4 << 20;  // the largest body buffer a spare keeps
};

struct session_state {
  struct curl_timer : timer_node {
    session_state* s = nullptr;
  };

  explicit session_state(session_options o) : opts(std::move(o)) { timer.s = this; }
  ~session_state() {
    // The jar outlives the block (its cookies stay readable): freed with the session.
    if (jar) curl_easy_cleanup(jar);
    if (share) curl_share_cleanup(share);
    curl_slist_free_all(plain_headers);
  }
  session_state(const session_state&) = delete;
  session_state& operator=(const session_state&) = delete;

  void open();
  void action(curl_socket_t fd, int mask) noexcept;
  void check_messages() noexcept;
  void forget(socket_record* r) noexcept;
  void link(transfer* t) noexcept;
  void unlink(transfer* t) noexcept;
  // Into the jar (nothing without one): for `host` only, or for every host when it is empty.
  void add_cookie(const std::string& name, const std::string& value, const std::string& host);

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);

  session_options opts;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;  // TLS sessions and the cookie jar, from the first entry to the end
  CURL* jar = nullptr;      // a handle on the share's cookies, for reading and seeding them
  // Cookies for every host (session_options::cookies, update_cookies without a URL): libcurl's
  // jar keeps none without a domain, so they go out with each request's own (CURLOPT_COOKIE).
  std::vector<std::pair<std::string, std::string>> every_host;
  loop* lp = nullptr;
  bool is_open = false;
  curl_timer timer;
  std::vector<socket_record*> sockets;  // libcurl's live sockets
  std::size_t draining = 0;             // closed records whose waits have not completed yet
  std::coroutine_handle<> drain_waiter;
  aw::detail::intrusive_list<transfer> live;  // transfers of this session's requests, most recent first
  std::vector<transfer*> spare;               // finished transfers, kept for their easy handles
  std::size_t kept = 0;                       // bytes of body buffers the spares keep
  curl_slist* plain_headers = nullptr;        // the header list of a request without headers of its own
  bool plain_headers_built = false;
  static constexpr std::size_t keep_buffers = 64 << 20;
  std::string base_prefix;   // opts.base_url as relative URLs are appended to it (at the first one)
  bool env_proxies = false;  // a proxy variable was set when the session was entered
};

std::string redact(const std::string& url);

// A response that does not own its transfer, for the hooks: forget() before it is destroyed.
struct response_access {
  static response borrow(transfer* t) noexcept { return response(transfer_ptr(t)); }
  static void forget(response& r) noexcept { (void)r.t_.release(); }
};

// The attempt starts and ends, for the hooks and the debug mode (hooks.cpp). report_start may
// fail the transfer (a hook threw); report_end, called in the awaiting task, raises what a
// hook throws.
inline bool observed(const transfer* t) noexcept { return t->hooks || aw::detail::debug_on; }
void report_start(transfer* t) noexcept;
void report_end(transfer* t, const std::exception_ptr& error);

// The mock transport (mock.cpp): runs the handler in the awaiting task and fills the
// transfer with its response, or its failure.
aw::task<> run_mock(transfer* t);

// A cookie name and value that fit in a Cookie header and a Netscape cookie line.
inline bool valid_cookie(std::string_view name, std::string_view value) noexcept {
  auto bad = [](char c) { return c == ';' || c == '\r' || c == '\n' || c == '\0' || c == '\t'; };
  if (name.empty()) return false;
  for (char c : name)
    if (bad(c) || c == '=' || c == ' ') return false;
  for (char c : value)
    if (bad(c)) return false;
  return true;
}

// Without the blanks before it and the blanks and line ends after it (header lines and values).
inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace aw::http::detail
