// aw::pg's pipeline (wire.hpp): reading the results of statements sent in pipeline mode,
// emptying it for what runs alone, and executemany's batch.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/detail/assert.hpp>

#include "wire.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <utility>

namespace aw::pg::detail {

// Statements sent in pipeline mode wait in inflight_ for their results, which arrive in
// order. One task reads at a time (reading_): the first live statement's task, which first
// drops the results of abandoned statements ahead of it; when done it passes the turn to the
// next live one. An exclusive operation (acquire_exclusive) holds busy_, so nothing more is
// sent, waits for the live statements to be read, drops the abandoned ones' results itself
// and leaves pipeline mode.

// Waits for (or reads) the results of `op`, sent and queued in inflight_.
task<> wire::await_pipelined(pipelined& op) {
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
task<> wire::read_front(pipelined* into) {
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
void wire::pass_turn() noexcept {
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
void wire::fail_pipeline(std::exception_ptr e) noexcept {
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
task<> wire::interrupted_pipelined(pipelined& op, std::exception_ptr e) {
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
task<> wire::cancel_pipelined(pipelined& op) {
  bool drained = false;
  bool holding = false;
  std::exception_ptr lost;
  try {
    cancel_scope scope(aw::now() + opts_.cancel_timeout, true);
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
task<> wire::acquire_exclusive() {
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
task<> wire::drain_pipeline() {
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

// executemany: one statement, prepared once, executed per row in pipeline mode (no round
// trip per row); one Sync at the end makes it all or nothing.
task<> wire::query_many(std::string_view sql, connection::many_fn next, void* state) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
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
    std::string name;  // empty: the unnamed statement
    int placeholders;
    if (cache_.enabled()) {
      const statement* st = co_await prepare_cached(sql);
      placeholders = st->params;
      name = st->name;
    } else {
      // No cache (statement_cache_size 0), as asyncpg then does: the unnamed statement,
      // which lives until the next unnamed one; nothing else is sent before the last row,
      // as this call holds the connection alone.
      const std::string text(sql);
      if (!PQsendPrepare(conn_, "", text.c_str(), params_.size(), params_.types())) throw_lost("sending the query");
      (void)co_await collect();
      placeholders = detail::highest_placeholder(sql);
    }
    detail::check_argument_count(sql, placeholders, params_.size());
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

}  // namespace aw::pg::detail
