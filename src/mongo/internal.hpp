// aw::mongo's internals: the state a client, its cursors and its sessions share, and the path
// of a call on a database or a collection to a worker (call_context, run_call).
#pragma once

#include "flight.hpp"
#include "workers.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/mongo/client.hpp>
#include <aw/semaphore.hpp>

#include <mongoc/mongoc.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::mongo {
namespace detail {

inline bool acknowledged(const document& opts) {
  auto wc = opts.find<document>("writeConcern");
  if (!wc || !wc->contains("w")) return true;
  auto t = wc->type_of("w");
  if (t == type::int32) return wc->get<std::int32_t>("w") != 0;
  if (t == type::int64) return wc->get<std::int64_t>("w") != 0;
  return true;
}

struct client_state {
  std::string redacted;
  mongoc_uri_t* uri = nullptr;
  mongoc_client_pool_t* pool = nullptr;
  std::size_t n_workers = 0;
  std::size_t max_leases = 0;
  std::unique_ptr<workers> w;
  semaphore lease_slots{fast_acquire, 0};  // internal: no yield on a free slot
  std::size_t open_leases = 0;
  // Leases whose owner left while an abandoned job held them: their last job gives them back
  // to the pool from its worker and counts them in `returns`, which the loop then collects.
  std::size_t orphaned_leases = 0;
  std::shared_ptr<lease_returns> returns = std::make_shared<lease_returns>();
  // The loop the client is open on. While it listens for give-backs and a lease is orphaned,
  // it holds an external ref: a task waiting for a slot then waits for a worker, it is not
  // deadlocked.
  loop* home = nullptr;
  std::chrono::milliseconds close_timeout;
  bool entered = false;
  bool closed = false;

  client_state(std::string_view uri_text, const client_options& opts);
  ~client_state();

  void check_open() const {
    if (!entered || closed || !w) throw closed_error("aw::mongo: the client is not open (use it inside `async with client`)");
  }

  // fn(mongoc_client_t*) on a worker (with the lease's client when `l` is set). g++ 12
  // miscompiles a closure temporary with non-trivial captures inside a co_await expression
  // (the aggregate-temporary bug the README names): inside coroutines the jobs are named
  // first, then moved into run().
  template <class F>
  auto run(std::shared_ptr<lease> l, F fn, std::string trace_label = {}) {
    check_open();
    return w->run(std::move(l), std::move(fn), std::move(trace_label));
  }

  task<std::shared_ptr<lease>> acquire_lease() {
    check_open();
    collect_returned();
    co_await lease_slots.acquire();
    mongoc_client_t* c = mongoc_client_pool_try_pop(pool);
    if (!c) {
      lease_slots.release();
      throw error("aw::mongo: the connection pool is exhausted", 0, 0);
    }
    ++open_leases;
    auto l = std::make_shared<lease>();
    l->client = c;
    l->pool = pool;
    l->returns = returns;
    co_return l;
  }
  // Cursor buffers kept for the next cursor (cursor_core::pending): in steady state a find
  // neither grows a buffer on its worker nor frees one on the loop (a freed buffer let glibc
  // trim the worker's arena, madvise and page faults on every find). Small ones only, and a
  // few: a client that once read a large result keeps no more than 8 MiB of them.
  std::mutex buffers_m;
  std::vector<std::vector<std::uint8_t>> buffers;
  static constexpr std::size_t max_buffers = 8;
  static constexpr std::size_t max_buffer_capacity = 1 << 20;
  std::vector<std::uint8_t> take_buffer() {
    std::lock_guard g(buffers_m);
    if (buffers.empty()) return {};
    auto b = std::move(buffers.back());
    buffers.pop_back();
    return b;
  }
  void give_buffer(std::vector<std::uint8_t>& b) {
    if (b.capacity() == 0 || b.capacity() > max_buffer_capacity) return;
    b.clear();
    std::lock_guard g(buffers_m);
    if (buffers.size() < max_buffers) buffers.push_back(std::move(b));
  }

  // On the loop, after the last job on the lease completed.
  void release_lease(lease& l) noexcept {
    mongoc_client_pool_push(pool, l.client);
    l.client = nullptr;
    --open_leases;
    lease_slots.release();
    collect_returned();
  }
  // On the loop: the owner of `l` leaves without waiting for the job that holds it, which
  // gives the lease back itself (lease::give_back_from_worker).
  void orphan_lease(lease&) noexcept {
    if (orphaned_leases++ == 0 && home) home->add_external_ref();
  }
  // On the loop: counts the leases workers gave back, each one's slot to the next waiter.
  void collect_returned() noexcept {
    std::size_t n = returns->take();
    if (n == 0) return;
    for (; n > 0; --n) {
      --orphaned_leases;
      --open_leases;
      lease_slots.release();
    }
    if (orphaned_leases == 0 && home) home->release_external_ref();
  }
};

struct session_state {
  std::shared_ptr<client_state> c;
  session_options opts;
  std::shared_ptr<lease> l;
  bool in_transaction = false;
};

// What the jobs of a cursor share (under the lease's lock), apart from the client.
struct cursor_core {
  std::function<mongoc_cursor_t*(mongoc_client_t*, mongoc_collection_t**)> open;
  std::string what;
  // Documents per trip to a worker. With a batch size, one server batch per trip. Without,
  // as many as the driver gives (it sends getMores as needed) up to trip_bytes, so that a
  // result set of up to a few MiB comes back in a single trip, however the server batches it
  // (mongod: 101 documents, then up to 16 MiB; CongoDB: 101 per getMore). Every trip is one
  // handoff to a worker and back, so fewer trips is most of what a cursor costs here.
  std::size_t trip_docs = static_cast<std::size_t>(-1);
  static constexpr std::size_t trip_bytes = 4 << 20;
  mongoc_collection_t* coll = nullptr;
  mongoc_cursor_t* cur = nullptr;
  // Documents fetched and not yet handed to the loop, as raw BSON back to back: a fetch the
  // caller abandoned leaves its documents here for the next one, so cancelling next() loses
  // nothing. One buffer per trip rather than one allocation per document: the worker only
  // copies bytes, and each document is allocated on the loop's thread as next() gives it out,
  // where the caller frees it. (Documents allocated on a worker and freed on the loop made
  // glibc trim the worker's arena with madvise on every trip, a TLB shootdown each time.)
  // `spare` is a buffer the loop has used up, kept for its capacity.
  std::mutex m;
  std::vector<std::uint8_t> pending;
  std::vector<std::uint8_t> spare;
  bool more = true;
  std::int64_t id = 0;
  // Fetch jobs submitted and not finished (a dropped job never finishes: the count errs on
  // the safe side). With none, and the cursor already closed by the fetch that exhausted it,
  // leaving needs no trip to a worker.
  int in_flight = 0;
  // The cursor's block was left while a fetch job still ran: the last such job closes the
  // cursor and gives the lease back.
  bool orphaned = false;

  // The last job of an orphaned cursor (flight::end) closes it: killCursors, on this
  // connection (the server answers it or the socket timeout ends it, on this worker either
  // way).
  void release_orphaned() noexcept {
    {
      std::lock_guard g(m);
      more = false;
    }
    if (cur) mongoc_cursor_destroy(cur);
    if (coll) mongoc_collection_destroy(coll);
    cur = nullptr;
    coll = nullptr;
  }
};

struct cursor_state {
  std::shared_ptr<client_state> c;
  std::shared_ptr<session_state> sess;
  std::shared_ptr<lease> l;
  std::shared_ptr<cursor_core> core = std::make_shared<cursor_core>();
  bool own_lease = false;
  bool entered = false;
};

inline std::shared_ptr<lease> lease_of(const std::shared_ptr<session_state>& s) {
  if (!s) return nullptr;
  if (!s->l) throw closed_error("aw::mongo: the session is not open (use it inside `async with session`)");
  return s->l;
}

// What a call on a collection or a database gets on its worker, the shape nearly every call
// shares: the handles, the call's options with its session appended, a reply and an error
// for libmongoc to fill, and check()/fail(), the one error path (the typed error of
// errors.hpp, its message naming the call and the namespace).
class call_context {
 public:
  call_context(mongoc_client_t* c, const std::string& db, const std::string& coll, const std::string& what, document& opts,
               const std::shared_ptr<lease>& l)
      : client(c), db_(db), coll_(coll), what_(what), opts_(opts) {
    if (l && l->session) {  // under the lease's lock: the job runs on the lease
      bson_error_t err;
      if (!mongoc_client_session_append(l->session, opts_.native(), &err)) throw_error(err, nullptr, "session");
    }
  }
  ~call_context() {
    if (coll_handle_) mongoc_collection_destroy(coll_handle_);
    if (db_handle_) mongoc_database_destroy(db_handle_);
    bson_destroy(&reply_);
  }
  call_context(const call_context&) = delete;
  call_context& operator=(const call_context&) = delete;

  mongoc_client_t* const client;
  mongoc_collection_t* coll() {
    if (!coll_handle_) coll_handle_ = mongoc_client_get_collection(client, db_.c_str(), coll_.c_str());
    return coll_handle_;
  }
  mongoc_database_t* database() {
    if (!db_handle_) db_handle_ = mongoc_client_get_database(client, db_.c_str());
    return db_handle_;
  }
  const bson_t* opts() const noexcept { return opts_.native(); }
  const document& opts_document() const noexcept { return opts_; }
  // For libmongoc's `reply` (always initialised by the call) and `error` parameters.
  bson_t* reply() noexcept { return &reply_; }
  bson_error_t* error() noexcept { return &err_; }
  document reply_document() const { return document::copy_of(&reply_); }
  // Whether the server acknowledges writes under the call's write concern (not w: 0).
  bool acknowledged() const { return detail::acknowledged(opts_); }

  // The call's outcome: false raises the typed error from error() and reply().
  void check(bool ok) const {
    if (!ok) fail(err_, &reply_);
  }
  [[noreturn]] void fail(const bson_error_t& err, const bson_t* reply) const {
    throw_error(err, reply, what_ + " " + db_ + (coll_.empty() ? "" : "." + coll_));
  }

 private:
  const std::string& db_;
  const std::string& coll_;
  const std::string& what_;
  document& opts_;
  mongoc_collection_t* coll_handle_ = nullptr;
  mongoc_database_t* db_handle_ = nullptr;
  bson_t reply_ = BSON_INITIALIZER;
  bson_error_t err_{};
};

// Runs body(call_context&) on a worker: the call `what` on db.coll (coll empty: on the
// database) with the options `o`, in the session `sess` when one is given. The body owns
// copies of what it uses (captured by value): a cancelled caller leaves it behind.
template <class Body>
auto run_call(const std::shared_ptr<client_state>& s, const std::string& db, const std::string& coll, std::string what, document o,
              const std::shared_ptr<session_state>& sess, Body body) {
  auto l = lease_of(sess);
  std::string label;  // on the trace timeline (aw/trace.hpp): "Mongo call find_one in db.coll"
  if (aw::detail::trace_on) [[unlikely]] {
    label = "Mongo call ";
    label += what;
    label += ' ';
    label += db;
    if (!coll.empty()) {
      label += '.';
      label += coll;
    }
  }
  auto job = [db, coll, what = std::move(what), o = std::move(o), l, body = std::move(body)](mongoc_client_t* c) mutable {
    call_context k(c, db, coll, what, o, l);
    return body(k);
  };
  return s->run(std::move(l), std::move(job), std::move(label));
}

// Awaits `job` shielded from cancellation: cleanup that must finish before a lease returns.
template <class F>
task<> shielded(F job) {
  cancel_scope scope(clock::time_point::max(), true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> { co_await job(); });
}

}  // namespace detail

using detail::call_context;
using detail::run_call;
using detail::shielded;
using detail::throw_error;

}  // namespace aw::mongo
