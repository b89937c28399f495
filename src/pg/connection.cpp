// aw::pg::connection: the API over its wire (wire.hpp), and connecting, probing and
// resetting the session, and the server's notices.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/debug.hpp>
#include <aw/pg/connection.hpp>
#include <aw/redact.hpp>

#include "resolve.hpp"
#include "wire.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aw::pg {

using detail::fields_of;
using detail::host_override;
using detail::resolve_host_names;
using detail::trimmed;
using detail::wire;

connection::connection(connection_options o) : wire_(std::make_unique<wire>(*this, o)) {}
connection::~connection() = default;

task<> connection::open(std::string dsn) { return wire_->open(std::move(dsn)); }
void connection::close() noexcept { wire_->close(); }
bool connection::is_closed() const noexcept { return wire_->is_closed(); }
bool connection::probe() noexcept { return wire_->probe(); }
int connection::backend_pid() const noexcept { return wire_->conn_ ? PQbackendPID(wire_->conn_) : 0; }
bool connection::in_transaction() const noexcept { return wire_->in_transaction(); }
std::string connection::server_parameter(const char* name) const {
  const char* v = wire_->conn_ ? PQparameterStatus(wire_->conn_, name) : nullptr;
  return v ? v : "";
}

pg_conn* connection::native() const noexcept { return wire_->conn_; }
task<> connection::reset() { return wire_->reset(); }
void connection::mark_dirty() noexcept { wire_->dirty_ = true; }
bool connection::is_clean() const noexcept { return wire_->is_clean(); }
std::uint64_t connection::queries() const noexcept { return wire_->queries_; }

// The entry points of the templates (connection.hpp).
task<std::string> connection::simple_query(std::string_view sql) { return wire_->simple_query(sql); }
task<result> connection::query(std::string_view sql, detail::encoder enc, prepared_statement* named) {
  return wire_->query(sql, enc, named);
}
task<> connection::query_many(std::string_view sql, many_fn next, void* state) { return wire_->query_many(sql, next, state); }

bool wire::probe() noexcept {
  if (is_closed()) return false;
  // A server that went away sent a FATAL error and closed the socket: read what is there
  // (libpq reports the message as a notice) and look for the end of the stream, which
  // libpq does not always notice by itself while idle.
  for (int i = 0; i < 4; ++i) {
    char b;
    ssize_t n = ::recv(PQsocket(conn_), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0 || !PQconsumeInput(conn_) || PQstatus(conn_) == CONNECTION_BAD) break;
  }
  broken_ = true;
  close();
  return false;
}

namespace {
// The DSN's connect_timeout (or PGCONNECT_TIMEOUT's), as libpq reads it: seconds, 0 or
// unset for none, 1 taken as 2.
std::chrono::milliseconds dsn_connect_timeout(PGconn* c) {
  std::chrono::milliseconds t{0};
  PQconninfoOption* opts = PQconninfo(c);
  if (!opts) return t;
  for (PQconninfoOption* o = opts; o->keyword; ++o)
    if (std::strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
      const int s = std::atoi(o->val);
      if (s > 0) t = std::chrono::seconds(std::max(s, 2));
    }
  PQconninfoFree(opts);
  return t;
}
}  // namespace

task<> wire::open(std::string dsn) {
  if (conn_) throw interface_error("aw::pg::connection::open: already open");
  const auto start = aw::now();
  const auto deadline = opts_.connect_timeout.count() > 0 ? start + opts_.connect_timeout : clock::time_point::max();
  // Host names are resolved here, on the loop: libpq would call a blocking getaddrinfo.
  std::optional<host_override> targets;
  {
    cancel_scope scope(deadline);
    co_await async_with(scope, [&](cancel_scope&) -> task<> { targets = co_await resolve_host_names(dsn); });
    if (scope.cancelled_caught())
      throw connect_timeout_error("aw::pg::connect: the host names were not resolved within " +
                                  std::to_string(opts_.connect_timeout.count()) + " ms (connecting with \"" + redact_credentials(dsn) +
                                  "\")");
  }
  // Keywords after the expanded DSN override its values (PQconnectStartParams).
  std::vector<const char*> keys{"dbname", "fallback_application_name"};
  std::vector<const char*> values{dsn.c_str(), "asyncwith"};
  if (targets) {
    keys.insert(keys.end(), {"host", "hostaddr"});
    values.insert(values.end(), {targets->host.c_str(), targets->hostaddr.c_str()});
    if (!targets->port.empty()) {
      keys.push_back("port");
      values.push_back(targets->port.c_str());
    }
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
  if (!conn_) throw std::bad_alloc();
  register_result_events(*this);
  // Instead of libpq's default, which prints to stderr.
  PQsetNoticeReceiver(conn_, &wire::notice_received, this);
  auto fail = [&]() {
    std::string msg = scrub_credentials(trimmed(PQerrorMessage(conn_)), dsn);
    close();
    throw connection_error("aw::pg::connect: " + msg + " (connecting with \"" + redact_credentials(dsn) + "\")");
  };
  auto timed_out = [&](std::chrono::milliseconds after) {
    close();
    throw connect_timeout_error("aw::pg::connect: the server did not answer within " + std::to_string(after.count()) +
                                " ms (connecting with \"" + redact_credentials(dsn) + "\")");
  };
  if (PQstatus(conn_) == CONNECTION_BAD) fail();
  // libpq enforces no timeout in non-blocking mode (PQconnectPoll): the loop does. The DSN's
  // connect_timeout bounds each host or address libpq tries (it moves on by itself from one
  // that refuses or fails; the time restarts with each new socket). One that accepts and
  // then stays silent ends the attempt: libpq cannot be told to give up on it for the next.
  const std::chrono::milliseconds per_attempt = dsn_connect_timeout(conn_);
  auto attempt_deadline = per_attempt.count() > 0 ? aw::now() + per_attempt : clock::time_point::max();
  int attempt_socket = PQsocket(conn_);
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) fail();
    // The socket may change while connecting (another address, SSL retry): ask each time.
    const std::uint32_t events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const auto wake = std::min(deadline, attempt_deadline);
    if (wake == clock::time_point::max()) {
      co_await socket_wait(*this, events);
    } else {
      cancel_scope scope(wake);
      co_await async_with(scope, [&](cancel_scope&) -> task<> { co_await socket_wait(*this, events); });
      if (scope.cancelled_caught()) timed_out(aw::now() >= deadline ? opts_.connect_timeout : per_attempt);
    }
    st = PQconnectPoll(conn_);
    if (per_attempt.count() > 0 && PQsocket(conn_) != attempt_socket) {
      attempt_socket = PQsocket(conn_);
      attempt_deadline = aw::now() + per_attempt;
    }
  }
  if (PQsetnonblocking(conn_, 1) != 0) fail();
  broken_ = false;
}

std::uint64_t connection::add_log_listener(log_listener f) {
  wire_->log_listeners_.emplace_back(++wire_->next_log_listener_, std::move(f));
  return wire_->next_log_listener_;
}

void connection::remove_log_listener(std::uint64_t id) noexcept {
  std::erase_if(wire_->log_listeners_, [id](const auto& l) { return l.first == id; });
}

void wire::notice_received(void* self, const PGresult* r) noexcept {
  auto& w = *static_cast<wire*>(self);
  try {
    error_fields f = fields_of(r);
    if (aw::debug_enabled())
      std::fprintf(stderr, "aw: aw::pg: the server says %s: %s (SQLSTATE %s)\n", f.severity.c_str(), f.message.c_str(), f.sqlstate.c_str());
    if (w.log_listeners_.empty()) return;
    // A copy: a listener may add or remove listeners.
    auto listeners = w.log_listeners_;
    for (auto& [id, fn] : listeners) {
      try {
        fn(w.owner_, f);
      } catch (...) {
      }
    }
  } catch (...) {  // out of memory: the message is lost
  }
}

bool wire::is_clean() const noexcept { return conn_ && PQtransactionStatus(conn_) == PQTRANS_IDLE && !dirty_ && inflight_.empty(); }

task<> wire::reset() {
  if (is_closed()) co_return;
  // Alone first: with statements in flight (abandoned ones, say) the status reads active.
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) co_await simple_query_held("ROLLBACK");
  if (dirty_) {
    co_await simple_query_held("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL");
    // Notifications the last borrower received and did not read are not the next one's.
    while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
    dirty_ = false;
  }
}

context_manager<connection> connect(std::string dsn, connection_options o) {
  connection c(o);
  co_await c.open(std::move(dsn));
  co_yield c;
}

}  // namespace aw::pg
