// aw::net: anyio's networking for asyncwith. `#include <aw/net.hpp>` and link aw::net.
//
//   co_await aw::async_with(co_await aw::net::connect_tcp("localhost", 6379),
//                           [](aw::net::tcp_stream& s) -> aw::task<> {
//     co_await s.send("PING\r\n");
//     std::string reply = co_await s.receive();
//   });
//
// The errors (errors.hpp); name resolution on the loop (resolver.hpp); TLS over any stream, and a TLS listener (tls.hpp).
#pragma once

#include <aw/net/address.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/resolver.hpp>
#include <aw/net/tls.hpp>
