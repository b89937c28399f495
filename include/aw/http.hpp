// aw::http: HTTP client sessions (aiohttp and httpx in asyncwith), on libcurl.
//
//   #include <aw/http.hpp>
//   co_await aw::async_with(aw::http::session(), [](aw::http::session& s) -> aw::task<> {
//     aw::http::response r = co_await s.get("http://127.0.0.1:8080/");
//     std::puts((co_await r.text()).c_str());
//   });
//
// Around the requests: event_hooks.hpp (callbacks at each request's start and end and at its
// connection, with timings; httpx's event_hooks, aiohttp's TraceConfig; AW_DEBUG logs each
// request the same way), and mock_transport.hpp (a session answered by a function of the
// program instead of the network, for tests; httpx's MockTransport).
//
// Link aw::http (CMake) or -law_http (pkg-config asyncwith).
#pragma once

#include <aw/http/errors.hpp>
#include <aw/http/event_hooks.hpp>
#include <aw/http/headers.hpp>
#include <aw/http/mock_transport.hpp>
#include <aw/http/options.hpp>
#include <aw/http/response.hpp>
#include <aw/http/session.hpp>
