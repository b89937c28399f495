// The options of aw::net's sockets, connects, listeners and servers: anyio's keyword
// arguments as named aggregates.
//
//   aw::net::connect_options o;
//   o.happy_eyeballs_delay = 100ms;        // anyio's happy_eyeballs_delay (default 250 ms)
//   o.local_host = "127.0.0.1";            // bind before connecting
//   o.socket.keep_alive = true;            // SO_KEEPALIVE; TCP_NODELAY is on unless turned off
//   auto s = co_await aw::net::connect_tcp("localhost", 8080, o);
//
// g++ 12: do not write options as a braced temporary inside a co_await expression (README,
// "Known compiler bugs"); name them first as above. Every call has an overload without
// options, so the defaults never need one.
#pragma once

#include <aw/loop.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>

namespace aw {
class task_group;
}

namespace aw::net {

// Set on every TCP socket a connect or an accept makes (a listener sets them on its
// listening sockets, which the accepted ones inherit). Unix sockets ignore the TCP ones.
struct socket_options {
  // TCP_NODELAY: send small writes at once (Nagle off), as asyncio and trio do.
  bool tcp_nodelay = true;
  // SO_KEEPALIVE: probe an idle connection (the kernel's timings, /proc/sys/net/ipv4/tcp_keepalive_*).
  bool keep_alive = false;
};

// aw::net::connect_tcp's options (anyio.connect_tcp's keyword arguments).
struct connect_options {
  // Bind the socket to this local address (numeric, or "localhost") before connecting; it
  // also restricts the remote addresses to its family. Empty: the kernel chooses.
  std::string local_host;
  // Happy Eyeballs (RFC 8305): how long an attempt has before the next address is tried
  // alongside it. A failed attempt starts the next one at once.
  clock::duration happy_eyeballs_delay = std::chrono::milliseconds(250);
  // AF_UNSPEC (both), AF_INET or AF_INET6: which of the host's addresses to try.
  int family = AF_UNSPEC;
  socket_options socket;
};

// create_tcp_listener's and create_unix_listener's options (anyio's keyword arguments).
struct listener_options {
  // The kernel's accept queue (listen(2)); capped at 65536 as anyio does, and by
  // /proc/sys/net/core/somaxconn.
  int backlog = 65536;
  // SO_REUSEPORT: several listeners (processes) share the port, the kernel spreads connections.
  bool reuse_port = false;
  // With an empty host: AF_UNSPEC listens on IPv6 and IPv4, AF_INET or AF_INET6 on one.
  int family = AF_UNSPEC;
  // A Unix listener's socket file mode (chmod after bind); -1 keeps the umask's.
  int mode = -1;
  socket_options socket;  // for the accepted streams
};

// listener.serve()'s options: what a failing handler does, and what stopping the server
// does to the handlers still running.
struct serve_options {
  // A handler's exception (other than aw::cancelled) is given to on_error, on the loop's
  // thread, and the server goes on (the default). With propagate_errors, it cancels the
  // server and every handler and serve() raises it (in an aw::exception_group), as anyio's
  // serve does.
  bool propagate_errors = false;
  std::function<void(std::exception_ptr)> on_error;
  // When serve() is cancelled (its caller's scope, the block around it) it stops accepting
  // at once; the handlers are cancelled too (the default) or, with wait_for_handlers,
  // shielded from that cancellation and waited for: a graceful shutdown.
  bool wait_for_handlers = false;
  // Run the handlers in this group instead of one of serve()'s own (anyio's
  // serve(handler, task_group)): they then outlive serve() and the group's block governs
  // them; wait_for_handlers does not apply.
  aw::task_group* task_group = nullptr;
};

}  // namespace aw::net
