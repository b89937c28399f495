// aw::pg's internals: the wire, the libpq session a connection owns (socket waits, the
// pipeline, COPY's data path), and the libpq helpers the module's files share.
//
// A connection is the API; its wire is the protocol, as asyncpg keeps its protocol apart
// from connection.py. The module's classes (transaction, cursor, listener,
// prepared_statement, pool) reach it with wire::of(conn). Its members are defined in:
//   wire.cpp             sending a statement and reading its results (flush, collect), the
//                        server's cancel, query() (the statement cache's path and the
//                        pipeline's sender), the simple and unprepared paths, closing
//   statement_cache.cpp  preparing for the statement cache, freeing what it evicted
//   pipeline.cpp         reading pipelined results, emptying the pipeline for what runs
//                        alone (acquire_exclusive), executemany
//   copy.cpp             COPY's data path
//   connection.cpp       connecting, probing and resetting the session, the server's
//                        notices; listener.cpp and prepared_statement.cpp their own parts
//
// State, in short: busy_ is held by whoever sends, and by what runs alone; inflight_ holds
// the statements sent in pipeline mode, oldest first, and reading_ says one of their tasks
// reads results (the pipeline.cpp preamble says more).
#pragma once

#include <aw/detail/trace.hpp>
#include <aw/event.hpp>
#include <aw/pg/connection.hpp>
#include <aw/pg/errors.hpp>
#include <aw/pg/params.hpp>
#include <aw/semaphore.hpp>
#include <aw/task.hpp>
#include <aw/wait_fd.hpp>

#include "statement_cache.hpp"

#include <libpq-fe.h>

#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::pg::detail {

// The fields of an error or notice result.
error_fields fields_of(const PGresult* r);
// libpq's message without its trailing newline.
std::string trimmed(const char* msg);
// A statement on the trace timeline (aw/trace.hpp), from send to result: a span named
// "PostgreSQL query " and the statement's first 60 characters, its whitespace folded.
std::string trace_label(std::string_view sql);
inline constexpr const char* trace_span_kind = "PostgreSQL query";

// Clears the result it holds (if any) when the scope ends.
struct result_guard {
  PGresult* r;
  ~result_guard() {
    if (r) PQclear(r);
  }
};

// Internal to aw::pg (this header is not installed): its members are public so that the
// module's classes use them without a list of friends.
class wire;
// The event procedure that hands each result the connection's codec_registry (type_codec.cpp):
// registered when the connection opens; publish_registry makes `next` the registry of the
// results made from then on, attach_registry gives one to a result made before.
void register_result_events(wire& w);
void publish_registry(wire& w, std::shared_ptr<const codec_registry> next);
void attach_registry(PGresult* r, const std::shared_ptr<const codec_registry>& reg);

class wire {
 public:
  wire(connection& owner, connection_options o);
  wire(const wire&) = delete;  // tasks point at it
  wire& operator=(const wire&) = delete;
  ~wire();

  static wire& of(connection& c) noexcept { return *c.wire_; }
  static const wire& of(const connection& c) noexcept { return *c.wire_; }

  // A statement sent in pipeline mode, waiting for its results; lives in the sender's frame.
  struct pipelined {
    event turn;  // set when its results are the next to read (this task reads them), or when done
    result res;
    std::exception_ptr error;
    bool done = false;
  };
  // Gives busy_ back when the scope that holds it ends, on every path.
  struct busy_hold {
    semaphore* s;
    ~busy_hold() { s->release(); }
  };
  // What copy_in sends: before (may be null) runs before the COPY starts, produce sends the
  // data (put_copy).
  struct copy_feed {
    task<> (*before)(wire& w, void* state) = nullptr;
    task<> (*produce)(wire& w, void* state) = nullptr;
    void* state = nullptr;
    const char* failed = "";  // the CopyFail message when produce fails
  };

  // co_await socket_wait(w, POLLIN): a wait on the socket that close() from another task
  // can end. close() cannot close the socket under a waiting task (epoll forgets a closed
  // descriptor, and io_uring waits on for a server busy with a statement): it shuts the
  // socket down, which wakes the waiters, who raise connection_lost; the last one to leave
  // its wait finishes the close.
  class socket_wait {
   public:
    socket_wait(wire& w, std::uint32_t events) noexcept : w_(w), wait_(PQsocket(w.conn_), events) { ++w_.socket_waits_; }
    socket_wait(const socket_wait&) = delete;
    ~socket_wait() {
      if (--w_.socket_waits_ == 0 && w_.close_pending_) w_.finish_close();
    }
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      return wait_.await_suspend(h);
    }
    void await_resume() const {
      (void)wait_.await_resume();
      if (w_.close_pending_) throw connection_lost("aw::pg: the connection was closed");
    }

   private:
    wire& w_;
    aw::detail::fd_wait_awaiter wait_;
  };

  // Connecting, probing and resetting the session (connection.cpp).
  task<> open(std::string dsn);
  bool probe() noexcept;
  task<> reset();
  bool is_clean() const noexcept;

  // The session (wire.cpp).
  void close() noexcept;
  void finish_close() noexcept;
  bool is_closed() const noexcept;
  bool in_transaction() const noexcept;
  void check_open() const;
  [[noreturn]] void throw_lost(const char* what);
  void note_status(const char* tag) noexcept;
  task<> flush();
  task<> await_input();
  task<result> collect();
  task<> send_cancel_request();
  task<> cancel_and_drain();
  task<std::string> simple_query(std::string_view sql);
  task<std::string> simple_query_held(std::string_view sql);
  task<result> query_unprepared(std::string sql, params* p);
  task<result> query_unprepared_held(std::string sql, params* p);
  task<> close_cursors();
  task<result> query(std::string_view sql, encoder enc, prepared_statement* named);

  // The pipeline (pipeline.cpp).
  task<> acquire_exclusive();
  task<> drain_pipeline();
  task<> await_pipelined(pipelined& op);
  task<> read_front(pipelined* into);
  task<> interrupted_pipelined(pipelined& op, std::exception_ptr e);
  task<> cancel_pipelined(pipelined& op);
  void pass_turn() noexcept;
  void fail_pipeline(std::exception_ptr e) noexcept;
  task<> query_many(std::string_view sql, connection::many_fn next, void* state);

  // Preparing for the statement cache (statement_cache.cpp) and a prepared statement
  // (prepared_statement.cpp).
  using statement = statement_cache::statement;
  task<const statement*> prepare_cached(std::string_view sql);
  task<> deallocate_evicted();
  task<> prepare_named(prepared_statement& st);
  void check_arguments(const prepared_statement& st) const;

  // The types made after initdb that a result has, looked up in pg_catalog once per
  // connection (introspection.cpp).
  bool knows_types(const PGresult* r) const noexcept;
  task<> look_up_types(result& r);

  // COPY (copy.cpp).
  task<std::string> copy_in(const std::string& sql, copy_feed feed);
  task<std::string> copy_out(std::string sql, byte_sink& sink);
  task<> begin_copy(int want);
  task<> put_copy(std::string_view data);
  task<> end_copy_in();
  task<> abort_copy_in(const char* why);

  // Notifications (listener.cpp) and notices (connection.cpp).
  void deliver_notifications();
  static void notice_received(void* self, const PGresult* r) noexcept;

  connection& owner_;
  pg_conn* conn_ = nullptr;
  connection_options opts_;
  // held while sending, and by what runs alone (acquire_exclusive). Fast: a fair acquire
  // would yield holding it, and statements would wait for each other's results instead of
  // being pipelined.
  semaphore busy_{fast_acquire, 1};
  std::deque<pipelined*> inflight_;  // sent in pipeline mode, in order; nullptr: abandoned, results dropped
  bool reading_ = false;             // a task reads the pipeline's results now
  event* drained_ = nullptr;         // the exclusive operation waiting for the pipeline to empty
  params params_;
  // The codecs of connection::set_type_codec; libpq's event procedure (type_codec.cpp)
  // hands each new result the ones current when it was made.
  std::shared_ptr<const codec_registry> codecs_;
  bool codec_events_ = false;  // the event procedure is registered on conn_ (when it opens)
  statement_cache cache_;
  std::vector<listener*> listeners_;
  std::vector<aw::pg::cursor*> cursors_;                        // open ones: detached when the connection closes
  std::vector<std::pair<std::string, std::uint64_t>> closing_;  // portals to CLOSE before the next statement
  std::uint64_t tx_epoch_ = 0;                                  // bumped when a transaction (or savepoint) ends
  std::uint64_t next_cursor_ = 0;
  std::uint64_t next_statement_ = 0;
  std::uint64_t next_savepoint_ = 0;
  std::uint64_t queries_ = 0;
  bool dirty_ = false;
  bool broken_ = false;
  std::vector<std::pair<std::uint64_t, connection::log_listener>> log_listeners_;
  std::uint64_t next_log_listener_ = 0;
  int socket_waits_ = 0;        // tasks waiting on the socket (socket_wait)
  bool close_pending_ = false;  // close() came while some did: the last one closes
};

}  // namespace aw::pg::detail
