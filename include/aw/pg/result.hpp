// Query results: aw::pg::result (all rows, as fetch() gives them), aw::pg::row (a view of
// one row), aw::pg::record (one row that owns its data, as fetchrow() gives it).
//
//   aw::pg::result rows = co_await conn.fetch("SELECT id, name FROM users ORDER BY id");
//   for (aw::pg::row r : rows) {
//     auto id = r.get<std::int64_t>(0);                          // by index
//     auto name = r.get<std::optional<std::string>>("name");     // by name; NULL is std::nullopt
//     auto [id2, name2] = r.as<std::int64_t, std::string>();     // the whole row as a tuple
//     for (auto [col, v] : r.items()) std::cout << col << "=" << v;  // dynamically (asyncpg's Record)
//   }
//
// Values are read from the binary data libpq received, without copies until a C++ value
// is made. Any column reads into a std::string (its text). A column whose type does not
// convert, or a NULL read into a non-optional, is aw::pg::type_error naming the column, its
// PostgreSQL type and the C++ type. A row and a field are views: they live as long as
// the result they come from.
#pragma once

#include <aw/pg/errors.hpp>
#include <aw/pg/type_codec.hpp>
#include <aw/pg/types.hpp>

#include <cstddef>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

struct pg_result;

namespace aw::pg {

class row;

class result {
 public:
  result() noexcept = default;
  explicit result(pg_result* r) noexcept : r_(r) {}
  result(result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  result& operator=(result&& o) noexcept {
    if (this != &o) {
      clear();
      r_ = std::exchange(o.r_, nullptr);
    }
    return *this;
  }
  ~result() { clear(); }

  std::size_t size() const noexcept;  // rows
  bool empty() const noexcept { return size() == 0; }
  std::size_t columns() const noexcept;  // columns
  std::string_view column_name(std::size_t i) const;
  oid column_type(std::size_t i) const;
  // The number of rows the command affected (INSERT, UPDATE, DELETE, ...), 0 if none.
  std::size_t rows_affected() const noexcept;
  // The command tag, e.g. "INSERT 0 1".
  std::string_view status() const noexcept;

  row operator[](std::size_t i) const noexcept;
  class iterator;
  iterator begin() const noexcept;
  iterator end() const noexcept;

  pg_result* native() const noexcept { return r_; }

 private:
  void clear() noexcept;
  pg_result* r_ = nullptr;
};

namespace detail {
struct raw_field {
  const char* data;
  int length;
  oid type;
  bool null;
};
raw_field raw(const pg_result* r, int row, int col) noexcept;
int column_index(const pg_result* r, std::string_view name);  // type_error when there is none
int column_count(const pg_result* r) noexcept;
std::string describe_column(const pg_result* r, int col);  // "column 2 (\"name\", type text)"
[[noreturn]] void column_out_of_range(const pg_result* r, int col);
// type_error: the column's type has no decoder registered for a C++ type without a codec.
[[noreturn]] void no_runtime_decoder(const pg_result* r, int col, const std::string& cpp);

// While it lives, the types the connection looked up when it made `r` (user_types.hpp)
// name and decode the values of types made after initdb: type_name, to_text, decoding_oid.
// Made only for such a column (or a record's, whose fields may be of such types).
class types_scope {
 public:
  explicit types_scope(const pg_result* r) noexcept;
  types_scope(const types_scope&) = delete;
  types_scope& operator=(const types_scope&) = delete;
  ~types_scope();

 private:
  const void* saved_;
};
inline bool needs_types(oid t) noexcept { return t >= oids::first_normal || t == oids::record || t == oids::record_array; }

template <class T>
T decode_static(const pg_result* r, int col, const raw_field& f, oid t) {
  if (!codec<T>::accepts(t)) throw type_error(describe_column(r, col) + " does not read into " + cpp_type_name<T>());
  try {
    return codec<T>::decode(f.data, f.length, t);
  } catch (const type_error& e) {
    throw type_error(describe_column(r, col) + ": " + e.what());
  }
}
// A value of a type made after initdb (or of a record, whose fields may be): read with
// the types looked up for its result. Apart, so that the common case stays inline.
template <class T>
T decode_user_type(const pg_result* r, int col, const raw_field& f) {
  types_scope scope(r);
  return decode_static<T>(r, col, f, decoding_oid(f.type));
}

template <class T>
T decode_field(const pg_result* r, int row, int col) {
  if (col < 0 || col >= column_count(r)) column_out_of_range(r, col);
  raw_field f = raw(r, row, col);
  if constexpr (is_optional<T>::value) {
    if (f.null) return std::nullopt;
    return decode_field<typename T::value_type>(r, row, col);
  } else {
    if (f.null)
      throw type_error("NULL in " + describe_column(r, col) + " does not read into a non-optional " + cpp_type_name<T>() +
                       "; use std::optional");
    // Only a class or an enum can have a registered codec, and only once one was registered.
    if constexpr (runtime_codec_allowed<T>) {
      if (runtime_codecs_registered.load(std::memory_order_relaxed)) {
        if (const runtime_codec* rc = runtime_decoder(r, f.type, typeid(T))) {
          std::optional<T> out;
          rc->decode(std::string_view(f.data, static_cast<std::size_t>(f.length)), &out);
          return std::move(*out);
        }
      }
    }
    if constexpr (has_static_codec<T>) {
      if (needs_types(f.type)) [[unlikely]]
        return decode_user_type<T>(r, col, f);
      if (!codec<T>::accepts(f.type)) throw type_error(describe_column(r, col) + " does not read into " + cpp_type_name<T>());
      try {
        return codec<T>::decode(f.data, f.length, f.type);
      } catch (const type_error& e) {
        throw type_error(describe_column(r, col) + ": " + e.what());
      }
    } else {
      static_assert(runtime_codec_allowed<T>,
                    "aw::pg: no codec reads a column into this type: use a type of the table in aw/pg/types.hpp, or "
                    "register a codec for a class or enum of your own with connection::set_type_codec");
      no_runtime_decoder(r, col, cpp_type_name<T>());
    }
  }
}
}  // namespace detail

// One column of one row, read as the C++ type asked for when it is read (asyncpg's Record
// item): row[i] and row["name"] give one.
//
//   for (auto [name, v] : record.items())
//     std::cout << name << " (" << v.type_name() << "): " << v << "\n";   // NULL prints as NULL
//   if (!rec["email"].is_null()) send(rec["email"].as<std::string>());
class value {
 public:
  value(const pg_result* r, int row, int col) noexcept : r_(r), row_(row), col_(col) {}
  bool is_null() const noexcept { return detail::raw(r_, row_, col_).null; }
  // The PostgreSQL type: its OID, and its SQL name ("integer", "text[]"; for a type made
  // after initdb, as the server's format_type names it: "mood", "mood[]", "other.pair"; the
  // connection looked it up when the result came).
  oid type() const noexcept { return detail::raw(r_, row_, col_).type; }
  std::string type_name() const;
  // The column's name.
  std::string_view name() const noexcept;
  // The raw binary value (empty for NULL).
  std::string_view bytes() const noexcept {
    auto f = detail::raw(r_, row_, col_);
    return {f.data, static_cast<std::size_t>(f.length)};
  }
  // The value as T (std::optional<T> where it may be NULL): type_error naming the column,
  // its PostgreSQL type and T when it does not convert.
  template <class T>
  T as() const {
    return detail::decode_field<T>(r_, row_, col_);
  }
  // PostgreSQL's text form of the value (any type; see codec<std::string>), "NULL" for NULL.
  std::string to_string() const { return is_null() ? "NULL" : as<std::string>(); }
  friend std::ostream& operator<<(std::ostream& os, const value& v);

 private:
  const pg_result* r_;
  int row_, col_;
};
using field = value;  // the name it had first

class row {
 public:
  row(const pg_result* r, int index) noexcept : r_(r), row_(index) {}

  std::size_t size() const noexcept { return static_cast<std::size_t>(detail::column_count(r_)); }
  value operator[](std::size_t col) const {
    if (col >= size()) detail::column_out_of_range(r_, static_cast<int>(col));
    return value(r_, row_, static_cast<int>(col));
  }
  value operator[](std::string_view name) const { return value(r_, row_, detail::column_index(r_, name)); }

  // As asyncpg's Record: the column names, the (name, value) pairs, and iteration over the
  // values, in column order.
  std::vector<std::string_view> keys() const;
  std::vector<std::pair<std::string_view, value>> items() const;
  std::vector<value> values() const;
  class iterator;
  iterator begin() const noexcept;
  iterator end() const noexcept;

  template <class T>
  T get(std::size_t col) const {
    return detail::decode_field<T>(r_, row_, static_cast<int>(col));
  }
  template <class T>
  T get(std::string_view name) const {
    return detail::decode_field<T>(r_, row_, detail::column_index(r_, name));
  }
  // The first sizeof...(Ts) columns as a tuple (type_error when the row has fewer).
  template <class... Ts>
  std::tuple<Ts...> as() const {
    return as_impl<Ts...>(std::index_sequence_for<Ts...>{});
  }
  // The columns as the constructor arguments of S (an aggregate or a class): S{col0, col1, ...}.
  template <class S, class... Ts>
    requires(sizeof...(Ts) > 0)
  S to() const {
    return std::apply([](auto&&... v) { return S{std::move(v)...}; }, as<Ts...>());
  }

 protected:
  template <class... Ts, std::size_t... I>
  std::tuple<Ts...> as_impl(std::index_sequence<I...>) const {
    return std::tuple<Ts...>(detail::decode_field<Ts>(r_, row_, static_cast<int>(I))...);
  }
  const pg_result* r_;
  int row_;
};

class row::iterator {
 public:
  using value_type = value;
  using difference_type = std::ptrdiff_t;
  iterator() noexcept = default;
  iterator(const pg_result* r, int row, int col) noexcept : r_(r), row_(row), col_(col) {}
  value operator*() const noexcept { return value(r_, row_, col_); }
  iterator& operator++() noexcept {
    ++col_;
    return *this;
  }
  iterator operator++(int) noexcept {
    auto t = *this;
    ++col_;
    return t;
  }
  friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.col_ == b.col_; }

 private:
  const pg_result* r_ = nullptr;
  int row_ = 0, col_ = 0;
};
inline row::iterator row::begin() const noexcept { return iterator(r_, row_, 0); }
inline row::iterator row::end() const noexcept { return iterator(r_, row_, detail::column_count(r_)); }

class result::iterator {
 public:
  using value_type = row;
  using difference_type = std::ptrdiff_t;
  iterator() noexcept = default;
  iterator(const pg_result* r, int i) noexcept : r_(r), i_(i) {}
  row operator*() const noexcept { return row(r_, i_); }
  iterator& operator++() noexcept {
    ++i_;
    return *this;
  }
  iterator operator++(int) noexcept {
    auto t = *this;
    ++i_;
    return t;
  }
  friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.i_ == b.i_; }

 private:
  const pg_result* r_ = nullptr;
  int i_ = 0;
};

inline row result::operator[](std::size_t i) const noexcept { return row(r_, static_cast<int>(i)); }
inline result::iterator result::begin() const noexcept { return iterator(r_, 0); }
inline result::iterator result::end() const noexcept { return iterator(r_, static_cast<int>(size())); }

// One row that owns the data it reads from (fetchrow's result), alone or sharing a batch
// of rows with other records (a cursor's prefetched rows).
class record : public row {
 public:
  explicit record(result r) noexcept : row(r.native(), 0), owned_(std::move(r)) {}
  record(std::shared_ptr<const result> batch, int index) noexcept : row(batch->native(), index), shared_(std::move(batch)) {}
  record(record&& o) noexcept : row(o.r_, o.row_), owned_(std::move(o.owned_)), shared_(std::move(o.shared_)) {}
  record& operator=(record&& o) noexcept {
    owned_ = std::move(o.owned_);
    shared_ = std::move(o.shared_);
    r_ = o.r_;
    row_ = o.row_;
    return *this;
  }
  const result& owner() const noexcept { return shared_ ? *shared_ : owned_; }

 private:
  result owned_;
  std::shared_ptr<const result> shared_;
};

}  // namespace aw::pg
