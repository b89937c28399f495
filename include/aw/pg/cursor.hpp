// aw::pg::cursor: a server-side cursor over a query's rows (asyncpg's con.cursor()), for
// results too big to fetch at once. Cursors live in transactions, so open one inside
// conn.transaction().
//
//   co_await aw::async_with(conn.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
//     // async for record in con.cursor(sql, *args, prefetch=100): ...
//     co_await aw::async_with(conn.cursor({.prefetch = 100}, "SELECT id, name FROM users WHERE id > $1", 0),
//                             [&](aw::pg::cursor& cur) -> aw::task<> {
//       while (std::optional<aw::pg::record> r = co_await cur.next()) use(r->get<std::string>("name"));
//     });
//     // cur = await con.cursor(sql); await cur.forward(10); rows = await cur.fetch(5)
//     aw::pg::cursor cur = co_await conn.cursor("SELECT g FROM generate_series(1, 100) g");
//     co_await cur.forward(10);
//     aw::pg::result rows = co_await cur.fetch(5);
//     std::optional<aw::pg::record> one = co_await cur.fetchrow();
//   });
//
// The cursor is a portal declared with SQL (DECLARE name NO SCROLL CURSOR FOR query, with
// the arguments bound as binary parameters) and read with FETCH in binary format: libpq
// cannot execute an extended-protocol portal a few rows at a time, and DECLARE gives the
// same portal. It is opened by the first next() or by awaiting it, and closed:
// - by next() when the rows run out (one CLOSE round trip),
// - by leaving an async_with block over it (break out of the loop, an exception, a
//   cancellation: the exit runs CLOSE, shielded),
// - by close(),
// - by its destructor otherwise: CLOSE is then sent before the connection's next
//   statement (a destructor cannot wait), unless the transaction ended first (it took the
//   portal with it);
// - and always by the end of its transaction.
//
// next() reads `prefetch` rows (50 by default, asyncpg's default) per round trip and gives
// them one by one; each record owns its share of the batch and outlives the cursor.
// fetch(n), fetchrow() and forward(n) (asyncpg's Cursor) work at the server's position and
// do not use next()'s prefetched rows; once next() reached the end they give no rows.
// After close(), or once the transaction ended, every call raises aw::pg::interface_error. Opening outside a transaction raises
// aw::pg::interface_error (asyncpg raises NoActiveSQLTransactionError). A cancelled FETCH
// is cancelled on the server like any statement; the transaction is then in error and is
// rolled back by its block. The cursor uses its connection like any statement: one
// operation at a time, and it must not outlive the connection's block.
#pragma once

#include <aw/pg/params.hpp>
#include <aw/pg/result.hpp>
#include <aw/pg/types.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>

namespace aw::pg {

class connection;
namespace detail {
class wire;
}

struct cursor_options {
  std::size_t prefetch = 50;  // rows per round trip of next(); at least 1
};

class [[nodiscard("enter it (co_await aw::async_with(conn.cursor(...), body)) or co_await it: nothing is declared until then")]] cursor {
 public:
  // conn.cursor(...) makes one; nothing is sent until it is opened.
  cursor(connection& c, std::string sql, detail::params p, cursor_options o);
  cursor(cursor&& o) noexcept;
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;
  cursor& operator=(cursor&&) = delete;
  ~cursor();

  // The manager form: opens on entry, closes on exit (on every path).
  task<cursor&> aenter();
  task<> aexit(std::exception_ptr);

  // The awaited form (cur = await con.cursor(...)): opens and gives the open cursor.
  class open_awaiter;
  open_awaiter operator co_await() &&;

  // Declares the portal (idempotent).
  task<> open();
  // The next row, reading `prefetch` rows when the batch is used up; std::nullopt at the end.
  task<std::optional<record>> next();
  // The next n rows (fewer at the end).
  task<result> fetch(std::size_t n);
  // The next row, or std::nullopt at the end.
  task<std::optional<record>> fetchrow();
  // Skips n rows; gives how many were skipped (fewer at the end).
  task<std::size_t> forward(std::size_t n);
  // Closes the portal now (idempotent; nothing to send once the transaction ended). Later
  // calls raise aw::pg::interface_error.
  task<> close();

  bool is_open() const noexcept { return open_; }
  const std::string& name() const noexcept { return name_; }

 private:
  friend class detail::wire;
  task<cursor> opened();
  task<result> run(std::string command);
  task<> close_portal();
  bool portal_alive() const noexcept;
  bool portal_in_session() const noexcept;
  void close_later();

  connection* conn_;
  std::string sql_;
  detail::params params_;
  cursor_options opts_;
  std::string name_;
  std::shared_ptr<const result> batch_;
  std::size_t pos_ = 0;
  std::uint64_t epoch_ = 0;  // the connection's transaction epoch when declared
  bool open_ = false;
  bool done_ = false;    // the rows ran out (next() closed the portal)
  bool closed_ = false;  // close() was called
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<cursor> enter_check_;
};

class [[nodiscard("co_await it")]] cursor::open_awaiter {
 public:
  explicit open_awaiter(task<cursor> t) : t_(std::move(t)), a_(std::move(t_).operator co_await()) {}
  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    return a_.await_suspend(h);
  }
  cursor await_resume() { return a_.await_resume(); }

 private:
  task<cursor> t_;  // owns the frame a_ runs
  task<cursor>::awaiter a_;
};

inline cursor::open_awaiter cursor::operator co_await() && {
  enter_check_.entered();
  return open_awaiter(opened());
}

}  // namespace aw::pg
