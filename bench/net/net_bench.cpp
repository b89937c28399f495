// net_bench: the asyncwith sides of bench/net/compare, one process per side, the mode chosen
// by the first argument. Servers print "ready" once they listen and run until SIGTERM;
// clients print one JSON object. Everything on 127.0.0.1, TCP_NODELAY on (aw::net's default).
//
//   net_bench echo-server PORT [THREADS]          echo (one loop, or THREADS loops with a
//                                                 reuse_port listener each: run_on_threads)
//   net_bench echo-client PORT CONNS SECONDS [THREADS] [SIZE]
//                                                 CONNS connections, each sends SIZE (64)
//                                                 bytes, waits for them back, repeats;
//                                                 {"round_trips_per_s": ...}
//   net_bench bulk-server PORT                    receives until the end, answers 1 byte
//   net_bench bulk-client PORT BYTES              sends BYTES (128 KiB writes, iperf3's),
//                                                 ends, waits for the answer; {"bytes_per_s": ...}
//   net_bench tls-server PORT CERT KEY            TLS; a connection that sent data gets 1 byte back
//   net_bench tls-handshakes PORT CERT SECONDS    full handshakes, one connection at a time;
//                                                 {"handshakes_per_s": ...}
//   net_bench tls-bulk-client PORT CERT BYTES     {"bytes_per_s": ...}
//   net_bench ssl-bulk-server PORT CERT KEY       the limit for tls-bulk: OpenSSL alone, on
//   net_bench ssl-bulk-client PORT CERT BYTES     blocking sockets, no loop (SSL_read/SSL_write
//                                                 of the same 128 KiB writes), one connection
//
// The TLS client trusts CERT and checks the name "localhost"; neither side sends
// close_notify on close (standard_compatible off), as openssl s_time does not.
#include <aw/aw.hpp>
#include <aw/net.hpp>
#include <aw/run_on_threads.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <string>
#include <string_view>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t0) { return std::chrono::duration<double>(steady::now() - t0).count(); }

void ready() {
  std::puts("ready");
  std::fflush(stdout);
}

aw::task<aw::net::tcp_listener> listen_on(std::uint16_t port, bool reuse_port) {
  aw::net::listener_options o;
  o.reuse_port = reuse_port;
  co_return co_await aw::net::create_tcp_listener("127.0.0.1", port, o);
}

aw::task<> echo(aw::net::tcp_stream& s) {
  char buf[65536];
  try {
    for (;;) {
      std::size_t n = co_await s.receive_into(buf);
      if (n == 0) co_return;
      co_await s.send(std::string_view(buf, n));
    }
  } catch (const aw::broken_resource_error&) {  // a client killed mid-run
  }
}

aw::task<> serve_echo(std::uint16_t port, bool reuse_port, std::latch* bound) {
  co_await aw::async_with(co_await listen_on(port, reuse_port), [&](aw::net::tcp_listener& l) -> aw::task<> {
    if (bound) {
      bound->arrive_and_wait();  // every loop has bound the port: only then "ready"
    } else {
      ready();
    }
    co_await l.serve(echo);
  });
}

void echo_server(std::uint16_t port, std::size_t threads) {
  if (threads == 1) {
    aw::run([&] { return serve_echo(port, false, nullptr); });
    return;
  }
  std::latch bound(static_cast<std::ptrdiff_t>(threads) + 1);
  std::thread announce([&] {
    bound.arrive_and_wait();
    ready();
  });
  aw::run_on_threads(threads, [&](std::size_t) { return serve_echo(port, true, &bound); });
  announce.join();
}

// One connection's round trips until *stop: send `size` bytes, receive them back.
aw::task<> echo_rounds(aw::net::tcp_stream& s, std::size_t size, const bool& stop, std::uint64_t& count) {
  std::string out(size, 'x');
  std::vector<char> in(size);
  while (!stop) {
    co_await s.send(out);
    std::size_t got = 0;
    while (got < size) {
      std::size_t n = co_await s.receive_into(std::span<char>(in.data() + got, size - got));
      if (n == 0) throw std::runtime_error("net_bench: the echo server closed the connection");
      got += n;
    }
    ++count;
  }
}

// One loop's share of the clients: connects `conns`, then runs them for `seconds`.
aw::task<> echo_clients(std::uint16_t port, std::size_t conns, double seconds, std::size_t size, std::atomic<double>& rate) {
  std::vector<aw::net::tcp_stream> streams;
  for (std::size_t i = 0; i < conns; ++i) streams.push_back(co_await aw::net::connect_tcp("127.0.0.1", port));
  bool stop = false;
  std::uint64_t count = 0;
  steady::time_point t0 = steady::now();
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
    for (auto& s : streams) tg.start_soon(echo_rounds, std::ref(s), size, std::cref(stop), std::ref(count));
    co_await aw::sleep(std::chrono::duration<double>(seconds));
    stop = true;
  });
  double r = static_cast<double>(count) / seconds_since(t0);
  for (double cur = rate.load(); !rate.compare_exchange_weak(cur, cur + r);) {
  }
  for (auto& s : streams) co_await s.aclose();
}

void echo_client(std::uint16_t port, std::size_t conns, double seconds, std::size_t threads, std::size_t size) {
  std::atomic<double> rate{0};
  if (threads == 1) {
    aw::run([&] { return echo_clients(port, conns, seconds, size, rate); });
  } else {
    aw::run_on_threads(threads, [&](std::size_t i) {
      std::size_t mine = conns / threads + (i < conns % threads ? 1 : 0);
      return echo_clients(port, mine, seconds, size, rate);
    });
  }
  std::printf("{\"round_trips_per_s\": %.1f}\n", rate.load());
}

constexpr std::size_t chunk = 128 * 1024;

// TLS gives at most a record (16 KiB) per receive; TCP up to the buffer.
template <class Stream>
aw::task<> drain_and_ack(Stream& s, std::size_t buffer) {
  std::vector<char> buf(buffer);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = co_await s.receive_into(buf);
    if (n == 0) break;
    total += n;
  }
  if (total) co_await s.send("k");
}

void bulk_server(std::uint16_t port) {
  aw::run([&]() -> aw::task<> {
    auto l = co_await listen_on(port, false);
    ready();
    auto s = co_await l.accept();
    co_await drain_and_ack(s, chunk);
    co_await s.aclose();
    co_await l.aclose();
  });
}

template <class Stream>
aw::task<> send_bulk(Stream& s, std::uint64_t bytes) {
  std::string data(chunk, 'x');
  for (std::uint64_t sent = 0; sent < bytes; sent += chunk)
    co_await s.send(std::string_view(data).substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(chunk, bytes - sent))));
  co_await s.send_eof();
  char ack[1];
  if (co_await s.receive_into(ack) != 1) throw std::runtime_error("net_bench: no answer from the receiver");
}

void bulk_client(std::uint16_t port, std::uint64_t bytes) {
  double elapsed = aw::run([&]() -> aw::task<double> {
    auto s = co_await aw::net::connect_tcp("127.0.0.1", port);
    steady::time_point t0 = steady::now();
    co_await send_bulk(s, bytes);
    double e = seconds_since(t0);
    co_await s.aclose();
    co_return e;
  });
  std::printf("{\"bytes_per_s\": %.1f}\n", static_cast<double>(bytes) / elapsed);
}

void tls_server(std::uint16_t port, const std::string& cert, const std::string& key) {
  aw::run([&]() -> aw::task<> {
    aw::net::tls_listener<aw::net::tcp_listener> tls(co_await listen_on(port, false), aw::net::tls_context::server(cert, key), false);
    ready();
    co_await tls.serve([](aw::net::tls_stream& s) -> aw::task<> {
      try {
        co_await drain_and_ack(s, 16384);
      } catch (const aw::broken_resource_error&) {  // a handshake client that closed at once
      }
    });
  });
}

aw::net::tls_connect_options tls_client_options(const std::string& cert) {
  aw::net::tls_connect_options o;
  o.tls.context = aw::net::tls_context::client();
  o.tls.context.load_verify_locations(cert);
  o.tls.server_hostname = "localhost";
  o.tls.standard_compatible = false;
  return o;
}

void tls_handshakes(std::uint16_t port, const std::string& cert, double seconds) {
  double rate = aw::run([&]() -> aw::task<double> {
    aw::net::tls_connect_options o = tls_client_options(cert);
    std::uint64_t n = 0;
    steady::time_point t0 = steady::now();
    while (seconds_since(t0) < seconds) {
      aw::net::tls_stream s = co_await aw::net::connect_tls("127.0.0.1", port, o);
      co_await s.aclose();
      ++n;
    }
    co_return static_cast<double>(n) / seconds_since(t0);
  });
  std::printf("{\"handshakes_per_s\": %.1f}\n", rate);
}

void tls_bulk_client(std::uint16_t port, const std::string& cert, std::uint64_t bytes) {
  double elapsed = aw::run([&]() -> aw::task<double> {
    aw::net::tls_connect_options o = tls_client_options(cert);
    aw::net::tls_stream s = co_await aw::net::connect_tls("127.0.0.1", port, o);
    steady::time_point t0 = steady::now();
    co_await send_bulk(s, bytes);
    double e = seconds_since(t0);
    co_await s.aclose();
    co_return e;
  });
  std::printf("{\"bytes_per_s\": %.1f}\n", static_cast<double>(bytes) / elapsed);
}

// The OpenSSL-only reference: what TLS costs with nothing around it.
[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "net_bench: %s failed\n", what);
  std::exit(1);
}

int tcp_socket(std::uint16_t port, bool listen_on_it) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (listen_on_it) {
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) die("bind");
    ready();
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(fd);
    fd = c;
  } else if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    die("connect");
  }
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return fd;
}

// Read ahead into a 64 KiB buffer: one recv for many records, as aw::net's ring buffer does
// (without it, OpenSSL reads every record's header and body with a recv each).
void tune(SSL_CTX* ctx) {
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 65536);
}

void ssl_bulk_server(std::uint16_t port, const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    die("loading the certificate");
  tune(ctx);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, tcp_socket(port, true));
  if (SSL_accept(ssl) != 1) die("SSL_accept");
  std::vector<char> buf(16384);
  while (SSL_read(ssl, buf.data(), static_cast<int>(buf.size())) > 0) {
  }
  SSL_write(ssl, "k", 1);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

void ssl_bulk_client(std::uint16_t port, const std::string& cert, std::uint64_t bytes) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, cert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  tune(ctx);
  SSL* ssl = SSL_new(ctx);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set1_host(ssl, "localhost");
  int fd = tcp_socket(port, false);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) die("SSL_connect");
  std::string data(chunk, 'x');
  steady::time_point t0 = steady::now();
  for (std::uint64_t sent = 0; sent < bytes; sent += chunk)
    if (SSL_write(ssl, data.data(), static_cast<int>(std::min<std::uint64_t>(chunk, bytes - sent))) <= 0) die("SSL_write");
  SSL_shutdown(ssl);  // close_notify: the server's SSL_read ends
  char ack;
  if (SSL_read(ssl, &ack, 1) != 1) die("SSL_read");
  double e = seconds_since(t0);
  std::printf("{\"bytes_per_s\": %.1f}\n", static_cast<double>(bytes) / e);
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
}

[[noreturn]] void usage() {
  std::fputs(
      "usage: net_bench "
      "echo-server|echo-client|bulk-server|bulk-client|tls-server|tls-handshakes|tls-bulk-client|ssl-bulk-server|ssl-bulk-client ARGS"
      " (see the comment at the top of bench/net/net_bench.cpp)\n",
      stderr);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage();
  std::string_view mode = argv[1];
  auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  auto arg = [&](int i, const char* def) -> std::string {
    if (i < argc) return argv[i];
    if (def) return def;
    usage();
  };
  // A run that fails (a peer that reset the connection, a refused connect) says why and
  // exits 1 for bench/net/compare to report, rather than aborting on an uncaught exception.
  try {
    if (mode == "echo-server") {
      echo_server(port, std::stoul(arg(3, "1")));
    } else if (mode == "echo-client") {
      echo_client(port, std::stoul(arg(3, nullptr)), std::stod(arg(4, nullptr)), std::stoul(arg(5, "1")), std::stoul(arg(6, "64")));
    } else if (mode == "bulk-server") {
      bulk_server(port);
    } else if (mode == "bulk-client") {
      bulk_client(port, std::stoull(arg(3, nullptr)));
    } else if (mode == "tls-server") {
      tls_server(port, arg(3, nullptr), arg(4, nullptr));
    } else if (mode == "tls-handshakes") {
      tls_handshakes(port, arg(3, nullptr), std::stod(arg(4, nullptr)));
    } else if (mode == "tls-bulk-client") {
      tls_bulk_client(port, arg(3, nullptr), std::stoull(arg(4, nullptr)));
    } else if (mode == "ssl-bulk-server") {
      ssl_bulk_server(port, arg(3, nullptr), arg(4, nullptr));
    } else if (mode == "ssl-bulk-client") {
      ssl_bulk_client(port, arg(3, nullptr), std::stoull(arg(4, nullptr)));
    } else {
      usage();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "net_bench %s: %s\n", argv[1], e.what());
    return 1;
  }
}
