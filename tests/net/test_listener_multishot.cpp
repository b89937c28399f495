// The listener's accept on io_uring's multishot accept (and the same tests on epoll, where
// each accept is one accept4): bursts of connections, cancellation while the multishot is
// armed, connections accepted by the kernel but not handed out yet when the listener
// closes or the loop ends, and deadlock detection with an armed multishot. Descriptors are
// counted in /proc/self/fd: a connection the kernel accepted is a descriptor of ours.
#include "net_test.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/net/listener.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using aw::net::socket_address;
using aw::net::tcp_listener;
using aw::net::tcp_stream;
using net_test::connect_blocking;

using net_test::open_fds;

bool on_uring() { return aw::loop::current().uring() != nullptr; }

TEST(NetListenerMultishot, ABurstOfClientsIsAllAccepted) {
  constexpr std::size_t clients = 200;
  const std::size_t before = open_fds();
  aw::run([&]() -> aw::task<> {
    const std::size_t inside = open_fds();  // with the loop's own
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    const socket_address at = l.local_address();
    // An accept that gives up arms the multishot on io_uring.
    bool accepted = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await l.accept(); });
    EXPECT_FALSE(accepted);
    std::vector<tcp_stream> cs;
    std::set<std::string> expected;
    for (std::size_t i = 0; i < clients; ++i) {
      cs.push_back(connect_blocking(at));
      expected.insert(cs.back().local_address().to_string());
    }
    co_await aw::sleep(20ms);
    // The kernel accepted some of them while no accept waited (at least until the queue
    // was full): they are descriptors of this process already.
    if (on_uring()) {
      EXPECT_GT(open_fds(), inside + 1 + clients);
    }
    std::set<std::string> seen;
    std::vector<tcp_stream> ss;
    for (std::size_t i = 0; i < clients; ++i) {
      ss.push_back(co_await l.accept());
      seen.insert(ss.back().remote_address().to_string());
    }
    EXPECT_EQ(seen, expected);
    // And nothing more is waiting: a last accept times out.
    accepted = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await l.accept(); });
    EXPECT_FALSE(accepted);
  });
  EXPECT_EQ(open_fds(), before);
}

TEST(NetListenerMultishot, SeveralTasksAcceptAtOnce) {
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    std::set<std::string> seen;
    std::vector<tcp_stream> cs;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          tcp_stream s = co_await l.accept();
          seen.insert(s.remote_address().to_string());
        });
      co_await aw::sleep(10ms);  // all three wait
      for (int i = 0; i < 3; ++i) cs.push_back(connect_blocking(l.local_address()));
    });
    EXPECT_EQ(seen.size(), 3u);
  });
}

// The connection arrives while the accept waits on the armed multishot, and the accept is
// cancelled in the same turn, before the loop has read the completion: either the accept
// returned the connection, or it raised aw::cancelled and the next accept returns it.
TEST(NetListenerMultishot, AcceptCancelledWhileArmedLeavesTheConnectionToTheNext) {
  const std::size_t before = open_fds();
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    std::optional<tcp_stream> won;
    bool cancelled = false;
    std::optional<tcp_stream> c;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          won.emplace(co_await l.accept());
        } catch (const aw::cancelled&) {
          cancelled = true;
          throw;
        }
      });
      co_await aw::sleep(10ms);                 // the accept waits, the multishot is armed
      c = connect_blocking(l.local_address());  // the kernel accepts it now
      tg.cancel();                              // no poll in between: the completion is not read yet
    });
    EXPECT_NE(won.has_value(), cancelled);
    tcp_stream s = won ? std::move(*won) : co_await l.accept();
    EXPECT_EQ(s.remote_address(), c->local_address());
    bool more = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await l.accept(); });
    EXPECT_FALSE(more);
  });
  EXPECT_EQ(open_fds(), before);
}

// Connections the kernel accepted but no accept took are closed with the listener: their
// clients see the end of the stream, and no descriptor is left.
TEST(NetListenerMultishot, ClosingTheListenerClosesQueuedConnections) {
  constexpr std::size_t queued = 5;
  const std::size_t before = open_fds();
  aw::run([&]() -> aw::task<> {
    const std::size_t inside = open_fds();  // with the loop's own
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    tcp_stream c0 = connect_blocking(l.local_address());
    tcp_stream s0 = co_await l.accept();  // arms the multishot on io_uring
    std::vector<tcp_stream> cs;
    for (std::size_t i = 0; i < queued; ++i) cs.push_back(connect_blocking(l.local_address()));
    co_await aw::sleep(20ms);
    const std::size_t listener_and_first = 3;  // the listening socket, c0, s0
    if (on_uring()) {
      EXPECT_EQ(open_fds(), inside + listener_and_first + 2 * queued);  // queued in the listener
    }
    l.close();
    EXPECT_EQ(open_fds(), inside + 2 + queued);  // c0, s0 and the clients
    for (auto& c : cs) {
      co_await aw::wait_readable(c.fd());
      char b;
      EXPECT_LE(::recv(c.fd(), &b, 1, 0), 0);  // end of stream (or reset, on epoll)
    }
  });
  EXPECT_EQ(open_fds(), before);
}

// The listener closed as the main task returns: the loop ends before the multishot's last
// completion comes, and the connections it had queued are closed all the same.
TEST(NetListenerMultishot, NoDescriptorOutlivesTheLoop) {
  const std::size_t before = open_fds();
  std::vector<int> clients;
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    tcp_stream c0 = connect_blocking(l.local_address());
    tcp_stream s0 = co_await l.accept();
    for (int i = 0; i < 3; ++i) clients.push_back(connect_blocking(l.local_address()).release());
    co_await aw::sleep(20ms);
  });
  EXPECT_EQ(open_fds(), before + clients.size());
  for (int c : clients) ::close(c);
  // And the next loop on the thread starts clean.
  aw::run([&]() -> aw::task<> {
    tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
    tcp_stream c = connect_blocking(l.local_address());
    tcp_stream s = co_await l.accept();
    EXPECT_EQ(s.remote_address(), c.local_address());
  });
  EXPECT_EQ(open_fds(), before);
}

// An armed multishot that no accept waits on is not pending I/O: a main task waiting on
// an event nobody can set is a deadlock, reported, not a hang.
TEST(NetListenerMultishot, AnArmedListenerDoesNotHideADeadlock) {
  EXPECT_THROW(aw::run([&]() -> aw::task<> {
                 tcp_listener l = co_await aw::net::create_tcp_listener("127.0.0.1", 0);
                 bool accepted = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await l.accept(); });
                 EXPECT_FALSE(accepted);
                 aw::event never;
                 co_await never.wait();
               }),
               aw::deadlock_error);
}

}  // namespace
