// aw::pg::connection: libpq in non-blocking mode, driven by the loop's fd waits.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/debug.hpp>
#include <aw/pg/connection.hpp>
#include <aw/pg/cursor.hpp>
#include <aw/pg/prepared_statement.hpp>
#include <aw/redact.hpp>
#include <aw/to_thread.hpp>

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace aw::pg {

namespace {

error_fields fields_of(const PGresult* r) {
  auto get = [&](int code) {
    const char* v = PQresultErrorField(r, code);
    return std::string(v ? v : "");
  };
  error_fields f;
  f.sqlstate = get(PG_DIAG_SQLSTATE);
  f.severity = get(PG_DIAG_SEVERITY_NONLOCALIZED);
  f.message = get(PG_DIAG_MESSAGE_PRIMARY);
  if (f.message.empty()) f.message = PQresultErrorMessage(r);
  f.detail = get(PG_DIAG_MESSAGE_DETAIL);
  f.hint = get(PG_DIAG_MESSAGE_HINT);
  f.context = get(PG_DIAG_CONTEXT);
  f.schema_name = get(PG_DIAG_SCHEMA_NAME);
  f.table_name = get(PG_DIAG_TABLE_NAME);
  f.column_name = get(PG_DIAG_COLUMN_NAME);
  f.data_type_name = get(PG_DIAG_DATATYPE_NAME);
  f.constraint_name = get(PG_DIAG_CONSTRAINT_NAME);
  std::string pos = get(PG_DIAG_STATEMENT_POSITION);
  f.position = pos.empty() ? 0 : std::atoi(pos.c_str());
  return f;
}

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Command tags that leave no session state behind (a pool need not reset after them).
bool stateless_tag(const char* tag) noexcept {
  static constexpr const char* ok[] = {"SELECT", "INSERT", "UPDATE",   "DELETE",    "MERGE",   "COPY",  "FETCH", "MOVE",
                                       "BEGIN",  "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "SHOW",  ""};
  for (const char* k : ok) {
    std::size_t n = std::strlen(k);
    if (std::strncmp(tag, k, n) == 0 && (tag[n] == '\0' || tag[n] == ' ')) return true;
  }
  return false;
}

struct result_guard {
  PGresult* r;
  ~result_guard() {
    if (r) PQclear(r);
  }
};

}  // namespace

// The highest $n a statement refers to, outside string literals (E'' escapes, dollar
// quoting), quoted identifiers and comments: a statement given more arguments than that
// would run with the extra ones ignored.
int detail::highest_placeholder(std::string_view s) noexcept {
  auto word = [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '$' ||
           static_cast<unsigned char>(ch) >= 0x80;
  };
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  int highest = 0;
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const char ch = s[i];
    if (ch == '\'') {
      const bool escapes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !word(s[i - 2]));
      for (++i; i < n; ++i) {
        if (escapes && s[i] == '\\') {
          ++i;
        } else if (s[i] == '\'') {
          if (i + 1 < n && s[i + 1] == '\'') {
            ++i;
          } else {
            ++i;
            break;
          }
        }
      }
    } else if (ch == '"') {
      for (++i; i < n; ++i)
        if (s[i] == '"') {
          if (i + 1 < n && s[i + 1] == '"') {
            ++i;
          } else {
            ++i;
            break;
          }
        }
    } else if (ch == '-' && i + 1 < n && s[i + 1] == '-') {
      i = s.find('\n', i);
      if (i == std::string_view::npos) break;
    } else if (ch == '/' && i + 1 < n && s[i + 1] == '*') {  // block comments nest
      int depth = 0;
      while (i < n) {
        if (s.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (s.substr(i, 2) == "*/") {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else if (ch == '$' && !(i > 0 && word(s[i - 1]))) {
      std::size_t j = i + 1;
      if (j < n && digit(s[j])) {
        long v = 0;
        while (j < n && digit(s[j])) {
          if (v < 1000000) v = v * 10 + (s[j] - '0');
          ++j;
        }
        highest = std::max(highest, static_cast<int>(v));
        i = j;
        continue;
      }
      while (j < n && word(s[j]) && s[j] != '$') ++j;
      if (j < n && s[j] == '$') {  // $tag$ ... $tag$
        const std::string_view tag = s.substr(i, j - i + 1);
        const std::size_t end = s.find(tag, j + 1);
        i = end == std::string_view::npos ? n : end + tag.size();
        continue;
      }
      ++i;
    } else {
      ++i;
    }
  }
  return highest;
}

void detail::check_argument_count(std::string_view sql, int takes, int given) {
  if (given > takes)
    throw interface_error("aw::pg: the statement takes " + std::to_string(takes) + " arguments, " + std::to_string(given) + " given (" +
                          std::string(sql) + ")");
}

// PostgreSQL reads a statement's text up to a NUL: what follows one would be dropped.
void detail::check_sql(std::string_view sql) {
  if (auto nul = sql.find('\0'); nul != std::string_view::npos)
    throw interface_error("aw::pg: the statement holds a NUL byte at offset " + std::to_string(nul) + ", where PostgreSQL would end it (" +
                          std::string(sql.substr(0, nul)) + ")");
}

connection::connection(connection_options o) : opts_(o) {}
connection::~connection() { finish_close(); }

void connection::close() noexcept {
  if (!inflight_.empty()) fail_pipeline(std::make_exception_ptr(connection_lost("aw::pg: the connection was closed")));
  if (conn_ && socket_waits_ > 0) {
    if (!close_pending_) {  // wake them (socket_wait): readable and writable from now on
      close_pending_ = true;
      ::shutdown(PQsocket(conn_), SHUT_RDWR);
    }
    return;
  }
  finish_close();
}

int connection::PQsocket_of(const connection& c) noexcept { return PQsocket(c.conn_); }

void connection::finish_close() noexcept {
  close_pending_ = false;
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  ++tx_epoch_;  // the portals went with the session
  closing_.clear();
  for (aw::pg::cursor* c : cursors_) c->conn_ = nullptr;
  cursors_.clear();
  cache_.clear();
  lru_.clear();
  evicted_.clear();
}
bool connection::is_closed() const noexcept { return !conn_ || close_pending_ || PQstatus(conn_) == CONNECTION_BAD; }
int connection::backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_) : 0; }
bool connection::in_transaction() const noexcept {
  if (!conn_) return false;
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}
bool connection::probe() noexcept {
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
std::string connection::server_parameter(const char* name) const {
  const char* v = conn_ ? PQparameterStatus(conn_, name) : nullptr;
  return v ? v : "";
}

void connection::check_open() const {
  if (!conn_ || close_pending_) throw interface_error("aw::pg::connection: the connection is closed");
  if (PQstatus(conn_) == CONNECTION_BAD) throw connection_lost("aw::pg::connection: the connection was lost earlier");
}

void connection::throw_lost(const char* what) {
  std::string msg = std::string("aw::pg: ") + what + ": " + trimmed(PQerrorMessage(conn_));
  broken_ = true;
  throw connection_lost(msg);
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

task<> connection::open(std::string dsn) {
  if (conn_) throw interface_error("aw::pg::connection::open: already open");
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {dsn.c_str(), "asyncwith", nullptr};
  conn_ = PQconnectStartParams(keys, values, 1);
  if (!conn_) throw std::bad_alloc();
  // Instead of libpq's default, which prints to stderr.
  PQsetNoticeReceiver(conn_, &connection::notice_received, this);
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
  const auto start = clock::now();
  const auto deadline = opts_.connect_timeout.count() > 0 ? start + opts_.connect_timeout : clock::time_point::max();
  auto attempt_deadline = per_attempt.count() > 0 ? start + per_attempt : clock::time_point::max();
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
      if (scope.cancelled_caught()) timed_out(clock::now() >= deadline ? opts_.connect_timeout : per_attempt);
    }
    st = PQconnectPoll(conn_);
    if (per_attempt.count() > 0 && PQsocket(conn_) != attempt_socket) {
      attempt_socket = PQsocket(conn_);
      attempt_deadline = clock::now() + per_attempt;
    }
  }
  if (PQsetnonblocking(conn_, 1) != 0) fail();
  broken_ = false;
}

std::uint64_t connection::add_log_listener(log_listener f) {
  log_listeners_.emplace_back(++next_log_listener_, std::move(f));
  return next_log_listener_;
}

void connection::remove_log_listener(std::uint64_t id) noexcept {
  std::erase_if(log_listeners_, [id](const auto& l) { return l.first == id; });
}

void connection::notice_received(void* self, const PGresult* r) noexcept {
  auto& c = *static_cast<connection*>(self);
  try {
    error_fields f = fields_of(r);
    if (aw::debug_enabled())
      std::fprintf(stderr, "aw: aw::pg: the server says %s: %s (SQLSTATE %s)\n", f.severity.c_str(), f.message.c_str(), f.sqlstate.c_str());
    if (c.log_listeners_.empty()) return;
    // A copy: a listener may add or remove listeners.
    auto listeners = c.log_listeners_;
    for (auto& [id, fn] : listeners) {
      try {
        fn(c, f);
      } catch (...) {
      }
    }
  } catch (...) {  // out of memory: the message is lost
  }
}

task<> connection::flush() {
  for (;;) {
    int r = PQflush(conn_);
    if (r == 0) co_return;
    if (r < 0) throw_lost("sending");
    // Read while waiting to write: the server may be blocked writing to us (results of
    // pipelined statements nobody reads yet) and then reads nothing until we do.
    co_await socket_wait(*this, POLLIN | POLLOUT);
    if (!PQconsumeInput(conn_)) throw_lost("receiving");
  }
}

// Waits until libpq has a whole result (or the end of one) to give, sending what it still
// holds on the way (a pipelined statement whose sender was interrupted mid-send).
task<> connection::await_input() {
  while (PQisBusy(conn_)) {
    const int pending = PQflush(conn_);
    if (pending < 0) throw_lost("sending");
    if (pending)
      co_await socket_wait(*this, POLLIN | POLLOUT);
    else
      co_await socket_wait(*this, POLLIN);
    if (!PQconsumeInput(conn_)) throw_lost("receiving");
  }
}

// Waits for the results of the command sent last; gives the last result, raises the first
// error after all results are in (so the connection is ready for the next command).
task<result> connection::collect() {
  co_await flush();
  result last;
  PGresult* failed = nullptr;
  result_guard failed_guard{nullptr};
  for (;;) {
    if (PQisBusy(conn_)) co_await await_input();
    PGresult* r = PQgetResult(conn_);
    if (!r) break;
    switch (PQresultStatus(r)) {
      case PGRES_TUPLES_OK:
      case PGRES_COMMAND_OK:
      case PGRES_EMPTY_QUERY:
        note_status(PQcmdStatus(r));
        last = result(r);
        break;
      case PGRES_COPY_IN:
        PQclear(r);
        PQputCopyEnd(conn_, "aw::pg: COPY FROM STDIN is not supported by execute()");
        co_await flush();
        break;
      case PGRES_COPY_OUT: {
        PQclear(r);
        char* buf = nullptr;
        for (;;) {  // read the data out and drop it
          int n = PQgetCopyData(conn_, &buf, 1);
          if (n > 0) {
            PQfreemem(buf);
          } else if (n == 0) {
            co_await socket_wait(*this, POLLIN);
            if (!PQconsumeInput(conn_)) throw_lost("receiving");
          } else {
            break;
          }
        }
        break;
      }
      default:
        if (!failed) {
          failed = r;
          failed_guard.r = r;
        } else {
          PQclear(r);
        }
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    broken_ = true;
    std::string msg = failed ? trimmed(PQresultErrorMessage(failed)) : trimmed(PQerrorMessage(conn_));
    throw connection_lost("aw::pg: the connection was lost: " + msg);
  }
  if (failed) throw_error(fields_of(failed));
  co_return last;
}

void connection::note_status(const char* tag) noexcept {
  ++queries_;
  // The tags of most statements, decided without the comparisons below.
  if (std::strncmp(tag, "SELECT", 6) == 0 || std::strncmp(tag, "INSERT", 6) == 0) return;
  // The end of a transaction, a rollback to a savepoint, CLOSE and DISCARD may take
  // cursors with them: a cursor declared before must not send CLOSE any more (CLOSE of a
  // portal that is gone is an error, which would abort the transaction).
  if (std::strncmp(tag, "COMMIT", 6) == 0 || std::strncmp(tag, "ROLLBACK", 8) == 0 || std::strncmp(tag, "CLOSE", 5) == 0 ||
      std::strncmp(tag, "DISCARD", 7) == 0 || std::strncmp(tag, "PREPARE TRANSACTION", 19) == 0)
    ++tx_epoch_;
  if (!stateless_tag(tag)) {
    dirty_ = true;
    if (std::strcmp(tag, "DEALLOCATE ALL") == 0 || std::strcmp(tag, "DISCARD ALL") == 0) {
      cache_.clear();  // the server forgot our statements
      lru_.clear();
      evicted_.clear();
    }
  }
}

// libpq's cancel request for what the server runs now, sent from a worker thread (PQcancel
// blocks). A failure to send shows up as the caller's drain timing out.
task<> connection::send_cancel_request() {
  // Owned by the job: freed even if the job never runs (the caller's deadline passed first).
  std::shared_ptr<PGcancel> c(PQgetCancel(conn_), PQfreeCancel);
  if (!c) co_return;
  // Named, not a temporary in the co_await: g++ 12 destroys a closure temporary that
  // captures a shared_ptr twice (README, "Known compiler bugs").
  auto send = [c] {
    char err[256];
    PQcancel(c.get(), err, sizeof err);
  };
  co_await to_thread(std::move(send));
}

// Cancels the running command on the server and reads its results, shielded, within
// cancel_timeout; closes the connection if the server does not give it back in time.
task<> connection::cancel_and_drain() {
  if (is_closed()) co_return;
  bool drained = false;
  cancel_scope scope(clock::now() + opts_.cancel_timeout, true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> {
    if (PQisBusy(conn_) || PQtransactionStatus(conn_) == PQTRANS_ACTIVE) {
      co_await send_cancel_request();
    }
    try {
      (void)co_await collect();
    } catch (const aw::cancelled&) {
      throw;
    } catch (...) {  // the command's own error (57014, query_canceled): expected
    }
    drained = true;
  });
  if (!drained) {
    broken_ = true;
    close();
  }
}

task<std::string> connection::simple_query(std::string_view sql) {
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  co_return co_await simple_query_held(sql);
}

// simple_query with busy_ held by the caller (acquire_exclusive).
task<std::string> connection::simple_query_held(std::string_view sql) {
  check_open();
  detail::check_sql(sql);
  std::string text(sql);
  std::exception_ptr cancel;
  try {
    if (!closing_.empty()) co_await close_cursors();
    if (!PQsendQuery(conn_, text.c_str())) throw_lost("sending the query");
    result r = co_await collect();
    co_return std::string(r.status());
  } catch (const aw::cancelled&) {
    cancel = std::current_exception();
  }
  co_await cancel_and_drain();
  std::rethrow_exception(cancel);
}

task<> connection::deallocate_evicted() {
  std::vector<std::string> names = std::move(evicted_);
  evicted_.clear();
  std::string sql;
  for (auto& n : names) sql += "DEALLOCATE " + n + ";";
  if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
  try {
    (void)co_await collect();
  } catch (const error&) {  // already gone (a DEALLOCATE the cache did not see): nothing to free
  }
}

// The statement cache's path, and a prepared statement's (`named`): both are sent by name
// (or, with the cache off, as text), alone or pipelined behind what is in flight.
task<result> connection::query(std::string_view sql, detail::encoder enc, prepared_statement* named) {
  if (!named) detail::check_sql(sql);
  for (int attempt = 0;; ++attempt) {
    pipelined op;
    std::string name;  // the statement sent (a stale one is forgotten by name)
    co_await busy_.acquire();
    {
      busy_hold g{&busy_};
      check_open();
      params_.clear();
      enc.fn(enc.args, params_);
      params_.finish();
      if (named) check_arguments(*named);
      const bool cached = !named && opts_.statement_cache_size != 0;
      const statement* st = nullptr;
      if (cached) {
        make_key(sql);
        st = prepared(key_);
      }
      if ((cached && !st) || (named && named->name_.empty()) || !closing_.empty()) {
        // Preparing (and closing dropped cursors) needs the session to itself.
        co_await drain_pipeline();
        std::exception_ptr cancel;
        try {
          if (!closing_.empty()) co_await close_cursors();
          if (cached) st = co_await prepare_cached(sql);
          if (named && named->name_.empty()) co_await prepare_named(*named);
        } catch (const aw::cancelled&) {
          cancel = std::current_exception();
        }
        if (cancel) {
          co_await cancel_and_drain();
          std::rethrow_exception(cancel);
        }
      }
      // Alone on the connection (nothing in flight, nobody waiting to send), the statement
      // is not pipelined: pipeline mode costs a result object and bookkeeping per statement,
      // about 15% of a short query's client time. Tasks that come meanwhile wait, and are
      // pipelined behind each other once it is done.
      const bool alone = inflight_.empty() && busy_.tasks_waiting() == 0;
      const int mode = PQpipelineStatus(conn_);
      if (alone ? mode != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn_) : mode == PQ_PIPELINE_OFF && !PQenterPipelineMode(conn_))
        throw interface_error("aw::pg: cannot switch pipeline mode: " + trimmed(PQerrorMessage(conn_)));
      if (st) detail::check_argument_count(sql, st->params, params_.size());
      if (!named && !st) detail::check_argument_count(sql, detail::highest_placeholder(sql), params_.size());
      int sent;
      if (named || st) {
        name = named ? named->name_ : st->name;
        sent = PQsendQueryPrepared(conn_, name.c_str(), params_.size(), params_.values(), params_.lengths(), params_.formats(), 1);
      } else {
        std::string text(sql);
        sent = PQsendQueryParams(conn_, text.c_str(), params_.size(), params_.types(), params_.values(), params_.lengths(),
                                 params_.formats(), 1);
      }
      if (alone) {
        if (!sent) throw_lost("sending the query");
        std::exception_ptr cancel;
        try {
          op.res = co_await collect();
        } catch (const aw::cancelled&) {
          cancel = std::current_exception();
        } catch (...) {
          op.error = std::current_exception();
        }
        if (cancel) {
          co_await cancel_and_drain();
          std::rethrow_exception(cancel);
        }
        op.done = true;
      } else {
        // A Sync per statement: an error ends only its own implicit transaction.
        if (!sent || !PQpipelineSync(conn_)) throw_lost("sending the query");
        inflight_.push_back(&op);
        if (!reading_) pass_turn();
      }
    }  // the next task may send its statement before our results arrive
    if (!op.done) co_await await_pipelined(op);
    if (op.error) {
      try {
        std::rethrow_exception(op.error);
      } catch (const invalid_cached_statement&) {
        // The schema changed under the statement: forget it (unless a task that failed the
        // same way prepared it again already); outside a transaction, retry once.
        if (named) {
          if (named->conn_ == this && named->name_ == name) {
            evicted_.push_back(std::move(named->name_));
            named->name_.clear();
          }
        } else {
          for (auto it = cache_.begin(); it != cache_.end(); ++it)
            if (it->second.name == name) {
              evicted_.push_back(std::move(it->second.name));
              lru_.erase(it->second.lru);
              cache_.erase(it);
              break;
            }
        }
        if (attempt > 0 || in_transaction()) throw;
        continue;
      }
    }
    co_return std::move(op.res);
  }
}

// ---------------------------------------------------------------------------------------
// Pipelining. Statements sent in pipeline mode wait in inflight_ for their results, which
// arrive in order. One task reads at a time (reading_): the first live statement's task,
// which first drops the results of abandoned statements ahead of it; when done it passes
// the turn to the next live one. An exclusive operation (acquire_exclusive) holds busy_, so
// nothing more is sent, waits for the live statements to be read, drops the abandoned
// ones' results itself and leaves pipeline mode.

// Waits for (or reads) the results of `op`, sent and queued in inflight_.
task<> connection::await_pipelined(pipelined& op) {
  std::exception_ptr interrupted;
  try {
    if (PQflush(conn_) != 0) co_await flush();
    co_await op.turn.wait();
    if (!op.done) {  // our turn to read
      AW_ASSERT(reading_, "the task given the turn to read the pipeline holds reading_");
      while (inflight_.front() != &op) co_await read_front(nullptr);
      co_await read_front(&op);
      pass_turn();
    }
  } catch (...) {
    interrupted = std::current_exception();
  }
  if (interrupted) {
    co_await interrupted_pipelined(op, interrupted);
    std::rethrow_exception(interrupted);
  }
}

// Reads the results of the statement at the head of the pipeline up to its Sync, into
// `into` (nullptr: dropped), and removes it. Interrupted, it can be resumed by the next
// reader: what is left of the statement's results is read off then.
task<> connection::read_front(pipelined* into) {
  PGresult* failed = nullptr;
  result_guard failed_guard{nullptr};
  for (;;) {
    if (PQisBusy(conn_)) co_await await_input();
    PGresult* r = PQgetResult(conn_);
    if (!r) {  // the end of the statement's results; its Sync comes next
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("receiving");
      continue;
    }
    const auto status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
      note_status(PQcmdStatus(r));
      if (into)
        into->res = result(r);
      else
        PQclear(r);
    } else if (!failed) {
      failed = failed_guard.r = r;
    } else {
      PQclear(r);
    }
  }
  AW_ASSERT(!inflight_.empty() && (!into || inflight_.front() == into), "read_front reads the statement at the pipeline's head");
  inflight_.pop_front();
  if (!into) co_return;
  if (failed) {
    try {
      throw_error(fields_of(failed));
    } catch (...) {
      into->error = std::current_exception();
    }
  }
  into->done = true;
  into->turn.set();
}

// Gives the turn to read to the first live statement in the pipeline, or, when there is
// none, wakes the exclusive operation waiting for the pipeline to empty.
void connection::pass_turn() noexcept {
  reading_ = false;
  for (pipelined* p : inflight_)
    if (p) {
      reading_ = true;
      p->turn.set();
      return;
    }
  if (drained_) std::exchange(drained_, nullptr)->set();
}

// The connection failed under the pipeline: every statement in it gets `e`.
void connection::fail_pipeline(std::exception_ptr e) noexcept {
  for (pipelined* p : inflight_)
    if (p && !p->done) {
      p->error = e;
      p->done = true;
      p->turn.set();
    }
  inflight_.clear();
  reading_ = false;
  if (drained_) std::exchange(drained_, nullptr)->set();
}

// `op`'s task was cancelled (or the connection failed) after `op` was sent.
task<> connection::interrupted_pipelined(pipelined& op, std::exception_ptr e) {
  if (op.done) co_return;  // its results are in: nothing of ours is left in the pipeline
  auto it = std::find(inflight_.begin(), inflight_.end(), &op);
  if (it == inflight_.end()) co_return;
  const bool reader = op.turn.is_set();
  if (!is_cancellation(e)) {  // the connection was lost
    if (reader || !reading_)
      fail_pipeline(e);
    else
      *it = nullptr;  // the reader meets the same failure and fails the rest
    co_return;
  }
  if (!reader || std::any_of(std::next(it), inflight_.end(), [](pipelined* p) { return p != nullptr; })) {
    // Not at the head, or someone waits behind: a cancel request could hit a statement
    // that is not ours. Abandoned: it runs, and the next reader drops its results.
    *it = nullptr;
    if (reader) pass_turn();
    co_return;
  }
  co_await cancel_pipelined(op);
}

// The reader's own statement, with nothing live behind it, is cancelled on the server (as
// cancel_and_drain does outside a pipeline): nothing more is sent until its results are
// read off, shielded, within cancel_timeout; else the connection is closed.
task<> connection::cancel_pipelined(pipelined& op) {
  bool drained = false;
  bool holding = false;
  std::exception_ptr lost;
  try {
    cancel_scope scope(clock::now() + opts_.cancel_timeout, true);
    co_await async_with(scope, [&](cancel_scope&) -> task<> {
      // busy_ taken (when free: a holder waits for this pipeline to drain and sends
      // nothing before) so that no statement is sent while the cancel request travels.
      if (busy_.value() > 0) {
        co_await busy_.acquire();
        holding = true;
      }
      co_await send_cancel_request();
      while (!inflight_.empty() && inflight_.front() != &op) co_await read_front(nullptr);
      if (!inflight_.empty()) co_await read_front(nullptr);  // ours: 57014 expected, dropped
      drained = true;
    });
  } catch (...) {
    lost = std::current_exception();
  }
  if (holding) busy_.release();
  if (drained) {
    pass_turn();
    co_return;
  }
  // Not given back in time (or lost meanwhile): nobody can use this connection any more.
  broken_ = true;
  fail_pipeline(lost ? lost
                     : std::make_exception_ptr(
                           connection_lost("aw::pg: the connection was closed: a cancelled statement did not end within cancel_timeout")));
  close();
}

// busy_, with the pipeline emptied and pipeline mode left: for what runs alone.
task<> connection::acquire_exclusive() {
  co_await busy_.acquire();
  if (inflight_.empty() && (!conn_ || PQpipelineStatus(conn_) == PQ_PIPELINE_OFF)) co_return;
  try {
    co_await drain_pipeline();
  } catch (...) {
    busy_.release();
    throw;
  }
}

// With busy_ held (nothing more is sent): waits until the live statements in flight are
// read, drops the abandoned ones' results, and leaves pipeline mode.
task<> connection::drain_pipeline() {
  while (!inflight_.empty()) {
    if (!reading_) {  // only abandoned statements are left (a live one would hold the turn)
      AW_ASSERT(std::all_of(inflight_.begin(), inflight_.end(), [](pipelined* p) { return !p; }),
                "no reader: every statement left is abandoned");
      reading_ = true;
      std::exception_ptr failed;
      try {
        while (!inflight_.empty()) co_await read_front(nullptr);
      } catch (...) {
        failed = std::current_exception();
      }
      reading_ = false;
      if (failed) {
        if (!is_cancellation(failed)) fail_pipeline(failed);
        std::rethrow_exception(failed);
      }
      break;
    }
    event drained;
    drained_ = &drained;
    try {
      co_await drained.wait();
    } catch (...) {
      if (drained_ == &drained) drained_ = nullptr;
      throw;
    }
  }
  if (conn_ && PQpipelineStatus(conn_) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn_))
    throw interface_error("aw::pg: cannot leave pipeline mode: " + trimmed(PQerrorMessage(conn_)));
}

void connection::make_key(std::string_view sql) {
  key_.assign(sql);
  key_.push_back('\0');
  key_.append(reinterpret_cast<const char*>(params_.types()), sizeof(oid) * static_cast<std::size_t>(params_.size()));
}

// The cached statement for `sql` with the parameter types in params_, prepared now if new.
task<const connection::statement*> connection::prepare_cached(std::string_view sql) {
  make_key(sql);
  if (const statement* st = prepared(key_)) co_return st;
  if (!evicted_.empty()) co_await deallocate_evicted();
  std::string name = "aw_s" + std::to_string(++next_statement_);
  std::string text(sql);
  if (!PQsendPrepare(conn_, name.c_str(), text.c_str(), params_.size(), params_.types())) throw_lost("sending the query");
  (void)co_await collect();
  lru_.push_front(key_);
  const statement* st = &cache_.emplace(key_, statement{std::move(name), lru_.begin(), detail::highest_placeholder(sql)}).first->second;
  if (cache_.size() > opts_.statement_cache_size) {
    std::string victim = lru_.back();
    evicted_.push_back(std::move(cache_.at(victim).name));
    cache_.erase(victim);
    lru_.pop_back();
  }
  co_return st;
}

const connection::statement* connection::prepared(const std::string& key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return nullptr;
  if (it->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

// executemany: one statement, prepared once, executed per row in pipeline mode (no round
// trip per row); one Sync at the end makes it all or nothing.
task<> connection::query_many(std::string_view sql, many_fn next, void* state) {
  detail::check_sql(sql);
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  check_open();
  std::exception_ptr cancel;
  std::exception_ptr failure;
  std::exception_ptr unsendable;
  try {
    if (!closing_.empty()) co_await close_cursors();
    // Prepared with the first row's types.
    params_.clear();
    if (!next(state, params_)) co_return;
    params_.finish();
    const statement* st = co_await prepare_cached(sql);
    detail::check_argument_count(sql, st->params, params_.size());
    std::string name = st->name;
    if (!PQenterPipelineMode(conn_)) throw interface_error("aw::pg: cannot enter pipeline mode");
    std::size_t in_flight = 0;
    bool more = true;
    auto read_results = [&](std::size_t until) -> task<> {
      // Reads whole query results until at most `until` are outstanding.
      while (in_flight > until) {
        co_await await_input();
        PGresult* r = PQgetResult(conn_);
        if (!r) {  // the end of one query's results
          --in_flight;
          continue;
        }
        auto s = PQresultStatus(r);
        if (s == PGRES_FATAL_ERROR && !failure) {
          try {
            throw_error(fields_of(r));
          } catch (...) {
            failure = std::current_exception();
          }
        } else if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
          ++queries_;
        }
        PQclear(r);
      }
    };
    while (more) {
      if (!PQsendQueryPrepared(conn_, name.c_str(), params_.size(), params_.values(), params_.lengths(), params_.formats(), 0))
        throw_lost("sending the query");
      ++in_flight;
      params_.clear();
      try {
        more = next(state, params_);
      } catch (...) {
        // A row that cannot be sent (a string holding NUL) after rows that were, without
        // their Sync: a statement the server refuses fails the implicit transaction, so the
        // Sync rolls them back (all or nothing), and the connection is read back to idle.
        unsendable = std::current_exception();
        more = false;
        if (!PQsendQueryParams(conn_, "aw_executemany_row_not_sent", 0, nullptr, nullptr, nullptr, nullptr, 0))
          throw_lost("sending the query");
        ++in_flight;
      }
      if (more) params_.finish();
      // Bound what is in flight so neither side's socket buffer fills while the other waits.
      if (in_flight >= 4096 || !more) {
        if (!more) {
          if (!PQpipelineSync(conn_)) throw_lost("sending the query");
        } else {
          if (!PQsendFlushRequest(conn_)) throw_lost("sending the query");
        }
        co_await flush();
        co_await read_results(more ? 2048 : 0);
      }
    }
    // The Sync's own result.
    for (;;) {
      co_await await_input();
      PGresult* r = PQgetResult(conn_);
      if (!r) continue;
      bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
      PQclear(r);
      if (sync) break;
    }
    PQexitPipelineMode(conn_);
  } catch (...) {
    cancel = std::current_exception();  // a cancellation, or a lost connection
  }
  if (cancel) {
    // Interrupted mid-pipeline, the connection's state is not worth recovering: close it.
    // The rows sent so far are rolled back by the server (nothing was synced).
    if (conn_ && PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) {
      broken_ = true;
      close();
    } else if (is_cancellation(cancel)) {
      co_await cancel_and_drain();  // cancelled while preparing
    }
    std::rethrow_exception(cancel);
  }
  if (unsendable) std::rethrow_exception(unsendable);
  if (failure) std::rethrow_exception(failure);
}

// A statement outside the statement cache (DECLARE, FETCH, the COPY helpers), binary results.
task<result> connection::query_unprepared(std::string sql, detail::params* p) {
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  co_return co_await query_unprepared_held(std::move(sql), p);
}

// The same with busy_ held by the caller, the pipeline drained (so the transaction status
// is the session's, not PQTRANS_ACTIVE for statements in flight).
task<result> connection::query_unprepared_held(std::string sql, detail::params* p) {
  check_open();
  detail::check_sql(sql);
  if (p) detail::check_argument_count(sql, detail::highest_placeholder(sql), p->size());
  std::exception_ptr cancel;
  try {
    if (!closing_.empty()) co_await close_cursors();
    if (p) p->finish();
    if (!PQsendQueryParams(conn_, sql.c_str(), p ? p->size() : 0, p ? p->types() : nullptr, p ? p->values() : nullptr,
                           p ? p->lengths() : nullptr, p ? p->formats() : nullptr, 1))
      throw_lost("sending the query");
    co_return co_await collect();
  } catch (const aw::cancelled&) {
    cancel = std::current_exception();
  }
  co_await cancel_and_drain();
  std::rethrow_exception(cancel);
}

// CLOSE for the cursors dropped without a close() since the last statement, when their
// transaction is still the one open (else the portal is gone already). Failures are
// ignored: the portal is gone either way.
task<> connection::close_cursors() {
  std::string sql;
  for (auto& [name, epoch] : closing_)
    if (epoch == tx_epoch_) sql += "CLOSE " + name + ";";
  closing_.clear();
  if (sql.empty() || PQtransactionStatus(conn_) != PQTRANS_INTRANS) co_return;
  if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
  try {
    (void)co_await collect();
  } catch (const error&) {
  }
}

// Waits for the server to enter the COPY state `want` (PGRES_COPY_IN or PGRES_COPY_OUT)
// after a COPY statement was sent; raises the statement's error instead if it failed.
task<> connection::begin_copy(int want) {
  co_await flush();
  for (;;) {
    co_await await_input();
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("receiving");
      throw interface_error("aw::pg: the server did not start the COPY");
    }
    const int s = PQresultStatus(r);
    if (s == want) {
      PQclear(r);
      co_return;
    }
    if (s == PGRES_FATAL_ERROR) {
      error_fields f = fields_of(r);
      PQclear(r);
      (void)co_await collect();  // the end of the statement's results
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("receiving");
      throw_error(std::move(f));
    }
    PQclear(r);
  }
}

// Queues COPY data, waiting for the socket while libpq's buffer is full.
task<> connection::put_copy(std::string_view data) {
  for (;;) {
    int r = PQputCopyData(conn_, data.data(), static_cast<int>(data.size()));
    if (r == 1) break;
    if (r < 0) {
      // The server ended the COPY early (an error it reports once we read the results).
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("sending COPY data");
      (void)co_await collect();
      throw interface_error("aw::pg: the server ended the COPY early: " + trimmed(PQerrorMessage(conn_)));
    }
    co_await flush();
  }
  if (PQflush(conn_) != 0) co_await flush();
}

// Ends a COPY FROM STDIN; the statement's results are read by the caller (collect()).
task<> connection::end_copy_in() {
  for (;;) {
    int r = PQputCopyEnd(conn_, nullptr);
    if (r == 1) break;
    if (r < 0) {
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("sending COPY data");
      co_return;  // the server ended it already: collect() gives its error
    }
    co_await flush();
  }
}

// Ends a COPY FROM STDIN with CopyFail (the server rolls the COPY back) and reads the
// results, shielded, within cancel_timeout; closes the connection if that does not work.
task<> connection::abort_copy_in(const char* why) {
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) co_return;
  bool drained = false;
  cancel_scope scope(clock::now() + opts_.cancel_timeout, true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> {
    int r = PQputCopyEnd(conn_, why);
    // The server may not be reading (busy with rows it has: a slow trigger, a lock) and
    // then would see the CopyFail only after it: interrupt it too, so it drops the rest
    // of our data and ends the COPY now. The cancel request is delivered before anything
    // else is sent, so it cannot reach a later statement (a cancel arriving while the
    // server waits for a command is ignored).
    co_await send_cancel_request();
    while (r == 0) {
      co_await flush();
      r = PQputCopyEnd(conn_, why);
    }
    try {
      (void)co_await collect();
    } catch (const aw::cancelled&) {
      throw;
    } catch (...) {  // the COPY's error: "COPY from stdin failed: <why>", or 57014
    }
    drained = true;
  });
  if (!drained || PQstatus(conn_) == CONNECTION_BAD) {
    broken_ = true;
    close();
  }
}

bool connection::is_clean() const noexcept { return conn_ && PQtransactionStatus(conn_) == PQTRANS_IDLE && !dirty_ && inflight_.empty(); }

task<> connection::reset() {
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

// ---------------------------------------------------------------------------------------
// Transactions.

task<transaction&> transaction::aenter() {
  enter_check_.entered();
  if (active_) throw interface_error("aw::pg::transaction: a transaction block can be entered once");
  // Alone on the connection before looking at its transaction status: statements still in
  // flight in the pipeline would show it as active.
  co_await conn_->acquire_exclusive();
  connection::busy_hold g{&conn_->busy_};
  if (conn_->in_transaction()) {
    savepoint_ = "aw_sp_" + std::to_string(++conn_->next_savepoint_);
    std::string sql = "SAVEPOINT " + savepoint_;
    co_await conn_->simple_query_held(sql);
  } else {
    std::string sql = "BEGIN";
    switch (opts_.level) {
      case isolation::default_level:
        break;
      case isolation::read_committed:
        sql += " ISOLATION LEVEL READ COMMITTED";
        break;
      case isolation::repeatable_read:
        sql += " ISOLATION LEVEL REPEATABLE READ";
        break;
      case isolation::serializable:
        sql += " ISOLATION LEVEL SERIALIZABLE";
        break;
    }
    if (opts_.read_only) sql += " READ ONLY";
    if (opts_.deferrable) sql += " DEFERRABLE";
    co_await conn_->simple_query_held(sql);
  }
  active_ = true;
  co_return *this;
}

task<> transaction::aexit(std::exception_ptr e) {
  active_ = false;
  if (e && conn_->is_closed()) co_return;  // nothing to roll back on a lost connection; the body's error stands
  co_await conn_->acquire_exclusive();     // the statements in flight decide whether the transaction failed
  connection::busy_hold g{&conn_->busy_};
  const bool failed = conn_->conn_ && PQtransactionStatus(conn_->conn_) == PQTRANS_INERROR;
  // Named strings, not temporaries in the co_await expressions: g++ 12 destroys a
  // temporary of a conditional expression inside co_await twice.
  std::string sql;
  if (!e && !failed)
    sql = savepoint_.empty() ? "COMMIT" : "RELEASE SAVEPOINT " + savepoint_;
  else
    sql = savepoint_.empty() ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT " + savepoint_ + "; RELEASE SAVEPOINT " + savepoint_;
  co_await conn_->simple_query_held(sql);
  if (!e && !failed) co_return;
  if (!e)
    throw interface_error(
        "aw::pg::transaction: a statement in the block failed and its error was caught; the transaction was rolled back, not "
        "committed");
}

context_manager<connection> connect(std::string dsn, connection_options o) {
  connection c(o);
  co_await c.open(std::move(dsn));
  co_yield c;
}

}  // namespace aw::pg
