// Listeners: making the listening sockets (TCP on every address of a host, Unix), accepting
// on one or several of them, closing.
#include <aw/net/listener.hpp>

#include "resolve.hpp"
#include "socket_ops.hpp"

#include <aw/detail/debug.hpp>
#include <aw/detail/wait_queue.hpp>
#include <aw/loop.hpp>

#include <liburing.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>

namespace aw::net {
namespace detail {

void report_handler_failure(const std::exception_ptr& e) noexcept {
  if (!aw::detail::debug_on) return;
  try {
    std::fprintf(stderr, "aw: a handler of aw::net serve() failed (the server goes on): %s\n", aw::detail::describe(e).c_str());
  } catch (...) {
  }
}

bool is_capacity_error(const error& e) noexcept {
  return e.code().category() == std::generic_category() && capacity_accept_error(e.code().value());
}

// One IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT on a listening socket: the kernel
// accepts each connection as it comes and posts its descriptor, which waits in `queue` for
// an accept. The record is the kernel's as long as the operation is armed (until its
// completion without IORING_CQE_F_MORE): the listener's close() detaches it (closing what
// is queued and whatever still arrives) and it frees itself on that last completion.
//
// The loop counts an armed multishot as pending I/O only while an accept waits on it, so
// a program whose tasks all wait on something else is still reported deadlocked.
struct multishot_accept : aw::io_op {
  multishot_accept(int listening_fd, aw::loop& l) noexcept : fd(listening_fd), lp(&l), loop_id(l.id()) { complete = &on_complete; }
  multishot_accept(const multishot_accept&) = delete;
  multishot_accept& operator=(const multishot_accept&) = delete;
  ~multishot_accept() {
    for (int c : queue) ::close(c);
  }

  void arm() noexcept {
    io_uring_sqe* sqe = lp->uring_sqe();
    io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, static_cast<aw::io_op*>(this));
    lp->note_submitted();
    armed = counted = true;
    stopping = false;
  }
  // Asks the kernel to end the operation; its last completion still comes.
  void stop() noexcept {
    if (!armed || stopping) return;
    lp->cancel_uring_op(*this);
    stopping = true;
  }
  // The loop's count follows the waiters (see above).
  void hold() noexcept {
    if (armed && !counted) {
      lp->note_submitted();
      counted = true;
    }
  }
  void release_if_idle() noexcept {
    if (waiters.empty() && armed && counted) {
      lp->note_completed();
      counted = false;
    }
  }
  void wake_one() {
    if (aw::detail::waiter* w = waiters.pop_front()) w->wake();
    release_if_idle();
  }
  void wake_all() {
    while (aw::detail::waiter* w = waiters.pop_front()) w->wake();
    release_if_idle();
  }

  static void on_complete(aw::io_op* op, int result);

  int fd;
  aw::loop* lp;
  std::uint64_t loop_id;
  std::deque<int> queue;  // accepted, not handed out yet
  int error = 0;          // an accept error for the next accept (errno)
  aw::detail::wait_queue waiters;
  bool armed = false;
  bool counted = false;    // in the loop's count of pending I/O
  bool stopping = false;   // a cancel was asked
  bool shut_down = false;  // the listener shut the socket down: EINVAL is the close, not the kernel
  bool accepted_any = false;
  bool detached = false;
};

namespace {

// At most this many connections wait in a multishot's queue: beyond, the multishot stops
// until accepts have drained the queue, and the kernel's backlog holds the rest as it does
// without multishot.
constexpr std::size_t max_queued = 64;
// A kernel older than 5.19 answers IORING_ACCEPT_MULTISHOT with EINVAL: single-shot from then on.
std::atomic<bool> multishot_refused{false};
// accept_multishot's answer when the kernel refused: accept single-shot instead.
constexpr int use_single_shot = INT_MIN;

// The detached records whose last completion has not come yet. A loop that ends before it
// comes (the listener closed as the main task returned) never delivers it: the records of
// dead loops are freed by the next multishot made on the thread, or at the thread's exit.
struct detached_multishots {
  std::vector<multishot_accept*> list;
  ~detached_multishots() {
    for (auto* m : list) delete m;
  }
  void remove(multishot_accept* m) noexcept { std::erase(list, m); }
  void sweep(std::uint64_t live_loop) noexcept {
    std::erase_if(list, [&](multishot_accept* m) {
      if (m->loop_id == live_loop) return false;
      delete m;
      return true;
    });
  }
};
thread_local detached_multishots awaiting_end;

// Waits for the multishot to post a connection, an error or its end.
struct multishot_wait {
  struct waiter : aw::detail::waiter {
    multishot_accept* m = nullptr;
  };
  waiter w;
  explicit multishot_wait(multishot_accept& m) noexcept { w.m = &m; }
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    w.ctx = aw::detail::context_of(h);
    if (w.ctx && w.ctx->cancelled()) {
      w.aborted = true;
      w.m->release_if_idle();  // armed for this wait a moment ago
      return false;
    }
    aw::detail::suspend_in(w.m->waiters, w, h, &interrupt, "multishot accept");
    w.m->hold();
    return true;
  }
  void await_resume() const {
    if (w.aborted) throw cancelled{};
  }
  static void interrupt(aw::detail::cancellable* c) noexcept {
    auto* self = static_cast<waiter*>(c);
    aw::detail::abort_wait(self->m->waiters, *self);
    self->m->release_if_idle();
  }
};

// One connection from the multishot: the descriptor, -errno, or use_single_shot.
task<int> accept_multishot(multishot_accept& m, socket_address& peer) {
  co_await raise_if_cancelled{};
  for (;;) {
    if (!m.queue.empty()) {
      int c = m.queue.front();
      m.queue.pop_front();
      // The multishot shares one address buffer between its completions: ask the socket.
      socklen_t len = socket_address::capacity();
      if (::getpeername(c, peer.data(), &len) == 0) peer.resize(len);
      co_return c;
    }
    if (m.error) co_return -std::exchange(m.error, 0);
    if (multishot_refused.load(std::memory_order_relaxed)) co_return use_single_shot;
    if (!m.armed) m.arm();  // the first accept, or the queue was full, or the kernel ended it
    co_await multishot_wait(m);
  }
}

}  // namespace

void multishot_accept::on_complete(aw::io_op* op, int result) {
  auto* m = static_cast<multishot_accept*>(op);
  const bool more = (m->cqe_flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    // The loop stopped counting the operation with this completion: when this record had
    // already taken itself out of the count, put back what the loop took.
    if (!m->counted) m->lp->note_submitted();
    m->armed = m->counted = m->stopping = false;
  }
  if (m->detached) {
    if (result >= 0) ::close(result);
    if (!more) {
      awaiting_end.remove(m);
      delete m;
    }
    return;
  }
  if (result >= 0) {
    m->accepted_any = true;
    m->queue.push_back(result);
    if (m->queue.size() >= max_queued) m->stop();
    if (more) {
      m->wake_one();
      return;
    }
  } else if (result == -EINVAL && !m->accepted_any && !m->shut_down) {
    multishot_refused.store(true, std::memory_order_relaxed);
  } else if (result != -ECANCELED && !transient_accept_error(-result)) {
    m->error = -result;
  }
  m->wake_all();  // the operation ended: the waiters take what came, re-arm or fall back
}

// Counts an accept waiting on the sockets, so a close() from another task shuts them down
// (which ends the accept with EINVAL) instead of closing descriptors still in use.
class listener_base::in_flight {
 public:
  explicit in_flight(listener_base& l) noexcept : l_(l) { ++l_.in_flight_; }
  in_flight(const in_flight&) = delete;
  in_flight& operator=(const in_flight&) = delete;
  ~in_flight() {
    if (--l_.in_flight_ == 0 && l_.closing_) {
      l_.closing_ = false;
      l_.close();
    }
  }

 private:
  listener_base& l_;
};

listener_base::listener_base(std::vector<int> fds) : fds_(std::move(fds)) {}

listener_base::listener_base(listener_base&& o) noexcept
    : fds_(std::move(o.fds_)),
      ready_(std::move(o.ready_)),
      multishot_(std::move(o.multishot_)),
      closing_(std::exchange(o.closing_, false)),
      failed_(o.failed_) {
  o.fds_.clear();
  o.ready_.clear();
  o.multishot_.clear();
}

listener_base& listener_base::operator=(listener_base&& o) noexcept {
  if (this != &o) {
    close();
    fds_ = std::move(o.fds_);
    ready_ = std::move(o.ready_);
    multishot_ = std::move(o.multishot_);
    closing_ = std::exchange(o.closing_, false);
    failed_ = o.failed_;
    o.fds_.clear();
    o.ready_.clear();
    o.multishot_.clear();
  }
  return *this;
}

void listener_base::close() noexcept {
  if (closing_) return;
  if (in_flight_ > 0) {
    // SHUT_RD on a listening socket stops it listening and wakes its accepts (EINVAL).
    for (int fd : fds_) ::shutdown(fd, SHUT_RD);
    for (auto* m : multishot_)
      if (m) m->shut_down = true;
    closing_ = true;
    return;
  }
  for (auto* m : multishot_)
    if (m) detach(m);
  multishot_.clear();
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  for (auto& a : ready_) ::close(a.fd);
  ready_.clear();
}

std::vector<socket_address> listener_base::local_addresses() const {
  std::vector<socket_address> out;
  for (int fd : fds_) {
    socket_address a;
    socklen_t len = socket_address::capacity();
    if (::getsockname(fd, a.data(), &len) < 0) throw_error(errno, "getsockname of listener", "fd " + std::to_string(fd));
    a.resize(len);
    out.push_back(a);
  }
  return out;
}

socket_address listener_base::local_address() const {
  if (!is_open()) throw closed_resource_error("aw::net: local_address: the listener is closed");
  return local_addresses().front();
}

void listener_base::detach(multishot_accept* m) noexcept {
  m->detached = true;
  for (int c : m->queue) ::close(c);
  m->queue.clear();
  aw::loop* current = aw::loop::current_or_null();
  if (!m->armed || current != m->lp || current->id() != m->loop_id) {
    delete m;  // nothing in flight, or its loop (and ring) is gone: nothing will complete
    return;
  }
  // SHUT_RD ends the operation (EINVAL) and frees the port now; the cancel makes sure.
  m->shut_down = true;
  ::shutdown(m->fd, SHUT_RD);
  m->stop();
  awaiting_end.list.push_back(m);
}

multishot_accept* listener_base::multishot_for(std::size_t i) {
  aw::loop& l = aw::loop::current();
  // IORING_OP_SOCKET came with multishot accept (5.19): the probe's closest witness.
  if (!l.uring() || multishot_refused.load(std::memory_order_relaxed) || !uring_supports(IORING_OP_SOCKET)) return nullptr;
  if (multishot_.size() < fds_.size()) multishot_.resize(fds_.size(), nullptr);
  multishot_accept*& m = multishot_[i];
  if (m && m->loop_id != l.id()) {
    // Made by an earlier loop, whose ring is gone: keep the connections it queued.
    auto fresh = new multishot_accept(fds_[i], l);
    fresh->queue = std::move(m->queue);
    m->queue.clear();
    delete m;
    m = fresh;
  }
  if (!m) {
    awaiting_end.sweep(l.id());
    m = new multishot_accept(fds_[i], l);
  }
  return m;
}

task<accepted> listener_base::accept_on(std::size_t i) {
  for (;;) {
    if (!is_open()) throw closed_resource_error("aw::net: accept: the listener is closed");
    in_flight guard(*this);
    accepted a;
    int r = use_single_shot;
    if (multishot_accept* m = multishot_for(i)) r = co_await accept_multishot(*m, a.peer);
    if (r == use_single_shot) r = co_await accept_socket(fds_[i], a.peer);
    if (r >= 0) {
      a.fd = r;
      co_return a;
    }
    if (closing_) throw closed_resource_error("aw::net: accept: the listener was closed");
    if (transient_accept_error(-r)) continue;
    socket_address local;
    socklen_t len = socket_address::capacity();
    std::string name =
        ::getsockname(fds_[i], local.data(), &len) == 0 ? (local.resize(len), local.to_string()) : "fd " + std::to_string(fds_[i]);
    throw_error(-r, "accept on", name);
  }
}

task<accepted> listener_base::accept_any() {
  if (!ready_.empty()) {
    accepted a = ready_.front();
    ready_.pop_front();
    co_return a;
  }
  if (fds_.size() == 1) co_return co_await accept_on(0);
  if (!is_open()) throw closed_resource_error("aw::net: accept: the listener is closed");
  // An accept on every socket; the first connection cancels the others. One that accepted
  // anyway (its connection came as it was being cancelled) leaves it for the next call.
  std::exception_ptr failure;
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> task<> {
    for (std::size_t i = 0; i < fds_.size(); ++i)
      tg.start_soon([&, i]() -> task<> {
        try {
          ready_.push_back(co_await accept_on(i));
        } catch (const cancelled&) {
          throw;
        } catch (...) {
          if (!failure) failure = std::current_exception();
        }
        tg.cancel();
      });
    co_return;
  });
  if (!ready_.empty()) {
    accepted a = ready_.front();
    ready_.pop_front();
    co_return a;
  }
  std::rethrow_exception(failure);
}

namespace {

void set_port(socket_address& a, std::uint16_t port) {
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(a.data())->sin_port = htons(port);
  if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(a.data())->sin6_port = htons(port);
}

// A listening socket on `a`: -errno for the errors that may skip an address (no IPv6 in this
// kernel or on this host, a port taken), else the descriptor; other errors raise.
int listen_on(const socket_address& a, const listener_options& o, int& err_out) {
  int fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err_out = errno;
    return -1;
  }
  fd_guard g(fd);
  const std::string name = a.to_string();
  if (a.is_ip()) {
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, name);
    // Dual stack is two sockets, as anyio and trio make it: "::" takes IPv6 only.
    if (a.family() == AF_INET6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, name);
  }
  if (o.reuse_port) set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, name);
  apply_socket_options(fd, a.family(), o.socket, a);  // accepted sockets inherit them
  if (::bind(fd, a.data(), a.size()) < 0) {
    err_out = errno;
    return -1;
  }
  if (::listen(fd, std::clamp(o.backlog, 0, 65536)) < 0) throw_error(errno, "listen on", name);
  return g.release();
}

// Listening sockets on every address; with port 0, the port the first one got is the port
// of all (retried when another process takes it in between).
std::vector<int> listen_all(std::vector<socket_address> addresses, const listener_options& o) {
  const bool pick_port = addresses.size() > 1 && addresses.front().port() == 0;
  for (int round = 0;; ++round) {
    std::vector<fd_guard> socks;
    int last_err = 0;
    std::string last_name;
    bool retry = false;
    std::uint16_t port = 0;
    for (auto a : addresses) {
      if (pick_port && port != 0) set_port(a, port);
      int err = 0;
      int fd = listen_on(a, o, err);
      if (fd < 0) {
        if (pick_port && port != 0 && err == EADDRINUSE && round < 20) {
          retry = true;
          break;
        }
        // A host without IPv6 (or IPv4) still listens on the other family.
        if (addresses.size() > 1 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
          last_err = err;
          last_name = a.to_string();
          continue;
        }
        throw_error(err, "listen on", a.to_string());
      }
      socks.emplace_back(fd);
      if (pick_port && port == 0) {
        socket_address bound;
        socklen_t len = socket_address::capacity();
        if (::getsockname(fd, bound.data(), &len) < 0) throw_error(errno, "getsockname of", a.to_string());
        bound.resize(len);
        port = bound.port();
      }
    }
    if (retry) continue;
    if (socks.empty()) throw_error(last_err, "listen on", last_name);
    std::vector<int> fds;
    for (auto& s : socks) fds.push_back(s.release());
    return fds;
  }
}

}  // namespace
}  // namespace detail

task<tcp_listener> create_tcp_listener(std::string host, std::uint16_t port) {
  return create_tcp_listener(std::move(host), port, listener_options{});
}

task<tcp_listener> create_tcp_listener(std::string host, std::uint16_t port, listener_options options) {
  std::vector<socket_address> addresses;
  if (host.empty()) {
    if (options.family != AF_INET) addresses.push_back(socket_address::ip("::", port));
    if (options.family != AF_INET6) addresses.push_back(socket_address::ip("0.0.0.0", port));
  } else {
    addresses = co_await detail::resolve_for_connect(host, port, options.family);
  }
  co_return tcp_listener(detail::listen_all(std::move(addresses), options));
}

task<unix_listener> create_unix_listener(std::string path) { return create_unix_listener(std::move(path), listener_options{}); }

task<unix_listener> create_unix_listener(std::string path, listener_options options) {
  socket_address a = socket_address::unix_path(path);
  const bool abstract = path[0] == '\0';
  // anyio replaces a socket file left behind by an earlier listener; anything else at the
  // path makes bind fail (EADDRINUSE) rather than be deleted.
  struct stat st;
  if (!abstract && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  int err = 0;
  int fd = detail::listen_on(a, options, err);
  if (fd < 0) detail::throw_error(err, "listen on", a.to_string());
  detail::fd_guard g(fd);
  if (options.mode >= 0 && !abstract && ::chmod(path.c_str(), static_cast<mode_t>(options.mode)) < 0)
    detail::throw_error(errno, "chmod of", a.to_string());
  std::vector<int> fds{g.release()};
  co_return unix_listener(std::move(fds));
}

}  // namespace aw::net
