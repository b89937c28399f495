#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/mongo/client.hpp>
#include <aw/semaphore.hpp>
#include <aw/wait_fd.hpp>

#include "workers.hpp"

#include <mongoc/mongoc.h>

#include <algorithm>
#include <functional>
#include <mutex>
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

// "mongodb://user:secret@host" -> "mongodb://user:***@host"
std::string redact(std::string_view uri) {
  std::string s(uri);
  auto scheme = s.find("://");
  if (scheme == std::string::npos) return s;
  auto start = scheme + 3;
  auto at = s.find('@', start);
  auto slash = s.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return s;
  auto colon = s.find(':', start);
  if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
  return s;
}

// A mongoc_collection_t for one call.
class coll_handle {
 public:
  coll_handle(mongoc_client_t* c, const std::string& db, const std::string& name)
      : p_(mongoc_client_get_collection(c, db.c_str(), name.c_str())) {}
  ~coll_handle() { mongoc_collection_destroy(p_); }
  coll_handle(const coll_handle&) = delete;
  coll_handle& operator=(const coll_handle&) = delete;
  operator mongoc_collection_t*() const noexcept { return p_; }

 private:
  mongoc_collection_t* p_;
};

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
  std::shared_ptr<workers> w;
  semaphore lease_slots{0};
  std::size_t open_leases = 0;
  bool entered = false;
  bool closed = false;

  client_state(std::string_view uri_text, const client_options& opts) : redacted(redact(uri_text)) {
    init_driver();
    bson_error_t err;
    uri = mongoc_uri_new_with_error(std::string(uri_text).c_str(), &err);
    if (!uri) throw configuration_error("aw::mongo: invalid connection string \"" + redacted + "\": " + err.message, err.domain, err.code);
    n_workers = std::max<std::size_t>(1, opts.max_workers());
    // The pool serves the workers (one client each) and the open cursors and sessions.
    const auto max_pool = static_cast<std::size_t>(std::max(1, mongoc_uri_get_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, 100)));
    const std::size_t pool_size = std::max(max_pool, n_workers + 1);
    max_leases = pool_size - n_workers;
    pool = mongoc_client_pool_new_with_error(uri, &err);
    if (!pool) {
      mongoc_uri_destroy(uri);
      throw configuration_error("aw::mongo: cannot create a client for \"" + redacted + "\": " + err.message, err.domain, err.code);
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_max_size(pool, static_cast<std::uint32_t>(pool_size));
    for (std::size_t i = 0; i < max_leases; ++i) lease_slots.release();
  }
  ~client_state() {
    w.reset();  // an entered client that was never exited (a misuse): joins its workers
    // A cursor or session still open would hold a pooled client: leak the pool rather
    // than free it under them (only a misuse gets here).
    if (open_leases == 0 && pool) mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
  }

  void check_open() const {
    if (!entered || closed) throw closed_error("aw::mongo: the client is not open (use it inside `async with client`)");
  }

  task<std::shared_ptr<lease>> acquire_lease() {
    check_open();
    co_await lease_slots.acquire();
    mongoc_client_t* c = mongoc_client_pool_try_pop(pool);
    if (!c) {
      lease_slots.release();
      throw error("aw::mongo: the connection pool is exhausted", 0, 0);
    }
    ++open_leases;
    auto l = std::make_shared<lease>();
    l->client = c;
    co_return l;
  }
  // On the loop, after the last job on the lease completed.
  void release_lease(lease& l) noexcept {
    mongoc_client_pool_push(pool, l.client);
    l.client = nullptr;
    --open_leases;
    lease_slots.release();
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
  std::size_t per_trip = 101;
  mongoc_collection_t* coll = nullptr;
  mongoc_cursor_t* cur = nullptr;
  // Documents fetched and not yet handed to the loop: a fetch the caller abandoned leaves
  // its documents here for the next one, so cancelling next() loses nothing.
  std::mutex pm;
  std::deque<document> pending;
  bool more = true;
  std::int64_t id = 0;
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

// Adds the session (run under the lease's lock, on the worker).
void append_session(const std::shared_ptr<lease>& l, document& opts) {
  if (!l || !l->session) return;
  bson_error_t err;
  if (!mongoc_client_session_append(l->session, opts.native(), &err)) throw_error(err, nullptr, "session");
}

template <class F>
auto run_op(const std::shared_ptr<client_state>& s, const std::shared_ptr<session_state>& sess, F fn) {
  s->check_open();
  return submit(s->w, lease_of(sess), std::move(fn));
}

}  // namespace
}  // namespace detail

using detail::coll_handle;
using detail::reply_holder;
using detail::throw_error;

// ---- client ----------------------------------------------------------------------------

client::client(std::string_view uri, client_options opts) : s_(std::make_shared<detail::client_state>(uri, opts)) {}
client::~client() = default;

task<client&> client::aenter() {
  if (s_->entered) throw closed_error("aw::mongo: a client can be entered once");
  s_->w = std::make_shared<detail::workers>(s_->pool, s_->n_workers);
  s_->entered = true;
  co_return *this;
}

task<> client::aexit(std::exception_ptr) {
  if (s_->closed) co_return;
  s_->closed = true;
  auto w = s_->w;
  w->shutdown();
  // Calls abandoned by cancelled tasks finish first: they use the pool's clients.
  co_await aw::wait_readable(w->exited_fd());
  s_->w.reset();
  w.reset();  // joins: every thread has exited
  if (s_->open_leases == 0) {
    mongoc_client_pool_destroy(s_->pool);  // closes the connections and the monitors
    s_->pool = nullptr;
  }
}

const std::string& client::redacted_uri() const noexcept { return s_->redacted; }

task<> client::ping() const {
  return detail::run_op(s_, nullptr, [](mongoc_client_t* c) {
    reply_holder reply;
    bson_error_t err;
    document cmd{{"ping", 1}};
    if (!mongoc_client_command_simple(c, "admin", cmd.native(), nullptr, &reply, &err)) throw_error(err, &reply.b, "ping");
  });
}

// ---- database --------------------------------------------------------------------------

task<document> database::command(document cmd, write_options opts) const {
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s_, opts.session_state(), [db = name_, cmd = std::move(cmd), o = opts.opts(), l](mongoc_client_t* c) mutable {
    detail::append_session(l, o);
    mongoc_database_t* d = mongoc_client_get_database(c, db.c_str());
    reply_holder reply;
    bson_error_t err;
    bool ok = mongoc_database_command_with_opts(d, cmd.native(), nullptr, o.native(), &reply, &err);
    mongoc_database_destroy(d);
    if (!ok) throw_error(err, &reply.b, "command on " + db);
    return reply.copy();
  });
}

task<std::vector<std::string>> database::list_collection_names() const {
  return detail::run_op(s_, nullptr, [db = name_](mongoc_client_t* c) {
    mongoc_database_t* d = mongoc_client_get_database(c, db.c_str());
    bson_error_t err;
    char** names = mongoc_database_get_collection_names_with_opts(d, nullptr, &err);
    mongoc_database_destroy(d);
    if (!names) throw_error(err, nullptr, "list_collection_names on " + db);
    std::vector<std::string> out;
    for (char** p = names; *p; ++p) out.emplace_back(*p);
    bson_strfreev(names);
    return out;
  });
}

task<> database::drop() const {
  return detail::run_op(s_, nullptr, [db = name_](mongoc_client_t* c) {
    mongoc_database_t* d = mongoc_client_get_database(c, db.c_str());
    bson_error_t err;
    bool ok = mongoc_database_drop_with_opts(d, nullptr, &err);
    mongoc_database_destroy(d);
    if (!ok && err.code != 26) throw_error(err, nullptr, "drop of " + db);  // 26: NamespaceNotFound
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
  document d{{"_id", id}};
  bson_concat(d.native(), doc.native());
  doc = std::move(d);
  return id;
}

update_result to_update_result(const document& reply, const document& opts) {
  update_result r;
  r.matched_count = detail::count_field(reply, "matchedCount");
  r.modified_count = detail::count_field(reply, "modifiedCount");
  if (reply.contains("upsertedId")) r.upserted_id = reply.get<value>("upsertedId");
  r.acknowledged = detail::acknowledged(opts);
  r.raw_result = reply;
  return r;
}

}  // namespace

task<insert_one_result> collection::insert_one(document doc, write_options opts) const {
  value id = ensure_id(doc);
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s_, opts.session_state(),
                        [db = db_, name = name_, doc = std::move(doc), o = opts.opts(), id = std::move(id), l](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          if (!mongoc_collection_insert_one(coll, doc.native(), o.native(), &reply, &err))
                            throw_error(err, &reply.b, "insert_one into " + db + "." + name);
                          insert_one_result r;
                          r.inserted_id = std::move(id);
                          r.acknowledged = detail::acknowledged(o);
                          return r;
                        });
}

task<insert_many_result> collection::insert_many(std::vector<document> docs, write_options opts) const {
  std::vector<value> ids;
  ids.reserve(docs.size());
  for (auto& d : docs) ids.push_back(ensure_id(d));
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(
      s_, opts.session_state(),
      [db = db_, name = name_, docs = std::move(docs), o = opts.opts(), ids = std::move(ids), l](mongoc_client_t* c) mutable {
        if (docs.empty()) throw std::invalid_argument("aw::mongo: insert_many needs at least one document");
        detail::append_session(l, o);
        coll_handle coll(c, db, name);
        // (a std::vector<const bson_t*> would drop bson_t's alignment attribute)
        std::unique_ptr<const void*[]> ptrs(new const void*[docs.size()]);
        for (std::size_t i = 0; i < docs.size(); ++i) ptrs[i] = docs[i].native();
        reply_holder reply;
        bson_error_t err;
        if (!mongoc_collection_insert_many(coll, reinterpret_cast<const bson_t**>(ptrs.get()), docs.size(), o.native(), &reply, &err))
          throw_error(err, &reply.b, "insert_many into " + db + "." + name);
        insert_many_result r;
        r.inserted_ids = std::move(ids);
        r.acknowledged = detail::acknowledged(o);
        return r;
      });
}

task<std::optional<document>> collection::find_one(document filter, find_options opts) const {
  auto l = detail::lease_of(opts.session_state());
  document o = opts.opts();
  o.append("limit", 1).append("singleBatch", true);
  return detail::run_op(s_, opts.session_state(),
                        [db = db_, name = name_, filter = std::move(filter), o = std::move(o), l](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, filter.native(), o.native(), nullptr);
                          std::optional<document> out;
                          const bson_t* d;
                          if (mongoc_cursor_next(cur, &d)) out = document::copy_of(d);
                          bson_error_t err;
                          const bson_t* reply = nullptr;
                          if (mongoc_cursor_error_document(cur, &err, &reply)) {
                            document r = reply ? document::copy_of(reply) : document();
                            mongoc_cursor_destroy(cur);
                            throw_error(err, r.native(), "find_one in " + db + "." + name);
                          }
                          mongoc_cursor_destroy(cur);
                          return out;
                        });
}

namespace {
std::size_t per_trip(std::int32_t batch_size) { return batch_size > 0 ? static_cast<std::size_t>(batch_size) : 101; }
}  // namespace

cursor collection::find(document filter, find_options opts) const {
  auto st = std::make_shared<detail::cursor_state>();
  st->c = s_;
  st->sess = opts.session_state();
  st->core->what = "find in " + db_ + "." + name_;
  st->core->per_trip = per_trip(opts.batch_size());
  st->core->open = [db = db_, name = name_, filter = std::move(filter), o = opts.opts()](mongoc_client_t* c,
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
  st->core->per_trip = per_trip(opts.batch_size());
  st->core->open = [db = db_, name = name_, p = std::move(pipeline), o = opts.opts()](mongoc_client_t* c,
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

namespace {
enum class update_kind { one, many, replace };

template <class S>
task<update_result> do_update(const S& s, const std::string& db_, const std::string& name_, document filter, document update,
                              update_options opts, update_kind kind) {
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s, opts.session_state(),
                        [db = db_, name = name_, filter = std::move(filter), update = std::move(update), o = opts.opts(), l,
                         kind](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          bool ok;
                          const char* op;
                          switch (kind) {
                            case update_kind::one:
                              op = "update_one on ";
                              ok = mongoc_collection_update_one(coll, filter.native(), update.native(), o.native(), &reply, &err);
                              break;
                            case update_kind::many:
                              op = "update_many on ";
                              ok = mongoc_collection_update_many(coll, filter.native(), update.native(), o.native(), &reply, &err);
                              break;
                            default:
                              op = "replace_one on ";
                              ok = mongoc_collection_replace_one(coll, filter.native(), update.native(), o.native(), &reply, &err);
                          }
                          if (!ok) throw_error(err, &reply.b, op + db + "." + name);
                          return to_update_result(reply.copy(), o);
                        });
}

task<delete_result> do_delete(const std::shared_ptr<detail::client_state>& s, const std::string& db_, const std::string& name_,
                              document filter, write_options opts, bool many) {
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s, opts.session_state(),
                        [db = db_, name = name_, filter = std::move(filter), o = opts.opts(), l, many](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          bool ok = many ? mongoc_collection_delete_many(coll, filter.native(), o.native(), &reply, &err)
                                         : mongoc_collection_delete_one(coll, filter.native(), o.native(), &reply, &err);
                          if (!ok) throw_error(err, &reply.b, std::string(many ? "delete_many" : "delete_one") + " on " + db + "." + name);
                          delete_result r;
                          r.raw_result = reply.copy();
                          r.deleted_count = detail::count_field(r.raw_result, "deletedCount");
                          r.acknowledged = detail::acknowledged(o);
                          return r;
                        });
}

enum class fam_kind { update, replace, remove };

task<std::optional<document>> do_find_and_modify(const std::shared_ptr<detail::client_state>& s, const std::string& db_,
                                                 const std::string& name_, document filter, document update, find_one_and_options opts,
                                                 fam_kind kind) {
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s, opts.session_state(),
                        [db = db_, name = name_, filter = std::move(filter), update = std::move(update), opts = std::move(opts), l,
                         kind](mongoc_client_t* c) mutable {
                          document extra = opts.opts();
                          detail::append_session(l, extra);
                          coll_handle coll(c, db, name);
                          mongoc_find_and_modify_opts_t* fm = mongoc_find_and_modify_opts_new();
                          int flags = MONGOC_FIND_AND_MODIFY_NONE;
                          if (kind == fam_kind::remove)
                            flags |= MONGOC_FIND_AND_MODIFY_REMOVE;
                          else
                            mongoc_find_and_modify_opts_set_update(fm, update.native());
                          if (opts.is_upsert()) flags |= MONGOC_FIND_AND_MODIFY_UPSERT;
                          if (opts.is_return_after()) flags |= MONGOC_FIND_AND_MODIFY_RETURN_NEW;
                          mongoc_find_and_modify_opts_set_flags(fm, static_cast<mongoc_find_and_modify_flags_t>(flags));
                          if (!opts.sort().empty()) mongoc_find_and_modify_opts_set_sort(fm, opts.sort().native());
                          if (!opts.projection().empty()) mongoc_find_and_modify_opts_set_fields(fm, opts.projection().native());
                          if (!extra.empty()) mongoc_find_and_modify_opts_append(fm, extra.native());
                          reply_holder reply;
                          bson_error_t err;
                          bool ok = mongoc_collection_find_and_modify_with_opts(coll, filter.native(), fm, &reply, &err);
                          mongoc_find_and_modify_opts_destroy(fm);
                          static const char* names[] = {"find_one_and_update on ", "find_one_and_replace on ", "find_one_and_delete on "};
                          if (!ok) throw_error(err, &reply.b, names[static_cast<int>(kind)] + db + "." + name);
                          document r = reply.copy();
                          std::optional<document> out;
                          if (r.contains("value") && r.type_of("value") == type::document) out = r.get<document>("value");
                          return out;
                        });
}

}  // namespace

task<update_result> collection::update_one(document filter, document update, update_options opts) const {
  return do_update(s_, db_, name_, std::move(filter), std::move(update), std::move(opts), update_kind::one);
}
task<update_result> collection::update_many(document filter, document update, update_options opts) const {
  return do_update(s_, db_, name_, std::move(filter), std::move(update), std::move(opts), update_kind::many);
}
task<update_result> collection::replace_one(document filter, document replacement, update_options opts) const {
  return do_update(s_, db_, name_, std::move(filter), std::move(replacement), std::move(opts), update_kind::replace);
}
task<delete_result> collection::delete_one(document filter, write_options opts) const {
  return do_delete(s_, db_, name_, std::move(filter), std::move(opts), false);
}
task<delete_result> collection::delete_many(document filter, write_options opts) const {
  return do_delete(s_, db_, name_, std::move(filter), std::move(opts), true);
}
task<std::optional<document>> collection::find_one_and_update(document filter, document update, find_one_and_options opts) const {
  return do_find_and_modify(s_, db_, name_, std::move(filter), std::move(update), std::move(opts), fam_kind::update);
}
task<std::optional<document>> collection::find_one_and_replace(document filter, document replacement, find_one_and_options opts) const {
  return do_find_and_modify(s_, db_, name_, std::move(filter), std::move(replacement), std::move(opts), fam_kind::replace);
}
task<std::optional<document>> collection::find_one_and_delete(document filter, find_one_and_options opts) const {
  return do_find_and_modify(s_, db_, name_, std::move(filter), document(), std::move(opts), fam_kind::remove);
}

task<std::int64_t> collection::count_documents(document filter, count_options opts) const {
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s_, opts.session_state(),
                        [db = db_, name = name_, filter = std::move(filter), o = opts.opts(), l](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          std::int64_t n = mongoc_collection_count_documents(coll, filter.native(), o.native(), nullptr, &reply, &err);
                          if (n < 0) throw_error(err, &reply.b, "count_documents on " + db + "." + name);
                          return n;
                        });
}

task<std::int64_t> collection::estimated_document_count() const {
  return detail::run_op(s_, nullptr, [db = db_, name = name_](mongoc_client_t* c) {
    coll_handle coll(c, db, name);
    reply_holder reply;
    bson_error_t err;
    std::int64_t n = mongoc_collection_estimated_document_count(coll, nullptr, nullptr, &reply, &err);
    if (n < 0) throw_error(err, &reply.b, "estimated_document_count on " + db + "." + name);
    return n;
  });
}

task<std::vector<value>> collection::distinct(std::string key, document filter, find_options opts) const {
  auto l = detail::lease_of(opts.session_state());
  document cmd{{"distinct", name_}, {"key", key}, {"query", std::move(filter)}};
  return detail::run_op(s_, opts.session_state(),
                        [db = db_, name = name_, cmd = std::move(cmd), o = opts.opts(), l](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          if (!mongoc_collection_read_command_with_opts(coll, cmd.native(), nullptr, o.native(), &reply, &err))
                            throw_error(err, &reply.b, "distinct on " + db + "." + name);
                          return reply.copy().get<array>("values").values();
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
  auto l = detail::lease_of(opts.session_state());
  return detail::run_op(s_, opts.session_state(),
                        [db = db_, name = name_, cmd = std::move(cmd), o = opts.opts(), l, index_name](mongoc_client_t* c) mutable {
                          detail::append_session(l, o);
                          coll_handle coll(c, db, name);
                          reply_holder reply;
                          bson_error_t err;
                          if (!mongoc_collection_write_command_with_opts(coll, cmd.native(), o.native(), &reply, &err))
                            throw_error(err, &reply.b, "create_index on " + db + "." + name);
                          return index_name;
                        });
}

task<> collection::drop_index(std::string index_name) const {
  return detail::run_op(s_, nullptr, [db = db_, name = name_, index_name = std::move(index_name)](mongoc_client_t* c) {
    coll_handle coll(c, db, name);
    bson_error_t err;
    if (!mongoc_collection_drop_index_with_opts(coll, index_name.c_str(), nullptr, &err))
      throw_error(err, nullptr, "drop_index " + index_name + " on " + db + "." + name);
  });
}

task<> collection::drop() const {
  return detail::run_op(s_, nullptr, [db = db_, name = name_](mongoc_client_t* c) {
    coll_handle coll(c, db, name);
    bson_error_t err;
    if (!mongoc_collection_drop_with_opts(coll, nullptr, &err) && err.code != 26)  // 26: NamespaceNotFound
      throw_error(err, nullptr, "drop of " + db + "." + name);
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
  auto close = [core = s_->core](mongoc_client_t*) {
    if (core->cur) mongoc_cursor_destroy(core->cur);
    if (core->coll) mongoc_collection_destroy(core->coll);
    core->cur = nullptr;
    core->coll = nullptr;
  };
  co_await detail::submit(s_->c->w, l, std::move(close));
  if (s_->own_lease) s_->c->release_lease(*l);
  s_->l.reset();
}

task<bool> cursor::fetch() {
  if (!s_->l) throw closed_error("aw::mongo: the cursor is not open (use it inside `async with cursor`)");
  auto core = s_->core;
  {
    std::lock_guard g(core->pm);
    if (!core->pending.empty() || !core->more) {
      for (auto& d : core->pending) buffer_.push_back(std::move(d));
      core->pending.clear();
      co_return !buffer_.empty();
    }
  }
  auto fetch_batch = [core](mongoc_client_t* c) {
    if (!core->cur) core->cur = core->open(c, &core->coll);
    std::vector<document> got;
    const bson_t* d;
    while (got.size() < core->per_trip && mongoc_cursor_next(core->cur, &d)) got.push_back(document::copy_of(d));
    bson_error_t err;
    const bson_t* reply = nullptr;
    const bool failed = mongoc_cursor_error_document(core->cur, &err, &reply);
    std::optional<document> r;
    if (failed && reply) r = document::copy_of(reply);
    {
      std::lock_guard g(core->pm);
      for (auto& x : got) core->pending.push_back(std::move(x));
      core->more = !failed && mongoc_cursor_more(core->cur);
      core->id = mongoc_cursor_get_id(core->cur);
    }
    if (failed) throw_error(err, r ? r->native() : nullptr, core->what);
  };
  co_await detail::submit(s_->c->w, s_->l, std::move(fetch_batch));
  std::lock_guard g(core->pm);
  for (auto& d : core->pending) buffer_.push_back(std::move(d));
  core->pending.clear();
  co_return !buffer_.empty();
}

task<std::optional<document>> cursor::next() {
  while (buffer_.empty()) {
    if (!co_await fetch()) co_return std::nullopt;
  }
  std::optional<document> d(std::move(buffer_.front()));
  buffer_.pop_front();
  co_return d;
}

task<std::vector<document>> cursor::to_vector() {
  std::vector<document> out;
  while (auto d = co_await next()) out.push_back(std::move(*d));
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
// below are named first, then moved into submit().
namespace {
// Awaits `job` shielded from cancellation: cleanup that must finish before a lease returns.
template <class F>
task<> shielded(F job) {
  cancel_scope scope(clock::time_point::max(), true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> { co_await job(); });
}

task<> end_session(std::shared_ptr<detail::workers> w, std::shared_ptr<detail::lease> l) {
  return detail::submit(std::move(w), l, [l](mongoc_client_t*) {
    // Aborts a transaction still in progress and gives the server session back.
    if (l->session) mongoc_client_session_destroy(l->session);
    l->session = nullptr;
  });
}

task<> abort_transaction(std::shared_ptr<detail::workers> w, std::shared_ptr<detail::lease> l) {
  return detail::submit(std::move(w), l, [l](mongoc_client_t*) {
    bson_error_t err;
    if (mongoc_client_session_in_transaction(l->session)) mongoc_client_session_abort_transaction(l->session, &err);
  });
}
}  // namespace

task<session&> session::aenter() {
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
    co_await detail::submit(s_->c->w, l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled while the job may still run: end what it started before the lease returns.
    co_await shielded([&] { return end_session(s_->c->w, l); });
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
  co_await end_session(s_->c->w, l);
  s_->c->release_lease(*l);
}

bool session::in_transaction() const noexcept { return s_->in_transaction; }

document session::id() const {
  if (!s_->l || !s_->l->session) throw closed_error("aw::mongo: the session is not open");
  std::lock_guard g(s_->l->m);
  return document::copy_of(mongoc_client_session_get_lsid(s_->l->session));
}

task<transaction&> transaction::aenter() {
  auto l = detail::lease_of(s_);
  auto start = [l](mongoc_client_t*) {
    bson_error_t err;
    if (!mongoc_client_session_start_transaction(l->session, nullptr, &err)) throw_error(err, nullptr, "start_transaction");
  };
  std::exception_ptr e;
  try {
    co_await detail::submit(s_->c->w, l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled: the job may have started the transaction anyway; no exit will run, so
    // abort it here (after the job: both lock the lease).
    co_await shielded([&] { return abort_transaction(s_->c->w, l); });
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
    co_await detail::submit(s_->c->w, l, std::move(commit));
  } else {
    // The block's exception goes on; an abort that fails (the server dropped the
    // transaction already) adds nothing a caller could act on, as in pymongo.
    co_await abort_transaction(s_->c->w, l);
  }
}

}  // namespace aw::mongo
