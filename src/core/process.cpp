// aw::byte_stream, aw::process, aw::run_process: child processes on the loop.
#include <aw/async_with.hpp>
#include <aw/byte_stream.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/process.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace aw {
namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (so C++ cannot link its functions); the
// system calls are called directly.
int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int pidfd, int sig) noexcept { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

[[noreturn]] void throw_errno(int err, const std::string& what) { throw std::system_error(err, std::generic_category(), what); }

class fd_guard {
 public:
  fd_guard() noexcept = default;
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A write that reports a reader gone as EPIPE instead of killing the process with SIGPIPE
// (Python ignores SIGPIPE for the same reason; a library may not change the disposition, so
// the signal is blocked in this thread for the write and a SIGPIPE it raised is consumed).
ssize_t write_without_sigpipe(int fd, const void* data, std::size_t size) noexcept {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  if (sigismember(&old, SIGPIPE)) {  // blocked already: the thread's owner handles it
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ::write(fd, data, size);
  }
  ssize_t n = ::write(fd, data, size);
  int err = errno;
  if (n < 0 && err == EPIPE) {
    struct timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

[[noreturn]] void throw_closed(const char* op) { throw_errno(EBADF, std::string("aw::byte_stream::") + op + ": the stream is closed"); }

}  // namespace

// ---------------------------------------------------------------------------------------
// byte_stream

byte_stream::byte_stream(int fd) : fd_(fd) {
  if (fd_ < 0) return;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0)) {
    int err = errno;
    close();
    throw_errno(err, "aw::byte_stream: fcntl(O_NONBLOCK)");
  }
}

void byte_stream::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

task<std::size_t> byte_stream::receive_into(std::span<char> buf) {
  for (;;) {
    if (fd_ < 0) throw_closed("receive");
    if (buf.empty()) co_return 0;
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) co_return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "aw::byte_stream::receive (fd " + std::to_string(fd_) + ")");
    co_await wait_readable(fd_);
  }
}

task<std::string> byte_stream::receive(std::size_t max) {
  std::string out(max, '\0');
  std::size_t n = co_await receive_into(out);
  if (n < max / 4) co_return std::string(out.data(), n);  // do not hand out 64 KiB for a line
  out.resize(n);
  co_return out;
}

task<std::string> byte_stream::read_all() {
  std::string out;
  std::size_t size = 0;
  for (;;) {
    if (out.size() - size < 16384) out.resize(std::max<std::size_t>(default_receive_size, out.size() * 2));
    std::size_t n = co_await receive_into(std::span<char>(out.data() + size, out.size() - size));
    if (n == 0) break;
    size += n;
  }
  out.resize(size);
  co_return out;
}

task<> byte_stream::send(std::string_view data) {
  while (!data.empty()) {
    if (fd_ < 0) throw_closed("send");
    ssize_t n = write_without_sigpipe(fd_, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "aw::byte_stream::send (fd " + std::to_string(fd_) + ")");
    co_await wait_writable(fd_);
  }
}

// ---------------------------------------------------------------------------------------
// process

spawn_error::spawn_error(int err, std::string path)
    : std::system_error(err, std::generic_category(), "aw::open_process: cannot run '" + path + "'"), path_(std::move(path)) {}

process::process(std::vector<std::string> argv, process_options options) : argv_(std::move(argv)), options_(std::move(options)) {}

process::process(process&& o) noexcept
    : argv_(std::move(o.argv_)), options_(std::move(o.options_)), enter_check_(std::move(o.enter_check_)) {
  if (o.started_) std::terminate();  // a started process is the resource of its block: it stays put
}

process::~process() {
  if (pidfd_ < 0) return;
  if (!returncode_) {
    // Never closed (a process started by hand and dropped): no zombie either way.
    pidfd_send_signal(pidfd_, SIGKILL);
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED) < 0 && errno == EINTR) {
    }
  }
  ::close(pidfd_);
}

void process::start() {
  enter_check_.entered();
  if (started_) throw std::logic_error("aw::process: a process is started once");
  if (argv_.empty()) throw std::invalid_argument("aw::open_process: argv is empty");
  if (options_.stdin == stdio::to_stdout || options_.stdout == stdio::to_stdout)
    throw std::invalid_argument("aw::open_process: stdio::to_stdout is for stderr only");

  // The child's ends (dup2'ed onto 0, 1, 2 by posix_spawn) and ours. Every descriptor is
  // created close-on-exec, so no other child started meanwhile (by any thread) inherits it.
  fd_guard child[3], ours[3];
  const stdio how[3] = {options_.stdin, options_.stdout, options_.stderr};
  for (int i = 0; i < 3; ++i) {
    if (how[i].what() == stdio::kind::pipe) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) throw_errno(errno, "aw::open_process: pipe2");
      child[i].reset(i == 0 ? p[0] : p[1]);
      ours[i].reset(i == 0 ? p[1] : p[0]);
    } else if (how[i].what() == stdio::kind::fd || how[i].what() == stdio::kind::stream) {
      if (how[i].what() == stdio::kind::stream && !how[i].stream()->is_open())
        throw std::invalid_argument("aw::open_process: stdio::take of a closed stream");
      child[i].reset(::fcntl(how[i].fd(), F_DUPFD_CLOEXEC, 3));
      if (child[i].get() < 0) throw_errno(errno, "aw::open_process: fd " + std::to_string(how[i].fd()));
    }
    // Keep the sources above 2, so that one dup2 onto 0..2 cannot clobber a later source.
    if (child[i].get() >= 0 && child[i].get() < 3) {
      int moved = ::fcntl(child[i].get(), F_DUPFD_CLOEXEC, 3);
      if (moved < 0) throw_errno(errno, "aw::open_process: fcntl(F_DUPFD_CLOEXEC)");
      child[i].reset(moved);
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  struct spawn_cleanup {
    posix_spawn_file_actions_t* a;
    posix_spawnattr_t* b;
    ~spawn_cleanup() {
      posix_spawn_file_actions_destroy(a);
      posix_spawnattr_destroy(b);
    }
  } cleanup{&actions, &attr};

  for (int i = 0; i < 3; ++i) {
    int rc = 0;
    switch (how[i].what()) {
      case stdio::kind::pipe:
      case stdio::kind::fd:
      case stdio::kind::stream:
        rc = posix_spawn_file_actions_adddup2(&actions, child[i].get(), i);
        break;
      case stdio::kind::devnull:
        rc = posix_spawn_file_actions_addopen(&actions, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        break;
      case stdio::kind::to_stdout:
        rc = posix_spawn_file_actions_adddup2(&actions, 1, 2);
        break;
      case stdio::kind::inherit:
        break;
    }
    if (rc != 0) throw_errno(rc, "aw::open_process: posix_spawn_file_actions");
  }
  if (!options_.cwd.empty()) {
    if (int rc = posix_spawn_file_actions_addchdir_np(&actions, options_.cwd.c_str())) throw_errno(rc, "aw::open_process: cwd");
  }

  // The child starts with no signal blocked, and with SIGPIPE and SIGXFSZ at their default
  // even where this process ignores them (Python's restore_signals): `yes | head` must end.
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options_.start_new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> args;
  args.reserve(argv_.size() + 1);
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);

  std::vector<std::string> env_storage;
  std::vector<char*> env;
  char** envp = environ;
  if (options_.env || !options_.extra_env.empty()) {
    std::map<std::string, std::string> vars;
    if (options_.env) {
      vars = *options_.env;
    } else {
      for (char** e = environ; e && *e; ++e) {
        const char* eq = std::strchr(*e, '=');
        if (eq) vars.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
      }
    }
    for (auto& [k, v] : options_.extra_env) vars[k] = v;
    env_storage.reserve(vars.size());
    for (auto& [k, v] : vars) env_storage.push_back(k + "=" + v);
    for (auto& s : env_storage) env.push_back(s.data());
    env.push_back(nullptr);
    envp = env.data();
  }

  // A stream handed over shares its open file description with the child's copy: the
  // child gets it blocking, as a pipe from a shell (our O_NONBLOCK is put back if the
  // start fails and the stream stays ours).
  auto set_handed_over_blocking = [&](bool blocking) {
    for (int i = 0; i < 3; ++i) {
      if (how[i].what() != stdio::kind::stream) continue;
      int fl = ::fcntl(child[i].get(), F_GETFL);
      if (fl >= 0) ::fcntl(child[i].get(), F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
    }
  };
  set_handed_over_blocking(true);

  // glibc's posix_spawn reports a failed exec (ENOENT, EACCES, ENOEXEC) as its result.
  pid_t pid = -1;
  const std::string& program = argv_[0];
  int rc = program.find('/') != std::string::npos ? ::posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), envp)
                                                  : ::posix_spawnp(&pid, program.c_str(), &actions, &attr, args.data(), envp);
  if (rc != 0) {
    set_handed_over_blocking(false);
    throw spawn_error(rc, program);
  }

  int pidfd = pidfd_open(pid);  // close-on-exec
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    set_handed_over_blocking(false);
    throw_errno(err, "aw::open_process: pidfd_open");
  }
  pid_ = pid;
  pidfd_ = pidfd;
  started_ = true;
  // From here nothing throws: the streams only set O_NONBLOCK on pipes this code created.
  for (int i = 0; i < 3; ++i)
    if (ours[i].get() >= 0) ::fcntl(ours[i].get(), F_SETFL, O_NONBLOCK);
  stdin_ = byte_stream(ours[0].release());
  stdout_ = byte_stream(ours[1].release());
  stderr_ = byte_stream(ours[2].release());
  // Handed over: the child has its copy; ours would keep the pipe open (a reader after it
  // would never see end of input).
  for (int i = 0; i < 3; ++i)
    if (how[i].what() == stdio::kind::stream) how[i].stream()->close();
}

namespace {
// Collects the exit status if the process has ended: true once returncode_ is set.
bool try_reap(int pidfd, std::optional<int>& returncode) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) == 0) break;
    if (errno == EINTR) continue;
    // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN, or a waitpid(-1) elsewhere);
    // the status is lost. asyncio reports 255 in this case; so does asyncwith.
    if (errno == ECHILD) {
      returncode = 255;
      return true;
    }
    throw_errno(errno, "aw::process::wait: waitid");
  }
  if (info.si_pid == 0) return false;  // not yet (a spurious wake-up)
  returncode = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
  return true;
}
}  // namespace

task<int> process::wait() {
  if (!started_) throw std::logic_error("aw::process::wait: the process was not started");
  while (!returncode_) {
    if (pidfd_ < 0) throw std::logic_error("aw::process::wait: the process was closed");
    co_await wait_readable(pidfd_);
    if (returncode_) break;  // another waiter reaped it meanwhile
    try_reap(pidfd_, returncode_);
  }
  co_return *returncode_;
}

void process::send_signal(int sig) {
  if (returncode_ || pidfd_ < 0) return;
  // ESRCH: it has ended but is not reaped yet; there is nobody left to signal.
  if (pidfd_send_signal(pidfd_, sig) != 0 && errno != ESRCH) throw_errno(errno, "aw::process::send_signal(" + std::to_string(sig) + ")");
}

task<> process::aclose(bool failed) {
  // A caller in a cancelled scope wants the process gone, not waited for.
  if (co_await current_deadline() == clock::time_point::min()) failed = true;
  stdin_.close();
  stdout_.close();
  stderr_.close();
  if (pidfd_ < 0) co_return;
  // Shielded: the process is reaped even when the cancellation that ended the body (or one
  // that arrives meanwhile) would interrupt the waits.
  cancel_scope shield(clock::time_point::max(), /*shield=*/true);
  co_await async_with(shield, [&](cancel_scope&) -> task<> {
    if (!returncode_ && !failed) co_await move_on_after(options_.exit_grace, [&] { return wait(); });
    if (!returncode_) {
      terminate();
      co_await move_on_after(options_.terminate_grace, [&] { return wait(); });
    }
    if (!returncode_) {
      kill();
      co_await wait();
    }
  });
  ::close(std::exchange(pidfd_, -1));
}

task<> process::aexit(std::exception_ptr e) { co_await aclose(e != nullptr); }

// ---------------------------------------------------------------------------------------
// run_process

namespace {

std::string format_argv(const std::vector<std::string>& argv) {
  std::string s = "[";
  for (std::size_t i = 0; i < argv.size(); ++i) s += (i ? ", '" : "'") + argv[i] + "'";
  return s + "]";
}

std::string called_process_message(int returncode, const std::vector<std::string>& argv) {
  std::string s = "Command '" + format_argv(argv) + "' ";
  if (returncode < 0) {
    const char* abbrev = ::sigabbrev_np(-returncode);
    return s + "died with " + (abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(-returncode)) + ".";
  }
  return s + "returned non-zero exit status " + std::to_string(returncode) + ".";
}

}  // namespace

called_process_error::called_process_error(int returncode, std::vector<std::string> argv, std::string stdout, std::string stderr)
    : std::runtime_error(called_process_message(returncode, argv)),
      returncode_(returncode),
      argv_(std::move(argv)),
      stdout_(std::move(stdout)),
      stderr_(std::move(stderr)) {}

void completed_process::check_returncode() const {
  if (returncode != 0) throw called_process_error(returncode, argv, stdout, stderr);
}

namespace detail {

task<completed_process> run_process(run_request request) {
  run_process_options& o = request.options;
  process_options popts = std::move(o.process);
  if (o.input && popts.stdin != stdio::pipe) throw std::invalid_argument("aw::run_process: input needs stdin to be a pipe");
  if (!o.input && popts.stdin == stdio::pipe) popts.stdin = stdio::devnull;

  completed_process result;
  result.argv = request.argv;
  process proc(std::move(request.argv), std::move(popts));
  co_await async_with(proc, [&](process& p) -> task<> {
    co_await async_with(task_group{}, [&](task_group& tg) -> task<> {
      if (p.stdin().is_open()) {
        tg.start_soon([&]() -> task<> {
          try {
            co_await p.stdin().send(*o.input);
          } catch (const std::system_error& e) {
            // A child that exits without reading all its input is not an error (subprocess.run).
            if (e.code() != std::errc::broken_pipe) throw;
          }
          p.stdin().close();
        });
      }
      if (p.stdout().is_open()) tg.start_soon([&]() -> task<> { result.stdout = co_await p.stdout().read_all(); });
      if (p.stderr().is_open()) tg.start_soon([&]() -> task<> { result.stderr = co_await p.stderr().read_all(); });
      co_return;
    });
    result.returncode = co_await p.wait();
  });
  if (o.check) result.check_returncode();
  co_return result;
}

}  // namespace detail
}  // namespace aw
