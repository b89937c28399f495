// The misbehaving servers of aw::http's fault suite, and the gzip bodies they send: shared by
// the tests and the measuring program (http_fault_measure.cpp).
#pragma once

#include <zlib.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace aw_http_faults {

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
inline fault_server::handler answer(std::string bytes) {
  return [bytes = std::move(bytes)](fault_server::conn& c) {
    if (c.request()) c.send(bytes);
  };
}

// zlib's output for `in` with `flush`, until it has written everything.
inline std::string deflate_some(z_stream& z, std::string_view in, int flush) {
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

inline std::string gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out = deflate_some(z, data, Z_FINISH);
  deflateEnd(&z);
  return out;
}

inline std::string gzip_response(const std::string& body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra) + "\r\n" + body;
}

// A gzip stream of `mib` MiB of zeros, about 1 KiB per MiB, made without compressing it all:
// after a full flush, each further MiB of zeros compresses to the same bytes, so that block is
// repeated, and the trailer (CRC-32 and length) is written for the whole.
inline std::string gzip_bomb(std::size_t mib) {
  const std::string zeros(std::size_t{1} << 20, '\0');
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out = deflate_some(z, zeros, Z_FULL_FLUSH);
  const std::string block = deflate_some(z, zeros, Z_FULL_FLUSH);
  std::string tail = deflate_some(z, {}, Z_FINISH);
  deflateEnd(&z);
  out.reserve(out.size() + block.size() * mib + tail.size());
  for (std::size_t i = 1; i < mib; ++i) out += block;
  const uLong one = crc32(0, reinterpret_cast<const Bytef*>(zeros.data()), static_cast<uInt>(zeros.size()));
  uLong crc = one;
  for (std::size_t i = 1; i < mib; ++i) crc = crc32_combine(crc, one, static_cast<z_off_t>(zeros.size()));
  const std::uint32_t words[2] = {static_cast<std::uint32_t>(crc), static_cast<std::uint32_t>((mib << 20) & 0xffffffffu)};
  for (int w = 0; w < 2; ++w)
    for (int b = 0; b < 4; ++b)
      tail[tail.size() - 8 + static_cast<std::size_t>(w * 4 + b)] = static_cast<char>((words[w] >> (8 * b)) & 0xff);
  return out + tail;
}

}  // namespace aw_http_faults
