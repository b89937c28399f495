// aw::pg's wire (wire.hpp): sending a statement and reading its results, the server's
// cancel, the statement cache's path and the pipeline's sender, closing.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/pg/cursor.hpp>
#include <aw/pg/prepared_statement.hpp>
#include <aw/to_thread.hpp>

#include "wire.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace aw::pg::detail {

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

namespace {
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
}  // namespace

wire::wire(connection& owner, connection_options o) : owner_(owner), opts_(o), cache_(o.statement_cache_size) {}
wire::~wire() { finish_close(); }

void wire::close() noexcept {
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

void wire::finish_close() noexcept {
  close_pending_ = false;
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  ++tx_epoch_;  // the portals went with the session
  closing_.clear();
  for (aw::pg::cursor* c : cursors_) c->conn_ = nullptr;
  cursors_.clear();
  cache_.clear();
}

bool wire::is_closed() const noexcept { return !conn_ || close_pending_ || PQstatus(conn_) == CONNECTION_BAD; }
bool wire::in_transaction() const noexcept {
  if (!conn_) return false;
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void wire::check_open() const {
  if (!conn_ || close_pending_) throw interface_error("aw::pg::connection: the connection is closed");
  if (PQstatus(conn_) == CONNECTION_BAD) throw connection_lost("aw::pg::connection: the connection was lost earlier");
}

void wire::throw_lost(const char* what) {
  std::string msg = std::string("aw::pg: ") + what + ": " + trimmed(PQerrorMessage(conn_));
  broken_ = true;
  throw connection_lost(msg);
}

task<> wire::flush() {
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
task<> wire::await_input() {
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
task<result> wire::collect() {
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

void wire::note_status(const char* tag) noexcept {
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
    }
  }
}

// libpq's cancel request for what the server runs now, sent from a worker thread (PQcancel
// blocks). A failure to send shows up as the caller's drain timing out.
task<> wire::send_cancel_request() {
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
task<> wire::cancel_and_drain() {
  if (is_closed()) co_return;
  bool drained = false;
  cancel_scope scope(aw::now() + opts_.cancel_timeout, true);
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

std::string trace_label(std::string_view sql) {
  std::string l = "PostgreSQL query ";
  const std::size_t start = l.size();
  bool space = false;
  for (char c : sql) {
    const bool blank = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (blank) {
      space = l.size() > start;
      continue;
    }
    if (l.size() - start >= 60) {
      l += "...";
      break;
    }
    if (space) l += ' ';
    space = false;
    l += c;
  }
  return l;
}

task<std::string> wire::simple_query(std::string_view sql) {
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  co_return co_await simple_query_held(sql);
}

// simple_query with busy_ held by the caller (acquire_exclusive).
task<std::string> wire::simple_query_held(std::string_view sql) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
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

// The statement cache's path, and a prepared statement's (`named`): both are sent by name
// (or, with the cache off, as text), alone or pipelined behind what is in flight.
task<result> wire::query(std::string_view sql, detail::encoder enc, prepared_statement* named) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
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
      const bool cached = !named && cache_.enabled();
      const statement* st = cached ? cache_.find(sql, params_) : nullptr;
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
          if (named->conn_ == &owner_ && named->name_ == name) {
            cache_.deallocate_later(std::move(named->name_));
            named->name_.clear();
          }
        } else {
          cache_.forget(name);
        }
        if (attempt > 0 || in_transaction()) throw;
        continue;
      }
    }
    if (!knows_types(op.res.native())) co_await look_up_types(op.res);
    co_return std::move(op.res);
  }
}

// A statement outside the statement cache (DECLARE, FETCH, the COPY helpers), binary results.
task<result> wire::query_unprepared(std::string sql, detail::params* p) {
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  co_return co_await query_unprepared_held(std::move(sql), p);
}

// The same with busy_ held by the caller, the pipeline drained (so the transaction status
// is the session's, not PQTRANS_ACTIVE for statements in flight).
task<result> wire::query_unprepared_held(std::string sql, detail::params* p) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
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
task<> wire::close_cursors() {
  std::string sql;
  for (auto& [name, epoch] : closing_)
    if (epoch == tx_epoch_) sql += "CLOSE " + name + ";";
  closing_.clear();
  if (sql.empty() || PQtransactionStatus(conn_) != PQTRANS_INTRANS) co_return;
  if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
  try {
    (void)co_await collect();
  } catch (const postgres_error&) {
  }
}

}  // namespace aw::pg::detail
