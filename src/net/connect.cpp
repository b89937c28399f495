// connect_tcp with Happy Eyeballs (RFC 8305), connect_tls over it, and connect_unix.
#include <aw/net/connect.hpp>

#include "resolve.hpp"
#include "socket_ops.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/exceptions.hpp>
#include <aw/net/errors.hpp>
#include <aw/task_group.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <exception>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace aw::net {
namespace {

// One attempt: a socket with its options, bound to `local` if given, connected to `to`.
task<tcp_stream> connect_one(const socket_address& to, const socket_address* local, const socket_options& options) {
  detail::fd_guard fd(detail::open_stream_socket(to.family(), to));
  detail::apply_socket_options(fd.get(), to.family(), options, to);
  if (local) {
    // The port is chosen at connect time, per destination: binding first would take one of
    // the ephemeral ports for every destination at once.
    if (local->port() == 0) {
      int on = 1;
      ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
    }
    if (::bind(fd.get(), local->data(), local->size()) < 0)
      detail::throw_error(errno, "bind to " + local->to_string() + " to connect to", to.to_string());
  }
  co_await detail::connect_socket(fd.get(), to);
  co_return tcp_stream(fd.release(), to);
}

// The error of a connect_tcp whose attempts all failed: see connect.hpp.
[[noreturn]] void raise_all_failed(const std::vector<socket_address>& tried, std::vector<std::exception_ptr> errors) {
  std::string addresses;
  int code = 0;
  for (std::size_t i = 0; i < tried.size(); ++i) {
    addresses += (i ? ", " : "") + tried[i].to_string();
    if (!errors[i]) continue;
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::system_error& e) {
      if (code == 0 && e.code().value() != ECONNREFUSED) code = e.code().value();
    }  // anything else (std::bad_alloc) is raised as it is
  }
  try {
    throw exception_group("connection attempts failed", std::move(errors));
  } catch (...) {
    if (code == 0) std::throw_with_nested(connection_refused(ECONNREFUSED, "connect to", addresses));
    std::throw_with_nested(error(code, "connect to", addresses));
  }
}

}  // namespace

task<tcp_stream> connect_tcp(std::string host, std::uint16_t port) { return connect_tcp(std::move(host), port, connect_options{}); }

task<tcp_stream> connect_tcp(std::string host, std::uint16_t port, connect_options options) {
  int family = options.family;
  std::optional<socket_address> local;
  if (!options.local_host.empty()) {
    local = (co_await detail::resolve_for_connect(options.local_host, 0, family)).front();
    family = local->family();
  }
  const std::vector<socket_address> targets = co_await detail::resolve_for_connect(host, port, family);
  const socket_address* bind_to = local ? &*local : nullptr;
  if (targets.size() == 1) co_return co_await connect_one(targets.front(), bind_to, options.socket);

  std::optional<tcp_stream> winner;
  std::vector<std::exception_ptr> errors(targets.size());
  std::deque<event> failed(targets.size());  // attempt i failed: start the next one now
  co_await async_with(task_group{}, [&](task_group& tg) -> task<> {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      tg.start_soon([&, i]() -> task<> {
        try {
          tcp_stream s = co_await connect_one(targets[i], bind_to, options.socket);
          if (!winner) {
            winner.emplace(std::move(s));
            tg.cancel();  // the other attempts, and the wait below
          }
          co_return;  // a second connection (two completed in one turn) closes here
        } catch (const cancelled&) {
          throw;
        } catch (...) {
          errors[i] = std::current_exception();
        }
        failed[i].set();
      });
      if (i + 1 < targets.size()) co_await move_on_after(options.happy_eyeballs_delay, [&]() -> task<> { co_await failed[i].wait(); });
    }
  });
  if (winner) co_return std::move(*winner);
  raise_all_failed(targets, std::move(errors));
}

task<unix_stream> connect_unix(std::string path) {
  const socket_address to = socket_address::unix_path(path);
  detail::fd_guard fd(detail::open_stream_socket(AF_UNIX, to));
  co_await detail::connect_socket(fd.get(), to);
  co_return unix_stream(fd.release(), to);
}

task<tls_stream> connect_tls(std::string host, std::uint16_t port) { return connect_tls(std::move(host), port, tls_connect_options{}); }

task<tls_stream> connect_tls(std::string host, std::uint16_t port, tls_connect_options options) {
  if (options.tls.server_hostname.empty()) options.tls.server_hostname = host;
  tcp_stream s = co_await connect_tcp(std::move(host), port, std::move(options.tcp));
  co_return co_await tls_stream::wrap(std::move(s), std::move(options.tls));
}

}  // namespace aw::net
