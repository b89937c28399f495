// aw::wait_readable / aw::wait_writable: how libraries that own their sockets are driven
// by the loop. Pipes, socketpairs, hang-ups, invalid descriptors and regular files.
#include "fan_out.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------
// Helpers: owned descriptors (the fan-out helper is fan_out.hpp).

class fd_pair {
 public:
  static fd_pair pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    return fd_pair(p[0], p[1]);
  }
  static fd_pair socketpair() {
    int s[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0) throw std::system_error(errno, std::generic_category(), "socketpair");
    return fd_pair(s[0], s[1]);
  }
  fd_pair(fd_pair&& o) noexcept : a_(std::exchange(o.a_, -1)), b_(std::exchange(o.b_, -1)) {}
  fd_pair& operator=(fd_pair&&) = delete;
  ~fd_pair() {
    close_a();
    close_b();
  }
  int a() const noexcept { return a_; }  // a pipe's read end
  int b() const noexcept { return b_; }  // a pipe's write end
  void close_a() noexcept {
    if (a_ >= 0) ::close(std::exchange(a_, -1));
  }
  void close_b() noexcept {
    if (b_ >= 0) ::close(std::exchange(b_, -1));
  }

 private:
  fd_pair(int a, int b) noexcept : a_(a), b_(b) {}
  int a_;
  int b_;
};

void set_nonblocking(int fd) { ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0); }

// Writes into non-blocking `fd` until the kernel refuses more.
std::size_t fill(int fd) {
  static char chunk[4096] = {};
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, chunk, sizeof chunk);
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      return total;
    }
    total += static_cast<std::size_t>(n);
  }
}

// Reads from non-blocking `fd` until nothing is left.
std::size_t drain(int fd) {
  char buf[4096];
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

using aw_test::join_point;
using aw_test::start;

// Sleeps, then writes `data` to `fd` and notes that it did.
aw::task<> write_after(int fd, std::string data, std::chrono::milliseconds delay, bool& written) {
  co_await aw::sleep(delay);
  written = true;
  EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
}

// Sleeps, then closes one end of `fds` (hang-up for the other end).
aw::task<> close_b_after(fd_pair& fds, std::chrono::milliseconds delay, bool& closed) {
  co_await aw::sleep(delay);
  closed = true;
  fds.close_b();
}

aw::task<> wait_readable_then_flag(int fd, bool& done) {
  std::uint32_t ev = co_await aw::wait_readable(fd);
  EXPECT_TRUE(ev & POLLIN) << "events " << ev;
  done = true;
}

aw::task<> wait_writable_then_flag(int fd, bool& done) {
  std::uint32_t ev = co_await aw::wait_writable(fd);
  EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
  done = true;
}

std::string read_some(int fd) {
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// ---------------------------------------------------------------------------------------
// Readable and writable

TEST(WaitFd, PipeBecomesReadableWhenWritten) {
  fd_pair p = fd_pair::pipe();
  bool written = false;
  std::string got = aw::run([&]() -> aw::task<std::string> {
    join_point join;
    start(join, write_after(p.b(), "hello", 10ms, written));
    std::uint32_t ev = co_await aw::wait_readable(p.a());
    EXPECT_TRUE(written) << "readable before anything was written";
    EXPECT_TRUE(ev & POLLIN) << "events " << ev;
    co_await join;
    co_return read_some(p.a());
  });
  EXPECT_EQ(got, "hello");
}

TEST(WaitFd, SocketpairBecomesReadableWhenWritten) {
  fd_pair s = fd_pair::socketpair();
  bool written = false;
  std::string got = aw::run([&]() -> aw::task<std::string> {
    join_point join;
    start(join, write_after(s.b(), "ping", 10ms, written));
    std::uint32_t ev = co_await aw::wait_readable(s.a());
    EXPECT_TRUE(written) << "readable before anything was written";
    EXPECT_TRUE(ev & POLLIN) << "events " << ev;
    co_await join;
    co_return read_some(s.a());
  });
  EXPECT_EQ(got, "ping");
}

TEST(WaitFd, BothDirectionsOfASocketpair) {
  fd_pair s = fd_pair::socketpair();
  bool written_ab = false, written_ba = false;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, write_after(s.a(), "a to b", 5ms, written_ab));
    start(join, write_after(s.b(), "b to a", 10ms, written_ba));
    co_await aw::wait_readable(s.b());
    EXPECT_TRUE(written_ab);
    EXPECT_EQ(read_some(s.b()), "a to b");
    co_await aw::wait_readable(s.a());
    EXPECT_TRUE(written_ba);
    EXPECT_EQ(read_some(s.a()), "b to a");
    co_await join;
  });
}

TEST(WaitFd, AlreadyReadableCompletes) {
  fd_pair p = fd_pair::pipe();
  ASSERT_EQ(::write(p.b(), "x", 1), 1);
  std::uint32_t ev = aw::run([&]() -> aw::task<std::uint32_t> { co_return co_await aw::wait_readable(p.a()); });
  EXPECT_TRUE(ev & POLLIN);
}

TEST(WaitFd, WaitWritableOnAFreshSocketIsImmediate) {
  fd_pair s = fd_pair::socketpair();
  fd_pair p = fd_pair::pipe();
  aw::run([&]() -> aw::task<> {
    // Nothing else runs and nothing will: only an fd that is writable already can end
    // these waits.
    std::uint32_t ev = co_await aw::wait_writable(s.a());
    EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
    ev = co_await aw::wait_writable(s.b());
    EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
    ev = co_await aw::wait_writable(p.b());
    EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
  });
}

TEST(WaitFd, ManyOneShotRoundTrips) {
  // Each wait is one-shot: waiting again on the same fd re-arms it (the epoll backend
  // re-registers, the io_uring backend submits a new POLL_ADD).
  fd_pair s = fd_pair::socketpair();
  int received = 0;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, [](int fd) -> aw::task<> {
      for (int i = 0; i < 200; ++i) {
        co_await aw::yield();
        char c = static_cast<char>(i);
        EXPECT_EQ(::write(fd, &c, 1), 1);
        co_await aw::wait_readable(fd);  // the echo
        EXPECT_EQ(::read(fd, &c, 1), 1);
        EXPECT_EQ(c, static_cast<char>(i));
      }
    }(s.b()));
    for (int i = 0; i < 200; ++i) {
      co_await aw::wait_readable(s.a());
      char c;
      EXPECT_EQ(::read(s.a(), &c, 1), 1);
      co_await aw::wait_writable(s.a());
      EXPECT_EQ(::write(s.a(), &c, 1), 1);
      ++received;
    }
    co_await join;
  });
  EXPECT_EQ(received, 200);
}

// ---------------------------------------------------------------------------------------
// Hang-ups and errors count as ready

TEST(WaitFd, PipeHangUpCountsAsReadable) {
  fd_pair p = fd_pair::pipe();
  bool closed = false;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, close_b_after(p, 10ms, closed));
    std::uint32_t ev = co_await aw::wait_readable(p.a());
    EXPECT_TRUE(closed) << "readable before the write end was closed";
    EXPECT_TRUE(ev & (POLLIN | POLLHUP)) << "events " << ev;
    char c;
    EXPECT_EQ(::read(p.a(), &c, 1), 0);  // end of file: the next read reports it
    co_await join;
  });
}

TEST(WaitFd, SocketHangUpCountsAsReadable) {
  fd_pair s = fd_pair::socketpair();
  bool closed = false;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, close_b_after(s, 10ms, closed));
    std::uint32_t ev = co_await aw::wait_readable(s.a());
    EXPECT_TRUE(closed) << "readable before the peer was closed";
    EXPECT_TRUE(ev & (POLLIN | POLLHUP | POLLRDHUP)) << "events " << ev;
    char c;
    EXPECT_EQ(::read(s.a(), &c, 1), 0);
    co_await join;
  });
}

TEST(WaitFd, BrokenPipeCountsAsWritable) {
  fd_pair p = fd_pair::pipe();
  set_nonblocking(p.b());
  fill(p.b());  // not writable any more
  bool closed = false;
  aw::run([&]() -> aw::task<> {
    join_point join;
    start(join, [](fd_pair& p, bool& closed) -> aw::task<> {
      co_await aw::sleep(10ms);
      closed = true;
      p.close_a();  // the reader goes away: the writer sees an error
    }(p, closed));
    std::uint32_t ev = co_await aw::wait_writable(p.b());
    EXPECT_TRUE(closed) << "writable before the read end was closed";
    EXPECT_TRUE(ev & (POLLOUT | POLLERR | POLLHUP)) << "events " << ev;
    co_await join;
  });
}

template <class Wait>
void expect_ebadf(Wait wait, int fd, const char* name) {
  try {
    aw::run([&]() -> aw::task<> { co_await wait(fd); });
    ADD_FAILURE() << name << "(" << fd << ") did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << name << ": " << e.what();
    EXPECT_EQ(e.code().value(), EBADF);
    EXPECT_NE(std::strstr(e.what(), name), nullptr) << e.what();
  }
}

TEST(WaitFd, InvalidFdIsEbadf) {
  expect_ebadf([](int fd) { return aw::wait_readable(fd); }, -1, "aw::wait_readable");
  expect_ebadf([](int fd) { return aw::wait_writable(fd); }, -1, "aw::wait_writable");
}

TEST(WaitFd, ClosedFdIsEbadf) {
  // A closed descriptor with a high number: the kernel hands out the lowest free number,
  // so the loop's own descriptors (the io_uring or epoll fd) never take this one over.
  int closed_fd = ::fcntl(0, F_DUPFD_CLOEXEC, 900);
  ASSERT_GE(closed_fd, 900);
  ASSERT_EQ(::close(closed_fd), 0);
  expect_ebadf([](int fd) { return aw::wait_readable(fd); }, closed_fd, "aw::wait_readable");
  expect_ebadf([](int fd) { return aw::wait_writable(fd); }, closed_fd, "aw::wait_writable");
}

TEST(WaitFd, EbadfCanBeCaughtAndTheLoopGoesOn) {
  aw::run([]() -> aw::task<> {
    bool caught = false;
    try {
      co_await aw::wait_readable(-1);
    } catch (const std::system_error& e) {
      caught = e.code().value() == EBADF;
    }
    EXPECT_TRUE(caught);
    co_await aw::sleep(1ms);
    fd_pair s = fd_pair::socketpair();
    std::uint32_t ev = co_await aw::wait_writable(s.a());
    EXPECT_TRUE(ev & POLLOUT);
  });
}

// ---------------------------------------------------------------------------------------
// Two waits on one socket, one per direction

TEST(WaitFd, ReadAndWriteWaitsOnOneSocket) {
  fd_pair s = fd_pair::socketpair();
  set_nonblocking(s.a());
  set_nonblocking(s.b());
  ASSERT_GT(fill(s.a()), 0u);  // a is not writable until b reads
  bool read_done = false, write_done = false;
  aw::run([&]() -> aw::task<> {
    join_point reader, writer;
    start(reader, wait_readable_then_flag(s.a(), read_done));
    start(writer, wait_writable_then_flag(s.a(), write_done));
    co_await aw::sleep(5ms);
    EXPECT_FALSE(read_done);
    EXPECT_FALSE(write_done);

    EXPECT_EQ(::write(s.b(), "r", 1), 1);  // a becomes readable, still not writable
    co_await reader;
    EXPECT_TRUE(read_done);
    EXPECT_FALSE(write_done) << "the write wait completed though the socket is still full";

    EXPECT_GT(drain(s.b()), 0u);  // now a is writable
    co_await writer;
    EXPECT_TRUE(write_done);
  });
}

TEST(WaitFd, WriteWaitCompletesWhileReadWaitStaysPending) {
  fd_pair s = fd_pair::socketpair();
  bool read_done = false, write_done = false, written = false;
  aw::run([&]() -> aw::task<> {
    join_point reader, writer, helper;
    start(reader, wait_readable_then_flag(s.a(), read_done));
    co_await aw::yield();  // the read wait is registered first
    start(writer, wait_writable_then_flag(s.a(), write_done));
    co_await writer;  // writable at once, though the read wait on the same fd is pending
    EXPECT_TRUE(write_done);
    EXPECT_FALSE(read_done);
    start(helper, write_after(s.b(), "late", 5ms, written));
    co_await reader;
    EXPECT_TRUE(written);
    EXPECT_TRUE(read_done);
    co_await helper;
    EXPECT_EQ(read_some(s.a()), "late");
  });
}

TEST(WaitFd, ManySocketsAtOnce) {
  constexpr int n = 100;
  std::vector<fd_pair> pairs;
  for (int i = 0; i < n; ++i) pairs.push_back(fd_pair::socketpair());
  int done = 0;
  aw::run([&]() -> aw::task<> {
    join_point join;
    for (int i = 0; i < n; ++i)
      start(join, [](int fd, int& done) -> aw::task<> {
        co_await aw::wait_readable(fd);
        ++done;
      }(pairs[i].a(), done));
    co_await aw::sleep(2ms);
    EXPECT_EQ(done, 0);
    for (int i = n - 1; i >= 0; --i) EXPECT_EQ(::write(pairs[i].b(), "x", 1), 1);
    co_await join;
  });
  EXPECT_EQ(done, n);
}

// ---------------------------------------------------------------------------------------
// Regular files are always ready

// A number closed while its file lives on (a dup holds it) and given to a new file: the old
// file's readiness must not complete a wait on the new one. The epoll backend keeps an fd
// registered between waits, and a cancelled wait leaves it armed, so the old file's
// registration is still in the set, armed, when the number gets its new file.
TEST(WaitFd, AReusedNumberNeverSeesTheOldFilesEvents) {
  aw::run([]() -> aw::task<> {
    fd_pair old_file = fd_pair::pipe();
    fd_pair new_file = fd_pair::pipe();
    const int n = old_file.a();
    bool woke = co_await aw::move_on_after(10ms, [&]() -> aw::task<> { co_await aw::wait_readable(n); });
    EXPECT_FALSE(woke);
    const int keep = ::dup(n);                    // the old file lives on: epoll keeps its registration
    EXPECT_EQ(::dup2(new_file.a(), n), n);        // the number now names the new pipe's read end
    EXPECT_EQ(::write(old_file.b(), "x", 1), 1);  // the old file is readable, the new one is not
    woke = co_await aw::move_on_after(50ms, [&]() -> aw::task<> { co_await aw::wait_readable(n); });
    EXPECT_FALSE(woke) << "the old file's readiness completed a wait on the new file";
    EXPECT_EQ(::write(new_file.b(), "y", 1), 1);
    co_await aw::wait_readable(n);  // the new file's own readiness does
    char c = 0;
    EXPECT_EQ(::read(n, &c, 1), 1);
    EXPECT_EQ(c, 'y');
    ::close(keep);
  });
}

TEST(WaitFd, RegularFileIsReadyAtOnce) {
  char path[] = "/tmp/aw_wait_fd_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  aw::run([&]() -> aw::task<> {
    std::uint32_t ev = co_await aw::wait_readable(fd);
    EXPECT_TRUE(ev & POLLIN) << "events " << ev;
    ev = co_await aw::wait_writable(fd);
    EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
  });
  ::close(fd);
}

TEST(WaitFd, DevNullIsReadyAtOnce) {
  int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  aw::run([&]() -> aw::task<> {
    std::uint32_t ev = co_await aw::wait_readable(fd);
    EXPECT_TRUE(ev & POLLIN) << "events " << ev;
    ev = co_await aw::wait_writable(fd);
    EXPECT_TRUE(ev & POLLOUT) << "events " << ev;
  });
  ::close(fd);
}

}  // namespace
