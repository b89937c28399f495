// examples/echo_server_threads [--serve PORT]: an echo server on every core. Each thread runs
// a loop of its own (aw::run_on_threads) with its own listening socket on one shared port
// (SO_REUSEPORT: the kernel spreads the connections over the sockets), so the cores share
// nothing and need no lock.
//
// Without arguments it demonstrates itself and ends: every thread also runs a few clients
// that connect to the port (reaching whichever thread the kernel picks) and check their
// echo; when every client of every thread is done, the servers stop. With --serve PORT it
// serves on every interface on PORT until Ctrl-C or SIGTERM, which cancel every loop.
#include <aw/aw.hpp>
#include <aw/net.hpp>
#include <aw/run_on_threads.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int clients_per_thread = 4;

aw::task<> echo(aw::net::tcp_stream& client) {
  char buf[65536];
  for (;;) {
    std::size_t n = co_await client.receive_into(buf);
    if (n == 0) co_return;  // the client closed its side; serve() closes the stream
    co_await client.send(std::string_view(buf, n));
  }
}

// A listener of this thread's own on the shared port.
aw::task<aw::net::tcp_listener> listen_on(const char* host, std::uint16_t port) {
  aw::net::listener_options o;
  o.reuse_port = true;
  co_return co_await aw::net::create_tcp_listener(host, port, o);
}

// One client: a message through the server and back.
aw::task<> client(std::uint16_t port, std::size_t thread, int i) {
  aw::net::tcp_stream s = co_await aw::net::connect_tcp("127.0.0.1", port);
  std::string message = "hello from client " + std::to_string(i) + " of thread " + std::to_string(thread);
  co_await s.send(message);
  co_await s.send_eof();
  std::string reply;
  char buf[256];
  while (std::size_t n = co_await s.receive_into(buf)) reply.append(buf, n);
  if (reply != message) throw std::runtime_error("echo_server_threads: a wrong echo: " + reply);
}

// A free port on 127.0.0.1, held (bound, SO_REUSEPORT, not listening) until the servers
// have bound it too: nobody else can take it meanwhile, and a socket that does not listen
// gets no connections.
int reserve_port(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("echo_server_threads: reserve a port");
    std::exit(1);
  }
  port = ntohs(a.sin_port);
  return fd;
}

int demo(std::size_t threads) {
  std::uint16_t port = 0;
  int reserved = reserve_port(port);
  std::latch clients_done(static_cast<std::ptrdiff_t>(threads));
  std::vector<std::atomic<int>> served(threads);
  aw::run_on_threads(threads, [&](std::size_t t) -> aw::task<> {
    co_await aw::async_with(co_await listen_on("127.0.0.1", port), [&](aw::net::tcp_listener& l) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await l.serve([&](aw::net::tcp_stream& s) -> aw::task<> {
            ++served[t];
            co_await echo(s);
          });
        });
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& clients) -> aw::task<> {
          for (int i = 0; i < clients_per_thread; ++i) clients.start_soon(client, port, t, i);
          co_return;
        });
        // This thread's clients are done; other threads' clients may still reach this
        // server, so it serves on until all are. Polled: blocking here would stop this
        // loop's server, and each wait is a cancellation point (Ctrl-C, a failed thread).
        clients_done.count_down();
        while (!clients_done.try_wait()) co_await aw::sleep(std::chrono::milliseconds(1));
        tg.cancel();
      });
    });
  });
  ::close(reserved);
  int total = 0;
  std::printf("%zu threads, one listening socket each on 127.0.0.1:%u; connections served per thread:", threads, port);
  for (auto& n : served) {
    std::printf(" %d", n.load());
    total += n.load();
  }
  std::printf("\n%d connections echoed\n", total);
  return total == static_cast<int>(threads) * clients_per_thread ? 0 : 1;
}

void serve(std::size_t threads, std::uint16_t port) {
  std::printf("echoing on port %u with %zu threads; Ctrl-C stops\n", port, threads);
  std::fflush(stdout);
  aw::run_on_threads(threads, [&](std::size_t) -> aw::task<> {
    co_await aw::async_with(co_await listen_on("", port), [](aw::net::tcp_listener& l) -> aw::task<> { co_await l.serve(echo); });
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  if (argc == 3 && std::strcmp(argv[1], "--serve") == 0) {
    serve(threads, static_cast<std::uint16_t>(std::atoi(argv[2])));
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: echo_server_threads [--serve PORT]\n");
    return 2;
  }
  return demo(threads);
}
