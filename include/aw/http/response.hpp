// aw::http::response, and aw::http::request: what session.get(url) gives before it is awaited.
//
// A request is an async context manager whose resource is the response, entered as soon as
// the headers are in; the body is read inside the block, streamed or whole (aiohttp):
//
//   co_await aw::async_with(s.get(url), [&](aw::http::response& resp) -> aw::task<> {
//     resp.raise_for_status();
//     auto chunks = resp.chunks(64 * 1024);
//     while (auto chunk = co_await chunks.next()) co_await out.write(*chunk);   // out: an aw::files::file
//   });
//
// or it is awaited directly for a response whose body has been read in full (httpx):
//
//   aw::http::response resp = co_await s.get(url);
//   nlohmann::json j = co_await resp.json();
//
// Semantics:
// - Leaving the block (normally, by an exception, by cancellation, with the body unread)
//   releases the connection: back to the session's pool if the response was complete,
//   closed otherwise. Destroying a response or an unawaited request does the same.
// - A body being streamed is buffered up to 256 KiB; beyond that the transfer pauses until
//   the reader catches up (lines() lets one line grow past it).
// - Every wait is a cancellation point. Cancelling a wait removes the request from libcurl at
//   once; the response is unusable afterwards (its reads raise aw::http::error).
// - A streamed request body (body::stream) is read from its source by the task that awaits
//   the request or reads its response, as libcurl asks for it: the upload makes progress
//   while someone waits on the request, as a streamed response's download does.
// - bytes(), text() and json() read the rest of the body (or give the body already read).
//   A body cut short by the server raises aw::http::protocol_error, after what arrived was
//   given to a streaming reader; a response cut before the end of its headers raises it
//   where the request is awaited or entered. text() is the bytes as they came (UTF-8 is assumed).
// - chunks(n) gives views of at most n bytes, lines() views of one line without its "\n"
//   or "\r\n" (httpx's aiter_lines). A view is valid until the next read of the response
//   (next(), bytes(), text(), json()); what was handed out is not given again.
// - A body with Content-Encoding gzip or deflate (what the session asks for) is decoded as
//   it is read: a streamed one as far as the reader has asked (its next chunk, 256 KiB
//   ahead at most), a whole one to its end, at most 256 KiB per turn of the loop, so a gzip
//   bomb neither holds the loop nor fills memory unasked. headers() keep Content-Encoding and
//   Content-Length as sent (httpx does the same). A coded body that does not decode, or that
//   ends before its gzip stream does, raises aw::http::protocol_error.
// - max_body_size (session or request option) bounds a whole read (awaited, bytes(), text(),
//   json()) and one line of lines(), decoded: past it, aw::http::body_too_large, and the
//   transfer stops. chunks() are not bounded.
// - The total timeout covers the decoding of the body read whole too.
// - status, headers and url are those of the final response; history() has the redirects
//   that led to it, oldest first.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/http/errors.hpp>
#include <aw/http/headers.hpp>
#include <aw/task.hpp>

#include <nlohmann/json.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw::http {

class session;

namespace detail {

struct transfer;
struct session_state;
struct response_access;

void release(transfer* t) noexcept;
struct transfer_deleter {
  void operator()(transfer* t) const noexcept { release(t); }
};
using transfer_ptr = std::unique_ptr<transfer, transfer_deleter>;

enum class wait_for : unsigned char { headers, data, done };

// The one wait of aw::http: until a transfer has its headers, `need` bytes buffered, or is
// done. Completes without suspending when it is there already; otherwise a cancellation point.
// While a streamed request body is still being sent, the wait (mode `pump`) runs the
// transfer's pump instead: a loop, in the waiting task, that reads the body's source whenever
// libcurl wants more of it and otherwise waits (mode `upload`: also woken by that want).
class [[nodiscard("co_await it")]] transfer_wait : public aw::detail::cancellable {
 public:
  enum class mode : unsigned char { pump, upload };
  transfer_wait(transfer* t, wait_for what, std::size_t need = 1, mode m = mode::pump) noexcept
      : t_(t), what_(what), mode_(m), need_(need) {}
  transfer_wait(const transfer_wait&) = delete;
  transfer_wait& operator=(const transfer_wait&) = delete;
  ~transfer_wait();

  bool await_ready();
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
    if (mode_ == mode::pump && pumping()) {
      pump_ = pump(t_, what_, need_);
      pump_awaiter_ = pump_.operator co_await();
      return pump_awaiter_.await_suspend(h);  // symmetric transfer into the pump, in the caller's task
    }
    if (suspend(aw::detail::context_of(h), h)) return std::noop_coroutine();
    return h;
  }
  void await_resume();

  // For the transfer's use.
  bool satisfied() const noexcept;
  void wake() noexcept;

 private:
  bool pumping() const noexcept;
  static aw::task<> pump(transfer* t, wait_for what, std::size_t need);
  bool suspend(aw::detail::task_context* ctx, std::coroutine_handle<> h);
  transfer* t_;
  wait_for what_;
  mode mode_;
  std::size_t need_;
  aw::detail::task_context* ctx_ = nullptr;
  std::coroutine_handle<> h_;
  bool cancelled_ = false;
  aw::task<> pump_;
  aw::task<>::awaiter pump_awaiter_{};
};

struct ready_void {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

}  // namespace detail

// One redirect that led to a response.
struct redirect {
  int status = 0;
  std::string url;  // the URL that answered with the redirect
  http::headers headers;
};

class chunk_reader {
 public:
  // The next piece of the body, or nothing at its end.
  aw::task<std::optional<std::string_view>> next();

 private:
  friend class response;
  chunk_reader(detail::transfer* t, std::size_t size) noexcept : t_(t), size_(size) {}
  detail::transfer* t_;
  std::size_t size_;
};

class line_reader {
 public:
  // The next line of the body, or nothing at its end.
  aw::task<std::optional<std::string_view>> next();

 private:
  friend class response;
  explicit line_reader(detail::transfer* t) noexcept : t_(t) {}
  detail::transfer* t_;
};

class response {
 public:
  response() = default;
  response(response&&) noexcept = default;
  response& operator=(response&&) noexcept = default;

  int status() const noexcept;
  const std::string& reason() const noexcept;
  // "HTTP/1.1", "HTTP/2".
  const std::string& version() const noexcept;
  const http::headers& headers() const noexcept;
  // The final URL, after redirects.
  const std::string& url() const noexcept;
  const std::vector<redirect>& history() const noexcept;
  bool ok() const noexcept { return status() < 400; }

  aw::task<std::string> bytes();
  aw::task<std::string> text();
  aw::task<nlohmann::json> json();
  // The body read so far and not consumed by chunks() or lines(): all of it after
  // `co_await session.get(...)` or bytes().
  std::string_view body() const noexcept;

  chunk_reader chunks(std::size_t size = 64 * 1024) { return {t_.get(), size ? size : 1}; }
  line_reader lines() { return line_reader(t_.get()); }

  // Raises aw::http::status_error for a 4xx or 5xx status (the session option
  // raise_for_status does it for every response).
  void raise_for_status() const;

  // Releases the connection now (what leaving the block does).
  void close() noexcept { t_.reset(); }

 private:
  friend class request;
  friend struct detail::response_access;
  explicit response(detail::transfer_ptr t) noexcept : t_(std::move(t)) {}
  detail::transfer* get() const;
  // raise_for_status() where the session's or the request's option asks for it.
  void check_status() const;
  detail::transfer_ptr t_;
};

class [[nodiscard(
    "co_await it for the response, or enter it with aw::async_with to stream the body: nothing is sent until then")]] request {
 public:
  request(request&&) noexcept = default;
  request& operator=(request&&) noexcept = default;

  class enter_awaiter : public detail::transfer_wait {
   public:
    explicit enter_awaiter(request& r) noexcept : transfer_wait(r.start(true), detail::wait_for::headers), r_(r) {}
    response& await_resume() {
      transfer_wait::await_resume();
      r_.resp_.check_status();
      return r_.resp_;
    }

   private:
    request& r_;
  };
  class read_awaiter : public detail::transfer_wait {
   public:
    explicit read_awaiter(request& r) noexcept : transfer_wait(r.start(false), detail::wait_for::done), r_(r) {}
    response await_resume() {
      transfer_wait::await_resume();
      r_.resp_.check_status();
      return std::move(r_.resp_);
    }

   private:
    request& r_;
  };

  // async with: the response once its headers are in.
  enter_awaiter aenter() noexcept {
    enter_check_.entered();
    return enter_awaiter(*this);
  }
  detail::ready_void aexit(std::exception_ptr) noexcept {
    resp_.close();
    return {};
  }
  // co_await: the response with its body read.
  read_awaiter operator co_await() && noexcept {
    enter_check_.entered();
    return read_awaiter(*this);
  }

 private:
  friend class session;
  explicit request(detail::transfer_ptr t) noexcept : resp_(std::move(t)) {}
  detail::transfer* start(bool stream) noexcept;
  response resp_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<request> enter_check_;
};

}  // namespace aw::http
