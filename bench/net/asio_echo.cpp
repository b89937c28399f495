// asio_echo: the C++ Asio peer of bench/net/compare's echo lines, written the way Asio's
// examples write it (example/cpp11/echo/async_tcp_echo_server.cpp: a session object kept
// alive by shared_ptr, async_read_some then async_write), one io_context run on one
// thread. TCP_NODELAY on both sides.
//
//   asio_echo server PORT                      prints "ready", echoes until killed
//   asio_echo client PORT CONNS SECONDS [SIZE] CONNS connections, each sends SIZE (64) bytes
//                                              and waits for them back, repeatedly;
//                                              {"round_trips_per_s": ...}
#include <asio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : socket_(std::move(socket)) {}
  void start() { do_read(); }

 private:
  void do_read() {
    auto self(shared_from_this());
    socket_.async_read_some(asio::buffer(data_, max_length), [this, self](std::error_code ec, std::size_t length) {
      if (!ec) do_write(length);
    });
  }
  void do_write(std::size_t length) {
    auto self(shared_from_this());
    asio::async_write(socket_, asio::buffer(data_, length), [this, self](std::error_code ec, std::size_t) {
      if (!ec) do_read();
    });
  }
  tcp::socket socket_;
  enum { max_length = 65536 };
  char data_[max_length];
};

class server {
 public:
  server(asio::io_context& io, unsigned short port) : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)) {
    acceptor_.set_option(tcp::no_delay(true));
    do_accept();
  }

 private:
  void do_accept() {
    acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<session>(std::move(socket))->start();
      }
      do_accept();
    });
  }
  tcp::acceptor acceptor_;
};

// One client connection: write SIZE bytes, read SIZE bytes back (asio::async_read: all of
// them), count, again until stopped.
class pinger : public std::enable_shared_from_this<pinger> {
 public:
  pinger(tcp::socket socket, std::size_t size, const bool& stop, std::uint64_t& count)
      : socket_(std::move(socket)), out_(size, 'x'), in_(size), stop_(stop), count_(count) {}
  void start() { do_write(); }

 private:
  void do_write() {
    auto self(shared_from_this());
    asio::async_write(socket_, asio::buffer(out_), [this, self](std::error_code ec, std::size_t) {
      if (!ec) do_read();
    });
  }
  void do_read() {
    auto self(shared_from_this());
    asio::async_read(socket_, asio::buffer(in_), [this, self](std::error_code ec, std::size_t) {
      if (ec) return;
      ++count_;
      if (!stop_) do_write();
    });
  }
  tcp::socket socket_;
  std::string out_;
  std::vector<char> in_;
  const bool& stop_;
  std::uint64_t& count_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "server") == 0) {
    asio::io_context io(1);
    server s(io, static_cast<unsigned short>(std::atoi(argv[2])));
    std::puts("ready");
    std::fflush(stdout);
    io.run();
    return 0;
  }
  if (argc >= 5 && std::strcmp(argv[1], "client") == 0) {
    auto port = static_cast<unsigned short>(std::atoi(argv[2]));
    std::size_t conns = std::strtoul(argv[3], nullptr, 10);
    double seconds = std::atof(argv[4]);
    std::size_t size = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 64;
    asio::io_context io(1);
    std::vector<tcp::socket> sockets;
    for (std::size_t i = 0; i < conns; ++i) {
      tcp::socket s(io);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
      s.set_option(tcp::no_delay(true));
      sockets.push_back(std::move(s));
    }
    bool stop = false;
    std::uint64_t count = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (auto& s : sockets) std::make_shared<pinger>(std::move(s), size, stop, count)->start();
    asio::steady_timer timer(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds)));
    timer.async_wait([&](std::error_code) { stop = true; });
    io.run();  // returns once every connection has finished its last round trip
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"round_trips_per_s\": %.1f}\n", static_cast<double>(count) / elapsed);
    return 0;
  }
  std::fputs("usage: asio_echo server PORT | asio_echo client PORT CONNS SECONDS [SIZE]\n", stderr);
  return 2;
}
