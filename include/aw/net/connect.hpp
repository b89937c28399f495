// aw::net::connect_tcp and aw::net::connect_unix: open a stream to a server (anyio's
// connect_tcp and connect_unix).
//
//   aw::net::tcp_stream s = co_await aw::net::connect_tcp("localhost", 6379);
//   aw::net::unix_stream u = co_await aw::net::connect_unix("/run/app.sock");
//   co_await aw::async_with(co_await aw::net::connect_tcp("127.0.0.1", 8080),
//                           [](aw::net::tcp_stream& s) -> aw::task<> { co_await s.send("hi"); });
//
// - connect_tcp resolves `host` without blocking the loop (a numeric address is used as
//   it is) and tries its addresses with Happy Eyeballs (RFC 8305), as anyio does: IPv6 and
//   IPv4 alternate, IPv6 first; the first attempt gets happy_eyeballs_delay (250 ms) before
//   the next starts beside it, and a failed attempt starts the next at once. The first
//   connection wins; the attempts still running are cancelled and their sockets closed.
// - When every attempt fails, the error names every address tried ("connect to [::1]:6379,
//   127.0.0.1:6379: Connection refused"): aw::net::connection_refused when all were
//   refused, else an aw::net::error with the first other cause (a timeout, an unreachable
//   network). With several addresses, each attempt's own error is nested in an
//   aw::exception_group (std::rethrow_if_nested), as anyio chains its ExceptionGroup. A
//   name that does not resolve raises aw::net::host_not_found.
// - connect_options: local_host (bind first; its family restricts the addresses tried),
//   happy_eyeballs_delay, family, and the socket options (TCP_NODELAY on by default,
//   keep-alive).
// - connect_unix(path) connects to a Unix stream socket; a path starting with '\0' is an
//   abstract name. While the listener's queue is full it waits, as a blocking connect
//   does (polling: Linux signals no room on a Unix listener).
// - Every wait is a cancellation point: a cancelled connect raises aw::cancelled and
//   leaves no socket open (or, having connected as the cancellation came, returns the
//   stream).
// - connect_tls(host, port, options) is anyio's connect_tcp(..., tls=True): connect_tcp,
//   then the TLS handshake over the stream (tls_stream::wrap). The certificate is checked
//   against options.tls.server_hostname, or `host` when that is empty (anyio's tls_hostname
//   default), which is also the SNI sent (not for an IP address). A failed or cancelled
//   handshake closes the socket.
//
//   aw::net::tls_connect_options o;                    // named first (g++ 12)
//   o.tls.context = aw::net::tls_context::client().load_verify_locations("ca.pem");
//   aw::net::tls_stream s = co_await aw::net::connect_tls("example.com", 443, o);
//
// A function of its own, not a connect_tcp overload keyed on an option (anyio's tls=True
// changes the type returned, which C++ must know from the call): the name says what comes
// back, and trio has it so too (open_ssl_over_tcp_stream).
#pragma once

#include <aw/net/socket_options.hpp>
#include <aw/net/socket_stream.hpp>
#include <aw/net/tls.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <string>

namespace aw::net {

task<tcp_stream> connect_tcp(std::string host, std::uint16_t port);
task<tcp_stream> connect_tcp(std::string host, std::uint16_t port, connect_options options);

task<unix_stream> connect_unix(std::string path);

// connect_tls's options: the connection's (connect_tcp's) and the handshake's
// (tls_stream::wrap's; anyio's ssl_context, tls_hostname, tls_standard_compatible).
struct tls_connect_options {
  connect_options tcp;
  // An empty server_hostname is `host`; an empty context is tls_context::client() (the
  // system's CAs).
  tls_options tls;
};

task<tls_stream> connect_tls(std::string host, std::uint16_t port);
task<tls_stream> connect_tls(std::string host, std::uint16_t port, tls_connect_options options);

}  // namespace aw::net
