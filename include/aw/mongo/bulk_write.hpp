// aw::mongo's bulk writes (pymongo's bulk_write with InsertOne, UpdateOne, ...): many writes
// of different kinds in one call, sent to the server in as few commands as it allows.
//
//   using aw::mongo::doc;
//   std::vector<aw::mongo::write_model> ops{
//       aw::mongo::insert_one(doc("_id", 1, "n", 1)),
//       aw::mongo::update_one(doc("_id", 2), doc("$set", doc("n", 2))).upsert(),
//       aw::mongo::delete_many(doc("n", doc("$gt", 100))),
//   };
//   aw::mongo::bulk_write_result r = co_await coll.bulk_write(std::move(ops));
//
// Ordered (the default) stops at the first failed write; write_options().ordered(false) tries
// every one. A failure raises aw::mongo::write_error (duplicate_key_error for a duplicate
// key) whose failures() name each failed write's index in `ops`; its reply() holds the
// counts of what was written before or despite them (nInserted, nMatched, ...). Build the
// vector before the co_await: g++ 12 does not compile a braced list inside one (README,
// "Known compiler bugs"), and the models are classes for the same compiler's sake.
#pragma once

#include <aw/mongo/bson.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

namespace aw::mongo {

// Inserts `document`, with an ObjectId _id added in front when it has none.
class insert_one {
 public:
  explicit insert_one(mongo::document d) : document(std::move(d)) {}
  mongo::document document;
};

namespace detail {
// What the update and replace models share: the filter, the new content, and upsert.
template <class Derived>
class update_model {
 public:
  update_model(mongo::document f, mongo::document u) : filter(std::move(f)), update(std::move(u)) {}
  // Insert a document when nothing matches.
  Derived& upsert(bool b = true) {
    upsert_ = b;
    return static_cast<Derived&>(*this);
  }
  bool is_upsert() const noexcept { return upsert_; }
  mongo::document filter, update;

 private:
  bool upsert_ = false;
};
}  // namespace detail

namespace detail {
// An update by operators, which may name array elements ($[name]) through filters.
template <class Derived>
class operator_update_model : public update_model<Derived> {
 public:
  using update_model<Derived>::update_model;
  Derived& array_filters(array f) {
    array_filters_ = std::move(f);
    return static_cast<Derived&>(*this);
  }
  const std::optional<array>& array_filters() const noexcept { return array_filters_; }

 private:
  std::optional<array> array_filters_;
};
}  // namespace detail

// Applies the update operators of `update` to the first (update_one) or every (update_many)
// matching document.
class update_one : public detail::operator_update_model<update_one> {
 public:
  using operator_update_model::operator_update_model;
};
class update_many : public detail::operator_update_model<update_many> {
 public:
  using operator_update_model::operator_update_model;
};
// Replaces the first matching document with `update` (a whole document, no operators).
class replace_one : public detail::update_model<replace_one> {
 public:
  using update_model::update_model;
};

// Deletes the first (delete_one) or every (delete_many) matching document.
class delete_one {
 public:
  explicit delete_one(mongo::document f) : filter(std::move(f)) {}
  mongo::document filter;
};
class delete_many {
 public:
  explicit delete_many(mongo::document f) : filter(std::move(f)) {}
  mongo::document filter;
};

using write_model = std::variant<insert_one, update_one, update_many, replace_one, delete_one, delete_many>;

// pymongo's BulkWriteResult, with the _ids of the inserted documents as well.
class bulk_write_result {
 public:
  bulk_write_result() = default;
  std::int64_t inserted_count = 0;
  std::int64_t matched_count = 0;
  std::int64_t modified_count = 0;
  std::int64_t deleted_count = 0;
  std::int64_t upserted_count = 0;
  // The _id of each inserted document, by its index in the models.
  std::map<std::size_t, value> inserted_ids;
  // The _id of each document an upsert inserted, by its index in the models.
  std::map<std::size_t, value> upserted_ids;
  document raw_result;  // the reply libmongoc assembled from the server's
  bool acknowledged = true;
};

}  // namespace aw::mongo
