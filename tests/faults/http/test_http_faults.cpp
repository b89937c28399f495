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
#include <zlib.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
namespace http = aw::http;

namespace {

// A server that hands each connection, one at a time, to a handler that writes exactly the
// bytes of a scenario; the connection is closed when the handler returns. Destroying the
// server ends a handler waiting in request(), send() or stall().
class fault_server {
 public:
  class conn {
   public:
    conn(int fd, int stop) noexcept : fd_(fd), stop_(stop) {}
    // The next request's head (its body is not read), or nothing once the client closed.
    std::optional<std::string> request() {
      for (;;) {
        if (auto end = pending_.find("\r\n\r\n"); end != std::string::npos) {
          std::string head = pending_.substr(0, end + 4);
          pending_.erase(0, end + 4);
          return head;
        }
        if (!wait(POLLIN)) return std::nullopt;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        pending_.append(buf, static_cast<std::size_t>(n));
      }
    }
    // False once the client is gone.
    bool send(std::string_view bytes) {
      while (!bytes.empty()) {
        if (!wait(POLLOUT)) return false;
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
      }
      return true;
    }
    // Holds the connection open, silent, until the server is destroyed.
    void stall() {
      pollfd p{stop_, POLLIN, 0};
      while (::poll(&p, 1, -1) < 0) {
      }
    }

   private:
    bool wait(short events) {
      pollfd p[2] = {{fd_, events, 0}, {stop_, POLLIN, 0}};
      while (::poll(p, 2, -1) < 0) {
      }
      return p[1].revents == 0;
    }
    int fd_, stop_;
    std::string pending_;
  };
  using handler = std::function<void(conn&)>;

  explicit fault_server(handler h) : h_(std::move(h)) {
    if (::pipe(stop_) != 0) throw std::runtime_error("pipe");
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~fault_server() {
    (void)::write(stop_[1], "x", 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  fault_server(const fault_server&) = delete;
  fault_server& operator=(const fault_server&) = delete;

  std::string url(std::string_view path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + std::string(path); }
  int connections() const noexcept { return accepted_; }

 private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      conn cn(c, stop_[0]);
      h_(cn);
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    }
  }
  handler h_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A handler that reads one request and answers with `bytes`, then closes.
fault_server::handler answer(std::string bytes) {
  return [bytes = std::move(bytes)](fault_server::conn& c) {
    if (c.request()) c.send(bytes);
  };
}

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

// zlib's output for `in` with `flush`, until it has written everything.
std::string deflate_some(z_stream& z, std::string_view in, int flush) {
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[64 * 1024];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = deflate(&z, flush);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_STREAM_END || (z.avail_out != 0 && z.avail_in == 0)) return out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate");
  }
}

std::string gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out = deflate_some(z, data, Z_FINISH);
  deflateEnd(&z);
  return out;
}

std::string gzip_response(const std::string& body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra) + "\r\n" + body;
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
