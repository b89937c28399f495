// Cancellation at every wait of aw::files: a cancelled read consumes nothing, a cancelled
// write says how much reached the file, exits still flush. FIFOs make the kernel wait, so
// the cancellation lands while an operation is in flight (io_uring cancels it in the
// kernel; epoll waits for the pipe with the loop).
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/exceptions.hpp>
#include <aw/files.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace {

using namespace files_test;
using aw::files::file;

class Cancel : public scratch {
 protected:
  // A FIFO with a non-blocking descriptor the test holds for the other end.
  int fifo(const char* name, int flags) {
    EXPECT_EQ(::mkfifo(at(name).c_str(), 0600), 0);
    int fd = ::open(at(name).c_str(), flags | O_NONBLOCK);
    EXPECT_GE(fd, 0);
    return fd;
  }
};

TEST_F(Cancel, AReadWaitingForDataIsCancelledAndConsumesNothing) {
  int w = fifo("p", O_RDWR);  // O_RDWR: a writer is there, and nothing is written yet
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("p"), "rb"), [&](file& f) -> aw::task<> {
      bool finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
        co_await f.read(4);
        ADD_FAILURE() << "the read returned with no data";
      });
      EXPECT_FALSE(finished);
      EXPECT_EQ(f.tell(), 0);
      EXPECT_EQ(::write(w, "data", 4), 4);
      EXPECT_EQ(co_await f.read(4), "data") << "the cancelled read took nothing from the pipe";
    });
  });
  ::close(w);
}

// Part of the data arrived before the cancellation: it is not lost, the next read gives it.
TEST_F(Cancel, APartlyDoneReadPutsBackWhatItTook) {
  int w = fifo("p", O_RDWR);
  ASSERT_EQ(::write(w, "12345", 5), 5);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("p"), "rb", {.buffer_size = 4}), [&](file& f) -> aw::task<> {
      bool finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.read(10); });
      EXPECT_FALSE(finished);
      EXPECT_EQ(f.tell(), 0);
      bool line_finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.readline(); });
      EXPECT_FALSE(line_finished);
      EXPECT_EQ(::write(w, "67890", 5), 5);
      EXPECT_EQ(co_await f.read(10), "1234567890");
    });
  });
  ::close(w);
}

// A write to a pipe nobody drains: the kernel takes what fits, then waits. Cancelled,
// write_cancelled says how many bytes went in, and exactly those are in the pipe.
TEST_F(Cancel, AWriteWaitingForRoomReportsHowMuchWasWritten) {
  int r = fifo("p", O_RDONLY);
  const std::string data(1 << 20, 'w');
  std::size_t written = 0;
  bool raised = false;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("p"), "wb"), [&](file& f) -> aw::task<> {
      co_await aw::move_on_after(50ms, [&]() -> aw::task<> {
        try {
          co_await f.write(data);
          ADD_FAILURE() << "1 MiB fitted into a pipe";
        } catch (const aw::files::write_cancelled& e) {
          raised = true;
          written = e.written();
          EXPECT_EQ(f.tell(), static_cast<std::int64_t>(written));
          throw;
        }
      });
    });
  });
  EXPECT_TRUE(raised);
  EXPECT_GT(written, 0u);
  EXPECT_LT(written, data.size());
  std::size_t in_pipe = 0;
  char buf[65536];
  for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;) in_pipe += static_cast<std::size_t>(n);
  EXPECT_EQ(in_pipe, written) << "the exit wrote nothing more: the cancelled rest was not buffered";
  ::close(r);
}

TEST_F(Cancel, WriteCancelledIsACancellation) {
  aw::files::write_cancelled e(3);
  EXPECT_TRUE(aw::is_cancellation(std::make_exception_ptr(e)));
  EXPECT_EQ(e.written(), 3u);
}

// In a cancelled scope: calls that reach the kernel raise before doing anything; a write
// the buffer takes is not a cancellation point; the exit still flushes (exits are shielded).
TEST_F(Cancel, InACancelledScope) {
  put(at("f"), "0123456789");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r+", {.buffer_size = 16}), [&](file& f) -> aw::task<> {
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        scope.cancel();
        EXPECT_THROW(co_await f.read(3), aw::cancelled);
        EXPECT_EQ(f.tell(), 0);
        EXPECT_EQ(co_await f.write("ab"), 2u);  // into the buffer
        try {
          co_await f.write(std::string(100, 'x'));  // needs the kernel
          ADD_FAILURE();
        } catch (const aw::files::write_cancelled& e) {
          EXPECT_EQ(e.written(), 0u);
        }
        EXPECT_EQ(f.tell(), 2);
        EXPECT_THROW(co_await f.flush(), aw::cancelled);
        EXPECT_THROW(co_await f.sync(), aw::cancelled);
        EXPECT_THROW(co_await f.stat(), aw::cancelled);
      });
      EXPECT_EQ(get(at("f")), "0123456789") << "nothing reached the file yet";
    });
  });
  EXPECT_EQ(get(at("f")), "ab23456789") << "the shielded exit flushed the accepted write";
}

TEST_F(Cancel, AnExplicitCloseInACancelledScopeStillFlushes) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w"), [&](file& f) -> aw::task<> {
      co_await f.write("accepted");
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        scope.cancel();
        co_await f.close();
      });
      EXPECT_TRUE(f.closed());
    });
  });
  EXPECT_EQ(get(at("f")), "accepted");
}

TEST_F(Cancel, ExitFlushesWhenTheBodyIsCancelled) {
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(aw::files::open(at("f"), "w"), [&](file& f) -> aw::task<> {
        co_await f.write("before the cancellation");
        scope.cancel();
        co_await aw::sleep(10s);
        ADD_FAILURE() << "not cancelled";
      });
    });
  });
  EXPECT_EQ(get(at("f")), "before the cancellation");
}

// Opening a FIFO for writing with no reader waits in the kernel; io_uring cancels that wait. (On
// epoll the open runs on a worker that cannot be interrupted: only skipped there.)
TEST_F(Cancel, AnOpenWaitingInTheKernelIsCancelled) {
  if (!on_uring()) GTEST_SKIP() << "epoll backend: a blocking open on a worker is waited for, not interrupted";
  ASSERT_EQ(::mkfifo(at("p").c_str(), 0600), 0);
  aw::run([&]() -> aw::task<> {
    bool finished = co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(at("p"), "wb"), [](file&) -> aw::task<> {
        ADD_FAILURE() << "opened without a reader";
        co_return;
      });
    });
    EXPECT_FALSE(finished);
  });
}

TEST_F(Cancel, OpenInACancelledScopeDoesNotCreateTheFile) {
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      scope.cancel();
      co_await aw::async_with(aw::files::open(at("new"), "w"), [](file&) -> aw::task<> { co_return; });
      ADD_FAILURE();
    });
  });
  EXPECT_FALSE(fs::exists(at("new")));
}

// Cancellation racing many reads of regular files: every read either completed (and
// its bytes are right) or raised having consumed nothing.
TEST_F(Cancel, RacingReadsEitherCompleteOrConsumeNothing) {
  std::string data(256 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  put(at("f"), data);
  for (int round = 0; round < 50; ++round) {
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = 4096}), [&](file& f) -> aw::task<> {
        std::string got;
        aw::cancel_scope scope;
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          aw::task_group tg;
          co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
            tg.start_soon([&]() -> aw::task<> {
              for (;;) {
                std::string part = co_await f.read(10'000);
                if (part.empty()) break;
                got += part;
              }
            });
            tg.start_soon([&]() -> aw::task<> {
              for (int i = 0; i < round; ++i) co_await aw::yield();
              scope.cancel();
              co_return;
            });
            co_return;
          });
        });
        EXPECT_EQ(f.tell(), static_cast<std::int64_t>(got.size()));
        got += co_await f.read();
        EXPECT_EQ(got, data) << "round " << round;
      });
    });
  }
}

}  // namespace
