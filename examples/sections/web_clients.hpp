// Web clients: the tutorial's aiohttp and httpx rows.
//
//   async with aiohttp.ClientSession() as session:        # a pool of keep-alive connections
//       async with session.get(url) as resp:              # the response is a manager too:
//           async for line in resp.content: ...           # leaving it releases the connection
//   async with httpx.AsyncClient() as client:
//       r = await client.get(url)                         # the body read whole
//
// With a URL (the program's argument, or AW_TOUR_URL for the tour) it fetches that; without
// one it starts a small HTTP server of its own on 127.0.0.1, in the same loop, and stops it
// when it is done (the machine may have no internet).
#pragma once

#include <aw/aw.hpp>
#include <aw/http.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace web_clients {

using namespace std::chrono_literals;

// The local server: just enough HTTP/1.1 (keep-alive, Content-Length) to answer GET /
// with a few lines of text and 404 elsewhere. One task per connection, in the task group.
class tiny_server {
 public:
  tiny_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0)
      throw std::system_error(errno, std::generic_category(), "tiny_server");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~tiny_server() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  // Accepts until cancelled.
  aw::task<> serve(aw::task_group& tg) {
    for (;;) {
      co_await aw::wait_readable(fd_);
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c >= 0) tg.start_soon(connection, c);
    }
  }

 private:
  static aw::task<> connection(int fd) {
    std::string in;
    char buf[4096];
    try {
      for (;;) {
        std::size_t end;
        while ((end = in.find("\r\n\r\n")) == std::string::npos) {
          co_await aw::wait_readable(fd);
          ssize_t n = ::read(fd, buf, sizeof buf);
          if (n <= 0) throw std::runtime_error("closed");
          in.append(buf, static_cast<std::size_t>(n));
        }
        bool root = in.starts_with("GET / ");
        in.erase(0, end + 4);
        std::string body = root ? "Hello from the tour's own server.\nLine two.\nLine three.\n" : "not found\n";
        std::string out = std::string(root ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                          "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        for (std::size_t done = 0; done < out.size();) {
          co_await aw::wait_writable(fd);
          ssize_t n = ::write(fd, out.data() + done, out.size() - done);
          if (n < 0 && errno != EAGAIN) throw std::runtime_error("write");
          if (n > 0) done += static_cast<std::size_t>(n);
        }
      }
    } catch (const std::runtime_error&) {  // the client went away
    }
    ::close(fd);
  }

  int fd_ = -1;
  int port_ = 0;
};

inline aw::task<> fetch(const std::string& url) {
  // Options named first, not a braced temporary inside co_await (a g++ 12 bug; see the README).
  aw::http::session_options options{.timeout = {.connect = 10s, .read = 30s}};
  co_await aw::async_with(aw::http::session(std::move(options)), [&](aw::http::session& s) -> aw::task<> {
    // httpx: r = await client.get(url)
    aw::http::response r = co_await s.get(url);
    std::printf("  httpx style:   GET %s -> %d %s, %s, %zu bytes\n", r.url().c_str(), r.status(), r.reason().c_str(), r.version().c_str(),
                r.body().size());

    // aiohttp: async with session.get(url) as resp: async for line in resp.content
    co_await aw::async_with(s.get(url), [](aw::http::response& resp) -> aw::task<> {
      std::printf("  aiohttp style: %d, Content-Type %s; the first lines:\n", resp.status(),
                  std::string(resp.headers().get("content-type").value_or("?")).c_str());
      auto lines = resp.lines();
      for (int i = 0; i < 3; ++i) {
        auto line = co_await lines.next();
        if (!line) break;
        std::printf("    | %.*s\n", static_cast<int>(std::min<std::size_t>(line->size(), 70)), line->data());
      }
    });  // leaving early: the unread rest is dropped, and its connection with it

    // raise_for_status, as both libraries have it
    aw::http::response missing = co_await s.get(url + (url.ends_with('/') ? "" : "/") + "no-such-page-here");
    try {
      missing.raise_for_status();
      std::printf("  %d for a missing page\n", missing.status());
    } catch (const aw::http::status_error& e) {
      std::printf("  raise_for_status: aw::http::status_error %d\n", e.status());
    }
  });
}

inline aw::task<> demo(std::string url) {
  if (!url.empty()) {
    co_await fetch(url);
    co_return;
  }
  tiny_server server;
  std::printf("  (no URL given: serving one at %s)\n", server.url().c_str());
  co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
    tg.start_soon([&]() -> aw::task<> { co_await server.serve(tg); });
    co_await fetch(server.url());
    tg.cancel();  // stop the server
  });
}

inline aw::task<> demo() {
  const char* url = std::getenv("AW_TOUR_URL");
  return demo(url ? url : "");
}

}  // namespace web_clients
