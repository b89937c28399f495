// aw::mongo::document: an owning BSON document (libbson underneath), built the way a Python
// dict literal reads, converted to and from extended JSON, read with typed access that says
// exactly what was wrong.
//
//   using namespace aw::mongo;
//   document ada{{"name", "Ada"},
//                {"born", 1815},                                  // int32
//                {"papers", std::int64_t{3}},                     // int64
//                {"tags", array{"math", "engines"}},
//                {"address", document{{"city", "London"}}},
//                {"seen", date_time(std::chrono::milliseconds(0))},
//                {"note", nullptr}};
//   int born = ada.get<std::int32_t>("born");                     // 1815
//   std::string city = ada.get<std::string>("address.city");      // dotted paths
//   std::optional<double> h = ada.find<double>("height");         // missing: empty
//   ada.get<std::string>("born");  // throws aw::mongo::field_error:
//                                  //   field "born" is an int32, not a string
//   std::string json = ada.to_json();                             // canonical extended JSON
//   document back = document::from_json(json);                    // == ada
//
// Typed access is strict, as BSON is: get<std::int32_t> reads only an int32, get<double>
// only a double. One widening is allowed, get<std::int64_t> of an int32, because servers
// answer counts in either. get<value> reads any supported type; elements can be iterated
// in order (`for (const element& e : doc)`). nlohmann::json conversions are in
// <aw/mongo/json.hpp>.
#pragma once

#include <bson/bson.h>
#include <aw/mongo/root_error.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace aw::mongo {

class value;
class array;

// A missing field, or a field of another type than the one asked for (domain() and code()
// are 0: no libmongoc error).
class field_error : public error {
 public:
  field_error(std::string path, std::string expected, std::string actual);
  const std::string& path() const noexcept { return path_; }
  const std::string& expected() const noexcept { return expected_; }
  // The type found ("missing" when there is no such field).
  const std::string& actual() const noexcept { return actual_; }

 private:
  std::string path_, expected_, actual_;
};

// Text that is not valid (extended) JSON, or a document libbson rejects.
// domain() and code() are libbson's when it gave them, else 0.
class json_error : public error {
 public:
  explicit json_error(const std::string& message, std::uint32_t domain = 0, std::uint32_t code = 0) : error(message, domain, code) {}
};

// A 12-byte MongoDB ObjectId.
class object_id {
 public:
  // A new, unique id (timestamp, per-process random value, counter).
  static object_id generate();
  // From 24 hex digits; anything else throws std::invalid_argument.
  static object_id from_string(std::string_view hex);
  object_id() noexcept = default;
  explicit object_id(const bson_oid_t& oid) noexcept;
  std::string to_string() const;
  std::chrono::sys_seconds timestamp() const noexcept;
  const bson_oid_t& native() const noexcept { return oid_; }
  friend bool operator==(const object_id& a, const object_id& b) noexcept;
  friend bool operator<(const object_id& a, const object_id& b) noexcept;

 private:
  bson_oid_t oid_{};
};

// IEEE 754-2008 128-bit decimal, kept exact; written and read as its string.
class decimal128 {
 public:
  // From text such as "1.10" or "-Infinity"; anything else throws std::invalid_argument.
  decimal128() noexcept = default;  // 0
  explicit decimal128(std::string_view text);
  explicit decimal128(const bson_decimal128_t& d) noexcept : d_(d) {}
  std::string to_string() const;
  const bson_decimal128_t& native() const noexcept { return d_; }
  friend bool operator==(const decimal128& a, const decimal128& b) noexcept { return a.d_.low == b.d_.low && a.d_.high == b.d_.high; }

 private:
  bson_decimal128_t d_{};
};

// Binary data with its BSON subtype (0: generic, 4: UUID, ...).
class binary {
 public:
  binary() = default;
  explicit binary(std::vector<std::uint8_t> data, std::uint8_t subtype = 0) : data(std::move(data)), subtype(subtype) {}
  std::vector<std::uint8_t> data;
  std::uint8_t subtype = 0;
  friend bool operator==(const binary&, const binary&) = default;
};

// A BSON UTC datetime: milliseconds since the Unix epoch.
using date_time = std::chrono::sys_time<std::chrono::milliseconds>;

// The BSON element types (libbson's bson_type_t).
enum class type : std::uint8_t {
  double_ = BSON_TYPE_DOUBLE,
  string = BSON_TYPE_UTF8,
  document = BSON_TYPE_DOCUMENT,
  array = BSON_TYPE_ARRAY,
  binary = BSON_TYPE_BINARY,
  undefined = BSON_TYPE_UNDEFINED,
  object_id = BSON_TYPE_OID,
  boolean = BSON_TYPE_BOOL,
  date_time = BSON_TYPE_DATE_TIME,
  null = BSON_TYPE_NULL,
  regex = BSON_TYPE_REGEX,
  int32 = BSON_TYPE_INT32,
  timestamp = BSON_TYPE_TIMESTAMP,
  int64 = BSON_TYPE_INT64,
  decimal128 = BSON_TYPE_DECIMAL128,
  min_key = BSON_TYPE_MINKEY,
  max_key = BSON_TYPE_MAXKEY,
};
// "int32", "string", "object_id", ...
std::string_view type_name(type t) noexcept;

class element;

// An owning BSON document. Copies copy the bytes; moves are cheap.
class document {
 public:
  using field = std::pair<std::string_view, value>;

  document();
  document(std::initializer_list<field> fields);
  document(const document& other);
  document(document&& other) noexcept;
  document& operator=(const document& other);
  document& operator=(document&& other) noexcept;
  ~document();

  // Takes ownership of `b` (from bson_new or bson_copy).
  static document adopt(bson_t* b) noexcept;
  // Copies `b`'s bytes.
  static document copy_of(const bson_t* b);
  // Extended JSON text, canonical or relaxed; throws json_error.
  static document from_json(std::string_view json);

  // Appends a field (BSON keeps duplicates; do not append a key twice).
  document& append(std::string_view key, const value& v);

  std::string to_json() const;          // canonical extended JSON: every type explicit
  std::string to_relaxed_json() const;  // relaxed: numbers and strings plain

  bool empty() const noexcept;
  std::size_t size() const noexcept;  // number of top-level fields
  bool contains(std::string_view path) const noexcept;
  // The type of the field at `path`; throws field_error when it is missing.
  mongo::type type_of(std::string_view path) const;

  // The field at `path` (dots descend into documents and arrays), as T. Throws field_error
  // when it is missing or of another type. T: bool, std::int32_t, std::int64_t, double,
  // std::string, std::string_view (into this document), document, array, object_id,
  // date_time, decimal128, binary, std::nullptr_t, value.
  template <class T>
  T get(std::string_view path) const;
  // As get, but a missing field gives an empty optional (a wrong type still throws).
  template <class T>
  std::optional<T> find(std::string_view path) const {
    if (!contains(path)) return std::nullopt;
    return get<T>(path);
  }

  class iterator;
  iterator begin() const;
  iterator end() const;

  const bson_t* native() const noexcept { return b_; }
  bson_t* native() noexcept { return b_; }
  // Gives up ownership of the bson_t (the document is empty afterwards).
  bson_t* release() noexcept;

  friend bool operator==(const document& a, const document& b) noexcept;

 private:
  explicit document(bson_t* b) noexcept : b_(b) {}
  bson_t* b_;
};

// A BSON array: a document whose keys are "0", "1", ...
class array {
 public:
  array() = default;
  array(std::initializer_list<value> values);
  // The array's bytes as a document (keys "0", "1", ...).
  explicit array(document as_document) noexcept : d_(std::move(as_document)) {}
  array& append(const value& v);
  std::size_t size() const noexcept { return d_.size(); }
  bool empty() const noexcept { return d_.empty(); }
  template <class T>
  T get(std::size_t i) const {
    return d_.get<T>(std::to_string(i));
  }
  std::vector<value> values() const;
  const document& as_document() const noexcept { return d_; }
  document::iterator begin() const;
  document::iterator end() const;
  friend bool operator==(const array& a, const array& b) noexcept { return a.d_ == b.d_; }
  std::string to_json() const { return d_.to_json(); }

 private:
  document d_;
};

// One value of a supported BSON type: what a field holds. Built implicitly, so builders
// read like literals: int -> int32, long/long long -> int64, const char* and strings ->
// string (never bool), nullptr -> null.
class value {
 public:
  using variant = std::variant<std::nullptr_t, bool, std::int32_t, std::int64_t, double, std::string, document, array, object_id, date_time,
                               decimal128, binary>;
  value() noexcept : v_(nullptr) {}
  value(std::nullptr_t) noexcept : v_(nullptr) {}
  value(bool b) noexcept : v_(b) {}
  value(int i) noexcept : v_(std::int32_t{i}) {}
  value(long i) noexcept : v_(std::int64_t{i}) {}
  value(long long i) noexcept : v_(std::int64_t{i}) {}
  value(unsigned i) noexcept : v_(std::int64_t{i}) {}
  value(unsigned long i) noexcept : v_(static_cast<std::int64_t>(i)) {}
  value(unsigned long long i) noexcept : v_(static_cast<std::int64_t>(i)) {}
  value(double d) noexcept : v_(d) {}
  value(const char* s) : v_(std::string(s)) {}
  value(std::string s) noexcept : v_(std::move(s)) {}
  value(std::string_view s) : v_(std::string(s)) {}
  value(document d) noexcept : v_(std::move(d)) {}
  value(array a) noexcept : v_(std::move(a)) {}
  value(object_id id) noexcept : v_(id) {}
  value(date_time t) noexcept : v_(t) {}
  value(decimal128 d) noexcept : v_(d) {}
  value(binary b) noexcept : v_(std::move(b)) {}

  mongo::type type() const noexcept;
  const variant& get() const noexcept { return v_; }
  // The value as T; throws field_error (path "") on another type.
  template <class T>
  const T& as() const {
    if (auto* p = std::get_if<T>(&v_)) return *p;
    throw_wrong_type(value(std::in_place_type<T>).type());
  }
  template <class T>
  bool is() const noexcept {
    return std::holds_alternative<T>(v_);
  }
  // Canonical extended JSON of the value alone, e.g. {"$oid": "..."} or {"$numberInt": "3"}.
  std::string to_json() const;
  friend bool operator==(const value& a, const value& b) noexcept { return a.v_ == b.v_; }

 private:
  template <class T>
  explicit value(std::in_place_type_t<T> t) : v_(t) {}
  [[noreturn]] void throw_wrong_type(mongo::type expected) const;
  variant v_;
};

// One field of a document being iterated: its key, its type and its value.
class element {
 public:
  std::string_view key() const noexcept { return {bson_iter_key(&it_), bson_iter_key_len(&it_)}; }
  mongo::type type() const noexcept { return static_cast<mongo::type>(bson_iter_type(&it_)); }
  template <class T>
  T get() const;
  const bson_iter_t& native() const noexcept { return it_; }

 private:
  friend class document;
  friend class document::iterator;
  bson_iter_t it_{};
};

class document::iterator {
 public:
  using value_type = element;
  using difference_type = std::ptrdiff_t;
  using reference = const element&;
  using pointer = const element*;
  using iterator_category = std::input_iterator_tag;
  iterator() = default;
  reference operator*() const noexcept { return e_; }
  pointer operator->() const noexcept { return &e_; }
  iterator& operator++() noexcept {
    if (!bson_iter_next(&e_.it_)) done_ = true;
    return *this;
  }
  void operator++(int) noexcept { ++*this; }
  friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.done_ == b.done_; }

 private:
  friend class document;
  element e_;
  bool done_ = true;
};

inline document::iterator array::begin() const { return d_.begin(); }
inline document::iterator array::end() const { return d_.end(); }

namespace detail {
inline void append_pairs(document&) {}
template <class K, class V, class... Rest>
void append_pairs(document& d, K&& k, V&& v, Rest&&... rest) {
  d.append(std::string_view(k), value(std::forward<V>(v)));
  append_pairs(d, std::forward<Rest>(rest)...);
}
}  // namespace detail

// The same documents without braces: doc("name", "Ada", "born", 1815), arr(1, "two").
// g++ 12 rejects any std::initializer_list inside a co_await expression ("array used as
// initializer"), so `co_await coll.insert_one({{"a", 1}})` compiles with clang only; write
// `co_await coll.insert_one(doc("a", 1))`, or build the document in a statement of its own.
template <class... KV>
document doc(KV&&... key_value_pairs) {
  static_assert(sizeof...(KV) % 2 == 0, "aw::mongo::doc takes key, value, key, value, ...");
  document d;
  detail::append_pairs(d, std::forward<KV>(key_value_pairs)...);
  return d;
}
template <class... V>
array arr(V&&... values) {
  array a;
  (a.append(value(std::forward<V>(values))), ...);
  return a;
}

namespace detail {
// Reads the element under `it` as T, or throws field_error naming `path`.
template <class T>
T read(const bson_iter_t& it, std::string_view path);
void append_value(bson_t* b, std::string_view key, const value& v);
}  // namespace detail

template <class T>
T element::get() const {
  return detail::read<T>(it_, key());
}

}  // namespace aw::mongo
