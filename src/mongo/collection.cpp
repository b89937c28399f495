// aw::mongo::collection: the CRUD calls, counts, distinct and indexes (each a call on a worker),
// bulk writes, and the cursors of find, aggregate and list_indexes.
#include "internal.hpp"

#include <aw/mongo/bulk_write.hpp>

#include <mongoc/mongoc.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace aw::mongo {

collection::collection(std::shared_ptr<detail::client_state> s, std::string db, std::string name)
    : s_(std::move(s)), db_(std::move(db)), name_(std::move(name)) {}

namespace {

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
  r.matched_count = count_field(reply, "matchedCount");
  r.modified_count = count_field(reply, "modifiedCount");
  if (reply.contains("upsertedId")) r.upserted_id = reply.get<value>("upsertedId");
  r.acknowledged = k.acknowledged();
  r.raw_result = std::move(reply);
  return r;
}

delete_result to_delete_result(call_context& k) {
  delete_result r;
  r.raw_result = k.reply_document();
  r.deleted_count = count_field(r.raw_result, "deletedCount");
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

// bulk_write's options of an update or replace model.
template <class Model>
document update_opts(const Model& m) {
  document o;
  o.append("upsert", m.is_upsert());
  if constexpr (!std::is_same_v<Model, replace_one>)
    if (m.array_filters()) o.append("arrayFilters", *m.array_filters());
  return o;
}

// Adds one model; libmongoc checks it (an update without operators, a replacement with
// them) and refuses it with a message.
void add(mongoc_bulk_operation_t* bulk, const write_model& model, std::size_t index) {
  bson_error_t err;
  bool ok = std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, insert_one>) {
          return mongoc_bulk_operation_insert_with_opts(bulk, m.document.native(), nullptr, &err);
        } else if constexpr (std::is_same_v<M, update_one>) {
          return mongoc_bulk_operation_update_one_with_opts(bulk, m.filter.native(), m.update.native(), update_opts(m).native(), &err);
        } else if constexpr (std::is_same_v<M, update_many>) {
          return mongoc_bulk_operation_update_many_with_opts(bulk, m.filter.native(), m.update.native(), update_opts(m).native(), &err);
        } else if constexpr (std::is_same_v<M, replace_one>) {
          return mongoc_bulk_operation_replace_one_with_opts(bulk, m.filter.native(), m.update.native(), update_opts(m).native(), &err);
        } else if constexpr (std::is_same_v<M, delete_one>) {
          return mongoc_bulk_operation_remove_one_with_opts(bulk, m.filter.native(), nullptr, &err);
        } else {
          return mongoc_bulk_operation_remove_many_with_opts(bulk, m.filter.native(), nullptr, &err);
        }
      },
      model);
  if (!ok) throw std::invalid_argument("aw::mongo: bulk_write: model " + std::to_string(index) + ": " + err.message);
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

task<bulk_write_result> collection::bulk_write(std::vector<write_model> models, write_options opts) const {
  if (models.empty()) throw std::invalid_argument("aw::mongo: bulk_write needs at least one model (pymongo raises InvalidOperation)");
  // The _ids are given on the client, as insert_one does, so that the result can name them.
  std::map<std::size_t, value> inserted;
  for (std::size_t i = 0; i < models.size(); ++i)
    if (auto* ins = std::get_if<mongo::insert_one>(&models[i])) inserted.emplace(i, ensure_id(ins->document));
  return run_call(s_, db_, name_, "bulk_write on", std::move(opts).opts(), opts.session_state(),
                  [models = std::move(models), inserted = std::move(inserted)](call_context& k) {
                    mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(k.coll(), k.opts());
                    struct guard {
                      mongoc_bulk_operation_t* b;
                      ~guard() { mongoc_bulk_operation_destroy(b); }
                    } g{bulk};
                    for (std::size_t i = 0; i < models.size(); ++i) add(bulk, models[i], i);
                    k.check(mongoc_bulk_operation_execute(bulk, k.reply(), k.error()) != 0);
                    bulk_write_result r;
                    r.raw_result = k.reply_document();
                    r.inserted_count = count_field(r.raw_result, "nInserted");
                    r.matched_count = count_field(r.raw_result, "nMatched");
                    r.modified_count = count_field(r.raw_result, "nModified");
                    r.deleted_count = count_field(r.raw_result, "nRemoved");
                    r.upserted_count = count_field(r.raw_result, "nUpserted");
                    if (auto up = r.raw_result.find<array>("upserted"))
                      for (const auto& e : *up) {
                        document u = e.get<document>();
                        r.upserted_ids.emplace(static_cast<std::size_t>(u.get<std::int64_t>("index")), u.get<value>("_id"));
                      }
                    r.inserted_ids = inserted;
                    r.acknowledged = k.acknowledged();
                    return r;
                  });
}

}  // namespace aw::mongo
