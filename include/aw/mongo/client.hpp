// aw::mongo::client: MongoDB from coroutines, motor's way. libmongoc (the official C driver)
// does the protocol, authentication, TLS, server discovery and selection, retryable writes
// and sessions; asyncwith runs its blocking calls on the client's own bounded set of worker
// threads and makes every client, cursor, session and transaction an async context manager,
// closed on every path.
//
//   using namespace aw::mongo;
//   client mongo("mongodb://127.0.0.1:27017/?appname=demo");
//   co_await aw::async_with(mongo, [&](client& c) -> aw::task<> {
//     auto people = c["app"]["people"];
//     auto r = co_await people.insert_one(doc("name", "Ada", "born", 1815));
//     std::optional<document> ada = co_await people.find_one(doc("name", "Ada"));
//     // async for d in people.find({"born": {"$lt": 1900}}):
//     auto cur = people.find(doc("born", doc("$lt", 1900)));
//     co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
//       while (auto d = co_await cu.next()) use(*d);
//     });
//   });
//
// (doc(...) rather than document{{...}} inside a co_await: g++ 12 rejects initializer lists
// there; see <aw/mongo/bson.hpp>.)
//
// Guarantees:
// - Leaving the client's block shuts its workers down and closes the connections, waiting
//   client_options::close_timeout (2 s) at most: a call a cancelled task abandoned, stuck on
//   a silent server until the driver's socket timeout, is left to finish on a thread of its
//   own and its result dropped. Cursors and sessions must be left before their client
//   (structured code does); a client is entered once.
// - Every call is a cancellation point. A cancelled call returns at once; its job either
//   never starts (still queued) or finishes on its worker with its own copies of the
//   documents, and is dropped. A cancelled *write* may still have been applied, as with
//   every MongoDB driver: the server cannot know the client gave up. Use idempotent writes
//   or a transaction when that matters.
// - A cursor fetches batch by batch on the workers; leaving its block early kills the
//   server-side cursor (killCursors). When a fetch the block abandoned still runs (a silent
//   server), leaving does not wait for it: that fetch kills the cursor when it ends and
//   gives the cursor's connection back to the pool, to a task waiting for one if any.
// - start_transaction() commits when its block succeeds and aborts on an exception or a
//   cancellation (the exit is shielded, so the abort is sent even then).
#pragma once

#include <aw/mongo/bson.hpp>
#include <aw/mongo/bulk_write.hpp>
#include <aw/mongo/errors.hpp>
#include <aw/mongo/options.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw::mongo {

namespace detail {
struct client_state;
struct cursor_state;
struct session_state;
}  // namespace detail

class database;
class collection;
class session;

class client_options {
 public:
  client_options() = default;
  // How many calls run at once (default 8), each on a worker thread of the client's own with
  // a connection from its pool; further calls queue. Threads start as calls need them and
  // stop after 10 s without work.
  client_options& max_workers(std::size_t n) {
    max_workers_ = n;
    return *this;
  }
  std::size_t max_workers() const noexcept { return max_workers_; }
  // How long leaving the client waits (default 2 s) for the calls still running on its
  // workers (calls cancelled tasks abandoned, stuck on a silent server until the socket
  // times out) and for closing its connections. After that the exit returns; what is left
  // finishes on a thread of its own and its results are dropped.
  client_options& close_timeout(std::chrono::milliseconds t) {
    close_timeout_ = t;
    return *this;
  }
  std::chrono::milliseconds close_timeout() const noexcept { return close_timeout_; }

 private:
  std::size_t max_workers_ = 8;
  std::chrono::milliseconds close_timeout_{2000};
};

// A cursor over the results of find, aggregate or list_indexes: an async context manager.
// Entering it takes a connection from the client's pool (a cursor lives on one connection);
// the first next() sends the query; next() gives the documents one by one, fetching them a
// trip at a time on a worker: with find_options::batch_size, one server batch per trip;
// without, up to 4 MiB of documents per trip, across as many server batches as that takes (a
// result set that small comes back in one trip; the rest of a larger one stays on the server
// until it is needed). Leaving it closes it (killing the server-side cursor if it is still
// open) and gives the connection back. One task at a time may iterate a cursor.
class [[nodiscard("enter it: co_await aw::async_with(collection.find(...), body); no query is sent until then")]] cursor {
 public:
  cursor(cursor&&) noexcept;
  cursor& operator=(cursor&&) = delete;
  ~cursor();

  task<cursor&> aenter();
  task<> aexit(std::exception_ptr e);

  // The next document, or an empty optional at the end (`async for`). It waits, and is a
  // cancellation point, only when the documents fetched so far are used up (as motor's).
  task<std::optional<document>> next();
  // The rest of the documents (pymongo's to_list()).
  task<std::vector<document>> to_vector();
  // The server's cursor id (0 once the server has no more results).
  std::int64_t id() const noexcept;

 private:
  friend class collection;
  friend class database;
  explicit cursor(std::shared_ptr<detail::cursor_state> s) noexcept;
  task<bool> fetch();
  std::shared_ptr<detail::cursor_state> s_;
  // The documents of the last trip not yet given out: raw BSON back to back, from at_ on.
  std::vector<std::uint8_t> batch_;
  std::size_t at_ = 0;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<cursor> enter_check_;
};

class collection {
 public:
  const std::string& name() const noexcept { return name_; }
  const std::string& database_name() const noexcept { return db_; }

  task<insert_one_result> insert_one(document doc, write_options opts = {}) const;
  task<insert_many_result> insert_many(std::vector<document> docs, write_options opts = {}) const;
  // Several writes of different kinds in one call (aw/mongo/bulk_write.hpp).
  task<bulk_write_result> bulk_write(std::vector<write_model> models, write_options opts = {}) const;
  task<std::optional<document>> find_one(document filter = {}, find_options opts = {}) const;
  cursor find(document filter = {}, find_options opts = {}) const;
  task<update_result> update_one(document filter, document update, update_options opts = {}) const;
  task<update_result> update_many(document filter, document update, update_options opts = {}) const;
  task<update_result> replace_one(document filter, document replacement, update_options opts = {}) const;
  task<delete_result> delete_one(document filter, write_options opts = {}) const;
  task<delete_result> delete_many(document filter, write_options opts = {}) const;
  task<std::int64_t> count_documents(document filter = {}, count_options opts = {}) const;
  task<std::int64_t> estimated_document_count() const;
  // The distinct values of `key` among the documents matching `filter`.
  task<std::vector<value>> distinct(std::string key, document filter = {}, find_options opts = {}) const;
  cursor aggregate(array pipeline, aggregate_options opts = {}) const;
  task<std::optional<document>> find_one_and_update(document filter, document update, find_one_and_options opts = {}) const;
  task<std::optional<document>> find_one_and_replace(document filter, document replacement, find_one_and_options opts = {}) const;
  task<std::optional<document>> find_one_and_delete(document filter, find_one_and_options opts = {}) const;
  // Creates an index on `keys` (e.g. {{"name", 1}, {"age", -1}}) and gives its name.
  task<std::string> create_index(document keys, index_options opts = {}) const;
  cursor list_indexes() const;
  task<> drop_index(std::string name) const;
  // Drops the collection (no error when it does not exist, as pymongo).
  task<> drop() const;

 private:
  friend class database;
  collection(std::shared_ptr<detail::client_state> s, std::string db, std::string name);
  std::shared_ptr<detail::client_state> s_;
  std::string db_, name_;
};

class database {
 public:
  const std::string& name() const noexcept { return name_; }
  collection operator[](std::string_view name) const { return collection(s_, name_, std::string(name)); }
  // Runs a command (pymongo's db.command) and gives the server's reply; ok: 0 raises
  // command_error.
  task<document> command(document cmd, write_options opts = {}) const;
  task<std::vector<std::string>> list_collection_names() const;
  task<> drop() const;

 private:
  friend class client;
  friend class gridfs_bucket;
  database(std::shared_ptr<detail::client_state> s, std::string name) : s_(std::move(s)), name_(std::move(name)) {}
  std::shared_ptr<detail::client_state> s_;
  std::string name_;
};

// A transaction of a session: an async context manager that commits on success and
// aborts on an exception or cancellation. Against a server without transactions (a
// standalone mongod, CongoDB), commit and abort are still sent; the server decides.
class [[nodiscard("enter it: co_await aw::async_with(session.start_transaction(), body); no transaction starts until then")]] transaction {
 public:
  task<transaction&> aenter();
  task<> aexit(std::exception_ptr e);

 private:
  friend class session;
  explicit transaction(std::shared_ptr<detail::session_state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::session_state> s_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<transaction> enter_check_;
};

// A logical session (pymongo's ClientSession): an async context manager. Pass it to calls
// with `opts.session(s)`; while it is open it holds one of the client's connections.
class [[nodiscard("enter it: co_await aw::async_with(client.start_session(), body); no session starts until then")]] session {
 public:
  session(session&&) noexcept = default;
  session& operator=(session&&) = delete;
  ~session();
  task<session&> aenter();
  task<> aexit(std::exception_ptr e);

  transaction start_transaction() { return transaction(s_); }
  bool in_transaction() const noexcept;
  // The server session id, {"id": UUID}.
  document id() const;
  const std::shared_ptr<detail::session_state>& state() const noexcept { return s_; }

 private:
  friend class client;
  session(std::shared_ptr<detail::client_state> c, session_options opts);
  std::shared_ptr<detail::session_state> s_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<session> enter_check_;
};

class [[nodiscard("enter it: co_await aw::async_with(client, body); calls are made inside the block")]] client {
 public:
  // `uri`: a MongoDB connection string; a malformed one raises configuration_error (with the
  // password, if any, left out of the message).
  [[nodiscard("enter it: co_await aw::async_with(client, body); calls are made inside the block")]] explicit client(
      std::string_view uri, client_options opts = {});
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client();

  // Starts the workers (no I/O: the driver connects on first use, as pymongo does).
  task<client&> aenter();
  task<> aexit(std::exception_ptr e);

  database operator[](std::string_view name) const { return database(s_, std::string(name)); }
  session start_session(session_options opts = {}) { return session(s_, std::move(opts)); }
  // {ping: 1} on the admin database: raises connection_error when no server answers.
  task<> ping() const;
  // The connection string with its password replaced by "***".
  const std::string& redacted_uri() const noexcept;

 private:
  std::shared_ptr<detail::client_state> s_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<client> enter_check_;
};

template <class Derived>
Derived& options_base<Derived>::session(mongo::session& s) {
  session_ = s.state();
  return static_cast<Derived&>(*this);
}

}  // namespace aw::mongo
