// SIGINT and SIGTERM under aw::run: the main task is cancelled, every exit runs (shielded,
// even when it waits), and then the process ends with the signal's status. Each case runs
// in a forked child, since the child is meant to die of the signal.
#include <gtest/gtest.h>
#include <aw/aw.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>

using namespace std::chrono_literals;

namespace {

// Writes a line to `fd` when its exit has finished, after waiting a little.
class reporting_exit {
 public:
  explicit reporting_exit(int fd) : fd_(fd) {}
  aw::task<reporting_exit&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr e) {
    co_await aw::sleep(20ms);  // an exit that waits still runs to its end
    std::string line = aw::is_cancellation(e) ? "exit saw cancelled\n" : "exit saw something else\n";
    [[maybe_unused]] auto n = ::write(fd_, line.data(), line.size());
  }

 private:
  int fd_;
};

struct child_result {
  int status = 0;
  std::string output;
};

// Forks; the child runs `body(write_fd)` and _exits(0) if it returns.
template <class Body>
child_result in_child(Body body, int signal_from_parent = 0) {
  int out[2];
  int ready[2];
  EXPECT_EQ(::pipe(out), 0);
  EXPECT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(out[0]);
    ::close(ready[0]);
    body(out[1], ready[1]);
    ::_exit(0);
  }
  ::close(out[1]);
  ::close(ready[1]);
  if (signal_from_parent) {
    char c;
    EXPECT_EQ(::read(ready[0], &c, 1), 1);  // the child is inside its block
    ::kill(pid, signal_from_parent);
  }
  child_result r;
  char buf[256];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ::close(ready[0]);
  EXPECT_EQ(::waitpid(pid, &r.status, 0), pid);
  return r;
}

void run_block_until_signalled(int out, int ready, bool raise_itself) {
  aw::run([&]() -> aw::task<> {
    reporting_exit m(out);
    co_await aw::async_with(m, [&](reporting_exit&) -> aw::task<> {
      co_await aw::sleep(1ms);
      if (raise_itself) std::raise(SIGINT);
      [[maybe_unused]] auto n = ::write(ready, "r", 1);
      co_await aw::sleep(30s);
    });
  });
}

}  // namespace

TEST(Interrupts, SigintCancelsTheMainTaskRunsExitsThenEndsTheProcessBySigint) {
  auto r = in_child([](int out, int ready) { run_block_until_signalled(out, ready, true); });
  EXPECT_TRUE(WIFSIGNALED(r.status));
  if (WIFSIGNALED(r.status)) {
    EXPECT_EQ(WTERMSIG(r.status), SIGINT);
  }
  EXPECT_EQ(r.output, "exit saw cancelled\n");
}

TEST(Interrupts, SigtermFromAnotherProcessDoesTheSame) {
  auto r = in_child([](int out, int ready) { run_block_until_signalled(out, ready, false); }, SIGTERM);
  EXPECT_TRUE(WIFSIGNALED(r.status));
  if (WIFSIGNALED(r.status)) {
    EXPECT_EQ(WTERMSIG(r.status), SIGTERM);
  }
  EXPECT_EQ(r.output, "exit saw cancelled\n");
}

TEST(Interrupts, AProgramsOwnHandlerIsLeftAlone) {
  auto r = in_child([](int out, int ready) {
    static int out_fd;
    out_fd = out;
    std::signal(SIGINT, [](int) { [[maybe_unused]] auto n = ::write(out_fd, "own handler\n", 12); });
    aw::run([&]() -> aw::task<> {
      std::raise(SIGINT);
      [[maybe_unused]] auto n = ::write(ready, "r", 1);
      co_await aw::sleep(5ms);  // not cancelled: the program handles SIGINT itself
      n = ::write(out, "main finished\n", 14);
    });
  });
  EXPECT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(r.output, "own handler\nmain finished\n");
}

TEST(Interrupts, HandlersAreRestoredAfterRun) {
  aw::run([]() -> aw::task<> { co_return; });
  struct sigaction sa{};
  ASSERT_EQ(sigaction(SIGINT, nullptr, &sa), 0);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
  ASSERT_EQ(sigaction(SIGTERM, nullptr, &sa), 0);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
}
