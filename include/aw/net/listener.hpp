// aw::net::tcp_listener and aw::net::unix_listener: listening sockets that accept streams
// and serve connections (anyio's create_tcp_listener, create_unix_listener and
// Listener.serve).
//
//   auto handle = [](aw::net::tcp_stream& client) -> aw::task<> {   // one per connection
//     char buf[4096];
//     for (;;) {                                                     // echo until the end
//       std::size_t n = co_await client.receive_into(buf);
//       if (n == 0) co_return;                                       // serve() closes the stream
//       co_await client.send(std::string_view(buf, n));
//     }
//   };
//   co_await aw::async_with(co_await aw::net::create_tcp_listener("localhost", 8080),
//                           [&](aw::net::tcp_listener& l) -> aw::task<> {
//     co_await l.serve(handle);          // runs until cancelled (or the listener is closed)
//   });
//
// - create_tcp_listener(host, port, options) listens on every address of `host`: "" is
//   every interface, IPv6 and IPv4 (two sockets, the IPv6 one IPV6_V6ONLY, as anyio);
//   "localhost" is ::1 and 127.0.0.1. Port 0 picks a free port, the same on every socket.
//   SO_REUSEADDR is always set, SO_REUSEPORT on request. The accepted streams inherit the
//   options of listener_options::socket (TCP_NODELAY by default).
// - create_unix_listener(path) replaces a stale socket file at `path` (as anyio does) and
//   leaves the file when closed; a path starting with '\0' is an abstract name.
// - accept() gives the next connection, from whichever socket has one. Each accept is a
//   cancellation point: a cancelled accept either accepted (and returns the stream) or
//   raises aw::cancelled and leaves the connection queued for the next accept.
// - serve(handler, options) accepts until it is cancelled, and runs handler(stream) for
//   each connection in a task group (the handler takes `Stream&`, or `Stream` by value;
//   the stream is closed when the handler returns). A failing handler does not stop the
//   server: its exception goes to options.on_error (and is counted, failed_handlers(), and
//   reported in the debug mode); propagate_errors makes it cancel the server and be raised
//   from serve(), as in anyio. When serve() is cancelled it stops accepting and cancels the
//   handlers, or with wait_for_handlers lets them finish first. Closing the listener (from
//   another task) also stops serve(): it waits for the running handlers, then returns.
//   Running out of descriptors or memory while accepting (EMFILE, ENOBUFS, ...) pauses
//   accepting for 100 ms instead of failing, as trio does.
// - On io_uring (kernels with multishot accept, 5.19+), the first accept() or serve() arms
//   one multishot accept per socket that stays armed until close(): the kernel accepts
//   connections as they come and the next accept() takes them from a queue (up to 64; then
//   the multishot is stopped until the queue drains). A cancelled accept leaves what was
//   queued for the next accept(); close() closes the connections still queued. Elsewhere
//   each accept() is one accept.
// - The listener is an async context manager that is its own resource; the exit closes it.
//   close() while another task waits in accept() makes that accept raise
//   aw::closed_resource_error. Errors are aw::net::error naming the address.
#pragma once

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/context.hpp>
#include <aw/event.hpp>
#include <aw/exceptions.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/address.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/socket_options.hpp>
#include <aw/net/socket_stream.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace aw::net {
namespace detail {

// One accepted connection: the descriptor and the peer's address.
struct accepted {
  int fd = -1;
  socket_address peer;
};

// Called for a handler failure serve() does not propagate: the debug mode reports it.
void report_handler_failure(const std::exception_ptr& e) noexcept;
// True for errors of accept() that mean "out of descriptors or memory": serve() waits.
bool is_capacity_error(const error& e) noexcept;

// Whether `Handler` can serve a `Stream` (called as handler(Stream&) or handler(Stream),
// returning aw::task<T>); a static_assert says what is wrong when not.
template <class Handler, class Stream>
constexpr bool check_handler() {
  constexpr bool by_ref = std::is_invocable_v<Handler&, Stream&>;
  constexpr bool by_value = std::is_invocable_v<Handler&, Stream&&>;
  static_assert(by_ref || by_value, "aw::net::serve: the handler must be callable as handler(Stream&) or handler(Stream)");
  if constexpr (by_ref) {
    constexpr bool ok = aw::detail::is_task_v<std::invoke_result_t<Handler&, Stream&>>;
    static_assert(ok, "aw::net::serve: the handler must return aw::task<T>");
    return ok;
  } else if constexpr (by_value) {
    constexpr bool ok = aw::detail::is_task_v<std::invoke_result_t<Handler&, Stream&&>>;
    static_assert(ok, "aw::net::serve: the handler must return aw::task<T>");
    return ok;
  } else {
    return false;
  }
}

// The io_uring multishot accept armed on one listening socket (listener.cpp).
struct multishot_accept;

// The part of a listener that does not depend on the stream type: its sockets, accepting
// on them, closing.
class listener_base {
 public:
  listener_base() noexcept = default;
  // Adopts listening, non-blocking sockets.
  explicit listener_base(std::vector<int> fds);
  listener_base(listener_base&& o) noexcept;
  listener_base& operator=(listener_base&& o) noexcept;
  listener_base(const listener_base&) = delete;
  listener_base& operator=(const listener_base&) = delete;
  ~listener_base() { close(); }

  // Closes every socket (idempotent); accepts in flight end with closed_resource_error.
  void close() noexcept;
  bool is_open() const noexcept { return !fds_.empty() && !closing_; }

  // The addresses the sockets are bound to (getsockname), one per socket.
  std::vector<socket_address> local_addresses() const;
  // The first of them: what a single-socket listener is bound to.
  socket_address local_address() const;
  // The listening descriptors, for what the class does not offer. Do not close them.
  const std::vector<int>& fds() const noexcept { return fds_; }
  // How many handlers of serve() failed without propagate_errors.
  std::size_t failed_handlers() const noexcept { return *failed_; }

 protected:
  class in_flight;
  // One connection from socket `i`, retrying the errors that concern only that connection.
  task<accepted> accept_on(std::size_t i);
  // One connection from whichever socket has one first.
  task<accepted> accept_any();
  // The multishot accept of socket `i`, made on first use; null where the loop or the
  // kernel has none.
  multishot_accept* multishot_for(std::size_t i);
  static void detach(multishot_accept* m) noexcept;

  std::vector<int> fds_;
  std::deque<accepted> ready_;                // accepted by a racing accept_on that lost
  std::vector<multishot_accept*> multishot_;  // per socket, made by the first accept on io_uring
  std::uint32_t in_flight_ = 0;
  bool closing_ = false;
  std::shared_ptr<std::size_t> failed_ = std::make_shared<std::size_t>(0);  // outlives serve's handlers in a group of the caller
};

}  // namespace detail

template <class Stream>
class socket_listener : public detail::listener_base {
 public:
  using stream_type = Stream;
  using detail::listener_base::listener_base;
  socket_listener() noexcept = default;

  // The next connection.
  task<Stream> accept() {
    detail::accepted a = co_await accept_any();
    co_return Stream(a.fd, a.peer);
  }

  // Accepts until cancelled (or closed), running handler(stream) for each connection; see
  // the top of this header.
  template <class Handler>
  task<> serve(Handler handler) {
    return serve(std::move(handler), serve_options{});
  }
  template <class Handler>
  task<> serve(Handler handler, serve_options options);

  std::suspend_never aclose() noexcept {
    close();
    return {};
  }
  aw::detail::ready<socket_listener&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }

 private:
  template <class Handler>
  struct serve_state {
    Handler handler;
    serve_options options;
    std::shared_ptr<std::size_t> failed;
  };
  template <class Handler>
  static task<> run_handler(std::shared_ptr<serve_state<Handler>> st, Stream stream);
  template <class Handler>
  task<> accept_loop(std::size_t i, aw::task_group& handlers, std::shared_ptr<serve_state<Handler>> st);
  template <class Handler>
  task<> accept_all(aw::task_group& handlers, std::shared_ptr<serve_state<Handler>> st, aw::task_group& accepting);
};

using tcp_listener = socket_listener<tcp_stream>;
using unix_listener = socket_listener<unix_stream>;

// Listens on `host`:`port` ("" for every interface); see the top of this header.
task<tcp_listener> create_tcp_listener(std::string host, std::uint16_t port);
task<tcp_listener> create_tcp_listener(std::string host, std::uint16_t port, listener_options options);
// Listens on the Unix socket `path` (a leading '\0': an abstract name).
task<unix_listener> create_unix_listener(std::string path);
task<unix_listener> create_unix_listener(std::string path, listener_options options);

// ---- implementation ----

template <class Stream>
template <class Handler>
task<> socket_listener<Stream>::run_handler(std::shared_ptr<serve_state<Handler>> st, Stream stream) {
  std::exception_ptr failure;
  try {
    if constexpr (std::is_invocable_v<Handler&, Stream&>)
      co_await std::invoke(st->handler, stream);
    else
      co_await std::invoke(st->handler, std::move(stream));
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return;
  if (st->options.propagate_errors || aw::is_cancellation(failure)) std::rethrow_exception(failure);
  ++*st->failed;
  detail::report_handler_failure(failure);
  if (st->options.on_error) st->options.on_error(failure);
}

template <class Stream>
template <class Handler>
task<> socket_listener<Stream>::accept_loop(std::size_t i, aw::task_group& handlers, std::shared_ptr<serve_state<Handler>> st) {
  for (;;) {
    detail::accepted a;
    bool out_of_capacity = false;
    try {
      a = co_await accept_on(i);
    } catch (const closed_resource_error&) {
      co_return;  // the listener was closed: stop accepting, let the handlers finish
    } catch (const error& e) {
      if (!detail::is_capacity_error(e)) throw;
      out_of_capacity = true;
    }
    if (out_of_capacity) {
      co_await aw::sleep(std::chrono::milliseconds(100));
      continue;
    }
    handlers.start_soon(&socket_listener::run_handler<Handler>, st, Stream(a.fd, a.peer));
  }
}

template <class Stream>
template <class Handler>
task<> socket_listener<Stream>::accept_all(aw::task_group& handlers, std::shared_ptr<serve_state<Handler>> st, aw::task_group& accepting) {
  // One loop per socket (IPv6 and IPv4), in a group of their own so that they can be
  // stopped apart from the handlers.
  co_await aw::async_with(accepting, [&](aw::task_group& g) -> task<> {
    for (std::size_t i = 1; i < fds_.size(); ++i) g.start_soon([this, i, &handlers, st] { return accept_loop(i, handlers, st); });
    if (!fds_.empty()) co_await accept_loop(0, handlers, st);
  });
}

template <class Stream>
template <class Handler>
task<> socket_listener<Stream>::serve(Handler handler, serve_options options) {
  // A handler of the wrong shape is one readable error, and nothing else is instantiated.
  if constexpr (detail::check_handler<Handler, Stream>()) {
    if (!is_open()) throw closed_resource_error("aw::net: serve: the listener is closed");
    auto st = std::make_shared<serve_state<Handler>>(serve_state<Handler>{std::move(handler), std::move(options), failed_});
    aw::task_group accepting;
    if (aw::task_group* external = st->options.task_group) {
      co_await accept_all(*external, st, accepting);
      co_return;
    }
    if (!st->options.wait_for_handlers) {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& handlers) { return accept_all(handlers, st, accepting); });
      co_return;
    }
    // A graceful stop: the handlers run under a shield, so the cancellation that stops
    // serve() does not reach them; a watcher outside the shield sees it and stops the
    // accepting.
    std::exception_ptr failure;
    aw::event never;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& outer) -> task<> {
      outer.start_soon([&]() -> task<> {
        struct stop_accepting {
          aw::task_group* g;
          ~stop_accepting() { g->cancel(); }
        } on_exit{&accepting};
        co_await never.wait();
      });
      try {
        aw::cancel_scope shield(clock::time_point::max(), true);
        co_await aw::async_with(shield, [&](aw::cancel_scope&) -> task<> {
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& handlers) { return accept_all(handlers, st, accepting); });
        });
      } catch (...) {
        failure = std::current_exception();
      }
      outer.cancel();  // the watcher's work is done
    });
    if (failure) std::rethrow_exception(failure);
  }
}

}  // namespace aw::net
