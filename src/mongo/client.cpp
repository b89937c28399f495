// aw::mongo's client, database, collection, cursor, session and transaction: each call
// handed to a worker thread running libmongoc and awaited on the loop (the split into one
// file per class is still to do).
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/mongo/client.hpp>
#include <aw/redact.hpp>
#include <aw/semaphore.hpp>
#include <aw/to_thread.hpp>

#include "workers.hpp"

#include <mongoc/mongoc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <utility>

namespace aw::mongo {

namespace detail {

namespace {

void init_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // libmongoc logs to stderr by default (e.g. a warning per failed server check); the
    // errors reach the caller as exceptions instead.
    mongoc_log_set_handler(nullptr, nullptr);
  });
}

// A reply bson_t that libmongoc initialises (it always does, success or not).
struct reply_holder {
  bson_t b = BSON_INITIALIZER;
  reply_holder() = default;
  reply_holder(const reply_holder&) = delete;
  reply_holder& operator=(const reply_holder&) = delete;
  ~reply_holder() { bson_destroy(&b); }
  bson_t* operator&() noexcept { return &b; }
  document copy() const { return document::copy_of(&b); }
};

bool acknowledged(const document& opts) {
  auto wc = opts.find<document>("writeConcern");
  if (!wc || !wc->contains("w")) return true;
  auto t = wc->type_of("w");
  if (t == type::int32) return wc->get<std::int32_t>("w") != 0;
  if (t == type::int64) return wc->get<std::int64_t>("w") != 0;
  return true;
}

std::int64_t count_field(const document& d, std::string_view key) {
  if (!d.contains(key)) return 0;
  switch (d.type_of(key)) {
    case type::int32:
    case type::int64:
      return d.get<std::int64_t>(key);
    case type::double_:
      return static_cast<std::int64_t>(d.get<double>(key));
    default:
      return 0;
  }
}

}  // namespace

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
  // to the pool from its worker and counts them in `returned`, which the loop then collects.
  std::size_t orphaned_leases = 0;
  std::shared_ptr<std::atomic<std::size_t>> returned = std::make_shared<std::atomic<std::size_t>>(0);
  std::chrono::milliseconds close_timeout;
  bool entered = false;
  bool closed = false;

  client_state(std::string_view uri_text, const client_options& opts)
      : redacted(redact_credentials(uri_text)), close_timeout(opts.close_timeout()) {
    init_driver();
    bson_error_t err;
    uri = mongoc_uri_new_with_error(std::string(uri_text).c_str(), &err);
    if (!uri)
      throw configuration_error("aw::mongo: invalid connection string \"" + redacted + "\": " + scrub_credentials(err.message, uri_text),
                                err.domain, err.code);
    n_workers = std::max<std::size_t>(1, opts.max_workers());
    // The pool serves the workers (one client each while a call runs) and the open cursors
    // and sessions (one each while open).
    const auto max_pool = static_cast<std::size_t>(std::max(1, mongoc_uri_get_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, 100)));
    const std::size_t pool_size = std::max(max_pool, n_workers + 1);
    max_leases = pool_size - n_workers;
    pool = mongoc_client_pool_new_with_error(uri, &err);
    if (!pool) {
      mongoc_uri_destroy(uri);
      throw configuration_error("aw::mongo: cannot create a client for \"" + redacted + "\": " + scrub_credentials(err.message, uri_text),
                                err.domain, err.code);
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_max_size(pool, static_cast<std::uint32_t>(pool_size));
    for (std::size_t i = 0; i < max_leases; ++i) lease_slots.release();
  }
  ~client_state() {
    w.reset();  // an entered client that was never exited (a misuse): waits for its jobs
    // A cursor or session still open would hold a pooled client: leak the pool rather
    // than free it under them (only a misuse gets here).
    collect_returned();
    if (open_leases == 0 && pool) mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
  }

  void check_open() const {
    if (!entered || closed || !w) throw closed_error("aw::mongo: the client is not open (use it inside `async with client`)");
  }

  // fn(mongoc_client_t*) on a worker (with the lease's client when `l` is set).
  template <class F>
  auto run(std::shared_ptr<lease> l, F fn) {
    check_open();
    return w->run(std::move(l), std::move(fn));
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
    l->returned = returned;
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
  void orphan_lease(lease&) noexcept { ++orphaned_leases; }
  void collect_returned() noexcept {
    for (std::size_t n = returned->exchange(0, std::memory_order_acquire); n > 0; --n) {
      --orphaned_leases;
      --open_leases;
      lease_slots.release();
    }
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
  std::mutex pm;
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
};

// A fetch job's place in cursor_core::in_flight: given back by the job when it runs
// (end_fetch), or when the job is dropped unrun (the closure is destroyed).
struct fetch_flight {
  std::shared_ptr<cursor_core> core;
  explicit fetch_flight(std::shared_ptr<cursor_core> c) : core(std::move(c)) {}
  fetch_flight(fetch_flight&& o) noexcept = default;
  fetch_flight(const fetch_flight&) = delete;
  fetch_flight& operator=(const fetch_flight&) = delete;
  fetch_flight& operator=(fetch_flight&&) = delete;
  ~fetch_flight() {
    if (!core) return;
    std::lock_guard g(core->pm);
    --core->in_flight;
  }
  // On the worker, under the lease's lock, at the end of the job. The last job of an
  // orphaned cursor closes it (killCursors, on this connection: the server answers it or
  // the socket timeout ends it, on this worker either way) and gives the lease back.
  void end(lease& l) {
    auto c = std::move(core);
    bool last;
    {
      std::lock_guard g(c->pm);
      last = --c->in_flight == 0 && c->orphaned;
      if (last) c->more = false;
    }
    if (!last) return;
    if (c->cur) mongoc_cursor_destroy(c->cur);
    if (c->coll) mongoc_collection_destroy(c->coll);
    c->cur = nullptr;
    c->coll = nullptr;
    l.give_back_from_worker();
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

namespace {

std::shared_ptr<lease> lease_of(const std::shared_ptr<session_state>& s) {
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
  auto job = [db, coll, what = std::move(what), o = std::move(o), l, body = std::move(body)](mongoc_client_t* c) mutable {
    call_context k(c, db, coll, what, o, l);
    return body(k);
  };
  return s->run(std::move(l), std::move(job));
}

}  // namespace
}  // namespace detail

using detail::call_context;
using detail::reply_holder;
using detail::run_call;
using detail::throw_error;

// ---- client ----------------------------------------------------------------------------

client::client(std::string_view uri, client_options opts) : s_(std::make_shared<detail::client_state>(uri, opts)) {}
client::~client() = default;

task<client&> client::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a client can be entered once");
  s_->w = std::make_unique<detail::workers>(s_->pool, s_->n_workers);
  s_->entered = true;
  co_return *this;
}

task<> client::aexit(std::exception_ptr) {
  if (s_->closed) co_return;
  s_->closed = true;
  s_->collect_returned();
  // Destroying the workers waits for every job, the calls cancelled tasks abandoned too
  // (they use the pool's clients; only the driver's socket timeout bounds a call to a silent
  // server), and destroying the pool joins its monitor threads and ends the server sessions.
  // Both block: they run on a thread of their own, which the exit waits for close_timeout at
  // most (motor's close() does not wait at all). What is left finishes there, its results
  // dropped: the jobs own what they use, and the pool goes only after the last of them. The
  // leases still open then are orphaned ones, which their jobs give back first.
  mongoc_client_pool_t* pool = s_->open_leases == s_->orphaned_leases ? std::exchange(s_->pool, nullptr) : nullptr;
  struct closing {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  auto state = std::make_shared<closing>();
  std::thread([w = std::move(s_->w), pool, state]() mutable {
    w.reset();
    if (pool) mongoc_client_pool_destroy(pool);  // closes the connections and the monitors
    std::lock_guard g(state->m);
    state->done = true;
    state->cv.notify_all();
  }).detach();
  auto wait = [state, timeout = s_->close_timeout] {
    std::unique_lock g(state->m);
    state->cv.wait_for(g, timeout, [&] { return state->done; });
  };
  // Shielded (an exit is, inside async_with; this holds when called directly too): the
  // wait is bounded by close_timeout itself.
  cancel_scope shield(clock::time_point::max(), true);
  co_await async_with(shield, [&](cancel_scope&) -> task<> { co_await aw::to_thread(std::move(wait)); });
}

const std::string& client::redacted_uri() const noexcept { return s_->redacted; }

task<> client::ping() const {
  return run_call(s_, "admin", "", "ping", document(), nullptr, [](call_context& k) {
    document cmd{{"ping", 1}};
    k.check(mongoc_client_command_simple(k.client, "admin", cmd.native(), nullptr, k.reply(), k.error()));
  });
}

// ---- database --------------------------------------------------------------------------

task<document> database::command(document cmd, write_options opts) const {
  return run_call(s_, name_, "", "command on", std::move(opts).opts(), opts.session_state(), [cmd = std::move(cmd)](call_context& k) {
    k.check(mongoc_database_command_with_opts(k.database(), cmd.native(), nullptr, k.opts(), k.reply(), k.error()));
    return k.reply_document();
  });
}

task<std::vector<std::string>> database::list_collection_names() const {
  return run_call(s_, name_, "", "list_collection_names on", document(), nullptr, [](call_context& k) {
    char** names = mongoc_database_get_collection_names_with_opts(k.database(), k.opts(), k.error());
    k.check(names != nullptr);
    std::vector<std::string> out;
    for (char** p = names; *p; ++p) out.emplace_back(*p);
    bson_strfreev(names);
    return out;
  });
}

task<> database::drop() const {
  return run_call(s_, name_, "", "drop of", document(), nullptr, [](call_context& k) {
    bool ok = mongoc_database_drop_with_opts(k.database(), k.opts(), k.error());
    k.check(ok || k.error()->code == 26);  // 26: NamespaceNotFound
  });
}

// ---- collection ------------------------------------------------------------------------

collection::collection(std::shared_ptr<detail::client_state> s, std::string db, std::string name)
    : s_(std::move(s)), db_(std::move(db)), name_(std::move(name)) {}

namespace {

// Gives `doc` an ObjectId _id in front when it has none (as pymongo does, so the result can
// name it), and returns the _id.
value ensure_id(document& doc) {
  if (doc.contains("_id")) {
    try {
      return doc.get<value>("_id");
    } catch (const field_error&) {
      return value();  // an _id of a type value does not hold (regex, ...)
    }
  }
  object_id id = object_id::generate();
  // One allocation of the final size (the _id element is 17 bytes), then the fields.
  bson_t* b = bson_sized_new(doc.native()->len + 17);
  if (!b) throw std::bad_alloc();
  BSON_APPEND_OID(b, "_id", &id.native());
  bson_concat(b, doc.native());
  doc = document::adopt(b);
  return id;
}

update_result to_update_result(call_context& k) {
  document reply = k.reply_document();
  update_result r;
  r.matched_count = detail::count_field(reply, "matchedCount");
  r.modified_count = detail::count_field(reply, "modifiedCount");
  if (reply.contains("upsertedId")) r.upserted_id = reply.get<value>("upsertedId");
  r.acknowledged = k.acknowledged();
  r.raw_result = std::move(reply);
  return r;
}

delete_result to_delete_result(call_context& k) {
  delete_result r;
  r.raw_result = k.reply_document();
  r.deleted_count = detail::count_field(r.raw_result, "deletedCount");
  r.acknowledged = k.acknowledged();
  return r;
}

std::optional<document> find_and_modify(call_context& k, const document& filter, const document& update, const find_one_and_options& o,
                                        bool remove) {
  mongoc_find_and_modify_opts_t* fm = mongoc_find_and_modify_opts_new();
  int flags = remove ? MONGOC_FIND_AND_MODIFY_REMOVE : MONGOC_FIND_AND_MODIFY_NONE;
  if (!remove) mongoc_find_and_modify_opts_set_update(fm, update.native());
  if (o.is_upsert()) flags |= MONGOC_FIND_AND_MODIFY_UPSERT;
  if (o.is_return_after()) flags |= MONGOC_FIND_AND_MODIFY_RETURN_NEW;
  mongoc_find_and_modify_opts_set_flags(fm, static_cast<mongoc_find_and_modify_flags_t>(flags));
  if (!o.sort().empty()) mongoc_find_and_modify_opts_set_sort(fm, o.sort().native());
  if (!o.projection().empty()) mongoc_find_and_modify_opts_set_fields(fm, o.projection().native());
  if (!k.opts_document().empty()) mongoc_find_and_modify_opts_append(fm, k.opts());
  bool ok = mongoc_collection_find_and_modify_with_opts(k.coll(), filter.native(), fm, k.reply(), k.error());
  mongoc_find_and_modify_opts_destroy(fm);
  k.check(ok);
  document r = k.reply_document();
  std::optional<document> out;
  if (r.contains("value") && r.type_of("value") == type::document) out = r.get<document>("value");
  return out;
}

}  // namespace

task<insert_one_result> collection::insert_one(document doc, write_options opts) const {
  value id = ensure_id(doc);
  return run_call(s_, db_, name_, "insert_one into", std::move(opts).opts(), opts.session_state(),
                  [doc = std::move(doc), id = std::move(id)](call_context& k) {
                    k.check(mongoc_collection_insert_one(k.coll(), doc.native(), k.opts(), k.reply(), k.error()));
                    insert_one_result r;
                    r.inserted_id = id;
                    r.acknowledged = k.acknowledged();
                    return r;
                  });
}

task<insert_many_result> collection::insert_many(std::vector<document> docs, write_options opts) const {
  if (docs.empty()) throw std::invalid_argument("aw::mongo: insert_many needs at least one document (pymongo raises TypeError)");
  std::vector<value> ids;
  ids.reserve(docs.size());
  for (auto& d : docs) ids.push_back(ensure_id(d));
  return run_call(s_, db_, name_, "insert_many into", std::move(opts).opts(), opts.session_state(),
                  [docs = std::move(docs), ids = std::move(ids)](call_context& k) {
                    // (a std::vector<const bson_t*> would drop bson_t's alignment attribute)
                    std::unique_ptr<const void*[]> ptrs(new const void*[docs.size()]);
                    for (std::size_t i = 0; i < docs.size(); ++i) ptrs[i] = docs[i].native();
                    k.check(mongoc_collection_insert_many(k.coll(), reinterpret_cast<const bson_t**>(ptrs.get()), docs.size(), k.opts(),
                                                          k.reply(), k.error()));
                    insert_many_result r;
                    r.inserted_ids = ids;
                    r.acknowledged = k.acknowledged();
                    return r;
                  });
}

task<std::optional<document>> collection::find_one(document filter, find_options opts) const {
  document o = std::move(opts).opts();
  o.append("limit", 1).append("singleBatch", true);
  return run_call(s_, db_, name_, "find_one in", std::move(o), opts.session_state(), [filter = std::move(filter)](call_context& k) {
    mongoc_cursor_t* cur = mongoc_collection_find_with_opts(k.coll(), filter.native(), k.opts(), nullptr);
    std::optional<document> out;
    const bson_t* d;
    if (mongoc_cursor_next(cur, &d)) out = document::copy_of(d);
    bson_error_t err;
    const bson_t* reply = nullptr;
    if (mongoc_cursor_error_document(cur, &err, &reply)) {
      document r = reply ? document::copy_of(reply) : document();
      mongoc_cursor_destroy(cur);
      k.fail(err, r.native());
    }
    mongoc_cursor_destroy(cur);
    return out;
  });
}

namespace {
void set_trips(detail::cursor_core& core, std::int32_t batch_size) {
  if (batch_size > 0) core.trip_docs = static_cast<std::size_t>(batch_size);
}
}  // namespace

cursor collection::find(document filter, find_options opts) const {
  auto st = std::make_shared<detail::cursor_state>();
  st->c = s_;
  st->sess = opts.session_state();
  st->core->what = "find in " + db_ + "." + name_;
  set_trips(*st->core, opts.batch_size());
  st->core->open = [db = db_, name = name_, filter = std::move(filter), o = std::move(opts).opts()](mongoc_client_t* c,
                                                                                                    mongoc_collection_t** coll) mutable {
    *coll = mongoc_client_get_collection(c, db.c_str(), name.c_str());
    return mongoc_collection_find_with_opts(*coll, filter.native(), o.native(), nullptr);
  };
  return cursor(std::move(st));
}

cursor collection::aggregate(array pipeline, aggregate_options opts) const {
  auto st = std::make_shared<detail::cursor_state>();
  st->c = s_;
  st->sess = opts.session_state();
  st->core->what = "aggregate on " + db_ + "." + name_;
  set_trips(*st->core, opts.batch_size());
  st->core->open = [db = db_, name = name_, p = std::move(pipeline), o = std::move(opts).opts()](mongoc_client_t* c,
                                                                                                 mongoc_collection_t** coll) mutable {
    *coll = mongoc_client_get_collection(c, db.c_str(), name.c_str());
    return mongoc_collection_aggregate(*coll, MONGOC_QUERY_NONE, p.as_document().native(), o.native(), nullptr);
  };
  return cursor(std::move(st));
}

cursor collection::list_indexes() const {
  auto st = std::make_shared<detail::cursor_state>();
  st->c = s_;
  st->core->what = "list_indexes of " + db_ + "." + name_;
  st->core->open = [db = db_, name = name_](mongoc_client_t* c, mongoc_collection_t** coll) {
    *coll = mongoc_client_get_collection(c, db.c_str(), name.c_str());
    return mongoc_collection_find_indexes_with_opts(*coll, nullptr);
  };
  return cursor(std::move(st));
}

task<update_result> collection::update_one(document filter, document update, update_options opts) const {
  return run_call(s_, db_, name_, "update_one on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter), update = std::move(update)](call_context& k) {
                    k.check(mongoc_collection_update_one(k.coll(), filter.native(), update.native(), k.opts(), k.reply(), k.error()));
                    return to_update_result(k);
                  });
}
task<update_result> collection::update_many(document filter, document update, update_options opts) const {
  return run_call(s_, db_, name_, "update_many on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter), update = std::move(update)](call_context& k) {
                    k.check(mongoc_collection_update_many(k.coll(), filter.native(), update.native(), k.opts(), k.reply(), k.error()));
                    return to_update_result(k);
                  });
}
task<update_result> collection::replace_one(document filter, document replacement, update_options opts) const {
  return run_call(s_, db_, name_, "replace_one on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter), replacement = std::move(replacement)](call_context& k) {
                    k.check(mongoc_collection_replace_one(k.coll(), filter.native(), replacement.native(), k.opts(), k.reply(), k.error()));
                    return to_update_result(k);
                  });
}
task<delete_result> collection::delete_one(document filter, write_options opts) const {
  return run_call(s_, db_, name_, "delete_one on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter)](call_context& k) {
                    k.check(mongoc_collection_delete_one(k.coll(), filter.native(), k.opts(), k.reply(), k.error()));
                    return to_delete_result(k);
                  });
}
task<delete_result> collection::delete_many(document filter, write_options opts) const {
  return run_call(s_, db_, name_, "delete_many on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter)](call_context& k) {
                    k.check(mongoc_collection_delete_many(k.coll(), filter.native(), k.opts(), k.reply(), k.error()));
                    return to_delete_result(k);
                  });
}
task<std::optional<document>> collection::find_one_and_update(document filter, document update, find_one_and_options opts) const {
  return run_call(s_, db_, name_, "find_one_and_update on", opts.opts(), opts.session_state(),
                  [filter = std::move(filter), update = std::move(update), opts](call_context& k) {
                    return find_and_modify(k, filter, update, opts, false);
                  });
}
task<std::optional<document>> collection::find_one_and_replace(document filter, document replacement, find_one_and_options opts) const {
  return run_call(s_, db_, name_, "find_one_and_replace on", opts.opts(), opts.session_state(),
                  [filter = std::move(filter), replacement = std::move(replacement), opts](call_context& k) {
                    return find_and_modify(k, filter, replacement, opts, false);
                  });
}
task<std::optional<document>> collection::find_one_and_delete(document filter, find_one_and_options opts) const {
  return run_call(s_, db_, name_, "find_one_and_delete on", opts.opts(), opts.session_state(),
                  [filter = std::move(filter), opts](call_context& k) { return find_and_modify(k, filter, document(), opts, true); });
}

task<std::int64_t> collection::count_documents(document filter, count_options opts) const {
  return run_call(s_, db_, name_, "count_documents on", std::move(opts).opts(), opts.session_state(),
                  [filter = std::move(filter)](call_context& k) {
                    std::int64_t n = mongoc_collection_count_documents(k.coll(), filter.native(), k.opts(), nullptr, k.reply(), k.error());
                    k.check(n >= 0);
                    return n;
                  });
}

task<std::int64_t> collection::estimated_document_count() const {
  return run_call(s_, db_, name_, "estimated_document_count on", document(), nullptr, [](call_context& k) {
    std::int64_t n = mongoc_collection_estimated_document_count(k.coll(), k.opts(), nullptr, k.reply(), k.error());
    k.check(n >= 0);
    return n;
  });
}

task<std::vector<value>> collection::distinct(std::string key, document filter, find_options opts) const {
  document cmd{{"distinct", name_}, {"key", key}, {"query", std::move(filter)}};
  return run_call(s_, db_, name_, "distinct on", std::move(opts).opts(), opts.session_state(), [cmd = std::move(cmd)](call_context& k) {
    k.check(mongoc_collection_read_command_with_opts(k.coll(), cmd.native(), nullptr, k.opts(), k.reply(), k.error()));
    return k.reply_document().get<array>("values").values();
  });
}

task<std::string> collection::create_index(document keys, index_options opts) const {
  std::string index_name = opts.name();
  if (index_name.empty()) {
    for (const element& e : keys) {
      if (!index_name.empty()) index_name += '_';
      index_name += e.key();
      index_name += '_';
      switch (e.type()) {
        case type::int32:
        case type::int64:
          index_name += std::to_string(e.get<std::int64_t>());
          break;
        case type::double_:
          index_name += std::to_string(static_cast<std::int64_t>(e.get<double>()));
          break;
        case type::string:
          index_name += e.get<std::string>();
          break;
        default:
          index_name += "x";
      }
    }
  }
  document index{{"key", std::move(keys)}, {"name", index_name}};
  if (opts.is_unique()) index.append("unique", true);
  document cmd{{"createIndexes", name_}, {"indexes", array{std::move(index)}}};
  return run_call(s_, db_, name_, "create_index on", std::move(opts).opts(), opts.session_state(),
                  [cmd = std::move(cmd), index_name](call_context& k) {
                    k.check(mongoc_collection_write_command_with_opts(k.coll(), cmd.native(), k.opts(), k.reply(), k.error()));
                    return index_name;
                  });
}

task<> collection::drop_index(std::string index_name) const {
  return run_call(s_, db_, name_, "drop_index " + index_name + " on", document(), nullptr,
                  [index_name = std::move(index_name)](call_context& k) {
                    k.check(mongoc_collection_drop_index_with_opts(k.coll(), index_name.c_str(), k.opts(), k.error()));
                  });
}

task<> collection::drop() const {
  return run_call(s_, db_, name_, "drop of", document(), nullptr, [](call_context& k) {
    bool ok = mongoc_collection_drop_with_opts(k.coll(), k.opts(), k.error());
    k.check(ok || k.error()->code == 26);  // 26: NamespaceNotFound
  });
}

// ---- cursor ----------------------------------------------------------------------------

cursor::cursor(std::shared_ptr<detail::cursor_state> s) noexcept : s_(std::move(s)) {}
cursor::cursor(cursor&& o) noexcept = default;
cursor::~cursor() = default;

std::int64_t cursor::id() const noexcept {
  std::lock_guard g(s_->core->pm);
  return s_->core->id;
}

task<cursor&> cursor::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a cursor can be entered once");
  s_->c->check_open();
  if (s_->sess) {
    s_->l = detail::lease_of(s_->sess);
  } else {
    s_->l = co_await s_->c->acquire_lease();
    s_->own_lease = true;
  }
  s_->entered = true;
  co_return *this;
}

task<> cursor::aexit(std::exception_ptr) {
  if (!s_->entered || !s_->l) co_return;
  auto l = s_->l;
  // Destroying the cursor sends killCursors when the server still holds it open.
  auto core = s_->core;
  bool closed, orphaned = false;
  {
    std::lock_guard g(core->pm);
    closed = core->in_flight == 0 && !core->cur;
    if (core->in_flight > 0 && s_->own_lease) {
      // A fetch the body abandoned still runs (on a silent server, until the socket times
      // out): the exit does not queue behind it. That job closes the cursor and gives the
      // lease back when it ends.
      core->orphaned = orphaned = true;
    }
  }
  if (orphaned) {
    s_->c->orphan_lease(*l);
    s_->l.reset();
    co_return;
  }
  if (!closed) {
    auto close = [core](mongoc_client_t*) {
      if (core->cur) mongoc_cursor_destroy(core->cur);
      if (core->coll) mongoc_collection_destroy(core->coll);
      core->cur = nullptr;
      core->coll = nullptr;
      // A fetch job abandoned earlier that gets the lease after this one finds nothing to do
      // (without this it would open the query again).
      std::lock_guard g(core->pm);
      core->more = false;
    };
    co_await s_->c->run(l, std::move(close));
  }
  {
    // The buffers go back to the client for the next cursor, unless a job abandoned earlier
    // may still fill one.
    std::lock_guard g(core->pm);
    if (core->in_flight == 0) {
      s_->c->give_buffer(core->pending);
      s_->c->give_buffer(core->spare);
      s_->c->give_buffer(batch_);
    }
  }
  if (s_->own_lease) s_->c->release_lease(*l);
  s_->l.reset();
}

namespace {
// The loop's side of a fetch, under core.pm: the fetched bytes become the batch, the used-up
// batch becomes the spare buffer (its capacity serves the next trip).
void take_pending(detail::cursor_core& core, std::vector<std::uint8_t>& batch, std::size_t& at) {
  batch.clear();
  core.spare.swap(batch);
  batch.swap(core.pending);
  at = 0;
}

// The document at `at` in a batch of raw BSON, allocated here (on the loop's thread).
document take_document(const std::vector<std::uint8_t>& batch, std::size_t& at) {
  std::uint32_t len;
  std::memcpy(&len, batch.data() + at, sizeof len);
  len = BSON_UINT32_FROM_LE(len);
  bson_t* b = bson_new_from_data(batch.data() + at, len);
  if (!b) throw std::bad_alloc();
  at += len;
  return document::adopt(b);
}
}  // namespace

task<bool> cursor::fetch() {
  if (!s_->l) throw closed_error("aw::mongo: the cursor is not open (use it inside `async with cursor`)");
  auto core = s_->core;
  {
    std::lock_guard g(core->pm);
    if (!core->pending.empty() || !core->more) {
      take_pending(*core, batch_, at_);
      co_return !batch_.empty();
    }
    ++core->in_flight;
    if (core->spare.capacity() == 0) core->spare = s_->c->take_buffer();
  }
  auto fetch_batch = [core, l = s_->l, flight = detail::fetch_flight(core)](mongoc_client_t* c) mutable {
    // Gives the job's place in in_flight back on every path, an error's included.
    struct ender {
      detail::fetch_flight& f;
      detail::lease& l;
      ~ender() { f.end(l); }
    } end{flight, *l};
    std::vector<std::uint8_t> got;
    {
      std::lock_guard g(core->pm);
      if (!core->more) {
        // Only a job the caller abandoned gets here: the one before it (also abandoned)
        // exhausted the cursor, or the cursor's exit closed it meanwhile.
        return;
      }
      got.swap(core->spare);
    }
    if (!core->cur) core->cur = core->open(c, &core->coll);
    got.clear();
    std::size_t n = 0;
    const bson_t* d;
    while (n < core->trip_docs && got.size() < detail::cursor_core::trip_bytes && mongoc_cursor_next(core->cur, &d)) {
      const std::uint8_t* p = bson_get_data(d);
      got.insert(got.end(), p, p + d->len);
      ++n;
    }
    bson_error_t err;
    const bson_t* reply = nullptr;
    const bool failed = mongoc_cursor_error_document(core->cur, &err, &reply);
    std::optional<document> r;
    if (failed && reply) r = document::copy_of(reply);
    {
      std::lock_guard g(core->pm);
      if (core->pending.empty())
        core->pending.swap(got);
      else
        core->pending.insert(core->pending.end(), got.begin(), got.end());
      core->more = !failed && mongoc_cursor_more(core->cur);
      core->id = mongoc_cursor_get_id(core->cur);
      if (!core->more) {
        // Nothing left on the server (or the cursor failed): close it now, which sends
        // nothing, so that leaving the block needs no trip of its own.
        mongoc_cursor_destroy(core->cur);
        mongoc_collection_destroy(core->coll);
        core->cur = nullptr;
        core->coll = nullptr;
      }
    }
    if (failed) throw_error(err, r ? r->native() : nullptr, core->what);
  };
  co_await s_->c->run(s_->l, std::move(fetch_batch));
  std::lock_guard g(core->pm);
  take_pending(*core, batch_, at_);
  co_return !batch_.empty();
}

task<std::optional<document>> cursor::next() {
  while (at_ >= batch_.size()) {
    if (!co_await fetch()) co_return std::nullopt;
  }
  // Named first: g++ 12 miscompiles `co_return take_document(...)` here (the coroutine's
  // body never runs; the caller waits forever).
  std::optional<document> d(take_document(batch_, at_));
  co_return d;
}

task<std::vector<document>> cursor::to_vector() {
  std::vector<document> out;
  do {
    while (at_ < batch_.size()) out.push_back(take_document(batch_, at_));
  } while (co_await fetch());
  co_return out;
}

// ---- sessions and transactions --------------------------------------------------------

session::session(std::shared_ptr<detail::client_state> c, session_options opts) : s_(std::make_shared<detail::session_state>()) {
  s_->c = std::move(c);
  s_->opts = std::move(opts);
}
session::~session() = default;

// g++ 12 miscompiles a closure temporary with non-trivial captures inside a co_await
// expression (the aggregate-temporary bug the README names): inside coroutines the jobs
// below are named first, then moved into run().
namespace {
// Awaits `job` shielded from cancellation: cleanup that must finish before a lease returns.
template <class F>
task<> shielded(F job) {
  cancel_scope scope(clock::time_point::max(), true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> { co_await job(); });
}

task<> end_session(detail::client_state& c, std::shared_ptr<detail::lease> l) {
  return c.run(l, [l](mongoc_client_t*) {
    // Aborts a transaction still in progress and gives the server session back.
    if (l->session) mongoc_client_session_destroy(l->session);
    l->session = nullptr;
  });
}

task<> abort_transaction(detail::client_state& c, std::shared_ptr<detail::lease> l) {
  return c.run(l, [l](mongoc_client_t*) {
    bson_error_t err;
    if (mongoc_client_session_in_transaction(l->session)) mongoc_client_session_abort_transaction(l->session, &err);
  });
}
}  // namespace

task<session&> session::aenter() {
  enter_check_.entered();
  if (s_->l) throw closed_error("aw::mongo: a session can be entered once");
  auto l = co_await s_->c->acquire_lease();
  std::exception_ptr e;
  try {
    auto cc = s_->opts.causal_consistency();
    auto start = [cc, raw = l.get()](mongoc_client_t* c) {
      // Under the lease's lock (the job runs on the lease): the session is bound to its client.
      mongoc_session_opt_t* o = mongoc_session_opts_new();
      if (cc) mongoc_session_opts_set_causal_consistency(o, *cc);
      bson_error_t err;
      mongoc_client_session_t* cs = mongoc_client_start_session(c, o, &err);
      mongoc_session_opts_destroy(o);
      if (!cs) throw_error(err, nullptr, "start_session");
      raw->session = cs;
    };
    co_await s_->c->run(l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled while the job may still run: end what it started before the lease returns.
    co_await shielded([&] { return end_session(*s_->c, l); });
    s_->c->release_lease(*l);
    std::rethrow_exception(e);
  }
  s_->l = std::move(l);
  co_return *this;
}

task<> session::aexit(std::exception_ptr) {
  if (!s_->l) co_return;
  auto l = std::move(s_->l);
  s_->in_transaction = false;
  co_await end_session(*s_->c, l);
  s_->c->release_lease(*l);
}

bool session::in_transaction() const noexcept { return s_->in_transaction; }

document session::id() const {
  if (!s_->l || !s_->l->session) throw closed_error("aw::mongo: the session is not open");
  std::lock_guard g(s_->l->m);
  return document::copy_of(mongoc_client_session_get_lsid(s_->l->session));
}

task<transaction&> transaction::aenter() {
  enter_check_.entered();
  auto l = detail::lease_of(s_);
  auto start = [l](mongoc_client_t*) {
    bson_error_t err;
    if (!mongoc_client_session_start_transaction(l->session, nullptr, &err)) throw_error(err, nullptr, "start_transaction");
  };
  std::exception_ptr e;
  try {
    co_await s_->c->run(l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled: the job may have started the transaction anyway; no exit will run, so
    // abort it here (after the job: both lock the lease).
    co_await shielded([&] { return abort_transaction(*s_->c, l); });
    std::rethrow_exception(e);
  }
  s_->in_transaction = true;
  co_return *this;
}

task<> transaction::aexit(std::exception_ptr e) {
  auto l = detail::lease_of(s_);
  s_->in_transaction = false;
  if (!e) {
    auto commit = [l](mongoc_client_t*) {
      reply_holder reply;
      bson_error_t err;
      if (!mongoc_client_session_commit_transaction(l->session, &reply, &err)) throw_error(err, &reply.b, "commit_transaction");
    };
    co_await s_->c->run(l, std::move(commit));
  } else {
    // The block's exception goes on; an abort that fails (the server dropped the
    // transaction already) adds nothing a caller could act on, as in pymongo.
    co_await abort_transaction(*s_->c, l);
  }
}

}  // namespace aw::mongo
