// A TCP relay between the driver and the test server that can hold one message: the tests
// use it to keep a job on a worker, blocked on the server's reply, for as long as they need
// (e.g. while the block that started it is left), with nothing left to timing.
//
//   mongo_test::relay r;                          // relays to the fixture's server
//   client c(r.uri("maxPoolSize=3"));
//   r.hold_next("some_collection");               // the next message naming it is held ...
//   ... a job sends it; r.wait_held(10s) returns true once the relay holds it ...
//   r.release();                                  // ... until now
#pragma once

#include "mongo_test.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mongo_test {

// The fixture server's port, from the suite's connection string (mongodb://127.0.0.1:PORT/...).
inline int server_port() {
  const std::string_view u = uri();
  const auto at = u.find("127.0.0.1:") + std::string_view("127.0.0.1:").size();
  return std::stoi(std::string(u.substr(at, u.find('/', at) - at)));
}

class relay {
 public:
  relay() {
    EXPECT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);  // any free port
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_, 64), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~relay() {
    {
      std::lock_guard g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    char one = 1;
    EXPECT_EQ(::write(stop_[1], &one, 1), 1);  // never read: every poll sees it from now on
    acceptor_.join();
    for (auto& t : pumps_) t.join();  // the acceptor, which adds them, has ended
    ::close(listen_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;

  // mongodb://127.0.0.1:PORT/?serverSelectionTimeoutMS=5000&<options>
  std::string uri(const std::string& options) const {
    return "mongodb://127.0.0.1:" + std::to_string(port_) + "/?serverSelectionTimeoutMS=5000&" + options;
  }
  // The next message from the driver that contains `marker` (e.g. a collection's name) is
  // held, not sent on, until release().
  void hold_next(std::string marker) {
    std::lock_guard g(m_);
    marker_ = std::move(marker);
    armed_ = true;
  }
  // On a thread that may block (aw::to_thread): whether a message is held, waiting up to `limit`.
  bool wait_held(std::chrono::seconds limit) {
    std::unique_lock g(m_);
    return cv_.wait_for(g, limit, [&] { return held_; });
  }
  void release() {
    {
      std::lock_guard g(m_);
      released_ = true;
    }
    cv_.notify_all();
  }
  // On a thread that may block: whether every connection the driver opened was closed,
  // waiting up to `limit`.
  bool wait_all_closed(std::chrono::seconds limit) {
    std::unique_lock g(m_);
    return cv_.wait_for(g, limit, [&] { return open_ == 0; });
  }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  static bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || fds[1].revents) return;
      const int client = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = loopback(server_port());
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(server);
        ::close(client);
        continue;
      }
      {
        std::lock_guard g(m_);
        ++open_;
      }
      pumps_.emplace_back([this, client, server] { pump(client, server); });
    }
  }

  // Both directions of one connection, until either side closes it or the relay stops.
  void pump(int client, int server) {
    std::string tail;  // the end of the last message, for a marker cut in two by the reads
    char buf[64 * 1024];
    for (;;) {
      pollfd fds[3] = {{client, POLLIN, 0}, {server, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 || fds[2].revents) break;
      if (fds[0].revents) {
        const ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0) break;
        hold_if_marked(tail, std::string_view(buf, static_cast<std::size_t>(n)));
        if (!write_all(server, buf, static_cast<std::size_t>(n))) break;
      }
      if (fds[1].revents) {
        const ssize_t n = ::read(server, buf, sizeof buf);
        if (n <= 0 || !write_all(client, buf, static_cast<std::size_t>(n))) break;
      }
    }
    ::close(client);
    ::close(server);
    {
      std::lock_guard g(m_);
      --open_;
    }
    cv_.notify_all();
  }

  void hold_if_marked(std::string& tail, std::string_view got) {
    std::unique_lock g(m_);
    if (!armed_) return;
    std::string seen = tail;
    seen.append(got);
    if (seen.find(marker_) == std::string::npos) {
      tail = seen.substr(seen.size() - std::min(seen.size(), marker_.size()));
      return;
    }
    armed_ = false;
    held_ = true;
    cv_.notify_all();
    cv_.wait(g, [&] { return released_ || stopping_; });
  }

  int listen_ = -1;
  int stop_[2] = {-1, -1};
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // the acceptor's until it ends
  std::mutex m_;
  std::condition_variable cv_;
  std::string marker_;
  bool armed_ = false, held_ = false, released_ = false, stopping_ = false;
  int open_ = 0;
};

}  // namespace mongo_test
