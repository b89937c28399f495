// Listeners: making the listening sockets (TCP on every address of a host, Unix), accepting
// on one or several of them, closing.
#include <aw/net/listener.hpp>

#include "resolve.hpp"
#include "socket_ops.hpp"

#include <aw/detail/debug.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
    : fds_(std::move(o.fds_)), ready_(std::move(o.ready_)), closing_(std::exchange(o.closing_, false)), failed_(o.failed_) {
  o.fds_.clear();
  o.ready_.clear();
}

listener_base& listener_base::operator=(listener_base&& o) noexcept {
  if (this != &o) {
    close();
    fds_ = std::move(o.fds_);
    ready_ = std::move(o.ready_);
    closing_ = std::exchange(o.closing_, false);
    failed_ = o.failed_;
    o.fds_.clear();
    o.ready_.clear();
  }
  return *this;
}

void listener_base::close() noexcept {
  if (closing_) return;
  if (in_flight_ > 0) {
    // SHUT_RD on a listening socket stops it listening and wakes its accepts (EINVAL).
    for (int fd : fds_) ::shutdown(fd, SHUT_RD);
    closing_ = true;
    return;
  }
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

task<accepted> listener_base::accept_on(std::size_t i) {
  for (;;) {
    if (!is_open()) throw closed_resource_error("aw::net: accept: the listener is closed");
    in_flight guard(*this);
    accepted a;
    int r = co_await accept_socket(fds_[i], a.peer);
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
