// aw::pg::create_pool: a pool of connections (asyncpg.create_pool).
//
//   co_await aw::async_with(aw::pg::create_pool(dsn, {.min_size = 2, .max_size = 8}), [&](aw::pg::pool& pool) -> aw::task<> {
//     // async with pool.acquire() as conn: ...
//     co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& conn) -> aw::task<> {
//       co_await conn.execute("UPDATE counters SET n = n + 1");
//     });
//     auto n = co_await pool.fetchval<std::int64_t>("SELECT n FROM counters");   // acquire, query, release
//   });
//
// Entering the pool opens min_size connections; leaving it closes them all. acquire()
// gives a connection, opening one while fewer than max_size exist, else waiting (FIFO) for
// one to be released; with a timeout, which covers the whole acquisition (the wait for a
// connection, opening one, setup), one that runs out raises aw::timeout_error. Opening a
// connection is bounded by connection_options::connect_timeout (60 s) in any case.
// Waiting is a cancellation point, and a cancelled acquire never keeps a connection.
//
// A released connection is made clean before anyone else gets it (connection::reset: an
// open transaction is rolled back; session state is reset when the session changed any).
// A broken connection (lost, or closed after a cancelled statement the server did not
// answer) is dropped and replaced on demand, as is one that ran max_queries statements.
// One idle for a millisecond or more is probed (a non-blocking peek at its socket) before
// it is lent, so the goodbye of a restarted server is noticed before a query is lost on it;
// one given back less than a millisecond ago (a busy pool) is lent at once.
// A connection idle for max_inactive_connection_lifetime is closed by a loop timer (no
// task: nothing to wait for), as asyncpg does, down to min_size connections; acquire()
// also never hands out one idle longer than that.
// init runs once on each new connection, setup on every acquire.
//
// With multiplex set, the shortcuts share connections: when no connection is idle and
// max_size are open, a shortcut's statement is pipelined on the shared connection with the
// fewest statements in flight (connection.hpp: each with its own Sync, an error failing only
// its own statement) instead of waiting for a connection to be given back. A small pool
// then keeps its server processes busy: while the loop handles one result, the next
// statements already wait on each server process. Npgsql calls this multiplexing. Only
// execute with arguments, fetch, fetchrow and fetchval of a statement that starts with
// SELECT, INSERT, UPDATE, DELETE, MERGE, WITH, VALUES or TABLE are shared; anything else
// (BEGIN, SET, executemany) gets a connection of its own. A shared statement must not
// change session state (set_config(), session advisory locks): the statements of other
// tasks on its connection would see it. A slow statement delays the ones queued behind it
// on its connection, and a cancelled shared statement that was sent already still runs on
// the server (its results are dropped), as in any pipeline (connection.hpp).
// acquire() is not starved: while it waits for a connection, shortcuts stop joining shared
// ones, which are given back as they empty.
#pragma once

#include <aw/cancel_scope.hpp>
#include <aw/loop.hpp>
#include <aw/pg/connection.hpp>
#include <aw/semaphore.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw::pg {

// Every member has an initializer, so `{.min_size = 2, .max_size = 8}` leaves the others to
// them without clang's -Wmissing-designated-field-initializers (-Wextra) warning.
struct pool_options {
  std::size_t min_size = 10;
  std::size_t max_size = 10;
  std::uint64_t max_queries = 50000;                                   // statements before a connection is replaced; 0: no limit
  std::chrono::milliseconds max_inactive_connection_lifetime{300000};  // 0: no limit
  std::function<task<>(connection&)> setup{};                          // on every acquire
  std::function<task<>(connection&)> init{};                           // once per new connection
  connection_options connection{};
  bool multiplex = false;  // shortcuts share busy connections, pipelined (above)
};

class [[nodiscard(
    "enter it: co_await aw::async_with(aw::pg::create_pool(...), body) or aw::enter(...); no connection is opened until then")]] pool {
 public:
  pool(std::string dsn, pool_options o);
  // Movable until entered (async_with moves a temporary pool into its frame).
  pool(pool&& o);
  pool& operator=(pool&&) = delete;
  ~pool();

  task<pool&> aenter();
  task<> aexit(std::exception_ptr);

  // The manager of one borrowed connection (async with pool.acquire() as conn).
  class [[nodiscard(
      "enter it: co_await aw::async_with(pool.acquire(), body) or aw::enter(pool.acquire()); nothing is borrowed until "
      "then")]] acquire_manager {
   public:
    acquire_manager(pool& p, std::optional<std::chrono::milliseconds> timeout) noexcept : pool_(&p), timeout_(timeout) {}
    task<connection&> aenter();
    task<> aexit(std::exception_ptr);

   private:
    pool* pool_;
    std::optional<std::chrono::milliseconds> timeout_;
    std::unique_ptr<connection> conn_;
    // AW_DEBUG: reports a manager dropped without being entered.
    aw::detail::enter_check<acquire_manager> enter_check_;
  };
  acquire_manager acquire(std::optional<std::chrono::milliseconds> timeout = std::nullopt) noexcept { return {*this, timeout}; }

  // Borrowing outside a block: give the connection back with release(). Prefer acquire().
  task<std::unique_ptr<connection>> take(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  task<> release(std::unique_ptr<connection> c);

  // Shortcuts: acquire, run one statement, release (with multiplex, maybe on a shared
  // connection). `sql` is copied into the lambda: the task runs after this call returns;
  // the arguments are the caller's, alive while it awaits.
  template <class... A>
  task<std::string> execute(std::string_view sql, const A&... args) {
    return shortcut<std::string>(sql, sizeof...(A) != 0, [sql, &args...](connection& c) { return c.execute(sql, args...); });
  }
  template <class... A>
  task<result> fetch(std::string_view sql, const A&... args) {
    return shortcut<result>(sql, true, [sql, &args...](connection& c) { return c.fetch(sql, args...); });
  }
  template <class... A>
  task<std::optional<record>> fetchrow(std::string_view sql, const A&... args) {
    return shortcut<std::optional<record>>(sql, true, [sql, &args...](connection& c) { return c.fetchrow(sql, args...); });
  }
  template <class T, class... A>
  task<T> fetchval(std::string_view sql, const A&... args) {
    return shortcut<T>(sql, true, [sql, &args...](connection& c) { return c.template fetchval<T>(sql, args...); });
  }
  template <class Rows>
  task<> executemany(std::string_view sql, const Rows& rows) {
    return shortcut<void>(sql, false, [sql, &rows](connection& c) { return c.executemany(sql, rows); });
  }

  // Whether a statement may share a connection under multiplex: it starts (after
  // blanks, comments and parentheses) with SELECT, INSERT, UPDATE, DELETE, MERGE, WITH,
  // VALUES or TABLE.
  static bool shareable(std::string_view sql) noexcept;

  // Connections open now (idle, borrowed and shared), idle ones, and shared ones.
  std::size_t size() const noexcept { return open_; }
  std::size_t idle_size() const noexcept { return idle_.size(); }
  std::size_t shared_size() const noexcept { return shared_.size(); }
  std::size_t max_size() const noexcept { return opts_.max_size; }

 private:
  struct idle_connection {
    std::unique_ptr<connection> conn;
    clock::time_point since;
  };
  // Closes idle connections older than max_inactive_connection_lifetime.
  struct reaper_timer : timer_node {
    pool* owner = nullptr;
  };
  static void reaper_fired(timer_node* t);
  void arm_reaper();
  void disarm_reaper() noexcept;
  task<std::unique_ptr<connection>> open_connection();
  task<std::unique_ptr<connection>> take_now();
  // A connection lent to shortcuts together (multiplex).
  struct shared_connection {
    std::unique_ptr<connection> conn;
    std::size_t users = 0;
  };
  using shared_list = std::list<shared_connection>;
  // What a shortcut borrowed: a connection of its own, or a place on a shared one.
  struct lease {
    std::unique_ptr<connection> own;
    shared_list::iterator shared{};
    bool is_shared = false;
    connection& operator*() const noexcept { return is_shared ? *shared->conn : *own; }
  };
  // Multiplex: whether a statement goes to a shared connection; lending and leaving one.
  bool shares(std::string_view sql, bool extended_protocol) const noexcept {
    return opts_.multiplex && extended_protocol && shareable(sql);
  }
  task<lease> lend_shared();
  task<> leave_shared(shared_list::iterator it);
  // A shortcut: borrows (a connection of its own, or with multiplex a place on a shared
  // one), runs `run(conn)`, and gives the connection back on every path.
  template <class T, class Run>
  task<T> shortcut(std::string_view sql, bool extended_protocol, Run run) {
    lease l;  // (an if, not a conditional expression: with co_await in both arms g++ 12 crashed)
    if (shares(sql, extended_protocol))
      l = co_await lend_shared();
    else
      l.own = co_await take();
    std::exception_ptr failure;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await run(*l);
        value = true;
      } else {
        value.emplace(co_await run(*l));
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (l.is_shared)
      co_await leave_shared(l.shared);
    else
      co_await release_shielded(std::move(l.own));
    if (failure) std::rethrow_exception(failure);
    if constexpr (!std::is_void_v<T>) co_return std::move(*value);
  }
  task<> release_shielded(std::unique_ptr<connection> c);
  bool reusable(const connection& c) const noexcept;
  bool joinable(const connection& c) const noexcept;
  void keep_idle(std::unique_ptr<connection> c);

  std::string dsn_;
  pool_options opts_;
  semaphore slots_;
  std::vector<idle_connection> idle_;
  shared_list shared_;
  std::size_t open_ = 0;
  reaper_timer reaper_;
  loop* loop_ = nullptr;  // the loop the reaper is armed on
  bool closed_ = true;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<pool> enter_check_;
};

// The manager: opens the pool on entry, closes every connection on exit.
inline pool create_pool(std::string dsn, pool_options o = {}) { return pool(std::move(dsn), std::move(o)); }

}  // namespace aw::pg
