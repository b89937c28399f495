// COPY (asyncpg's copy_records_to_table, copy_to_table, copy_from_query, copy_from_table):
// the options, and how a record's values are written in COPY's binary format.
//
//   std::vector<std::tuple<std::int64_t, std::string, std::optional<double>>> rows = ...;
//   std::string_view columns[] = {"id", "name", "price"};
//   std::string tag = co_await conn.copy_records_to_table("items", rows, {.columns = columns});  // "COPY 1000"
//   co_await conn.copy_to_table("items", aw::byte_source(file), {.format = "csv", .header = true});
//   co_await conn.copy_from_query("SELECT * FROM items WHERE id > $1", 10, aw::byte_sink(out), aw::pg::copy_options{.format = "csv"});
//   co_await conn.copy_from_table("items", aw::byte_sink(out));
//
// Each gives the command tag, as asyncpg does: "COPY n" with n the number of rows copied.
// Table and column names are quoted as identifiers (a name is taken as it is written,
// case included, as asyncpg does); schema_name qualifies the table.
//
// copy_records_to_table sends COPY ... FROM STDIN (FORMAT binary): each record (a
// std::tuple or std::pair of values, or a std::vector of one value type) is encoded with
// the binary encoders of aw/pg/types.hpp, adapted to the column's type the way asyncpg
// adapts (the table's column types are looked up first): integers go into any integer
// column that holds them (aw::pg::type_error when one does not fit), into float columns
// and numeric; float and double into real, double precision and numeric; strings into
// text-like, json, jsonb and numeric columns; aw::pg::numeric, json and jsonb into their
// own columns and text; any other type into a column of exactly its own type. NULL is
// std::nullopt (an empty std::optional, or std::nullopt itself in a tuple). A record with
// the wrong number of values, or a value a column does not take, raises
// aw::pg::type_error naming the column, and the COPY is aborted (nothing is inserted).
//
// All the COPYs run under the connection's one-operation-at-a-time rule and are
// cancellation points: a cancelled COPY FROM STDIN is ended with CopyFail (the server
// rolls the COPY back), a cancelled COPY TO STDOUT is cancelled on the server; either way
// the connection is usable afterwards, or closed when the server did not answer within
// cancel_timeout. An exception from a byte_source or byte_sink ends the COPY the same way
// and is then rethrown. A failed COPY raises the server's error (aw::pg::undefined_table,
// aw::pg::invalid_text_representation, ...).
#pragma once

#include <aw/pg/errors.hpp>
#include <aw/pg/types.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace aw::pg {

// A list of names (columns): an array or std::vector of std::string_view, a
// std::vector<std::string>, a span, or a braced list {"a", "b"}. It refers to the names,
// which must outlive the call it is passed to (a braced list does, to the end of the
// statement). g++ 12 rejects a braced list of names inside a co_await expression ("array
// used as initializer"): name the list first, std::string_view cols[] = {"a", "b"}; and
// pass {.columns = cols}. Trivially destructible on purpose: copy_options may then be an
// aggregate temporary inside co_await without tripping g++ 12's miscompilation (README,
// "Known compiler bugs").
class names {
 public:
  names() noexcept = default;
  // The list's array lives to the end of the full-expression holding the braced list, which
  // is as long as a names may be used (g++ warns that the pointer does not extend it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  names(std::initializer_list<std::string_view> l) noexcept : views_(l.begin()), n_(l.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  names(const std::vector<std::string>& v) noexcept : strings_(v.data()), n_(v.size()) {}
  names(std::span<const std::string_view> v) noexcept : views_(v.data()), n_(v.size()) {}
  names(const std::vector<std::string_view>& v) noexcept : views_(v.data()), n_(v.size()) {}
  template <std::size_t N>
  names(const std::string_view (&a)[N]) noexcept : views_(a), n_(N) {}
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  std::string_view operator[](std::size_t i) const noexcept { return views_ ? views_[i] : std::string_view(strings_[i]); }

 private:
  const std::string_view* views_ = nullptr;
  const std::string* strings_ = nullptr;
  std::size_t n_ = 0;
};

// asyncpg's COPY keyword arguments; what is left empty is not sent (the server's
// default). Options that do not apply to a direction are refused by the server.
struct copy_options {
  names columns{};                         // the columns to copy; all when empty
  std::string_view schema_name{};          // qualifies the table
  std::string_view format{};               // "text" (the default), "csv" or "binary" (not for copy_records_to_table)
  std::optional<char> delimiter{};         // DELIMITER
  std::optional<std::string_view> null{};  // NULL: the string that stands for NULL
  std::optional<bool> header{};            // HEADER (csv)
  std::optional<char> quote{};             // QUOTE (csv)
  std::optional<char> escape{};            // ESCAPE (csv)
  names force_quote{};                     // FORCE_QUOTE (csv, to STDOUT); {"*"}: every column
  names force_not_null{};                  // FORCE_NOT_NULL (csv, from STDIN)
  names force_null{};                      // FORCE_NULL (csv, from STDIN)
  bool freeze = false;                     // FREEZE (from STDIN)
  std::string_view encoding{};             // ENCODING
  std::string_view where{};                // WHERE: the rows to keep (from STDIN; SQL, not quoted)
};

namespace detail {

// The decimal text of a numeric ("-12.50", "NaN", "Infinity") in numeric's binary format.
void numeric_to_binary(std::string_view text, std::string& out);
// What a record's value must fit: one column of the target table.
struct copy_column {
  oid type;
  int index;
  const void* table;  // the introspection result (for describe_column)
};
[[noreturn]] void copy_mismatch(const copy_column& c, const char* what);
[[noreturn]] void copy_out_of_range(const copy_column& c);
[[noreturn]] void copy_wrong_width(std::size_t columns, std::size_t values);
std::string double_text(double v);

// Appends the 4-byte length then the value, adapted to the column's type.
template <class T>
void copy_value(const T& v, const copy_column& c, std::string& out);

template <class I>
void copy_integer(I v, const copy_column& c, std::string& out) {
  auto put = [&](auto narrow, int bytes) {
    using N = decltype(narrow);
    if (static_cast<long double>(v) < static_cast<long double>(std::numeric_limits<N>::min()) ||
        static_cast<long double>(v) > static_cast<long double>(std::numeric_limits<N>::max()))
      copy_out_of_range(c);
    put_be(out, static_cast<std::uint32_t>(bytes), 4);
    put_be(out, static_cast<std::make_unsigned_t<N>>(static_cast<N>(v)), bytes);
  };
  switch (c.type) {
    case oids::int2:
      return put(std::int16_t{}, 2);
    case oids::int4:
      return put(std::int32_t{}, 4);
    case oids::int8:
      return put(std::int64_t{}, 8);
    case oids::float4:
      put_be(out, 4, 4);
      return put_be(out, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4);
    case oids::float8:
      put_be(out, 8, 4);
      return put_be(out, std::bit_cast<std::uint64_t>(static_cast<double>(v)), 8);
    case oids::numeric: {
      std::size_t at = out.size();
      out.append(4, '\0');
      numeric_to_binary(std::to_string(v), out);
      auto n = static_cast<std::uint32_t>(out.size() - at - 4);
      for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
      return;
    }
    default:
      copy_mismatch(c, "an integer");
  }
}

// Appends a length placeholder, runs fill(), then writes the length.
template <class F>
void copy_sized(std::string& out, F fill) {
  std::size_t at = out.size();
  out.append(4, '\0');
  fill();
  auto n = static_cast<std::uint32_t>(out.size() - at - 4);
  for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
}

inline void copy_text(std::string_view s, const copy_column& c, std::string& out) {
  if (is_text_like(c.type) || c.type == oids::json)
    copy_sized(out, [&] { out.append(s); });
  else if (c.type == oids::jsonb)
    copy_sized(out, [&] {
      out.push_back(1);  // jsonb's binary format version
      out.append(s);
    });
  else if (c.type == oids::numeric)
    copy_sized(out, [&] { numeric_to_binary(s, out); });
  else
    copy_mismatch(c, "a string");
}

template <class T>
void copy_value(const T& v, const copy_column& c, std::string& out) {
  if constexpr (is_optional<T>::value) {
    if (!v)
      put_be(out, 0xffffffffu, 4);
    else
      copy_value(*v, c, out);
  } else if constexpr (std::is_same_v<T, std::nullopt_t>) {
    put_be(out, 0xffffffffu, 4);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (c.type != oids::bool_) copy_mismatch(c, "a bool");
    copy_sized(out, [&] { codec<bool>::encode(v, out); });
  } else if constexpr (std::is_integral_v<T>) {
    copy_integer(v, c, out);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (c.type == oids::float4) {
      put_be(out, 4, 4);
      put_be(out, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4);
    } else if (c.type == oids::float8) {
      put_be(out, 8, 4);
      put_be(out, std::bit_cast<std::uint64_t>(static_cast<double>(v)), 8);
    } else if (c.type == oids::numeric) {
      copy_sized(out, [&] { numeric_to_binary(double_text(static_cast<double>(v)), out); });
    } else {
      copy_mismatch(c, "a floating-point number");
    }
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    copy_text(std::string_view(v), c, out);
  } else if constexpr (std::is_same_v<T, numeric>) {
    if (c.type == oids::numeric)
      copy_sized(out, [&] { numeric_to_binary(v.text, out); });
    else if (is_text_like(c.type))
      copy_sized(out, [&] { out.append(v.text); });
    else
      copy_mismatch(c, "aw::pg::numeric");
  } else if constexpr (std::is_same_v<T, json> || std::is_same_v<T, jsonb>) {
    if (c.type != oids::json && c.type != oids::jsonb && !is_text_like(c.type)) copy_mismatch(c, "JSON");
    copy_text(v.text, c, out);
  } else {
    if (c.type != codec<T>::type_oid) copy_mismatch(c, "this C++ type");
    copy_sized(out, [&] { codec<T>::encode(v, out); });
  }
}

template <class R>
struct is_tuple_like : std::false_type {};
template <class... E>
struct is_tuple_like<std::tuple<E...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

// One record as a binary COPY tuple: the field count, then each field.
template <class R>
void copy_record(const R& r, std::span<const copy_column> cols, std::string& out) {
  if constexpr (is_tuple_like<R>::value) {
    constexpr std::size_t n = std::tuple_size_v<R>;
    if (n != cols.size()) copy_wrong_width(cols.size(), n);
    put_be(out, static_cast<std::uint16_t>(n), 2);
    [&]<std::size_t... I>(std::index_sequence<I...>) { (copy_value(std::get<I>(r), cols[I], out), ...); }(std::make_index_sequence<n>{});
  } else {
    static_assert(is_vector<R>::value, "aw::pg::copy_records_to_table: a record is a std::tuple, a std::pair or a std::vector");
    if (r.size() != cols.size()) copy_wrong_width(cols.size(), r.size());
    put_be(out, static_cast<std::uint16_t>(r.size()), 2);
    for (std::size_t i = 0; i < r.size(); ++i) copy_value(static_cast<const typename R::value_type&>(r[i]), cols[i], out);
  }
}

// Gives the next record's bytes to the connection: appends one tuple to `out`; false at
// the end.
using copy_row_fn = bool (*)(void* state, std::span<const copy_column> cols, std::string& out);

}  // namespace detail
}  // namespace aw::pg
