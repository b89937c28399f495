// Child processes: aw::open_process (anyio.open_process) and aw::run_process
// (anyio.run_process, subprocess.run).
//
//   // async with await anyio.open_process(["cat"]) as proc: ...
//   aw::process cat = aw::open_process({"cat"});
//   co_await aw::async_with(cat, [&](aw::process& proc) -> aw::task<> {
//     co_await proc.stdin().send("hello\n");
//     proc.stdin().close();                                  // cat sees end of input
//     std::string echoed = co_await proc.stdout().read_all();
//     int status = co_await proc.wait();                     // 0
//   });
//
//   // result = await anyio.run_process(["git", "rev-parse", "HEAD"])
//   std::vector<std::string> cmd{"git", "rev-parse", "HEAD"};
//   aw::completed_process r = co_await aw::run_process(cmd);
//   std::string head = r.stdout;          // check (the default) raised if the status was not 0
//
// g++ 12: a braced list that makes a std::initializer_list ({"git", ...}, or a map in the
// options) inside a co_await expression does not compile ("array used as initializer", a
// GCC 11.2-12 bug; clang is fine). Build argv and options before the co_await, as above.
//
// A pipeline (`seq 1 100 | grep 7 | wc -l`): stdio::take(stream) hands one child's pipe to
// the next as its stdin (or stdout), as Python's Popen(..., stdin=p1.stdout) followed by
// p1.stdout.close(): this process keeps no copy, so the next child sees end of input when
// the previous one ends. Everything in one task, with aw::enter:
//
//   aw::process& seq = co_await aw::enter(aw::open_process(seq_argv));
//   aw::process_options o;
//   o.stdin = aw::stdio::take(seq.stdout());
//   aw::process& grep = co_await aw::enter(aw::open_process(grep_argv, o));
//   aw::process_options o2;
//   o2.stdin = aw::stdio::take(grep.stdout());
//   aw::process& wc = co_await aw::enter(aw::open_process(wc_argv, o2));
//   std::string count = co_await wc.stdout().read_all();   // "2\n"
//
// The process is started when the block is entered (posix_spawn; a missing program raises
// aw::spawn_error there, with the errno and the path). stdin, stdout and stderr are
// aw::byte_stream pipes by default (see process_options for the alternatives).
//
// Leaving the block (anyio's Process.aclose), on every path and shielded from cancellation:
//   1. closes stdin, stdout and stderr (a child still writing gets SIGPIPE or EPIPE);
//   2. when the body succeeded, waits up to `exit_grace` for the process to end by itself;
//   3. when the body failed or was cancelled, or the grace ran out: sends SIGTERM, waits up
//      to `terminate_grace`, then sends SIGKILL and waits for the end;
//   4. reaps the process (never a zombie) and closes every descriptor.
// The body's exception then goes on; the exit never suppresses.
//
// Waiting for the exit uses a pidfd (pidfd_open, waitid(P_PIDFD)): no SIGCHLD handler, no
// thread, the same on both backends. wait() is a cancellation point. returncode() is
// Python's: the exit status, or minus the signal number that killed the process.
#pragma once

#include <aw/byte_stream.hpp>
#include <aw/context.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <sys/types.h>
#include <chrono>
#include <csignal>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace aw {

// Where a child's standard stream goes (subprocess.PIPE, DEVNULL, STDOUT, None, an fd).
class stdio {
 public:
  enum class kind : unsigned char { pipe, inherit, devnull, fd, to_stdout, stream };

  static const stdio pipe;       // a new pipe: the stream is proc.stdin()/stdout()/stderr()
  static const stdio inherit;    // this process's own stream (Python's None)
  static const stdio devnull;    // /dev/null
  static const stdio to_stdout;  // stderr only: wherever stdout goes (subprocess.STDOUT)
  // An open descriptor of this process, duplicated into the child (it stays open here).
  static constexpr stdio from_fd(int fd) noexcept { return stdio(kind::fd, fd); }
  // A stream of this process (another child's proc.stdout(), a pipe end), handed over: once
  // the child has started, the stream is closed here (the child holds the only copy, made
  // blocking again, as a child's stdio expects). A start that fails leaves it open. The
  // stream must stay alive until the process is started.
  static stdio take(byte_stream& s) noexcept { return stdio(kind::stream, -1, &s); }

  constexpr kind what() const noexcept { return kind_; }
  constexpr int fd() const noexcept { return stream_ ? stream_->fd() : fd_; }
  constexpr byte_stream* stream() const noexcept { return stream_; }
  friend constexpr bool operator==(const stdio&, const stdio&) = default;

 private:
  constexpr stdio(kind k, int fd, byte_stream* s = nullptr) noexcept : kind_(k), fd_(fd), stream_(s) {}
  kind kind_;
  int fd_;
  byte_stream* stream_;
};
inline constexpr stdio stdio::pipe{kind::pipe, -1};
inline constexpr stdio stdio::inherit{kind::inherit, -1};
inline constexpr stdio stdio::devnull{kind::devnull, -1};
inline constexpr stdio stdio::to_stdout{kind::to_stdout, -1};

// How to start a child (anyio.open_process's keyword arguments):
//   aw::process_options opts;
//   opts.cwd = "/tmp";
//   opts.stderr = aw::stdio::to_stdout;
// It has a constructor on purpose (no designated initializers): g++ 12 miscompiles an
// aggregate temporary holding a std::string inside a co_await expression (README, "Known
// compiler bugs"), and an options argument is exactly such a temporary.
struct process_options {
  process_options() {}  // (user-provided: not an aggregate, see above)
  // The working directory of the child; empty: this process's.
  std::string cwd{};
  // The child's environment: this process's (environ) unless `env` is given, which replaces
  // it as Python's env= does; then `extra_env` is set over it (extend: add or override).
  std::optional<std::map<std::string, std::string>> env{};
  std::map<std::string, std::string> extra_env{};
  stdio stdin = stdio::pipe;
  stdio stdout = stdio::pipe;
  stdio stderr = stdio::pipe;
  // setsid() in the child: a new session and process group, away from the terminal's
  // SIGINT (start_new_session=True).
  bool start_new_session = false;
  // Leaving open_process's block: how long to wait for the process to end by itself (body
  // succeeded), and then how long after SIGTERM before SIGKILL.
  clock::duration exit_grace = std::chrono::seconds(5);
  clock::duration terminate_grace = std::chrono::seconds(5);
};

// The program could not be started (Python's FileNotFoundError, PermissionError, ... from
// Popen): code() is the errno (ENOENT, EACCES, ENOEXEC, ...), path() the program.
class spawn_error : public std::system_error {
 public:
  spawn_error(int err, std::string path);
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// A running (or finished) child process. Made by aw::open_process; the process starts when
// the manager is entered and aenter gives the process itself.
class [[nodiscard("enter it: co_await aw::async_with(aw::open_process(...), body); the process starts when it is entered")]] process {
 public:
  process(std::vector<std::string> argv, process_options options);
  process(process&& o) noexcept;  // only before it is entered
  process& operator=(process&&) = delete;
  process(const process&) = delete;
  ~process();  // last resort, for a process never closed: SIGKILL and reap (blocking)

  const std::vector<std::string>& argv() const noexcept { return argv_; }
  pid_t pid() const noexcept { return pid_; }
  // The exit status once the process has been reaped (by wait()); minus the signal number
  // for a process killed by a signal. Empty while it runs.
  std::optional<int> returncode() const noexcept { return returncode_; }

  // co_await proc.wait(): the returncode, once the process has ended (it is reaped then).
  // A cancellation point.
  task<int> wait();
  // Signals the process (through its pidfd, so never a recycled pid); nothing once it was
  // reaped. terminate() is SIGTERM, kill() SIGKILL.
  void send_signal(int sig);
  void terminate() { send_signal(SIGTERM); }
  void kill() { send_signal(SIGKILL); }

  // The pipes (closed streams for a stream that is not stdio::pipe). The names are Python's;
  // glibc defines stdin/stdout/stderr as macros naming themselves, so they are safe here.
  byte_stream& stdin() noexcept { return stdin_; }
  byte_stream& stdout() noexcept { return stdout_; }
  byte_stream& stderr() noexcept { return stderr_; }

  // Starts the process (what entering does); aw::spawn_error when the program cannot run.
  void start();
  // Closes the streams, waits, and terminates or kills as leaving the block does (`failed`:
  // the body failed, so the process is terminated at once). Idempotent.
  task<> aclose(bool failed = false);

  // The async context manager: entering starts the process, leaving is aclose().
  detail::ready<process&> aenter() {
    start();
    return {*this};
  }
  task<> aexit(std::exception_ptr e);

 private:
  std::vector<std::string> argv_;
  process_options options_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> returncode_;
  byte_stream stdin_, stdout_, stderr_;
  bool started_ = false;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<process> enter_check_;
};

// anyio.open_process(command, ...): a manager that starts `argv` when entered. argv[0] is
// searched in PATH when it holds no '/'.
inline process open_process(std::vector<std::string> argv, process_options options = {}) {
  return process(std::move(argv), std::move(options));
}

// subprocess.CompletedProcess.
struct completed_process {
  std::vector<std::string> argv;
  int returncode = 0;
  std::string stdout;  // empty when stdout was not a pipe
  std::string stderr;
  // Raises aw::called_process_error when returncode is not 0.
  void check_returncode() const;
};

// A process run with check=true ended with a status other than 0 (Python's
// CalledProcessError). what() is Python's message ("Command '[...]' returned non-zero exit
// status 1." or "... died with signal 9.").
class called_process_error : public std::runtime_error {
 public:
  called_process_error(int returncode, std::vector<std::string> argv, std::string stdout, std::string stderr);
  int returncode() const noexcept { return returncode_; }
  const std::vector<std::string>& argv() const noexcept { return argv_; }
  const std::string& stdout() const noexcept { return stdout_; }
  const std::string& stderr() const noexcept { return stderr_; }

 private:
  int returncode_;
  std::vector<std::string> argv_;
  std::string stdout_, stderr_;
};

// What aw::run_process takes besides the process options.
struct run_process_options {
  run_process_options() {}  // (not an aggregate: see process_options)
  // Written to stdin, which is then closed; without it stdin is /dev/null (when it was
  // left a pipe).
  std::optional<std::string> input{};
  // Raise aw::called_process_error for a status other than 0.
  bool check = true;
  process_options process{};
};

namespace detail {
struct run_request {  // (not an aggregate: see the g++ 12 note in the README)
  run_request(std::vector<std::string> a, run_process_options o) : argv(std::move(a)), options(std::move(o)) {}
  std::vector<std::string> argv;
  run_process_options options;
};
task<completed_process> run_process(run_request request);
}  // namespace detail

// anyio.run_process / subprocess.run: runs `argv` to its end, collecting stdout and stderr
// concurrently (while writing `input`), and gives the status and the output. A
// cancellation point; cancelled, the process is terminated (then killed) and reaped.
inline task<completed_process> run_process(std::vector<std::string> argv, run_process_options options = {}) {
  detail::run_request request(std::move(argv), std::move(options));
  return detail::run_process(std::move(request));  // an xvalue: g++ 12 mishandles a prvalue parameter here
}

}  // namespace aw
