// aw::http::event_hooks: callbacks a session calls around each request (httpx's event_hooks,
// aiohttp's TraceConfig): when a request starts, when it ends with a response or an error,
// and whether it made a new connection or reused one, with libcurl's timings of each phase.
//
//   aw::http::event_hooks hooks;
//   hooks.on_request_start([](const aw::http::request_start& e) { log(e.method, e.url); });
//   hooks.on_request_end([](const aw::http::request_end& e) {
//     if (e.response) e.response->raise_for_status();   // httpx's response hook
//     metrics.observe(e.timings.total);
//   });
//   aw::http::session_options o{.hooks = hooks};
//
// Semantics:
// - Hooks are plain callables, called synchronously on the loop's thread, in the order they
//   were added; they must not block (nothing of the loop runs meanwhile). They are not
//   coroutines: a hook that needs to wait starts a task of its own (an aw::task_group).
// - request_start: when the request is sent (awaited or entered), before libcurl has it.
// - request_end: in the task that awaits the request, as it resumes: at its headers for an
//   entered (streamed) request, at the end of its body for an awaited one, or at the error
//   that ended it before its headers (aw::cancelled included, as aiohttp's
//   on_request_exception sees asyncio's CancelledError). A request that fails in its body
//   after its headers is not reported again. raise_for_status (the option) is applied after
//   the hooks, so they see 4xx and 5xx responses too.
// - connection_created / connection_reused: called just before request_end, from what libcurl
//   counted (CURLINFO_NUM_CONNECTS): created if the attempt (its redirects included) opened a
//   connection, reused if it sent its request on a pooled one. Neither when no connection was
//   made (refused, DNS error).
// - Retries (session_options::retry): each attempt is a request for the hooks: a
//   request_start and a request_end each, `attempt` counting from 1. Redirects, followed by
//   libcurl, are part of one attempt; request_end's url is the last one.
// - An exception thrown by a hook propagates (as httpx's): request_start's is raised where
//   the request is awaited or entered, and nothing is sent; request_end's and the connection
//   hooks' replace the outcome where the request is awaited or entered, and stop its retries.
//   The hooks after the one that threw are not called for that event.
// - With AW_DEBUG on (aw/debug.hpp), each request is logged on stderr the same way, whether
//   or not hooks are set: "aw: HTTP start GET <url>" and "aw: HTTP end GET <url>: 200 after
//   ... ms (new connection; dns ..., connect ..., tls ..., first byte ... ms)", URLs without
//   their passwords.
// - None set: one branch per request.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace aw::http {

class response;

// libcurl's phases of one attempt, each measured from the attempt's start
// (CURLINFO_NAMELOOKUP/CONNECT/APPCONNECT/PRETRANSFER/STARTTRANSFER/TOTAL_TIME_T): a phase
// the attempt did not go through is zero (a reused connection has no DNS, connect or TLS).
// `total` is the time until request_end was called. With a mock transport only `total` is set.
struct timings {
  std::chrono::microseconds name_lookup{0};
  std::chrono::microseconds connect{0};
  std::chrono::microseconds tls{0};
  std::chrono::microseconds pretransfer{0};
  std::chrono::microseconds first_byte{0};
  std::chrono::microseconds total{0};
};

struct request_start {
  std::string_view method;
  std::string_view url;  // base_url joined, params appended
  int attempt = 1;       // 2, 3, ... for the retries
};

struct request_end {
  std::string_view method;
  std::string_view url;  // the response's (after redirects), else the request's
  int attempt = 1;
  // The response, its headers in (its body too where the request was awaited); null when
  // the attempt ended with `error`.
  const http::response* response = nullptr;
  std::exception_ptr error;
  http::timings timings;
};

struct connection_event {
  std::string_view url;
  std::string_view ip;  // the peer's address (CURLINFO_PRIMARY_IP)
  long port = 0;
  http::timings timings;
};

class event_hooks {
 public:
  using start_hook = std::function<void(const request_start&)>;
  using end_hook = std::function<void(const request_end&)>;
  using connection_hook = std::function<void(const connection_event&)>;

  event_hooks& on_request_start(start_hook f) { return add(&lists::start, std::move(f)); }
  event_hooks& on_request_end(end_hook f) { return add(&lists::end, std::move(f)); }
  event_hooks& on_connection_created(connection_hook f) { return add(&lists::created, std::move(f)); }
  event_hooks& on_connection_reused(connection_hook f) { return add(&lists::reused, std::move(f)); }

  bool empty() const noexcept { return !lists_; }

  struct lists {
    std::vector<start_hook> start;
    std::vector<end_hook> end;
    std::vector<connection_hook> created;
    std::vector<connection_hook> reused;
  };
  // For the session: null when none was added.
  const lists* get() const noexcept { return lists_.get(); }

 private:
  template <class F>
  event_hooks& add(std::vector<F> lists::* which, F f) {
    if (!f) return *this;
    // Copies of event_hooks (session_options are copied) share one set; a hook added after
    // the session was made is seen by it too. Behind a pointer as well because vectors held
    // in place in session_options made g++ 12 -O3 warn on braced temporaries.
    if (!lists_) lists_ = std::make_shared<lists>();
    ((*lists_).*which).push_back(std::move(f));
    return *this;
  }
  std::shared_ptr<lists> lists_;
};

}  // namespace aw::http
