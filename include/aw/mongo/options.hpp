// Options and results of aw::mongo's collection calls (pymongo's keyword arguments and
// result objects). Options are built fluently and copied into the call:
//
//   using aw::mongo::doc;
//   auto opts = aw::mongo::find_options().sort(doc("age", -1)).limit(10).projection(doc("_id", 0));
//   auto cur = people.find(doc("age", doc("$gte", 18)), opts);
//
// They are classes with constructors rather than aggregates with designated initializers:
// g++ 12 miscompiles an aggregate temporary with non-trivial members inside a co_await
// expression (see the README), and options are exactly what one writes there.
#pragma once

#include <aw/mongo/bson.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aw::mongo {

class session;
namespace detail {
struct session_state;
}

// What every call accepts: a session (for transactions and causal consistency), a server
// time limit, and any other option of the server's command, passed through as is.
template <class Derived>
class options_base {
 public:
  // Runs the call in `s` (and in its transaction, if one is active).
  Derived& session(mongo::session& s);
  // The server gives up after `t` (maxTimeMS) and the call raises timeout_error.
  Derived& max_time(std::chrono::milliseconds t) { return set("maxTimeMS", static_cast<std::int64_t>(t.count())); }
  // Any other option of the command (e.g. "collation", "hint", "comment").
  Derived& set(std::string_view key, const value& v) {
    opts_.append(key, v);
    return static_cast<Derived&>(*this);
  }
  const document& opts() const& noexcept { return opts_; }
  // The options document itself, moved out (a call takes its options by value: no copy).
  // Options that were moved from give an empty document, as a copy of them did.
  document opts() && { return opts_.native() ? std::move(opts_) : document(); }
  const std::shared_ptr<detail::session_state>& session_state() const noexcept { return session_; }

 protected:
  document opts_;
  std::shared_ptr<detail::session_state> session_;
};

class find_options : public options_base<find_options> {
 public:
  find_options() = default;
  find_options& projection(document p) { return set("projection", std::move(p)); }
  find_options& sort(document s) { return set("sort", std::move(s)); }
  find_options& skip(std::int64_t n) { return set("skip", static_cast<long long>(n)); }
  find_options& limit(std::int64_t n) { return set("limit", static_cast<long long>(n)); }
  // Documents per server round trip (and per trip to a worker thread).
  find_options& batch_size(std::int32_t n) {
    batch_size_ = n;
    return set("batchSize", n);
  }
  std::int32_t batch_size() const noexcept { return batch_size_; }

 private:
  std::int32_t batch_size_ = 0;
};

class aggregate_options : public options_base<aggregate_options> {
 public:
  aggregate_options() = default;
  aggregate_options& batch_size(std::int32_t n) {
    batch_size_ = n;
    return set("batchSize", n);
  }
  aggregate_options& allow_disk_use(bool b = true) { return set("allowDiskUse", b); }
  std::int32_t batch_size() const noexcept { return batch_size_; }

 private:
  std::int32_t batch_size_ = 0;
};

class write_options : public options_base<write_options> {
 public:
  write_options() = default;
  // insert_many: stop at the first failure (true, the default) or try every document.
  write_options& ordered(bool b) { return set("ordered", b); }
  // The write concern, e.g. {{"w", "majority"}} or {{"w", 0}}.
  write_options& write_concern(document wc) { return set("writeConcern", std::move(wc)); }
  write_options& bypass_document_validation(bool b = true) { return set("bypassDocumentValidation", b); }
};

class update_options : public options_base<update_options> {
 public:
  update_options() = default;
  // Insert a document when nothing matches.
  update_options& upsert(bool b = true) { return set("upsert", b); }
  update_options& array_filters(array f) { return set("arrayFilters", std::move(f)); }
  update_options& write_concern(document wc) { return set("writeConcern", std::move(wc)); }
};

class count_options : public options_base<count_options> {
 public:
  count_options() = default;
  count_options& skip(std::int64_t n) { return set("skip", static_cast<long long>(n)); }
  count_options& limit(std::int64_t n) { return set("limit", static_cast<long long>(n)); }
};

// find_one_and_update / _replace / _delete (pymongo's ReturnDocument.BEFORE is the default).
class find_one_and_options : public options_base<find_one_and_options> {
 public:
  find_one_and_options() = default;
  find_one_and_options& sort(document s) {
    sort_ = std::move(s);
    return *this;
  }
  find_one_and_options& projection(document p) {
    projection_ = std::move(p);
    return *this;
  }
  find_one_and_options& upsert(bool b = true) {
    upsert_ = b;
    return *this;
  }
  // Return the document as it is after the change (pymongo's ReturnDocument.AFTER).
  find_one_and_options& return_after(bool b = true) {
    after_ = b;
    return *this;
  }
  const document& sort() const noexcept { return sort_; }
  const document& projection() const noexcept { return projection_; }
  bool is_upsert() const noexcept { return upsert_; }
  bool is_return_after() const noexcept { return after_; }

 private:
  document sort_, projection_;
  bool upsert_ = false, after_ = false;
};

class index_options : public options_base<index_options> {
 public:
  index_options() = default;
  // Default: pymongo's, the keys and directions joined ("name_1_age_-1").
  index_options& name(std::string n) {
    name_ = std::move(n);
    return *this;
  }
  index_options& unique(bool b = true) {
    unique_ = b;
    return *this;
  }
  const std::string& name() const noexcept { return name_; }
  bool is_unique() const noexcept { return unique_; }

 private:
  std::string name_;
  bool unique_ = false;
};

class session_options {
 public:
  session_options() = default;
  session_options& causal_consistency(bool b) {
    causal_consistency_ = b;
    return *this;
  }
  std::optional<bool> causal_consistency() const noexcept { return causal_consistency_; }

 private:
  std::optional<bool> causal_consistency_;
};

// ---- results (pymongo's InsertOneResult, ...) ----------------------------------------

class insert_one_result {
 public:
  insert_one_result() = default;
  value inserted_id;  // the _id, generated on the client when the document had none
  bool acknowledged = true;
};

class insert_many_result {
 public:
  insert_many_result() = default;
  std::vector<value> inserted_ids;  // in the order of the documents
  bool acknowledged = true;
};

class update_result {
 public:
  update_result() = default;
  std::int64_t matched_count = 0;
  std::int64_t modified_count = 0;
  std::optional<value> upserted_id;  // set when the update inserted a document
  document raw_result;               // the server's reply
  bool acknowledged = true;
};

class delete_result {
 public:
  delete_result() = default;
  std::int64_t deleted_count = 0;
  document raw_result;
  bool acknowledged = true;
};

}  // namespace aw::mongo
