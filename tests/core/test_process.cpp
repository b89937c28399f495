// aw::open_process, aw::run_process and aw::byte_stream: real children (cat, sh, true,
// false, sleep), their statuses and signals, the pipes, the exit's terminate-then-kill,
// cancellation at every wait, and no zombie or descriptor left behind.
#include <aw/aw.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {

// g++ 11.2 to 12 reject a braced list that makes a std::initializer_list inside a co_await
// expression ("error: array used as initializer"), so `co_await aw::run_process({"true"})`
// does not compile there (clang does). Build argv outside the co_await expression, or with
// this variadic helper, whose braced list is in an ordinary function.
template <class... S>
std::vector<std::string> args(const S&... s) {
  return {std::string(s)...};
}

int count_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

// The process is gone: reaped, so not even a zombie is left under its pid.
bool reaped(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = count_fds(); }
  void TearDown() override { EXPECT_EQ(count_fds(), fds_before_) << "a descriptor leaked"; }

 private:
  int fds_before_ = 0;
};

// ---------------------------------------------------------------------------------------
// Statuses

TEST_F(ProcessTest, TrueAndFalseGiveTheirStatus) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("true")), [&](aw::process& p) -> aw::task<> {
      EXPECT_GT(p.pid(), 0);
      EXPECT_FALSE(p.returncode().has_value() && *p.returncode() != 0);
      EXPECT_EQ(co_await p.wait(), 0);
      EXPECT_EQ(p.returncode(), 0);
      EXPECT_EQ(co_await p.wait(), 0);  // again: the same status, without waiting
    });
    co_await aw::async_with(aw::open_process(args("false")), [&](aw::process& p) -> aw::task<> { EXPECT_EQ(co_await p.wait(), 1); });
  });
}

TEST_F(ProcessTest, ExitStatusAndDeathBySignal) {
  aw::run([&]() -> aw::task<> {
    aw::run_process_options unchecked;
    unchecked.check = false;
    auto r = co_await aw::run_process(args("sh", "-c", "exit 7"), unchecked);
    EXPECT_EQ(r.returncode, 7);
    r = co_await aw::run_process(args("sh", "-c", "kill -TERM $$"), unchecked);
    EXPECT_EQ(r.returncode, -SIGTERM);  // Python's convention: minus the signal
    r = co_await aw::run_process(args("sh", "-c", "kill -KILL $$"), unchecked);
    EXPECT_EQ(r.returncode, -SIGKILL);
  });
}

TEST_F(ProcessTest, SignalsTerminateAndKill) {
  aw::run([&]() -> aw::task<> {
    aw::process p = aw::open_process({"sleep", "30"});
    co_await aw::async_with(p, [&](aw::process& p) -> aw::task<> {
      p.send_signal(SIGUSR1);  // default action: terminate
      EXPECT_EQ(co_await p.wait(), -SIGUSR1);
      p.kill();  // reaped already: nothing to signal, not an error
    });
    aw::process q = aw::open_process({"sleep", "30"});
    co_await aw::async_with(q, [&](aw::process& q) -> aw::task<> {
      q.terminate();
      EXPECT_EQ(co_await q.wait(), -SIGTERM);
    });
    aw::process k = aw::open_process({"sleep", "30"});
    co_await aw::async_with(k, [&](aw::process& k) -> aw::task<> {
      k.kill();
      EXPECT_EQ(co_await k.wait(), -SIGKILL);
    });
    EXPECT_TRUE(reaped(p.pid()));
    EXPECT_TRUE(reaped(q.pid()));
    EXPECT_TRUE(reaped(k.pid()));
  });
}

// ---------------------------------------------------------------------------------------
// Pipes

TEST_F(ProcessTest, CatRoundTripOfSeveralMiB) {
  const std::string input = pattern(4 << 20);
  std::string output;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("cat")), [&](aw::process& p) -> aw::task<> {
      // Concurrently, or both block: cat stops reading while its stdout pipe is full.
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await p.stdin().send(input);
          p.stdin().close();
        });
        tg.start_soon([&]() -> aw::task<> { output = co_await p.stdout().read_all(); });
        co_return;
      });
      EXPECT_EQ(co_await p.wait(), 0);
    });
  });
  EXPECT_EQ(output.size(), input.size());
  EXPECT_TRUE(output == input);
}

TEST_F(ProcessTest, ReceiveGivesChunksThenEmptyAtEndOfStream) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("cat")), [&](aw::process& p) -> aw::task<> {
      co_await p.stdin().send("line one\n");
      std::string got;
      while (got.size() < 9) got += co_await p.stdout().receive();
      EXPECT_EQ(got, "line one\n");
      co_await p.stdin().aclose();
      EXPECT_EQ(co_await p.stdout().receive(), "");  // end of stream
      EXPECT_EQ(co_await p.stdout().receive(), "");
      EXPECT_EQ(co_await p.wait(), 0);
    });
  });
}

TEST_F(ProcessTest, StderrIsItsOwnPipeOrGoesToStdout) {
  aw::run([&]() -> aw::task<> {
    auto r = co_await aw::run_process(args("sh", "-c", "echo out; echo err >&2"));
    EXPECT_EQ(r.stdout, "out\n");
    EXPECT_EQ(r.stderr, "err\n");
    aw::run_process_options merged;
    merged.process.stderr = aw::stdio::to_stdout;
    r = co_await aw::run_process(args("sh", "-c", "echo out; echo err >&2"), merged);
    EXPECT_EQ(r.stdout, "out\nerr\n");
    EXPECT_EQ(r.stderr, "");
    aw::run_process_options quiet;
    quiet.process.stdout = aw::stdio::devnull;
    r = co_await aw::run_process(args("sh", "-c", "echo out; echo err >&2"), quiet);
    EXPECT_EQ(r.stdout, "");
    EXPECT_EQ(r.stderr, "err\n");
    aw::process_options only_stdout;
    only_stdout.stdin = aw::stdio::devnull;
    only_stdout.stderr = aw::stdio::devnull;
    co_await aw::async_with(aw::open_process(args("true"), only_stdout), [&](aw::process& p) -> aw::task<> {
      EXPECT_FALSE(p.stdin().is_open());
      EXPECT_TRUE(p.stdout().is_open());
      EXPECT_FALSE(p.stderr().is_open());
      co_await p.wait();
    });
  });
}

TEST_F(ProcessTest, AnOwnDescriptorAsStdout) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  aw::run([&]() -> aw::task<> {
    aw::run_process_options to_fd;
    to_fd.process.stdout = aw::stdio::from_fd(fds[1]);
    auto r = co_await aw::run_process(args("sh", "-c", "echo to the fd"), to_fd);
    EXPECT_EQ(r.stdout, "");  // not ours to collect
  });
  ::close(fds[1]);  // still open here: the child had a duplicate
  char buf[64] = {};
  ssize_t n = ::read(fds[0], buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "to the fd\n");
  ::close(fds[0]);
}

// seq 1 100 | grep 7 | wc -l, in one task: each stdout handed to the next child, and
// closed here, so wc sees the end of its input when grep ends (it would wait forever if
// this process kept a copy of either pipe).
TEST_F(ProcessTest, APipelineWithTakenStreams) {
  aw::run([]() -> aw::task<> {
    aw::process& seq = co_await aw::enter(aw::open_process(args("seq", "1", "100")));
    aw::process_options o;
    o.stdin = aw::stdio::take(seq.stdout());
    aw::process& grep = co_await aw::enter(aw::open_process(args("grep", "7"), o));
    EXPECT_FALSE(seq.stdout().is_open());
    aw::process_options o2;
    o2.stdin = aw::stdio::take(grep.stdout());
    aw::process& wc = co_await aw::enter(aw::open_process(args("wc", "-l"), o2));
    EXPECT_FALSE(grep.stdout().is_open());
    EXPECT_EQ(co_await wc.stdout().read_all(), "19\n");
    EXPECT_EQ(co_await wc.wait(), 0);
    EXPECT_EQ(co_await grep.wait(), 0);
    EXPECT_EQ(co_await seq.wait(), 0);
  });
}

// The child gets the pipe blocking (a non-blocking stdin makes `cat` fail with EAGAIN),
// and a start that fails leaves the stream open, still non-blocking, and ours.
TEST_F(ProcessTest, TakeGivesABlockingPipeAndAFailedStartKeepsTheStream) {
  aw::run([]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("sh", "-c", "sleep 0.2; echo late")), [](aw::process& slow) -> aw::task<> {
      aw::process_options bad;
      bad.stdin = aw::stdio::take(slow.stdout());
      EXPECT_THROW((void)co_await aw::enter(aw::open_process(args("/nonexistent/program"), bad)), aw::spawn_error);
      EXPECT_TRUE(slow.stdout().is_open());
      EXPECT_NE(::fcntl(slow.stdout().fd(), F_GETFL) & O_NONBLOCK, 0);
      aw::process_options o;
      o.stdin = aw::stdio::take(slow.stdout());
      co_await aw::async_with(aw::open_process(args("cat"), o), [](aw::process& cat) -> aw::task<> {
        EXPECT_EQ(co_await cat.stdout().read_all(), "late\n");  // cat read a pipe with nothing in it yet
        EXPECT_EQ(co_await cat.wait(), 0);
      });
    });
    aw::byte_stream closed;
    aw::process_options o;
    o.stdin = aw::stdio::take(closed);
    EXPECT_THROW((void)co_await aw::enter(aw::open_process(args("cat"), o)), std::invalid_argument);
  });
}

// A pipeline whose first child never writes: the read is cancelled (a wait that would
// last forever), and leaving terminates and reaps every child.
TEST_F(ProcessTest, ACancelledPipelineIsTerminatedAndReaped) {
  pid_t pids[2] = {-1, -1};
  aw::run([&]() -> aw::task<> {
    aw::process& sleeper = co_await aw::enter(aw::open_process(args("sleep", "86400")));
    aw::process_options o;
    o.stdin = aw::stdio::take(sleeper.stdout());
    aw::process& cat = co_await aw::enter(aw::open_process(args("cat"), o));
    pids[0] = sleeper.pid();
    pids[1] = cat.pid();
    bool done = co_await aw::move_on_after(50ms, [&]() -> aw::task<> { (void)co_await cat.stdout().read_all(); });
    EXPECT_FALSE(done);
  });
  EXPECT_TRUE(reaped(pids[0]));
  EXPECT_TRUE(reaped(pids[1]));
}

TEST_F(ProcessTest, RunProcessWritesInputAndCollectsOutput) {
  aw::run([&]() -> aw::task<> {
    const std::string input = pattern(1 << 20);
    aw::run_process_options with_input;
    with_input.input = input;
    auto r = co_await aw::run_process(args("cat"), with_input);
    EXPECT_EQ(r.returncode, 0);
    EXPECT_TRUE(r.stdout == input);
    EXPECT_EQ(r.argv, (std::vector<std::string>{"cat"}));
    // Without input, stdin is /dev/null: cat ends at once instead of reading our stdin.
    r = co_await aw::run_process(args("cat"));
    EXPECT_EQ(r.stdout, "");
    // A child that does not read its input is not an error (the EPIPE is swallowed).
    r = co_await aw::run_process(args("true"), with_input);
    EXPECT_EQ(r.returncode, 0);
  });
}

TEST_F(ProcessTest, RunProcessCheckRaisesCalledProcessError) {
  aw::run([&]() -> aw::task<> {
    std::exception_ptr caught;
    try {
      co_await aw::run_process(args("sh", "-c", "echo partial; echo oops >&2; exit 3"));
    } catch (const aw::called_process_error&) {
      caught = std::current_exception();
    }
    EXPECT_TRUE(caught);
    if (caught) try {
        std::rethrow_exception(caught);
      } catch (const aw::called_process_error& e) {
        EXPECT_EQ(e.returncode(), 3);
        EXPECT_EQ(e.argv(), (std::vector<std::string>{"sh", "-c", "echo partial; echo oops >&2; exit 3"}));
        EXPECT_EQ(e.stdout(), "partial\n");
        EXPECT_EQ(e.stderr(), "oops\n");
        EXPECT_STREQ(e.what(), "Command '['sh', '-c', 'echo partial; echo oops >&2; exit 3']' returned non-zero exit status 3.");
      }
    caught = nullptr;
    try {
      co_await aw::run_process(args("sh", "-c", "kill -KILL $$"));
    } catch (const aw::called_process_error& e) {
      EXPECT_EQ(e.returncode(), -SIGKILL);
      EXPECT_STREQ(e.what(), "Command '['sh', '-c', 'kill -KILL $$']' died with SIGKILL.");
      caught = std::current_exception();
    }
    EXPECT_TRUE(caught);
    // check=false gives the status instead; check_returncode() raises on demand.
    aw::run_process_options unchecked;
    unchecked.check = false;
    auto r = co_await aw::run_process(args("false"), unchecked);
    EXPECT_EQ(r.returncode, 1);
    EXPECT_THROW(r.check_returncode(), aw::called_process_error);
  });
}

// ---------------------------------------------------------------------------------------
// Options

TEST_F(ProcessTest, WorkingDirectoryAndEnvironment) {
  aw::run([&]() -> aw::task<> {
    aw::run_process_options in_tmp;
    in_tmp.process.cwd = "/tmp";
    auto r = co_await aw::run_process(args("pwd"), in_tmp);
    EXPECT_EQ(r.stdout, "/tmp\n");
    // env replaces the environment (only FOO is left), extra_env extends it.
    // (Braced lists built outside the co_await expression: see args() above.)
    aw::run_process_options replace;
    replace.process.env = std::map<std::string, std::string>{{"FOO", "bar"}};
    r = co_await aw::run_process(args("/usr/bin/env"), replace);
    EXPECT_EQ(r.stdout, "FOO=bar\n");
    ::setenv("AW_TEST_INHERITED", "inherited", 1);
    aw::run_process_options extend;
    extend.process.extra_env = {{"AW_TEST_EXTRA", "extra"}};
    r = co_await aw::run_process(args("sh", "-c", "echo $AW_TEST_INHERITED $AW_TEST_EXTRA"), extend);
    EXPECT_EQ(r.stdout, "inherited extra\n");
    aw::run_process_options override_;
    override_.process.extra_env = {{"AW_TEST_INHERITED", "over"}};
    r = co_await aw::run_process(args("sh", "-c", "echo $AW_TEST_INHERITED"), override_);
    EXPECT_EQ(r.stdout, "over\n");
    ::unsetenv("AW_TEST_INHERITED");
  });
}

TEST_F(ProcessTest, StartNewSession) {
  // /proc/self/stat of the child: "pid (comm) state ppid pgrp session ..."
  auto session_of_child = [](bool new_session) {
    std::string stat;
    pid_t pid = 0;
    aw::run([&]() -> aw::task<> {
      aw::process_options opts;
      opts.start_new_session = new_session;
      co_await aw::async_with(aw::open_process(args("cat", "/proc/self/stat"), opts), [&](aw::process& p) -> aw::task<> {
        pid = p.pid();
        stat = co_await p.stdout().read_all();
        co_await p.wait();
      });
    });
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string state;
    long ppid = 0, pgrp = 0, session = 0;
    in >> state >> ppid >> pgrp >> session;
    return std::pair<long, long>(pid, session);
  };
  auto [pid, session] = session_of_child(true);
  EXPECT_EQ(session, pid);
  auto [pid2, session2] = session_of_child(false);
  EXPECT_EQ(session2, static_cast<long>(::getsid(0)));
  EXPECT_NE(session2, pid2);
}

TEST_F(ProcessTest, MisuseIsReported) {
  aw::run([&]() -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(aw::open_process(args()), [](aw::process&) -> aw::task<> { co_return; }), std::invalid_argument);
    aw::process_options bad_stdout;
    bad_stdout.stdout = aw::stdio::to_stdout;
    EXPECT_THROW(co_await aw::async_with(aw::open_process(args("true"), bad_stdout), [](aw::process&) -> aw::task<> { co_return; }),
                 std::invalid_argument);
    aw::run_process_options input_without_pipe;
    input_without_pipe.input = "x";
    input_without_pipe.process.stdin = aw::stdio::devnull;
    EXPECT_THROW(co_await aw::run_process(args("cat"), input_without_pipe), std::invalid_argument);
    // A closed stream says so.
    aw::byte_stream closed;
    EXPECT_THROW(co_await closed.send("x"), std::system_error);
    try {
      co_await closed.receive();
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
    }
  });
}

// ---------------------------------------------------------------------------------------
// A missing program

TEST_F(ProcessTest, MissingProgramIsASpawnErrorWithErrnoAndPath) {
  aw::run([&]() -> aw::task<> {
    bool body_ran = false;
    for (std::string name : {"/nonexistent/aw-no-such-program", "aw-no-such-program-in-path"}) {
      std::exception_ptr caught;
      try {
        co_await aw::async_with(aw::open_process(args(name, "arg")), [&](aw::process&) -> aw::task<> {
          body_ran = true;
          co_return;
        });
      } catch (const aw::spawn_error&) {
        caught = std::current_exception();
      }
      EXPECT_TRUE(caught) << name;
      if (caught) try {
          std::rethrow_exception(caught);
        } catch (const aw::spawn_error& e) {
          EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
          EXPECT_EQ(e.path(), name);
          EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        }
    }
    EXPECT_FALSE(body_ran);
    // Not executable (mode 0644, even for root): EACCES.
    char path[] = "/tmp/aw-test-not-executable-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::fchmod(fd, 0644);
    ::close(fd);
    try {
      co_await aw::run_process(args(path));
      ADD_FAILURE() << "ran a file without execute permission";
    } catch (const aw::spawn_error& e) {
      EXPECT_EQ(e.code(), std::errc::permission_denied);
      EXPECT_EQ(e.path(), path);
    }
    ::unlink(path);
  });
}

// ---------------------------------------------------------------------------------------
// Leaving the block, cancellation

TEST_F(ProcessTest, CancelledWhileWaitingTheProcessIsTerminatedAndReaped) {
  aw::run([&]() -> aw::task<> {
    aw::process p = aw::open_process({"sleep", "30"});
    bool completed =
        co_await aw::move_on_after(20ms, [&] { return aw::async_with(p, [&](aw::process& p) -> aw::task<> { co_await p.wait(); }); });
    EXPECT_FALSE(completed);
    EXPECT_EQ(p.returncode(), -SIGTERM);
    EXPECT_TRUE(reaped(p.pid()));
  });
}

TEST_F(ProcessTest, WaitIsACancellationPointAndCanBeWaitedAgain) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("cat")), [&](aw::process& p) -> aw::task<> {
      auto done = co_await aw::move_on_after(10ms, [&] { return p.wait(); });
      EXPECT_FALSE(done);  // cat waits for input
      EXPECT_FALSE(p.returncode());
      p.stdin().close();
      EXPECT_EQ(co_await p.wait(), 0);
    });
  });
}

TEST_F(ProcessTest, ReceiveAndSendAreCancellationPoints) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::open_process(args("sleep", "30")), [&](aw::process& p) -> aw::task<> {
      auto got = co_await aw::move_on_after(10ms, [&] { return p.stdout().receive(); });
      EXPECT_FALSE(got);
      // sleep never reads: the pipe fills, then the send waits until cancelled.
      const std::string big = pattern(1 << 20);
      bool sent = co_await aw::move_on_after(10ms, [&] { return p.stdin().send(big); });
      EXPECT_FALSE(sent);
      p.kill();
    });
  });
}

TEST_F(ProcessTest, AProcessIgnoringSigtermIsKilledAfterTheGrace) {
  aw::run([&]() -> aw::task<> {
    // The ignored disposition survives exec: sleep itself ignores SIGTERM.
    aw::process_options short_graces;
    short_graces.exit_grace = 10ms;
    short_graces.terminate_grace = 20ms;
    aw::process p = aw::open_process(args("sh", "-c", "trap '' TERM; echo ready; exec sleep 30"), short_graces);
    try {
      co_await aw::async_with(p, [&](aw::process& p) -> aw::task<> {
        std::string line;
        while (line.find('\n') == std::string::npos) line += co_await p.stdout().receive();
        throw std::runtime_error("body failed");
      });
      ADD_FAILURE() << "the body's exception was lost";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "body failed");
    }
    EXPECT_EQ(p.returncode(), -SIGKILL);
    EXPECT_TRUE(reaped(p.pid()));
  });
}

TEST_F(ProcessTest, AProcessStillRunningAfterASuccessfulBodyIsTerminatedAfterTheGrace) {
  aw::run([&]() -> aw::task<> {
    aw::process_options short_grace;
    short_grace.exit_grace = 20ms;
    aw::process p = aw::open_process({"sleep", "30"}, short_grace);
    co_await aw::async_with(p, [&](aw::process&) -> aw::task<> { co_return; });
    EXPECT_EQ(p.returncode(), -SIGTERM);
    EXPECT_TRUE(reaped(p.pid()));
    // One that ends by itself within the grace keeps its status.
    aw::process q = aw::open_process({"sh", "-c", "exit 4"});
    co_await aw::async_with(q, [&](aw::process&) -> aw::task<> { co_return; });
    EXPECT_EQ(q.returncode(), 4);
  });
}

TEST_F(ProcessTest, TheExitAfterABodyExceptionTerminatesReapsAndRethrows) {
  aw::run([&]() -> aw::task<> {
    aw::process p = aw::open_process({"sleep", "30"});
    EXPECT_THROW(co_await aw::async_with(p,
                                         [&](aw::process&) -> aw::task<> {
                                           throw std::logic_error("in the body");
                                           co_return;
                                         }),
                 std::logic_error);
    EXPECT_EQ(p.returncode(), -SIGTERM);
    EXPECT_TRUE(reaped(p.pid()));
    EXPECT_FALSE(p.stdin().is_open());
    EXPECT_FALSE(p.stdout().is_open());
    EXPECT_FALSE(p.stderr().is_open());
  });
}

TEST_F(ProcessTest, RunProcessCancelledTerminatesTheChild) {
  aw::run([&]() -> aw::task<> {
    auto r = co_await aw::move_on_after(20ms, [&] { return aw::run_process(args("sleep", "30")); });
    EXPECT_FALSE(r);
  });
}

TEST_F(ProcessTest, TheEnterFormClosesWhenTheTaskEnds) {
  pid_t pid = 0;
  aw::run([&]() -> aw::task<> {
    auto inner = [&]() -> aw::task<> {
      aw::process& p = co_await aw::enter(aw::open_process(args("sh", "-c", "exit 5")));
      pid = p.pid();
    };
    co_await inner();
  });
  EXPECT_TRUE(reaped(pid));
}

TEST_F(ProcessTest, AHundredProcessesConcurrently) {
  std::vector<std::string> out(100);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 100; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          auto r = co_await aw::run_process(args("sh", "-c", "echo $0", std::to_string(i)));
          out[static_cast<std::size_t>(i)] = r.stdout;
        });
      co_return;
    });
  });
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], std::to_string(i) + "\n");
}

// ---------------------------------------------------------------------------------------
// byte_stream on its own

TEST_F(ProcessTest, ByteStreamSendToAGoneReaderIsEpipeNotSigpipe) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  aw::run([&]() -> aw::task<> {
    aw::byte_stream w(fds[1]);
    try {
      co_await w.send("nobody reads this");
      ADD_FAILURE() << "sent to a pipe without reader";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
    // SIGPIPE was not left pending either.
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  });
}

TEST_F(ProcessTest, ByteStreamIsAContextManagerThatCloses) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  aw::run([&]() -> aw::task<> {
    aw::byte_stream r(fds[0]);
    aw::byte_stream w(fds[1]);
    co_await aw::async_with(w, [&](aw::byte_stream& w) -> aw::task<> { co_await w.send("abc"); });
    EXPECT_FALSE(w.is_open());
    EXPECT_EQ(co_await r.read_all(), "abc");
    char buf[2];
    EXPECT_EQ(co_await r.receive_into(std::span<char>(buf, 0)), 0u);
  });
}

}  // namespace
