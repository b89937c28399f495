// aw::uring_op: one io_uring operation, awaited, and cancellable in the kernel. On the
// epoll backend (AW_BACKEND=epoll) there is no ring: those tests check that and skip.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/uring_op.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

using namespace std::chrono_literals;

namespace {

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    r = p[0];
    w = p[1];
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  ~pipe_fds() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

bool have_ring() {
  return aw::run([]() -> aw::task<bool> { co_return aw::loop::current().uring() != nullptr; });
}

#define SKIP_WITHOUT_RING() \
  if (!have_ring()) GTEST_SKIP() << "the loop runs on epoll: no io_uring operations"

TEST(UringOp, NopCompletesWithZero) {
  SKIP_WITHOUT_RING();
  int r = aw::run([]() -> aw::task<int> { co_return co_await aw::uring_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); }); });
  EXPECT_EQ(r, 0);
}

TEST(UringOp, ReadsAFileAtAnOffset) {
  SKIP_WITHOUT_RING();
  char path[] = "/tmp/aw-uring-op-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  const std::string text = "hello, io_uring";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  std::string got = aw::run([&]() -> aw::task<std::string> {
    std::array<char, 64> buf{};
    int n = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buf.data(), buf.size(), 7); });
    co_return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  });
  ::close(fd);
  EXPECT_EQ(got, "io_uring");
}

TEST(UringOp, AnErrorIsANegativeErrnoNotAnException) {
  SKIP_WITHOUT_RING();
  int r = aw::run([]() -> aw::task<int> {
    char c;
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, -1, &c, 1, 0); });
  });
  EXPECT_EQ(r, -EBADF);
}

// A read from an empty pipe waits in the kernel; a timeout cancels it there, and the
// buffer is never written afterwards (the awaiter waited for the kernel's last word).
TEST(UringOp, CancellingAPendingReadCancelsItInTheKernel) {
  SKIP_WITHOUT_RING();
  pipe_fds p;
  std::array<char, 8> buf{};
  bool timed_out = aw::run([&]() -> aw::task<bool> {
    co_return !co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
      co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, buf.data(), buf.size(), 0); });
      ADD_FAILURE() << "the read returned although nothing was written";
    });
  });
  EXPECT_TRUE(timed_out);
  // The kernel forgot the read: data written now stays in the pipe for the next reader.
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(p.r, &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(buf[0], 0);
}

TEST(UringOp, InACancelledScopeNothingIsSubmitted) {
  SKIP_WITHOUT_RING();
  pipe_fds p;
  ASSERT_EQ(::write(p.w, "y", 1), 1);
  bool raised = aw::run([&]() -> aw::task<bool> {
    aw::cancel_scope scope;
    bool r = false;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      scope.cancel();
      char c;
      try {
        co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, &c, 1, 0); });
      } catch (const aw::cancelled&) {
        r = true;
        throw;
      }
    });
    co_return r;
  });
  EXPECT_TRUE(raised);
  char c = 0;
  EXPECT_EQ(::read(p.r, &c, 1), 1) << "the read was submitted although its scope was cancelled";
}

// Completion and cancellation race: whichever wins, either the byte was consumed and
// returned, or aw::cancelled was raised and the byte is still in the pipe. Never both,
// never neither.
TEST(UringOp, CancelRacingCompletionEitherHappensOrRaises) {
  SKIP_WITHOUT_RING();
  int completed = 0, cancelled = 0;
  for (int i = 0; i < 300; ++i) {
    pipe_fds p;
    char c = 0;
    bool read_returned = false;
    aw::run([&]() -> aw::task<> {
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        aw::task_group tg;
        co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            int n = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, &c, 1, 0); });
            read_returned = n == 1;
          });
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::yield();
            if (::write(p.w, "z", 1) != 1) ADD_FAILURE() << "write";
            scope.cancel();
            co_return;
          });
          co_return;
        });
      });
    });
    char left = 0;
    ::fcntl(p.r, F_SETFL, O_NONBLOCK);
    bool byte_left = ::read(p.r, &left, 1) == 1;
    ASSERT_NE(read_returned, byte_left) << "iteration " << i;
    if (read_returned) {
      EXPECT_EQ(c, 'z');
      ++completed;
    } else {
      ++cancelled;
    }
  }
  RecordProperty("completed", completed);
  RecordProperty("cancelled", cancelled);
}

// More operations than the submission queue holds (256) in one turn: the queue is handed
// to the kernel when full, and every operation completes.
TEST(UringOp, ThousandsInFlightAtOnce) {
  SKIP_WITHOUT_RING();
  int done = aw::run([]() -> aw::task<int> {
    int n = 0;
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
      for (int i = 0; i < 5000; ++i)
        tg.start_soon([&]() -> aw::task<> {
          int r = co_await aw::uring_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
          if (r == 0) ++n;
        });
      co_return;
    });
    co_return n;
  });
  EXPECT_EQ(done, 5000);
}

TEST(UringOp, OnEpollItIsALogicError) {
  const char* old = std::getenv("AW_BACKEND");
  std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("AW_BACKEND", "epoll", 1);
  std::string what = aw::run([]() -> aw::task<std::string> {
    try {
      co_await aw::uring_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    } catch (const std::logic_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  });
  if (saved)
    ::setenv("AW_BACKEND", saved->c_str(), 1);
  else
    ::unsetenv("AW_BACKEND");
  EXPECT_NE(what.find("epoll"), std::string::npos) << what;
}

}  // namespace
