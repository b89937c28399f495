// aw::mongo::document and array over libbson: building, typed access, iteration, and
// canonical extended JSON both ways.
#include <aw/mongo/bson.hpp>

#include <cstring>
#include <memory>

namespace aw::mongo {

namespace {

struct bson_free_deleter {
  void operator()(char* p) const noexcept { bson_free(p); }
};
std::string take_string(char* p, std::size_t n) {
  std::unique_ptr<char, bson_free_deleter> guard(p);
  if (!p) throw json_error("aw::mongo: the document cannot be written as JSON");
  return std::string(p, n);
}

// Finds `path` (dots descend) in `b`.
bool find_path(const bson_t* b, std::string_view path, bson_iter_t& out) noexcept {
  bson_iter_t it;
  if (!b || !bson_iter_init(&it, b)) return false;
  // bson_iter_find_descendant wants a NUL-terminated path; paths are short.
  char buf[256];
  std::string long_path;
  const char* p;
  if (path.size() < sizeof buf) {
    std::memcpy(buf, path.data(), path.size());
    buf[path.size()] = '\0';
    p = buf;
  } else {
    long_path.assign(path);
    p = long_path.c_str();
  }
  if (path.find('.') == std::string_view::npos) return bson_iter_find_w_len(&it, p, static_cast<int>(path.size())) && (out = it, true);
  return bson_iter_find_descendant(&it, p, &out);
}

template <class T>
constexpr std::string_view expected_name() noexcept {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "int32";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "int64";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>)
    return "string";
  else if constexpr (std::is_same_v<T, document>)
    return "document";
  else if constexpr (std::is_same_v<T, array>)
    return "array";
  else if constexpr (std::is_same_v<T, object_id>)
    return "object_id";
  else if constexpr (std::is_same_v<T, date_time>)
    return "date_time";
  else if constexpr (std::is_same_v<T, decimal128>)
    return "decimal128";
  else if constexpr (std::is_same_v<T, binary>)
    return "binary";
  else if constexpr (std::is_same_v<T, std::nullptr_t>)
    return "null";
  else
    return "a value";
}

[[noreturn]] void wrong_type(std::string_view path, std::string_view expected, const bson_iter_t& it) {
  throw field_error(std::string(path), std::string(expected), std::string(type_name(static_cast<type>(bson_iter_type(&it)))));
}

document sub_document(const bson_iter_t& it) {
  std::uint32_t len = 0;
  const std::uint8_t* data = nullptr;
  if (BSON_ITER_HOLDS_DOCUMENT(&it))
    bson_iter_document(&it, &len, &data);
  else
    bson_iter_array(&it, &len, &data);
  bson_t* b = bson_new_from_data(data, len);
  if (!b) throw json_error("aw::mongo: corrupt embedded document");
  return document::adopt(b);
}

}  // namespace

field_error::field_error(std::string path, std::string expected, std::string actual)
    : error(actual == "missing" ? "aw::mongo: field \"" + path + "\" is missing (expected " + expected + ")"
                                : "aw::mongo: field \"" + path + "\" is " + (actual == "int32" || actual == "int64" ? "an " : "a ") +
                                      actual + ", not " + (expected == "int32" || expected == "int64" ? "an " : "a ") + expected,
            0, 0),
      path_(std::move(path)),
      expected_(std::move(expected)),
      actual_(std::move(actual)) {}

std::string_view type_name(type t) noexcept {
  switch (t) {
    case type::double_:
      return "double";
    case type::string:
      return "string";
    case type::document:
      return "document";
    case type::array:
      return "array";
    case type::binary:
      return "binary";
    case type::undefined:
      return "undefined";
    case type::object_id:
      return "object_id";
    case type::boolean:
      return "bool";
    case type::date_time:
      return "date_time";
    case type::null:
      return "null";
    case type::regex:
      return "regex";
    case type::int32:
      return "int32";
    case type::timestamp:
      return "timestamp";
    case type::int64:
      return "int64";
    case type::decimal128:
      return "decimal128";
    case type::min_key:
      return "min_key";
    case type::max_key:
      return "max_key";
  }
  return "unknown";
}

// ---- object_id, decimal128 -------------------------------------------------------------

object_id object_id::generate() {
  bson_oid_t oid;
  bson_oid_init(&oid, nullptr);
  return object_id(oid);
}
object_id object_id::from_string(std::string_view hex) {
  if (hex.size() != 24 || !bson_oid_is_valid(hex.data(), hex.size()))
    throw std::invalid_argument("aw::mongo::object_id: \"" + std::string(hex) + "\" is not 24 hex digits");
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, std::string(hex).c_str());
  return object_id(oid);
}
object_id::object_id(const bson_oid_t& oid) noexcept : oid_(oid) {}
std::string object_id::to_string() const {
  char buf[25];
  bson_oid_to_string(&oid_, buf);
  return buf;
}
std::chrono::sys_seconds object_id::timestamp() const noexcept {
  return std::chrono::sys_seconds(std::chrono::seconds(bson_oid_get_time_t(&oid_)));
}
bool operator==(const object_id& a, const object_id& b) noexcept { return bson_oid_equal(&a.oid_, &b.oid_); }
bool operator<(const object_id& a, const object_id& b) noexcept { return bson_oid_compare(&a.oid_, &b.oid_) < 0; }

decimal128::decimal128(std::string_view text) {
  if (!bson_decimal128_from_string_w_len(std::string(text).c_str(), static_cast<int>(text.size()), &d_))
    throw std::invalid_argument("aw::mongo::decimal128: \"" + std::string(text) + "\" is not a decimal number");
}
std::string decimal128::to_string() const {
  char buf[BSON_DECIMAL128_STRING];
  bson_decimal128_to_string(&d_, buf);
  return buf;
}

// ---- document ------------------------------------------------------------------------

document::document() : b_(bson_new()) {}
document::document(std::initializer_list<field> fields) : b_(bson_new()) {
  for (const auto& [k, v] : fields) append(k, v);
}
document::document(const document& other) : b_(other.b_ ? bson_copy(other.b_) : bson_new()) {}
document::document(document&& other) noexcept : b_(std::exchange(other.b_, nullptr)) {}
document& document::operator=(const document& other) {
  if (this != &other) {
    bson_t* n = other.b_ ? bson_copy(other.b_) : bson_new();
    if (b_) bson_destroy(b_);
    b_ = n;
  }
  return *this;
}
document& document::operator=(document&& other) noexcept {
  if (this != &other) {
    if (b_) bson_destroy(b_);
    b_ = std::exchange(other.b_, nullptr);
  }
  return *this;
}
document::~document() {
  if (b_) bson_destroy(b_);
}
document document::adopt(bson_t* b) noexcept { return document(b); }
document document::copy_of(const bson_t* b) { return document(bson_copy(b)); }
bson_t* document::release() noexcept { return std::exchange(b_, nullptr); }

document document::from_json(std::string_view json) {
  bson_error_t err;
  bson_t* b = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json.data()), static_cast<ssize_t>(json.size()), &err);
  if (!b) throw json_error(std::string("aw::mongo: invalid JSON: ") + err.message, err.domain, err.code);
  return document(b);
}

document& document::append(std::string_view key, const value& v) {
  if (!b_) b_ = bson_new();
  detail::append_value(b_, key, v);
  return *this;
}

std::string document::to_json() const {
  if (!b_) return "{ }";
  std::size_t n = 0;
  char* s = bson_as_canonical_extended_json(b_, &n);
  return take_string(s, n);
}
std::string document::to_relaxed_json() const {
  if (!b_) return "{ }";
  std::size_t n = 0;
  char* s = bson_as_relaxed_extended_json(b_, &n);
  return take_string(s, n);
}

bool document::empty() const noexcept { return !b_ || bson_empty(b_); }
std::size_t document::size() const noexcept { return b_ ? bson_count_keys(b_) : 0; }
bool document::contains(std::string_view path) const noexcept {
  bson_iter_t it;
  return find_path(b_, path, it);
}
type document::type_of(std::string_view path) const {
  bson_iter_t it;
  if (!find_path(b_, path, it)) throw field_error(std::string(path), "a value", "missing");
  return static_cast<type>(bson_iter_type(&it));
}

template <class T>
T document::get(std::string_view path) const {
  bson_iter_t it;
  if (!find_path(b_, path, it)) {
    throw field_error(std::string(path), std::string(expected_name<T>()), "missing");
  }
  return detail::read<T>(it, path);
}

document::iterator document::begin() const {
  iterator i;
  if (b_ && bson_iter_init(&i.e_.it_, b_) && bson_iter_next(&i.e_.it_)) i.done_ = false;
  return i;
}
document::iterator document::end() const { return iterator(); }

bool operator==(const document& a, const document& b) noexcept {
  if (a.b_ && b.b_) return bson_equal(a.b_, b.b_);
  return a.empty() && b.empty();
}

// ---- array, value ------------------------------------------------------------------------

array::array(std::initializer_list<value> values) {
  for (const auto& v : values) append(v);
}
array& array::append(const value& v) {
  const char* key;
  char buf[16];
  bson_uint32_to_string(static_cast<std::uint32_t>(d_.size()), &key, buf, sizeof buf);
  detail::append_value(d_.native(), key, v);
  return *this;
}
std::vector<value> array::values() const {
  std::vector<value> out;
  for (const element& e : d_) out.push_back(e.get<value>());
  return out;
}

type value::type() const noexcept {
  switch (v_.index()) {
    case 0:
      return type::null;
    case 1:
      return type::boolean;
    case 2:
      return type::int32;
    case 3:
      return type::int64;
    case 4:
      return type::double_;
    case 5:
      return type::string;
    case 6:
      return type::document;
    case 7:
      return type::array;
    case 8:
      return type::object_id;
    case 9:
      return type::date_time;
    case 10:
      return type::decimal128;
    default:
      return type::binary;
  }
}
void value::throw_wrong_type(mongo::type expected) const {
  throw field_error("", std::string(type_name(expected)), std::string(type_name(type())));
}
std::string value::to_json() const {
  document d;
  d.append("v", *this);
  std::string s = d.to_json();
  // `{ "v" : X }` -> `X`
  auto start = s.find(':') + 2;
  return s.substr(start, s.size() - start - 2);
}

namespace detail {

void append_value(bson_t* b, std::string_view key, const value& v) {
  const char* k = key.data();
  const int n = static_cast<int>(key.size());
  bool ok = std::visit(
      [&](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          return bson_append_null(b, k, n);
        else if constexpr (std::is_same_v<T, bool>)
          return bson_append_bool(b, k, n, x);
        else if constexpr (std::is_same_v<T, std::int32_t>)
          return bson_append_int32(b, k, n, x);
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return bson_append_int64(b, k, n, x);
        else if constexpr (std::is_same_v<T, double>)
          return bson_append_double(b, k, n, x);
        else if constexpr (std::is_same_v<T, std::string>)
          return bson_append_utf8(b, k, n, x.data(), static_cast<int>(x.size()));
        else if constexpr (std::is_same_v<T, document>)
          return bson_append_document(b, k, n, x.native());
        else if constexpr (std::is_same_v<T, array>)
          return bson_append_array(b, k, n, x.as_document().native());
        else if constexpr (std::is_same_v<T, object_id>)
          return bson_append_oid(b, k, n, &x.native());
        else if constexpr (std::is_same_v<T, date_time>)
          return bson_append_date_time(b, k, n, x.time_since_epoch().count());
        else if constexpr (std::is_same_v<T, decimal128>)
          return bson_append_decimal128(b, k, n, &x.native());
        else
          return bson_append_binary(b, k, n, static_cast<bson_subtype_t>(x.subtype), x.data.data(),
                                    static_cast<std::uint32_t>(x.data.size()));
      },
      v.get());
  if (!ok) throw std::length_error("aw::mongo: the document would exceed BSON's size limit (field \"" + std::string(key) + "\")");
}

template <class T>
T read(const bson_iter_t& it, std::string_view path) {
  const auto t = bson_iter_type(&it);
  if constexpr (std::is_same_v<T, bool>) {
    if (t == BSON_TYPE_BOOL) return bson_iter_bool(&it);
    wrong_type(path, "bool", it);
  } else if constexpr (std::is_same_v<T, std::int32_t>) {
    if (t == BSON_TYPE_INT32) return bson_iter_int32(&it);
    wrong_type(path, "int32", it);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (t == BSON_TYPE_INT64) return bson_iter_int64(&it);
    if (t == BSON_TYPE_INT32) return bson_iter_int32(&it);
    wrong_type(path, "int64", it);
  } else if constexpr (std::is_same_v<T, double>) {
    if (t == BSON_TYPE_DOUBLE) return bson_iter_double(&it);
    wrong_type(path, "double", it);
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    if (t == BSON_TYPE_UTF8) {
      std::uint32_t len = 0;
      const char* s = bson_iter_utf8(&it, &len);
      return T(s, len);
    }
    wrong_type(path, "string", it);
  } else if constexpr (std::is_same_v<T, document>) {
    if (t == BSON_TYPE_DOCUMENT) return sub_document(it);
    wrong_type(path, "document", it);
  } else if constexpr (std::is_same_v<T, array>) {
    if (t == BSON_TYPE_ARRAY) return array(sub_document(it));
    wrong_type(path, "array", it);
  } else if constexpr (std::is_same_v<T, object_id>) {
    if (t == BSON_TYPE_OID) return object_id(*bson_iter_oid(&it));
    wrong_type(path, "object_id", it);
  } else if constexpr (std::is_same_v<T, date_time>) {
    if (t == BSON_TYPE_DATE_TIME) return date_time(std::chrono::milliseconds(bson_iter_date_time(&it)));
    wrong_type(path, "date_time", it);
  } else if constexpr (std::is_same_v<T, decimal128>) {
    bson_decimal128_t d;
    if (t == BSON_TYPE_DECIMAL128 && bson_iter_decimal128(&it, &d)) return decimal128(d);
    wrong_type(path, "decimal128", it);
  } else if constexpr (std::is_same_v<T, binary>) {
    if (t == BSON_TYPE_BINARY) {
      bson_subtype_t sub;
      std::uint32_t len = 0;
      const std::uint8_t* data = nullptr;
      bson_iter_binary(&it, &sub, &len, &data);
      return binary(std::vector<std::uint8_t>(data, data + len), static_cast<std::uint8_t>(sub));
    }
    wrong_type(path, "binary", it);
  } else if constexpr (std::is_same_v<T, std::nullptr_t>) {
    if (t == BSON_TYPE_NULL) return nullptr;
    wrong_type(path, "null", it);
  } else {
    static_assert(std::is_same_v<T, value>);
    switch (t) {
      case BSON_TYPE_NULL:
        return value(nullptr);
      case BSON_TYPE_BOOL:
        return value(read<bool>(it, path));
      case BSON_TYPE_INT32:
        return value(read<std::int32_t>(it, path));
      case BSON_TYPE_INT64:
        return value(static_cast<long long>(read<std::int64_t>(it, path)));
      case BSON_TYPE_DOUBLE:
        return value(read<double>(it, path));
      case BSON_TYPE_UTF8:
        return value(read<std::string>(it, path));
      case BSON_TYPE_DOCUMENT:
        return value(read<document>(it, path));
      case BSON_TYPE_ARRAY:
        return value(read<array>(it, path));
      case BSON_TYPE_OID:
        return value(read<object_id>(it, path));
      case BSON_TYPE_DATE_TIME:
        return value(read<date_time>(it, path));
      case BSON_TYPE_DECIMAL128:
        return value(read<decimal128>(it, path));
      case BSON_TYPE_BINARY:
        return value(read<binary>(it, path));
      default:
        wrong_type(path, "a supported type", it);
    }
  }
}

}  // namespace detail

#define AW_MONGO_GET(T)                                                     \
  template T detail::read<T>(const bson_iter_t& it, std::string_view path); \
  template T document::get<T>(std::string_view path) const;
AW_MONGO_GET(bool)
AW_MONGO_GET(std::int32_t)
AW_MONGO_GET(std::int64_t)
AW_MONGO_GET(double)
AW_MONGO_GET(std::string)
AW_MONGO_GET(std::string_view)
AW_MONGO_GET(document)
AW_MONGO_GET(array)
AW_MONGO_GET(object_id)
AW_MONGO_GET(date_time)
AW_MONGO_GET(decimal128)
AW_MONGO_GET(binary)
AW_MONGO_GET(std::nullptr_t)
AW_MONGO_GET(value)
#undef AW_MONGO_GET

}  // namespace aw::mongo
