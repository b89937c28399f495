// Listeners: TCP on one address, on every interface and on localhost (several sockets),
// Unix on a path and an abstract name; accept and its cancellation; serve with failing
// handlers, graceful and cancelling stops, and 1,000 concurrent clients.
#include "net_test.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/buffered.hpp>
#include <aw/net/connect.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/listener.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using aw::net::socket_address;
using aw::net::tcp_listener;
using aw::net::tcp_stream;
using aw::net::unix_listener;
using aw::net::unix_stream;
using net_test::connect_blocking;
using net_test::is_open_fd;

static_assert(aw::async_context_manager<tcp_listener> && std::is_same_v<aw::resource_t<tcp_listener>, tcp_listener&>);

aw::task<std::string> read_to_end(aw::net::socket_stream& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = co_await s.receive_into(buf);
    if (n == 0) co_return out;
    out.append(buf, n);
  }
}

// Echoes everything until the client's end of stream, then returns (serve closes the stream).
aw::task<> echo(tcp_stream& s) {
  std::string all = co_await read_to_end(s);
  co_await s.send(all);
}

std::string scratch_path(const std::string& name) {
  std::filesystem::create_directories(AW_NET_SCRATCH);
  return std::string(AW_NET_SCRATCH) + "/" + name;
}

TEST(NetListener, AcceptsOnOneAddress) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    EXPECT_EQ(l.fds().size(), 1u);
    socket_address at = l.local_address();
    EXPECT_EQ(at.host(), "127.0.0.1");
    EXPECT_NE(at.port(), 0);
    tcp_stream c = connect_blocking(at);
    tcp_stream s = co_await l.accept();
    EXPECT_EQ(s.remote_address(), c.local_address());
    EXPECT_TRUE(s.nodelay());  // inherited from the listening socket
    co_await c.send("ping");
    EXPECT_EQ(co_await s.receive(), "ping");
  });
}

TEST(NetListener, EveryInterfaceIsTwoSocketsOnOnePort) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("", 0);
    auto at = l.local_addresses();
    if (at.size() != 2) {
      ADD_FAILURE() << at.size() << " sockets";
      co_return;
    }
    EXPECT_EQ(at[0].family(), AF_INET6);
    EXPECT_EQ(at[1].family(), AF_INET);
    EXPECT_EQ(at[0].port(), at[1].port());
    const std::uint16_t port = at[0].port();
    // One client on each family: accept() takes them from whichever socket has one.
    tcp_stream c4 = connect_blocking(socket_address::ip("127.0.0.1", port));
    tcp_stream c6 = connect_blocking(socket_address::ip("::1", port));
    tcp_stream s1 = co_await l.accept();
    tcp_stream s2 = co_await l.accept();
    std::vector<int> families{s1.remote_address().family(), s2.remote_address().family()};
    std::sort(families.begin(), families.end());
    EXPECT_EQ(families, (std::vector<int>{AF_INET, AF_INET6}));
  });
}

TEST(NetListener, LocalhostListensOnBothLoopbacks) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("localhost", 0);
    auto at = l.local_addresses();
    if (at.size() != 2) {
      ADD_FAILURE() << at.size() << " sockets";
      co_return;
    }
    EXPECT_EQ(at[0].host(), "::1");
    EXPECT_EQ(at[1].host(), "127.0.0.1");
    EXPECT_EQ(at[0].port(), at[1].port());
    aw::net::listener_options o;
    o.family = AF_INET;
    tcp_listener l4 = co_await aw::net::create_tcp_listener("localhost", 0, o);
    EXPECT_EQ(l4.local_addresses().size(), 1u);
    EXPECT_EQ(l4.local_address().family(), AF_INET);
  });
}

TEST(NetListener, APortInUseNamesTheAddress) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    const socket_address at = l.local_address();
    try {
      co_await aw::net::create_tcp_listener("127.0.0.1", at.port());
      ADD_FAILURE() << "listened twice on " << at.to_string();
    } catch (const aw::net::error& e) {
      EXPECT_EQ(e.code(), std::errc::address_in_use);
      EXPECT_EQ(e.address(), at.to_string());
    }
    aw::net::listener_options o;
    o.reuse_port = true;  // both with SO_REUSEPORT: allowed
    tcp_listener a = co_await aw::net::create_tcp_listener("127.0.0.1", 0, o);
    tcp_listener b = co_await aw::net::create_tcp_listener("127.0.0.1", a.local_address().port(), o);
    EXPECT_EQ(a.local_address(), b.local_address());
  });
}

TEST(NetListener, UnixPathReplacesAStaleSocketAndSetsTheMode) {
  const std::string path = scratch_path("listener.sock");
  aw::run([&]() -> aw::task<> {
    {
      unix_listener stale = co_await aw::net::create_unix_listener(path);
    }  // leaves its file
    struct stat st;
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    aw::net::listener_options o;
    o.mode = 0600;
    unix_listener l = co_await aw::net::create_unix_listener(path, o);
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(l.local_address().to_string(), path);
    unix_stream c = connect_blocking<unix_stream>(socket_address::unix_path(path));
    unix_stream s = co_await l.accept();
    co_await c.send("over a path");
    EXPECT_EQ(co_await s.receive(), "over a path");
  });
  ::unlink(path.c_str());
}

TEST(NetListener, UnixPathThatIsNotASocketIsLeftAlone) {
  const std::string path = scratch_path("not-a-socket");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fclose(f);
  }
  aw::run([&]() -> aw::task<> { EXPECT_THROW(co_await aw::net::create_unix_listener(path), aw::net::error); });
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  ::unlink(path.c_str());
}

TEST(NetListener, AbstractUnixName) {
  const std::string name = std::string("\0aw-net-test-", 13) + std::to_string(::getpid());
  aw::run([&]() -> aw::task<> {
    unix_listener l = co_await aw::net::create_unix_listener(name);
    EXPECT_EQ(l.local_address().to_string(), "@" + name.substr(1));
    unix_stream c = connect_blocking<unix_stream>(socket_address::unix_path(name));
    unix_stream s = co_await l.accept();
    co_await s.send("abstract");
    EXPECT_EQ(co_await c.receive(), "abstract");
  });
}

TEST(NetListener, CancelledAcceptLeavesTheConnectionQueued) {
  for (const char* host : {"127.0.0.1", "localhost"}) {  // one socket, and two raced
    aw::run([&]() -> aw::task<> {
      tcp_listener l = co_await aw::net::create_tcp_listener(host, 0);
      // No client: the accept waits until the deadline cancels it.
      bool accepted = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await l.accept(); });
      EXPECT_FALSE(accepted);
      tcp_stream c = connect_blocking(l.local_addresses().back());
      co_await aw::sleep(10ms);  // queued by now
      aw::cancel_scope scope;
      scope.cancel();
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        co_await l.accept();
        ADD_FAILURE() << "accepted in a cancelled scope";
      });
      tcp_stream s = co_await l.accept();  // still there
      EXPECT_EQ(s.remote_address(), c.local_address());
    });
  }
}

TEST(NetListener, CloseFromAnotherTaskEndsAccept) {
  for (const char* host : {"127.0.0.1", "localhost"}) {
    aw::run([&]() -> aw::task<> {
      tcp_listener l = co_await aw::net::create_tcp_listener(host, 0);
      std::vector<int> fds = l.fds();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { EXPECT_THROW(co_await l.accept(), aw::closed_resource_error); });
        co_await aw::sleep(10ms);
        l.close();
      });
      for (int fd : fds) EXPECT_FALSE(is_open_fd(fd));
      EXPECT_THROW(co_await l.accept(), aw::closed_resource_error);
    });
  }
}

TEST(NetListener, ServesAThousandConcurrentClients) {
  constexpr int clients = 1000;
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    const socket_address at = l.local_address();
    int connected = 0, served = 0, answered = 0;
    aw::event all_connected;
    // Every handler waits until all clients are connected: 1,000 handlers at once.
    auto handler = [&](tcp_stream& s) -> aw::task<> {
      if (++connected == clients) all_connected.set();
      co_await all_connected.wait();
      co_await echo(s);
      ++served;
    };
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await l.serve(handler); });
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& cg) -> aw::task<> {
        for (int i = 0; i < clients; ++i)
          cg.start_soon([&, i]() -> aw::task<> {
            tcp_stream c = connect_blocking(at);
            const std::string msg = "client " + std::to_string(i);
            co_await c.send(msg);
            co_await c.send_eof();
            std::string reply = co_await read_to_end(c);
            if (reply == msg) ++answered;
          });
        co_return;
      });
      tg.cancel();  // stops serve()
    });
    EXPECT_EQ(connected, clients);
    EXPECT_EQ(served, clients);
    EXPECT_EQ(answered, clients);
  });
}

TEST(NetListener, AFailingHandlerDoesNotStopTheServer) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    std::vector<std::string> errors;
    aw::net::serve_options o;
    o.on_error = [&](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        errors.push_back(x.what());
      }
    };
    auto handler = [](tcp_stream& s) -> aw::task<> {
      std::string what = co_await s.receive();
      if (what == "fail") throw std::runtime_error("handler failed");
      co_await s.send("ok");
    };
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await l.serve(handler, o); });
      tcp_stream bad = connect_blocking(l.local_address());
      co_await bad.send("fail");
      EXPECT_EQ(co_await read_to_end(bad), "");  // its stream was closed
      tcp_stream good = connect_blocking(l.local_address());
      co_await good.send("work");
      EXPECT_EQ(co_await good.receive(), "ok");  // the server went on
      tg.cancel();
    });
    EXPECT_EQ(errors, std::vector<std::string>{"handler failed"});
    EXPECT_EQ(l.failed_handlers(), 1u);
  });
}

TEST(NetListener, PropagateErrorsStopsTheServer) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    aw::net::serve_options o;
    o.propagate_errors = true;
    bool other_cancelled = false;
    aw::event other_waiting;
    auto handler = [&](tcp_stream& s) -> aw::task<> {
      std::string what = co_await s.receive();
      if (what == "fail") throw std::runtime_error("handler failed");
      other_waiting.set();
      try {
        co_await aw::sleep(24h);
      } catch (const aw::cancelled&) {
        other_cancelled = true;
        throw;
      }
    };
    tcp_stream waiting = connect_blocking(l.local_address());
    co_await waiting.send("wait");
    bool raised = false;
    try {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { co_await l.serve(handler, o); });
        co_await other_waiting.wait();
        tcp_stream bad = connect_blocking(l.local_address());
        co_await bad.send("fail");
        co_await aw::sleep(24h);  // serve's failure cancels this
      });
    } catch (const aw::exception_group& g) {
      raised = true;
      EXPECT_TRUE(g.contains<std::runtime_error>()) << g.what();
    }
    EXPECT_TRUE(raised);
    EXPECT_TRUE(other_cancelled);
  });
}

// Stopping serve() mid-handler: the default cancels the handler; wait_for_handlers lets it
// finish and send its reply.
void stop_in_the_middle(bool wait_for_handlers) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    aw::net::serve_options o;
    o.wait_for_handlers = wait_for_handlers;
    aw::event started, release;
    auto handler = [&](tcp_stream& s) -> aw::task<> {
      started.set();
      co_await release.wait();
      co_await s.send("finished");
    };
    tcp_stream c = connect_blocking(l.local_address());
    aw::cancel_scope server;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(
          [&]() -> aw::task<> { co_await aw::async_with(server, [&](aw::cancel_scope&) -> aw::task<> { co_await l.serve(handler, o); }); });
      co_await started.wait();
      server.cancel();
      co_await aw::sleep(10ms);  // accepting has stopped; the handler is cancelled or still waits
      release.set();
    });
    EXPECT_TRUE(server.cancelled_caught());
    EXPECT_EQ(co_await read_to_end(c), wait_for_handlers ? "finished" : "");
    // Not accepting any more: a new client stays in the queue.
    tcp_stream late = connect_blocking(l.local_address());
    bool answered = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await late.receive(); });
    EXPECT_FALSE(answered);
  });
}

TEST(NetListener, CancellingServeCancelsTheHandlers) { stop_in_the_middle(false); }
TEST(NetListener, WaitForHandlersLetsThemFinish) { stop_in_the_middle(true); }

TEST(NetListener, ClosingTheListenerStopsServeAfterItsHandlers) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("localhost", 0);
    aw::event started, release;
    auto handler = [&](tcp_stream& s) -> aw::task<> {
      started.set();
      co_await release.wait();
      co_await s.send("done");
    };
    tcp_stream c = connect_blocking(l.local_address());
    bool served = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await l.serve(handler);
        served = true;  // returned, not raised
      });
      co_await started.wait();
      l.close();
      co_await aw::sleep(10ms);
      EXPECT_FALSE(served);  // still waiting for its handler
      release.set();
    });
    EXPECT_TRUE(served);
    EXPECT_EQ(co_await read_to_end(c), "done");
  });
}

TEST(NetListener, HandlersCanRunInTheCallersTaskGroup) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    aw::event started, release;
    bool replied = false;
    tcp_stream c = connect_blocking(l.local_address());
    aw::cancel_scope server;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      aw::net::serve_options o;
      o.task_group = &tg;
      // The handler owns its stream (by value) and outlives serve().
      auto handler = [&](tcp_stream s) -> aw::task<> {
        started.set();
        co_await release.wait();
        co_await s.send("from the caller's group");
        replied = true;
      };
      tg.start_soon([&]() -> aw::task<> {
        co_await started.wait();
        server.cancel();
      });
      co_await aw::async_with(server, [&](aw::cancel_scope&) { return l.serve(handler, o); });
      EXPECT_TRUE(server.cancelled_caught());
      EXPECT_FALSE(replied);  // serve() is over, its handler is not
      release.set();
    });
    EXPECT_TRUE(replied);
    EXPECT_EQ(co_await read_to_end(c), "from the caller's group");
  });
}

TEST(NetListener, ServeOnAClosedListenerRaises) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    co_await l.aclose();
    EXPECT_THROW(co_await l.serve(echo), aw::closed_resource_error);
    EXPECT_THROW(l.local_address(), aw::closed_resource_error);
  });
}

// The sanitizers' runtimes open files of their own (/proc/self/maps) while checking, and
// abort when they cannot: the test runs in the builds without them.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

TEST(NetListener, RunningOutOfDescriptorsPausesServeInsteadOfFailingIt) {
  if (sanitized) GTEST_SKIP() << "a process without a free descriptor breaks the sanitizers' runtime";
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    tcp_stream c = connect_blocking(l.local_address());
    aw::event served;
    auto handler = [&](tcp_stream&) -> aw::task<> {
      served.set();
      co_return;
    };
    rlimit saved{};
    ::getrlimit(RLIMIT_NOFILE, &saved);
    const int lowest_free = ::dup(0);
    ::close(lowest_free);
    rlimit none = saved;
    none.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor: accept fails with EMFILE
    ::setrlimit(RLIMIT_NOFILE, &none);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await l.serve(handler); });
      co_await aw::sleep(50ms);  // serve() met EMFILE by now, and waits
      EXPECT_FALSE(served.is_set());
      ::setrlimit(RLIMIT_NOFILE, &saved);
      co_await served.wait();  // a later try accepted the connection
      tg.cancel();
    });
    ::setrlimit(RLIMIT_NOFILE, &saved);
    EXPECT_EQ(l.failed_handlers(), 0u);
  });
}

// The README's example, as it is written there.
TEST(NetListener, ReadmeExample) {
  aw::run([&]() -> aw::task<> {
    std::string line;
    aw::net::tcp_listener listener = co_await aw::net::create_tcp_listener("localhost", 0);  // outlives the group
    const std::uint16_t port = listener.local_address().port();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        auto echo = [](aw::net::tcp_stream& client) -> aw::task<> {
          char buf[65536];
          for (;;) {
            std::size_t n = co_await client.receive_into(buf);  // 0: the client closed its side
            if (n == 0) co_return;                              // serve() closes the stream
            co_await client.send(std::string_view(buf, n));
          }
        };
        co_await aw::async_with(listener, [&](aw::net::tcp_listener& l) -> aw::task<> {
          co_await l.serve(echo);  // until cancelled; a failing handler does not stop the server
        });
      });
      co_await aw::async_with(co_await aw::net::connect_tcp("localhost", port), [&](aw::net::tcp_stream& s) -> aw::task<> {
        co_await s.send("hello\r\n");
        aw::net::buffered_byte_stream in(s);
        line = co_await in.receive_until("\r\n", 8192);  // anyio's BufferedByteReceiveStream
      });
      tg.cancel();
    });
    EXPECT_EQ(line, "hello");
  });
}

}  // namespace
