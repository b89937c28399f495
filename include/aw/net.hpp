// aw::net: anyio's networking for asyncwith. `#include <aw/net.hpp>` and link aw::net.
//
//   co_await aw::async_with(co_await aw::net::connect_tcp("localhost", 6379),
//                           [](aw::net::tcp_stream& s) -> aw::task<> {
//     co_await s.send("PING\r\n");
//     std::string reply = co_await s.receive();
//   });
//
// connect_tcp and connect_unix (connect.hpp), the streams (socket_stream.hpp), the
// listeners (listener.hpp), their options (socket_options.hpp), reading by length or
// delimiter (buffered.hpp), name resolution on the loop (resolver.hpp), TLS over any
// stream and a TLS listener (tls.hpp), UDP sockets (udp.hpp), the errors (errors.hpp).
#pragma once

#include <aw/net/address.hpp>
#include <aw/net/buffered.hpp>
#include <aw/net/connect.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/listener.hpp>
#include <aw/net/resolver.hpp>
#include <aw/net/socket_options.hpp>
#include <aw/net/socket_stream.hpp>
#include <aw/net/tls.hpp>
#include <aw/net/udp.hpp>
