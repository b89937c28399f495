// aw::open_signal_receiver: delivery in order, the kernel's coalescing, several receivers,
// handlers restored, cancellation while waiting, SIGINT taken from aw::run while open, and
// no descriptor left behind. raise() runs the handler before it returns, so a raised signal
// is in the receiver's pipe by the next line.
#include <aw/aw.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int count_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;
}

using handler_t = void (*)(int);
handler_t current_handler(int sig) {
  struct sigaction sa{};
  ::sigaction(sig, nullptr, &sa);
  return sa.sa_handler;
}

volatile sig_atomic_t own_handler_calls = 0;
extern "C" void own_handler(int) { own_handler_calls = own_handler_calls + 1; }

// Nothing more is waiting in the receiver (a signal already delivered would be read at once).
aw::task<bool> nothing_pending(aw::signal_receiver& rx) {
  auto got = co_await aw::move_on_after(5ms, [&] { return rx.next(); });
  co_return !got;
}

class SignalReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = count_fds(); }
  void TearDown() override { EXPECT_EQ(count_fds(), fds_before_) << "a descriptor leaked"; }

 private:
  int fds_before_ = 0;
};

TEST_F(SignalReceiverTest, SignalsArriveInOrder) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGHUP, SIGUSR1), [&](aw::signal_receiver& rx) -> aw::task<> {
      ::raise(SIGHUP);
      ::raise(SIGUSR1);
      ::raise(SIGHUP);
      std::vector<int> got;
      for (int i = 0; i < 3; ++i) got.push_back(*co_await rx.next());
      EXPECT_EQ(got, (std::vector<int>{SIGHUP, SIGUSR1, SIGHUP}));
      EXPECT_TRUE(co_await nothing_pending(rx));
    });
  });
}

TEST_F(SignalReceiverTest, AWaitingReceiverIsWokenAndAnotherThreadMaySignal) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGUSR2), [&](aw::signal_receiver& rx) -> aw::task<> {
      std::thread t([] { ::kill(::getpid(), SIGUSR2); });  // process-directed: any thread may run the handler
      int sig = co_await rx.receive();
      t.join();
      EXPECT_EQ(sig, SIGUSR2);
    });
  });
}

TEST_F(SignalReceiverTest, TheKernelMergesASignalSentAgainWhileStillPending) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGUSR1), [&](aw::signal_receiver& rx) -> aw::task<> {
      sigset_t usr1, old;
      sigemptyset(&usr1);
      sigaddset(&usr1, SIGUSR1);
      pthread_sigmask(SIG_BLOCK, &usr1, &old);
      ::raise(SIGUSR1);
      ::raise(SIGUSR1);                             // still pending: merged with the first
      pthread_sigmask(SIG_SETMASK, &old, nullptr);  // the handler runs once, here
      EXPECT_EQ(co_await rx.next(), SIGUSR1);
      EXPECT_TRUE(co_await nothing_pending(rx));
      // Unblocked, every raise is one item.
      ::raise(SIGUSR1);
      ::raise(SIGUSR1);
      EXPECT_EQ(co_await rx.next(), SIGUSR1);
      EXPECT_EQ(co_await rx.next(), SIGUSR1);
    });
  });
}

TEST_F(SignalReceiverTest, HandlersAreRestoredOnExit) {
  ASSERT_EQ(current_handler(SIGUSR1), SIG_DFL);
  struct sigaction own{}, saved{};
  own.sa_handler = own_handler;
  sigemptyset(&own.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &own, &saved), 0);
  own_handler_calls = 0;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGUSR1, SIGUSR2), [&](aw::signal_receiver& rx) -> aw::task<> {
      EXPECT_NE(current_handler(SIGUSR1), SIG_DFL);
      EXPECT_NE(current_handler(SIGUSR2), own_handler);
      ::raise(SIGUSR2);  // the receiver's now, not the program's own handler
      EXPECT_EQ(co_await rx.next(), SIGUSR2);
      EXPECT_EQ(own_handler_calls, 0);
    });
  });
  EXPECT_EQ(current_handler(SIGUSR1), SIG_DFL);
  EXPECT_EQ(current_handler(SIGUSR2), own_handler);
  ::raise(SIGUSR2);
  EXPECT_EQ(own_handler_calls, 1);
  ::sigaction(SIGUSR2, &saved, nullptr);
}

TEST_F(SignalReceiverTest, SeveralReceiversEachGetTheSignalAndTheLastRestores) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGHUP), [&](aw::signal_receiver& outer) -> aw::task<> {
      aw::signal_receiver inner = aw::open_signal_receiver(SIGHUP, SIGUSR1);
      co_await aw::async_with(inner, [&](aw::signal_receiver& inner) -> aw::task<> {
        ::raise(SIGHUP);
        EXPECT_EQ(co_await inner.next(), SIGHUP);
        EXPECT_EQ(co_await outer.next(), SIGHUP);
      });
      EXPECT_FALSE(inner.is_open());
      EXPECT_EQ(co_await inner.next(), std::nullopt);  // closed: the end of the stream
      EXPECT_THROW(co_await inner.receive(), std::logic_error);
      EXPECT_EQ(current_handler(SIGUSR1), SIG_DFL);  // only inner had it
      EXPECT_NE(current_handler(SIGHUP), SIG_DFL);   // outer still has it
      ::raise(SIGHUP);
      EXPECT_EQ(co_await outer.next(), SIGHUP);
    });
  });
  EXPECT_EQ(current_handler(SIGHUP), SIG_DFL);
}

TEST_F(SignalReceiverTest, CancellationWhileWaiting) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_signal_receiver(SIGUSR1), [&](aw::signal_receiver& rx) -> aw::task<> {
      auto got = co_await aw::move_on_after(10ms, [&] { return rx.next(); });
      EXPECT_FALSE(got);
      // A cancelled scope around the block: the block ends, the handler is restored.
      aw::cancel_scope scope;
      scope.cancel();
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await rx.receive(); });
      EXPECT_TRUE(scope.cancelled_caught());
      ::raise(SIGUSR1);  // still received after the cancellations
      EXPECT_EQ(co_await rx.receive(), SIGUSR1);
    });
  });
  EXPECT_EQ(current_handler(SIGUSR1), SIG_DFL);
}

TEST_F(SignalReceiverTest, SigintGoesToTheReceiverInsteadOfCancellingTheRun) {
  bool finished = false;
  aw::run([&]() -> aw::task<> {
    handler_t run_handler = current_handler(SIGINT);  // aw::run's, where it was the default
    co_await aw::async_with(aw::open_signal_receiver(SIGINT, SIGTERM), [&](aw::signal_receiver& rx) -> aw::task<> {
      ::raise(SIGINT);
      ::raise(SIGTERM);
      EXPECT_EQ(co_await rx.next(), SIGINT);
      EXPECT_EQ(co_await rx.next(), SIGTERM);
    });
    EXPECT_EQ(current_handler(SIGINT), run_handler);  // aw::run has it back
    co_await aw::sleep(1ms);                          // and nothing was cancelled
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_F(SignalReceiverTest, SignalsThatCannotBeCaughtAreRejected) {
  aw::run([&]() -> aw::task<> {
    for (int bad : {SIGKILL, SIGSTOP, 0, 65}) {
      try {
        co_await aw::async_with(aw::open_signal_receiver(SIGUSR1, bad), [](aw::signal_receiver&) -> aw::task<> { co_return; });
        ADD_FAILURE() << bad;
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::invalid_argument);
      }
    }
  });
  EXPECT_EQ(current_handler(SIGUSR1), SIG_DFL);
}

TEST_F(SignalReceiverTest, EnteredTwiceIsAnError) {
  aw::run([&]() -> aw::task<> {
    aw::signal_receiver rx = aw::open_signal_receiver(SIGUSR1);
    co_await aw::async_with(rx, [&](aw::signal_receiver& rx) -> aw::task<> {
      EXPECT_THROW(rx.open(), std::logic_error);
      co_return;
    });
  });
}

}  // namespace
