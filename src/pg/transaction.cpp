// aw::pg::transaction: BEGIN or SAVEPOINT on entry, COMMIT or ROLLBACK (to the savepoint)
// on exit, alone on the connection.
#include <aw/pg/connection.hpp>

#include "wire.hpp"

#include <libpq-fe.h>

#include <string>

namespace aw::pg {

task<transaction&> transaction::aenter() {
  enter_check_.entered();
  if (active_) throw interface_error("aw::pg::transaction: a transaction block can be entered once");
  detail::wire& w = detail::wire::of(*conn_);
  // Alone on the connection before looking at its transaction status: statements still in
  // flight in the pipeline would show it as active.
  co_await w.acquire_exclusive();
  detail::wire::busy_hold g{&w.busy_};
  if (w.in_transaction()) {
    savepoint_ = "aw_sp_" + std::to_string(++w.next_savepoint_);
    std::string sql = "SAVEPOINT " + savepoint_;
    co_await w.simple_query_held(sql);
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
    co_await w.simple_query_held(sql);
  }
  active_ = true;
  co_return *this;
}

task<> transaction::aexit(std::exception_ptr e) {
  detail::wire& w = detail::wire::of(*conn_);
  active_ = false;
  if (e && w.is_closed()) co_return;  // nothing to roll back on a lost connection; the body's error stands
  co_await w.acquire_exclusive();     // the statements in flight decide whether the transaction failed
  detail::wire::busy_hold g{&w.busy_};
  const bool failed = w.conn_ && PQtransactionStatus(w.conn_) == PQTRANS_INERROR;
  // Named strings, not temporaries in the co_await expressions: g++ 12 destroys a
  // temporary of a conditional expression inside co_await twice.
  std::string sql;
  if (!e && !failed)
    sql = savepoint_.empty() ? "COMMIT" : "RELEASE SAVEPOINT " + savepoint_;
  else
    sql = savepoint_.empty() ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT " + savepoint_ + "; RELEASE SAVEPOINT " + savepoint_;
  co_await w.simple_query_held(sql);
  if (!e && !failed) co_return;
  if (!e)
    throw interface_error(
        "aw::pg::transaction: a statement in the block failed and its error was caught; the transaction was rolled back, not "
        "committed");
}

}  // namespace aw::pg
