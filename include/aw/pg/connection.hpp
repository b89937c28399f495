// aw::pg::connect and aw::pg::connection: one PostgreSQL session (asyncpg.connect()).
//
//   co_await aw::async_with(aw::pg::connect("postgresql://app@db/shop"), [&](aw::pg::connection& conn) -> aw::task<> {
//     co_await conn.execute("CREATE TEMP TABLE t (id bigint, name text)");
//     co_await conn.execute("INSERT INTO t VALUES ($1, $2)", std::int64_t{1}, "one");
//     aw::pg::result rows = co_await conn.fetch("SELECT id, name FROM t WHERE id > $1", 0);
//     std::optional<aw::pg::record> r = co_await conn.fetchrow("SELECT name FROM t WHERE id = $1", 1);
//     auto n = co_await conn.fetchval<std::int64_t>("SELECT count(*) FROM t");
//   });
//
// libpq runs in non-blocking mode on the loop's fd waits: no thread per query, and every
// wait is a cancellation point. The DSN is a URL or key=value string; libpq's PG*
// environment variables fill in what it leaves out. Host names (the DSN's, or PGHOST's when
// it names none) are resolved on the loop by aw::net's resolver (c-ares: /etc/hosts, then
// DNS) and handed to libpq as hostaddr, the name kept as host for TLS verification and
// .pgpass: each address of a name is tried in turn, a name that does not resolve is skipped
// while other hosts remain, and when none resolves connect raises aw::pg::connection_error
// naming each ("could not translate host name ..."). The lookups are bounded by
// connect_timeout and are cancellation points. Where libpq must decide alone (the DSN gives
// hostaddr, or names a service, or PGSERVICE is set), and when aw::pg is built without
// aw::net (AW_BUILD_NET=OFF), libpq resolves a name itself, with a blocking getaddrinfo that
// stalls the loop meanwhile; an address or a socket directory never blocks.
// Connecting is bounded by connection_options::connect_timeout (60 s) and by the DSN's
// connect_timeout (per host), which libpq does not enforce in non-blocking mode: a server
// that does not answer raises aw::pg::connect_timeout_error. The server's notices and
// warnings go to add_log_listener's callbacks, never to stderr.
//
// Arguments are checked before anything is sent: more of them than the statement's
// highest $n, or a string holding a NUL byte (PostgreSQL text cannot hold one; bytea
// can), raise aw::pg::interface_error (aw::pg::type_error for the NUL, naming the
// parameter), as does a statement whose text holds a NUL.
//
// Statements with parameters ($1..$n) use the extended protocol with binary parameters
// and results (see aw/pg/types.hpp for the types). They are prepared once per connection
// and kept in a statement cache keyed by the SQL text and the parameter types (asyncpg's
// statement cache, statement_cache_size entries, least recently used out); when the
// schema changes under a cached statement it is re-prepared (inside a transaction, where
// retrying is impossible, aw::pg::invalid_cached_statement is raised instead).
// execute() without parameters uses the simple protocol: several statements separated by
// semicolons are allowed there. conn.prepare(sql) gives a prepared statement of one's own
// (aw/pg/prepared_statement.hpp); conn.listen(channel) is LISTEN/NOTIFY as a manager
// yielding a stream of notifications (aw/pg/listener.hpp); conn.cursor(sql, args...) is a
// server-side cursor (aw/pg/cursor.hpp); copy_records_to_table, copy_to_table,
// copy_from_query and copy_from_table are COPY (aw/pg/copy.hpp).
//
// Cancellation (a cancel scope, a timeout) while a statement runs cancels it on the server
// (libpq's cancel request, sent from a worker thread because PQcancel blocks), waits for
// the server to give the connection back, shielded, up to cancel_timeout, and then raises
// aw::cancelled; if the server does not answer in time the connection is closed. Either
// way the connection is never left in an unknown state.
//
// Concurrent queries on one connection are pipelined (libpq's pipeline mode): execute with
// arguments, fetch, fetchrow and fetchval, the connection's or a prepared statement's
// (aw/pg/prepared_statement.hpp), from several tasks are sent one after another
// without waiting for each other's results, each with a Sync of its own (an error fails
// only its own statement, as if they ran one by one), and their results are read in
// order. (asyncpg raises InterfaceError there.) A query alone on the connection is sent
// without pipeline mode (cheaper); tasks that come while it runs wait for it and are then
// pipelined behind each other. What
// needs the session to itself waits until the statements in flight are done and runs
// alone: execute without arguments (and with it transactions, LISTEN, reset), preparing a
// statement (for the cache or by prepare()), executemany, cursors, COPY.
// Cancelling a pipelined query that has not reached the head of the pipeline abandons it:
// the server still runs it (it was sent; as a cancelled write anywhere, it may have taken
// effect) and its results are dropped. The query at the head is cancelled on the server
// when nothing is queued behind it (a cancel request could hit the statement after it
// otherwise), else it is abandoned likewise. A connection is not thread-safe; use it on
// the loop that opened it.
#pragma once

#include <aw/byte_source.hpp>
#include <aw/context_manager.hpp>
#include <aw/pg/copy.hpp>
#include <aw/pg/cursor.hpp>
#include <aw/pg/errors.hpp>
#include <aw/pg/listener.hpp>
#include <aw/pg/params.hpp>
#include <aw/pg/result.hpp>
#include <aw/pg/type_codec.hpp>
#include <aw/pg/types.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

struct pg_conn;
struct pg_result;

namespace aw::pg {

struct connection_options {
  std::size_t statement_cache_size = 100;  // prepared statements kept per connection; 0: none
  // How long a cancelled statement may take to give the connection back before it is closed.
  std::chrono::milliseconds cancel_timeout{5000};
  // How long connecting may take in all (asyncpg.connect's timeout), resolving the host names
  // and every host and address the DSN names included; then aw::pg::connect_timeout_error.
  // 0: no limit. The DSN's
  // connect_timeout (libpq's: seconds, per host or address, 0 for none, at least 2) applies
  // as well, to each host or address libpq tries (it moves on by itself from one that
  // refuses); one that accepts and stays silent for that long ends the attempt with
  // connect_timeout_error (libpq's blocking connect would try the next host there).
  std::chrono::milliseconds connect_timeout{60000};
};

enum class isolation { default_level, read_committed, repeatable_read, serializable };

struct transaction_options {
  isolation level = isolation::default_level;
  bool read_only = false;
  bool deferrable = false;
};

class connection;
class prepared_statement;

namespace detail {
class wire;

// Encodes a query's arguments into the connection's parameter buffer once the connection
// is free (a plain function pointer and a context: no allocation).
struct encoder {
  void (*fn)(const void* args, params& out);
  const void* args;
};
template <class... A>
encoder make_encoder(const std::tuple<const A&...>& args) {
  return {[](const void* a, params& out) {
            std::apply([&](const A&... v) { (out.add(v), ...); }, *static_cast<const std::tuple<const A&...>*>(a));
          },
          &args};
}
}  // namespace detail

// An async context manager for one transaction block: BEGIN (or, nested inside another
// transaction, SAVEPOINT) on entry; on exit COMMIT (RELEASE SAVEPOINT) when the body
// succeeded, ROLLBACK (ROLLBACK TO SAVEPOINT) on an exception or a cancellation.
class [[nodiscard(
    "enter it: co_await aw::async_with(conn.transaction(), body) or aw::enter(conn.transaction()); nothing is begun until "
    "then")]] transaction {
 public:
  transaction(connection& c, transaction_options o) noexcept : conn_(&c), opts_(o) {}
  task<transaction&> aenter();
  task<> aexit(std::exception_ptr e);
  // Whether this block is a savepoint inside an outer transaction.
  bool is_savepoint() const noexcept { return !savepoint_.empty(); }

 private:
  connection* conn_;
  transaction_options opts_;
  std::string savepoint_;
  bool active_ = false;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<transaction> enter_check_;
};

class connection {
 public:
  explicit connection(connection_options o = {});
  connection(const connection&) = delete;  // tasks and managers point at it
  connection& operator=(const connection&) = delete;
  ~connection();

  // Connects (asyncpg.connect); connect() below is the manager that also closes.
  task<> open(std::string dsn);
  // Closes the connection (idempotent). Later operations raise aw::pg::interface_error;
  // statements other tasks have in flight raise aw::pg::connection_lost at once.
  void close() noexcept;
  bool is_closed() const noexcept;
  // Reads what the server sent while the connection sat idle, without waiting, and says
  // whether it is still usable (a pool checks this before lending it out: a restarted
  // server's goodbye is noticed before a query is lost on the dead connection).
  bool probe() noexcept;
  // The server process serving this connection (pg_backend_pid()).
  int backend_pid() const noexcept;
  // Inside a transaction block (including a failed one). Also true while statements are in
  // flight: libpq cannot tell until their results are read.
  bool in_transaction() const noexcept;
  // The value of a server parameter the server reported (server_version, TimeZone, ...).
  std::string server_parameter(const char* name) const;
  pg_conn* native() const noexcept;

  // Runs a statement; gives its command tag ("INSERT 0 1"). Without arguments, the simple
  // protocol: several statements may be given, separated by semicolons.
  template <class... A>
  task<std::string> execute(std::string_view sql, const A&... args) {
    if constexpr (sizeof...(A) == 0) {
      co_return co_await simple_query(sql);
    } else {
      std::tuple<const A&...> t(args...);
      result r = co_await query(sql, detail::make_encoder(t));
      co_return std::string(r.status());
    }
  }
  // All rows.
  template <class... A>
  task<result> fetch(std::string_view sql, const A&... args) {
    std::tuple<const A&...> t(args...);
    co_return co_await query(sql, detail::make_encoder(t));
  }
  // The first row, or std::nullopt when there is none.
  template <class... A>
  task<std::optional<record>> fetchrow(std::string_view sql, const A&... args) {
    std::tuple<const A&...> t(args...);
    result r = co_await query(sql, detail::make_encoder(t));
    if (r.empty()) co_return std::nullopt;
    co_return record(std::move(r));
  }
  // The first column of the first row. No row: std::nullopt for an optional T, else
  // aw::pg::interface_error.
  template <class T, class... A>
  task<T> fetchval(std::string_view sql, const A&... args) {
    std::tuple<const A&...> t(args...);
    result r = co_await query(sql, detail::make_encoder(t));
    if (r.empty()) {
      if constexpr (detail::is_optional<T>::value)
        co_return std::nullopt;
      else
        throw interface_error("aw::pg::connection::fetchval: the query returned no rows");
    }
    co_return r[0].template get<T>(0);
  }
  // Runs the statement once per element of `rows` (each a std::tuple of the arguments), all
  // or nothing: inside a transaction of its own unless one is open already.
  template <class Rows>
  task<> executemany(std::string_view sql, const Rows& rows) {
    using tuple_t = std::remove_cvref_t<decltype(*std::begin(rows))>;
    auto begin = std::begin(rows);
    auto end = std::end(rows);
    using iter = decltype(begin);
    struct state {
      iter it, end;
    } st{begin, end};
    co_await query_many(
        sql,
        [](void* s, detail::params& out) -> bool {
          auto* p = static_cast<state*>(s);
          if (p->it == p->end) return false;
          std::apply([&](const auto&... v) { (out.add(v), ...); }, static_cast<const tuple_t&>(*p->it));
          ++p->it;
          return true;
        },
        &st);
  }

  // A server-side cursor over the rows of `sql` (aw/pg/cursor.hpp); inside a transaction.
  // The arguments are encoded now: they need not outlive the call.
  template <class... A>
  aw::pg::cursor cursor(std::string_view sql, const A&... args) {
    return cursor(cursor_options{}, sql, args...);
  }
  template <class... A>
  aw::pg::cursor cursor(cursor_options o, std::string_view sql, const A&... args) {
    detail::params p;
    p.use_codecs(codecs());
    (p.add(args), ...);
    return aw::pg::cursor(*this, std::string(sql), std::move(p), o);
  }

  // COPY (aw/pg/copy.hpp). Each gives the command tag, "COPY n" (n: the rows copied).
  // The records, the options and what they refer to must outlive the call.
  template <class Records>
  task<std::string> copy_records_to_table(std::string_view table, const Records& records, const copy_options& o = {}) {
    using record_t = std::remove_cvref_t<decltype(*std::begin(records))>;
    using iter = decltype(std::begin(records));
    struct state {
      iter it, end;
    } st{std::begin(records), std::end(records)};
    co_return co_await copy_in_records(
        table, o,
        [](void* s, std::span<const detail::copy_column> cols, std::string& out) -> bool {
          auto* p = static_cast<state*>(s);
          if (p->it == p->end) return false;
          detail::copy_record(static_cast<const record_t&>(*p->it), cols, out);
          ++p->it;
          return true;
        },
        &st);
  }
  // COPY table FROM STDIN with the bytes of `data` (in the format the options name).
  task<std::string> copy_to_table(std::string_view table, std::string_view data, const copy_options& o = {});
  // COPY table FROM STDIN with the bytes `source` gives until its end.
  task<std::string> copy_to_table(std::string_view table, byte_source source, const copy_options& o = {});
  // COPY (query) TO STDOUT into `sink`. COPY takes no parameters: as asyncpg does, the
  // arguments are turned into quoted literals by the server and put in place of $1..$n in
  // the query's text (every "$n" followed by a non-word character, also inside strings).
  template <class... A>
  task<std::string> copy_from_query(std::string_view sql, const A&... args_and_sink) {
    // The sink (and the options, if given) come last: split them from the arguments.
    co_return co_await copy_from_query_split(sql, std::forward_as_tuple(args_and_sink...),
                                             std::make_index_sequence<sizeof...(A) - trailing_copy_args<A...>()>{});
  }
  // COPY table TO STDOUT into `sink`.
  task<std::string> copy_from_table(std::string_view table, byte_sink sink, const copy_options& o = {});

  // Registers a codec for the type named type_name, looked up on the server in
  // c.schema (asyncpg's set_type_codec; aw/pg/type_codec.hpp): its columns read as T
  // through c.decoder, a T parameter is sent through c.encoder. aw::pg::unknown_type_error
  // when the server has no such type.
  template <class T>
  task<> set_type_codec(std::string type_name, type_codec<T> c) {
    static_assert(detail::runtime_codec_allowed<T>,
                  "aw::pg::connection::set_type_codec: a codec reads into and sends a class or an enum of your own");
    std::string schema = std::move(c.schema);
    return add_type_codec(std::move(type_name), std::move(schema), detail::make_runtime_codec(std::move(c)));
  }

  // Forgets what the connection learnt of the schema (asyncpg's reload_schema_state): the
  // types made after initdb it looked up (their names, kinds, fields; see aw::pg::value::
  // type_name) and its cached statements. After a type is altered or renamed: the next
  // result that has it looks it up again. Runs no query (the statements are freed on the
  // server before the next one is prepared).
  void reload_schema_state();

  // Prepares a statement to run many times (aw/pg/prepared_statement.hpp).
  task<prepared_statement> prepare(std::string sql);

  // A transaction block (async with conn.transaction(): ...).
  aw::pg::transaction transaction(transaction_options o = {}) noexcept { return aw::pg::transaction(*this, o); }
  // LISTEN on a channel as a manager yielding a stream of notifications (aw/pg/listener.hpp).
  aw::pg::listener listen(std::string channel) { return aw::pg::listener(*this, std::move(channel)); }

  // Session state a pool must clear before handing the connection to someone else: an
  // open transaction is rolled back, then, when the session ran anything that changes
  // session state (SET, LISTEN, PREPARE, DECLARE, temporary tables: any command other than
  // SELECT/INSERT/UPDATE/DELETE/MERGE/COPY/FETCH and transaction control), RESET ALL,
  // UNLISTEN *, CLOSE ALL and pg_advisory_unlock_all(). A SELECT that calls set_config()
  // or takes an advisory lock is not detected; mark_dirty() makes the next reset complete.
  task<> reset();
  void mark_dirty() noexcept;
  // Whether reset() has nothing to do: no transaction open, no session state changed, no
  // statement in flight.
  bool is_clean() const noexcept;
  // How many statements ran on this connection (the pool's max_queries).
  std::uint64_t queries() const noexcept;

  // The server's messages other than errors (NOTICE, WARNING, INFO, ...: RAISE NOTICE, a
  // shutdown's goodbye) go to the log listeners (asyncpg's add_log_listener), called on the
  // loop from inside the call that read the message, with its fields (severity, SQLSTATE,
  // message, detail, hint, ...). A listener must not throw (what it throws is dropped); it
  // may add or remove listeners. Without listeners a message is dropped, or with the debug
  // mode on (aw/debug.hpp) logged; nothing is written to stderr otherwise. A pool removes
  // the listeners when the connection is given back.
  using log_listener = std::function<void(connection&, const error_fields&)>;
  // Gives the id that remove_log_listener takes.
  std::uint64_t add_log_listener(log_listener f);
  void remove_log_listener(std::uint64_t id) noexcept;

 private:
  // The protocol (socket waits, the pipeline, the statement cache, COPY's data path) is
  // detail::wire's, in the library; a connection owns one. What stays here is what the
  // templates above need, as they are compiled in the user's code: the entry points they
  // call (defined next to the wire) and the argument splitting of copy_from_query.
  friend class detail::wire;
  // Its templates run through query().
  friend class aw::pg::prepared_statement;
  using many_fn = bool (*)(void* state, detail::params& out);

  template <class... A>
  static constexpr std::size_t trailing_copy_args() {
    constexpr std::size_t n = sizeof...(A);
    using last = std::remove_cvref_t<std::tuple_element_t<n - 1, std::tuple<A...>>>;
    if constexpr (std::is_same_v<last, copy_options>) {
      static_assert(n >= 2 && std::is_same_v<std::remove_cvref_t<std::tuple_element_t<n - 2, std::tuple<A...>>>, byte_sink>,
                    "aw::pg::connection::copy_from_query(sql, args..., sink[, options]): the sink is an aw::byte_sink");
      return 2;
    } else {
      static_assert(std::is_same_v<last, byte_sink>,
                    "aw::pg::connection::copy_from_query(sql, args..., sink[, options]): the sink is an aw::byte_sink");
      return 1;
    }
  }
  template <class Tuple, std::size_t... I>
  task<std::string> copy_from_query_split(std::string_view sql, Tuple t, std::index_sequence<I...>) {
    constexpr std::size_t n = std::tuple_size_v<Tuple>;
    detail::params p;
    p.use_codecs(codecs());
    (p.add(std::get<I>(t)), ...);
    copy_options none;
    const copy_options* o = &none;
    byte_sink* sink;
    if constexpr (n - sizeof...(I) == 2) {
      o = &std::get<n - 1>(t);
      sink = const_cast<byte_sink*>(&std::get<n - 2>(t));
    } else {
      sink = const_cast<byte_sink*>(&std::get<n - 1>(t));
    }
    co_return co_await copy_out_query(sql, p, *sink, *o);
  }
  task<> add_type_codec(std::string name, std::string schema, detail::runtime_codec c);
  std::shared_ptr<const detail::codec_registry> codecs() const noexcept;
  task<std::string> simple_query(std::string_view sql);
  task<result> query(std::string_view sql, detail::encoder enc, prepared_statement* named = nullptr);
  task<> query_many(std::string_view sql, many_fn next, void* state);
  task<std::string> copy_in_records(std::string_view table, const copy_options& o, detail::copy_row_fn next, void* state);
  task<std::string> copy_out_query(std::string_view sql, detail::params& p, byte_sink& sink, const copy_options& o);

  std::unique_ptr<detail::wire> wire_;
};

// The manager: connects on entry, closes on exit (async with asyncpg.connect(dsn) as conn).
context_manager<connection> connect(std::string dsn, connection_options o = {});

}  // namespace aw::pg
