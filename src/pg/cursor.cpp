// aw::pg::cursor: DECLARE ... NO SCROLL CURSOR and FETCH in binary format.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/pg/connection.hpp>
#include <aw/pg/cursor.hpp>

#include "wire.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <string>
#include <utility>

namespace aw::pg {

namespace {
detail::wire& wire_of(connection* c) noexcept { return detail::wire::of(*c); }
}  // namespace

cursor::cursor(connection& c, std::string sql, detail::params p, cursor_options o)
    : conn_(&c), sql_(std::move(sql)), params_(std::move(p)), opts_(o) {
  if (opts_.prefetch == 0) throw interface_error("aw::pg::cursor: prefetch must be at least 1");
}

cursor::cursor(cursor&& o) noexcept
    : conn_(o.conn_),
      sql_(std::move(o.sql_)),
      params_(std::move(o.params_)),
      opts_(o.opts_),
      name_(std::move(o.name_)),
      batch_(std::move(o.batch_)),
      pos_(o.pos_),
      epoch_(o.epoch_),
      open_(std::exchange(o.open_, false)),
      done_(o.done_),
      enter_check_(std::move(o.enter_check_)) {
  if (open_ && conn_) std::replace(wire_of(conn_).cursors_.begin(), wire_of(conn_).cursors_.end(), &o, this);
}

cursor::~cursor() {
  if (!open_ || !conn_) return;
  std::erase(wire_of(conn_).cursors_, this);
  close_later();
}

// CLOSE before the connection's next statement, for who cannot wait (a destructor, a
// cancelled close). The status is checked when it goes out: statements in flight may hide
// it now.
void cursor::close_later() {
  if (wire_of(conn_).conn_ && wire_of(conn_).tx_epoch_ == epoch_) wire_of(conn_).closing_.emplace_back(std::move(name_), epoch_);
}

// The transaction status is read with the connection to ourselves (acquire_exclusive):
// while other tasks' statements are in flight, libpq reports PQTRANS_ACTIVE.
bool cursor::portal_alive() const noexcept { return open_ && portal_in_session(); }
bool cursor::portal_in_session() const noexcept {
  return conn_ && wire_of(conn_).conn_ && wire_of(conn_).tx_epoch_ == epoch_ &&
         PQtransactionStatus(wire_of(conn_).conn_) == PQTRANS_INTRANS;
}

// Runs `command` + the portal's name (opening the portal first when needed).
task<result> cursor::run(std::string command) {
  if (!conn_) throw interface_error("aw::pg::cursor: the connection is closed");
  if (closed_) throw interface_error("aw::pg::cursor: the cursor is closed");
  if (!open_) co_await open();
  detail::wire& w = wire_of(conn_);
  result r;
  {
    co_await w.acquire_exclusive();
    detail::wire::busy_hold g{&w.busy_};
    if (!portal_alive()) throw interface_error("aw::pg::cursor: the cursor is closed (its transaction ended)");
    r = co_await w.query_unprepared_held(command + name_, nullptr);
  }
  // After the session is given back: the lookup is a statement of its own.
  if (!w.knows_types(r.native())) co_await w.look_up_types(r);
  co_return r;
}

task<> cursor::open() {
  if (open_) co_return;
  if (!conn_) throw interface_error("aw::pg::cursor: the connection is closed");
  if (closed_ || done_) throw interface_error("aw::pg::cursor: the cursor was closed; a cursor is opened once");
  co_await wire_of(conn_).acquire_exclusive();
  detail::wire::busy_hold g{&wire_of(conn_).busy_};
  // Checked here (asyncpg raises NoActiveSQLTransactionError): outside a transaction the
  // portal would vanish at the end of its own DECLARE.
  if (!wire_of(conn_).conn_ || PQtransactionStatus(wire_of(conn_).conn_) != PQTRANS_INTRANS)
    throw interface_error("aw::pg::cursor: cursors can only be used inside a transaction (open one with conn.transaction())");
  std::string name = "aw_c" + std::to_string(++wire_of(conn_).next_cursor_);
  (void)co_await wire_of(conn_).query_unprepared_held("DECLARE " + name + " NO SCROLL CURSOR FOR " + sql_, &params_);
  name_ = std::move(name);
  epoch_ = wire_of(conn_).tx_epoch_;
  open_ = true;
  wire_of(conn_).cursors_.push_back(this);
}

task<> cursor::close() {
  closed_ = true;
  batch_.reset();
  co_await close_portal();
}

// After an error in the transaction the portal cannot be closed (and goes with the
// rollback); after its transaction it is gone already.
task<> cursor::close_portal() {
  if (!open_) co_return;
  open_ = false;
  done_ = true;
  if (!conn_) co_return;
  std::erase(wire_of(conn_).cursors_, this);
  std::exception_ptr cancelled;
  try {
    co_await wire_of(conn_).acquire_exclusive();
  } catch (...) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    close_later();
    std::rethrow_exception(cancelled);
  }
  detail::wire::busy_hold g{&wire_of(conn_).busy_};
  if (portal_in_session()) (void)co_await wire_of(conn_).query_unprepared_held("CLOSE " + name_, nullptr);
}

task<cursor&> cursor::aenter() {
  enter_check_.entered();
  co_await open();
  co_return *this;
}

task<> cursor::aexit(std::exception_ptr) {
  // Exits run shielded: CLOSE goes out even when the block was cancelled.
  co_await close_portal();
}

task<cursor> cursor::opened() {
  co_await open();
  co_return std::move(*this);
}

task<std::optional<record>> cursor::next() {
  if (closed_) throw interface_error("aw::pg::cursor: the cursor is closed");
  if (batch_ && pos_ < batch_->size()) co_return record(batch_, static_cast<int>(pos_++));
  batch_.reset();
  if (done_) co_return std::nullopt;
  result r = co_await run("FETCH FORWARD " + std::to_string(opts_.prefetch) + " FROM ");
  const bool last = r.size() < opts_.prefetch;
  if (!r.empty()) {
    batch_ = std::make_shared<const result>(std::move(r));
    pos_ = 0;
  }
  if (last) {
    // The rows ran out: close the portal now rather than at the transaction's end. The
    // rows read stay with the caller.
    co_await close_portal();
  }
  if (batch_ && pos_ < batch_->size()) co_return record(batch_, static_cast<int>(pos_++));
  co_return std::nullopt;
}

task<result> cursor::fetch(std::size_t n) {
  if (done_ && !closed_) co_return result();  // next() read to the end
  co_return co_await run("FETCH FORWARD " + std::to_string(n) + " FROM ");
}

task<std::optional<record>> cursor::fetchrow() {
  result r = co_await fetch(1);
  if (r.empty()) co_return std::nullopt;
  co_return record(std::move(r));
}

task<std::size_t> cursor::forward(std::size_t n) {
  if (done_ && !closed_) co_return 0;
  result r = co_await run("MOVE FORWARD " + std::to_string(n) + " FROM ");
  co_return r.rows_affected();
}

}  // namespace aw::pg
