// aw::http under servers that misbehave: responses cut in their headers or their body, huge
// headers, invalid status lines, stalls, corrupt gzip, gzip bombs, redirect loops. Each test
// runs its own server on 127.0.0.1 (a thread writing exactly the bytes of its scenario), so a
// scenario is deterministic, and bounded: a stalled server stalls until its test ends.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include "fault_server.hpp"

#include <zlib.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

using namespace std::chrono_literals;
namespace http = aw::http;

namespace {

using namespace aw_http_faults;

void with_session(http::session_options options, std::function<aw::task<>(http::session&)> body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(http::session(std::move(options)), [&](http::session& s) -> aw::task<> { co_await body(s); });
  });
}
void with_session(std::function<aw::task<>(http::session&)> body) { with_session({}, std::move(body)); }

// The error a request raised (awaited whole), as its type's name and what().
template <class E>
aw::task<std::string> raised(http::request r) {
  try {
    http::response resp = co_await std::move(r);
    ADD_FAILURE() << "no error: status " << resp.status() << ", " << resp.body().size() << " bytes of body";
  } catch (const E& e) {
    co_return std::string(e.what());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another error: " << e.what();
  }
  co_return std::string();
}

// The same, with the request entered and its body streamed in chunks; `got` receives what
// was given before the error.
template <class E>
aw::task<std::string> raised_streaming(http::request r, std::string* got = nullptr) {
  std::string what;
  try {
    co_await aw::async_with(std::move(r), [&](http::response& resp) -> aw::task<> {
      auto chunks = resp.chunks();
      while (auto c = co_await chunks.next())
        if (got) *got += *c;
    });
    ADD_FAILURE() << "no error";
  } catch (const E& e) {
    what = e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another error: " << e.what();
  }
  co_return what;
}

bool contains(std::string s, std::string_view part) {  // case-insensitive
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s.find(part) != std::string::npos;
}

// ---------------------------------------------------------------------------------------
// Responses cut short.

TEST(HttpFaults, ResponseCutInItsHeadersIsAProtocolError) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nContent-Type: text/pl"));
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_TRUE(contains(co_await raised<http::protocol_error>(s.get(srv.url())), "headers")) << "awaited";
    EXPECT_TRUE(contains(co_await raised_streaming<http::protocol_error>(s.get(srv.url())), "headers")) << "entered";
  });
}

TEST(HttpFaults, ResponseCutAfterItsStatusLineIsAProtocolError) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\n"));
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()))).empty());
  });
}

TEST(HttpFaults, NoResponseAtAllIsAProtocolError) {
  fault_server srv(answer(""));
  with_session([&](http::session& s) -> aw::task<> { EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty()); });
}

TEST(HttpFaults, ShortContentLengthIsAProtocolErrorAfterWhatArrived) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    std::string got;
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()), &got)).empty());
    EXPECT_EQ(got, "0123456789");
  });
}

TEST(HttpFaults, ChunkedBodyCutInAChunkIsAProtocolError) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly part"));
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    std::string got;
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()), &got)).empty());
    EXPECT_EQ(got.substr(0, 5), "hello");
  });
}

TEST(HttpFaults, ChunkedBodyWithoutItsLastChunkIsAProtocolError) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    std::string got;
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()), &got)).empty());
    EXPECT_EQ(got, "hello");
  });
}

TEST(HttpFaults, InvalidChunkSizeIsAProtocolError) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
  with_session([&](http::session& s) -> aw::task<> { EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty()); });
}

// ---------------------------------------------------------------------------------------
// Headers.

TEST(HttpFaults, AHugeHeaderLineIsAProtocolErrorSayingSo) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nX-Huge: " + std::string(1 << 20, 'a') + "\r\nContent-Length: 2\r\n\r\nok"));
  with_session([&](http::session& s) -> aw::task<> {
    std::string what = co_await raised<http::protocol_error>(s.get(srv.url()));
    EXPECT_TRUE(contains(what, "too large")) << what;
    what = co_await raised_streaming<http::protocol_error>(s.get(srv.url()));
    EXPECT_TRUE(contains(what, "too large")) << what;
  });
}

TEST(HttpFaults, EndlessHeadersAreAProtocolErrorSayingSo) {
  fault_server srv([](fault_server::conn& c) {
    if (!c.request() || !c.send("HTTP/1.1 200 OK\r\n")) return;
    const std::string line = "X-Filler: " + std::string(1000, 'b') + "\r\n";
    while (c.send(line)) {
    }
  });
  with_session([&](http::session& s) -> aw::task<> {
    std::string what = co_await raised<http::protocol_error>(s.get(srv.url()));
    EXPECT_TRUE(contains(what, "too large")) << what;
  });
}

TEST(HttpFaults, InvalidStatusLinesAreProtocolErrors) {
  for (std::string line :
       {"HTTX/9 abc nonsense\r\n", "HTTP/1.1 abc OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1\r\n", "garbage\r\n", "HTTP/1.1 099 Low\r\n"}) {
    fault_server srv(answer(line + "Content-Length: 2\r\n\r\nok"));
    with_session(
        [&](http::session& s) -> aw::task<> { EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty()) << line; });
  }
}

// ---------------------------------------------------------------------------------------
// Stalls: each timeout names its phase; a cancel scope ends the wait.

http::timeout_phase phase_of(const std::string& url, http::timeouts t, bool stream) {
  http::timeout_phase phase{};
  bool raised = false;
  with_session({.timeout = t}, [&](http::session& s) -> aw::task<> {
    try {
      if (stream) {
        co_await aw::async_with(s.get(url), [](http::response& r) -> aw::task<> {
          auto chunks = r.chunks();
          while (co_await chunks.next()) {
          }
        });
      } else {
        co_await s.get(url);
      }
    } catch (const http::timeout_error& e) {
      phase = e.phase();
      raised = true;
    }
  });
  EXPECT_TRUE(raised);
  return phase;
}

TEST(HttpFaults, StallBeforeTheHeaders) {
  fault_server srv([](fault_server::conn& c) {
    if (c.request()) c.stall();
  });
  EXPECT_EQ(phase_of(srv.url(), {.read = 100ms}, false), http::timeout_phase::read);
  EXPECT_EQ(phase_of(srv.url(), {.total = 150ms}, false), http::timeout_phase::total);
  EXPECT_EQ(phase_of(srv.url(), {.total = 150ms}, true), http::timeout_phase::total);
}

TEST(HttpFaults, StallInTheHeaders) {
  fault_server srv([](fault_server::conn& c) {
    if (c.request() && c.send("HTTP/1.1 200 OK\r\nContent-Ty")) c.stall();
  });
  EXPECT_EQ(phase_of(srv.url(), {.read = 100ms}, false), http::timeout_phase::read);
  EXPECT_EQ(phase_of(srv.url(), {.total = 150ms}, true), http::timeout_phase::total);
}

TEST(HttpFaults, StallInTheBody) {
  fault_server srv([](fault_server::conn& c) {
    if (c.request() && c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n12345")) c.stall();
  });
  EXPECT_EQ(phase_of(srv.url(), {.read = 100ms}, false), http::timeout_phase::read);
  EXPECT_EQ(phase_of(srv.url(), {.read = 100ms}, true), http::timeout_phase::read);
  EXPECT_EQ(phase_of(srv.url(), {.total = 150ms}, false), http::timeout_phase::total);
}

TEST(HttpFaults, ACancelScopeEndsAStall) {
  fault_server srv([](fault_server::conn& c) {
    if (c.request() && c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n12345")) c.stall();
  });
  with_session([&](http::session& s) -> aw::task<> {
    auto r = co_await aw::move_on_after(100ms, [&]() -> aw::task<> { co_await s.get(srv.url()); });
    EXPECT_FALSE(r);
  });
}

// ---------------------------------------------------------------------------------------
// Content-Encoding.

TEST(HttpFaults, GzipBodiesAreDecoded) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + " of a log that compresses well\n";
  fault_server srv([&](fault_server::conn& c) {
    while (c.request())
      if (!c.send(gzip_response(gzip(text)))) return;
  });
  with_session([&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(srv.url());
    EXPECT_EQ(r.body(), text);
    std::string lines;
    co_await aw::async_with(s.get(srv.url()), [&](http::response& resp) -> aw::task<> {
      auto it = resp.lines();
      while (auto l = co_await it.next()) lines += std::string(*l) + "\n";
    });
    EXPECT_EQ(lines, text);
  });
}

// Content-Encoding deflate: zlib-wrapped as RFC 9110 says, or raw as some servers send it.
TEST(HttpFaults, DeflateBodiesAreDecodedWrappedOrRaw) {
  const std::string text(300000, 'd');
  auto coded = [&](int bits) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
    std::string out = deflate_some(z, text, Z_FINISH);
    deflateEnd(&z);
    return out;
  };
  for (int bits : {15, -15}) {
    const std::string body = coded(bits);
    fault_server srv(
        answer("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    with_session([&](http::session& s) -> aw::task<> {
      http::response r = co_await s.get(srv.url());
      EXPECT_EQ(r.body(), text) << bits;
    });
  }
}

// A coded response without a body (204, HEAD) is no error, and gzip members follow each other.
TEST(HttpFaults, CodedResponsesWithoutABodyAndGzipMembers) {
  const std::string two = gzip("first ") + gzip("second");
  fault_server srv([&](fault_server::conn& c) {
    while (auto req = c.request()) {
      std::string r = req->starts_with("HEAD")                   ? "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n"
                      : req->find("/empty") != std::string::npos ? "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n"
                                                                 : gzip_response(two);
      if (!c.send(r)) return;
    }
  });
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_EQ((co_await s.get(srv.url("/empty"))).status(), 204);
    http::response h = co_await s.head(srv.url());
    EXPECT_EQ(h.status(), 200);
    EXPECT_EQ(h.body(), "");
    http::response r = co_await s.get(srv.url());
    EXPECT_EQ(r.body(), "first second");
  });
}

TEST(HttpFaults, CorruptGzipIsAProtocolError) {
  std::string body = gzip(std::string(100000, 'x'));
  for (std::size_t i = 20; i < body.size() - 8; i += 7) body[i] = static_cast<char>(body[i] ^ 0x5a);
  fault_server srv([&](fault_server::conn& c) {
    while (c.request())
      if (!c.send(gzip_response(body))) return;
  });
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()))).empty());
  });
}

TEST(HttpFaults, NotGzipAtAllIsAProtocolError) {
  fault_server srv([&](fault_server::conn& c) {
    while (c.request())
      if (!c.send(gzip_response("this is not gzip"))) return;
  });
  with_session([&](http::session& s) -> aw::task<> { EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty()); });
}

TEST(HttpFaults, GzipCutShortIsAProtocolError) {
  std::string body = gzip(std::string(200000, 'y') + "end");
  body.resize(body.size() / 2);  // the HTTP framing is complete; the gzip stream is not
  fault_server srv([&](fault_server::conn& c) {
    while (c.request())
      if (!c.send(gzip_response(body))) return;
  });
  with_session([&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::protocol_error>(s.get(srv.url()))).empty());
    EXPECT_FALSE((co_await raised_streaming<http::protocol_error>(s.get(srv.url()))).empty());
  });
}

// ---------------------------------------------------------------------------------------
// Gzip bombs: a small body that inflates to far more.

fault_server::handler serve_bomb(const std::string& bomb) {
  return [&bomb](fault_server::conn& c) {
    while (c.request())
      if (!c.send(gzip_response(bomb, "Content-Type: application/octet-stream\r\n"))) return;
  };
}

TEST(HttpFaults, AGzipBombReadWholeRaisesBodyTooLarge) {
  const std::string bomb = gzip_bomb(64);
  fault_server srv(serve_bomb(bomb));
  with_session({.max_body_size = std::size_t{8} << 20}, [&](http::session& s) -> aw::task<> {
    std::string what = co_await raised<http::body_too_large>(s.get(srv.url()));
    EXPECT_TRUE(contains(what, "8388608")) << what;
    // bytes() inside the block, and a request's own limit.
    co_await aw::async_with(s.get(srv.url()),
                            [](http::response& r) -> aw::task<> { EXPECT_THROW(co_await r.bytes(), http::body_too_large); });
    http::request_options o;
    o.max_body_size = std::size_t{1} << 20;
    EXPECT_FALSE((co_await raised<http::body_too_large>(s.get(srv.url(), std::move(o)))).empty());
    // The session is still usable.
    http::request_options big;
    big.max_body_size = std::size_t{64} << 20;  // exactly the body's size
    http::response r = co_await s.get(srv.url(), std::move(big));
    EXPECT_EQ(r.body().size(), std::size_t{64} << 20);
  });
}

TEST(HttpFaults, ABodyOverTheLimitWithoutEncodingRaisesBodyTooLarge) {
  fault_server srv(answer("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'z')));
  with_session({.max_body_size = 4096},
               [&](http::session& s) -> aw::task<> { EXPECT_FALSE((co_await raised<http::body_too_large>(s.get(srv.url()))).empty()); });
}

TEST(HttpFaults, AGzipBombStreamsInChunksToItsEnd) {
  const std::string bomb = gzip_bomb(128);
  fault_server srv(serve_bomb(bomb));
  with_session({.max_body_size = std::size_t{1} << 20}, [&](http::session& s) -> aw::task<> {  // the limit is for whole bodies
    std::size_t total = 0;
    bool all_zeros = true;
    co_await aw::async_with(s.get(srv.url()), [&](http::response& r) -> aw::task<> {
      auto chunks = r.chunks(64 * 1024);
      while (auto c = co_await chunks.next()) {
        total += c->size();
        all_zeros = all_zeros && c->find_first_not_of('\0') == std::string_view::npos;
      }
    });
    EXPECT_EQ(total, std::size_t{128} << 20);
    EXPECT_TRUE(all_zeros);
  });
}

TEST(HttpFaults, AGzipBombsOneLineRaisesBodyTooLarge) {
  const std::string bomb = gzip_bomb(64);
  fault_server srv(serve_bomb(bomb));
  with_session({.max_body_size = std::size_t{4} << 20}, [&](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(srv.url()), [&](http::response& r) -> aw::task<> {
      auto lines = r.lines();
      EXPECT_THROW(co_await lines.next(), http::body_too_large);
    });
  });
}

TEST(HttpFaults, AGzipBombReadWholeHonoursTheTotalTimeout) {
  const std::string bomb = gzip_bomb(4096);  // 4 GiB inflated: the timeout comes first
  fault_server srv(serve_bomb(bomb));
  EXPECT_EQ(phase_of(srv.url(), {.total = 300ms}, false), http::timeout_phase::total);
}

// ---------------------------------------------------------------------------------------
// Redirects.

TEST(HttpFaults, ARedirectLoopRaisesTooManyRedirects) {
  fault_server srv([](fault_server::conn& c) {
    while (c.request())
      if (!c.send("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")) return;
  });
  with_session({.max_redirects = 5}, [&](http::session& s) -> aw::task<> {
    EXPECT_FALSE((co_await raised<http::too_many_redirects>(s.get(srv.url()))).empty());
  });
}

TEST(HttpFaults, ARedirectWithoutLocationIsTheResponse) {
  fault_server srv(answer("HTTP/1.1 302 Found\r\nContent-Length: 5\r\n\r\nmoved"));
  with_session([&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(srv.url());
    EXPECT_EQ(r.status(), 302);
    EXPECT_EQ(r.body(), "moved");
  });
}

}  // namespace
