// How C++ values travel to and from PostgreSQL: aw::pg::codec<T>, in binary format.
//
//   co_await conn.execute("INSERT INTO t VALUES ($1, $2, $3)", std::int64_t{1}, std::string("x"), std::optional<double>{});
//   auto [id, at] = (co_await conn.fetchrow("SELECT id, created FROM t"))->as<std::int64_t, aw::pg::timestamptz>();
//
// | PostgreSQL                  | C++                                                        |
// |-----------------------------|------------------------------------------------------------|
// | smallint, integer, bigint   | std::int16_t, std::int32_t, std::int64_t (a wider C++ type reads a narrower column) |
// | real, double precision      | float, double (double reads real too)                      |
// | boolean                     | bool                                                       |
// | text, varchar, char, name   | std::string (std::string_view, const char* as parameters)  |
// | bytea                       | aw::pg::bytea (std::vector<std::byte>)                     |
// | numeric                     | aw::pg::decimal (exact), aw::pg::numeric (its decimal text) |
// | oid, regclass, regtype, ...  | std::uint32_t                                              |
// | time, timetz                | aw::pg::time_of_day (std::chrono::microseconds), aw::pg::timetz |
// | inet, cidr, point           | aw::pg::inet, aw::pg::point                                |
// | int4/int8/num/date/ts/tstzrange | aw::pg::range<T>                                       |
// | composites (ROW(...))       | std::tuple<Ts...> (read only)                              |
// | any type                    | std::string: PostgreSQL's text output, made from the binary value |
// | date                        | aw::pg::date (std::chrono::sys_days)                       |
// | timestamp                   | aw::pg::timestamp (std::chrono::local_time in microseconds) |
// | timestamptz                 | aw::pg::timestamptz (std::chrono::sys_time in microseconds) |
// | interval                    | aw::pg::interval {months, days, microseconds}             |
// | uuid                        | aw::pg::uuid (16 bytes; to_string())                      |
// | json, jsonb                 | aw::pg::json, aw::pg::jsonb (the JSON text; std::string reads them too) |
// | arrays                      | std::vector<T> of the above, nested once per dimension (std::optional<T> elements for NULLs) |
// | NULL                        | std::optional<T> (std::nullopt); NULL into a non-optional is aw::pg::type_error |
//
// Text-like parameters are sent untyped (OID 0, text format), so the server infers their
// type from the statement, as it does for literals: a string compares with a varchar, a
// date or a jsonb column; aw::pg::typed_text sends text with an explicit type. Infinite
// dates and timestamps map to time_point::max()/min().
// A type of your own: specialise aw::pg::codec<T> with the members of the ones below.
#pragma once

#include <aw/pg/errors.hpp>

#include <array>
#include <bit>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace aw::pg {

using oid = unsigned int;

// The OIDs of the built-in types (pg_type.dat).
namespace oids {
inline constexpr oid bool_ = 16, bytea = 17, char_ = 18, name = 19, int8 = 20, int2 = 21, int4 = 23, text = 25, oid_ = 26, json = 114,
                     xml = 142, point = 600, cidr = 650, float4 = 700, float8 = 701, unknown = 705, money = 790, inet = 869, bpchar = 1042,
                     varchar = 1043, date = 1082, time = 1083, timestamp = 1114, timestamptz = 1184, interval = 1186, timetz = 1266,
                     numeric = 1700, record = 2249, uuid = 2950, jsonb = 3802, int4range = 3904, numrange = 3906, tsrange = 3908,
                     tstzrange = 3910, daterange = 3912, int8range = 3926;
// The first OID of objects made after initdb: types above it are the database's own
// (enums, composites, domains, extensions).
inline constexpr oid first_normal = 16384;
}  // namespace oids

template <class T>
struct codec;

using bytea = std::vector<std::byte>;
using date = std::chrono::sys_days;
using timestamp = std::chrono::local_time<std::chrono::microseconds>;
using timestamptz = std::chrono::sys_time<std::chrono::microseconds>;

struct numeric {
  // A constructor, not an aggregate: g++ 12 miscompiles an aggregate temporary with a
  // std::string member inside a co_await expression (see the README).
  numeric() = default;
  numeric(std::string t) : text(std::move(t)) {}
  std::string text;  // "12.50", "-3", "NaN", "Infinity"
  friend bool operator==(const numeric&, const numeric&) = default;
};
// numeric as an exact decimal value (asyncpg's Decimal): a sign, the decimal digits of the
// coefficient and a scale (the digits after the point: "12.50" keeps 2), or NaN, Infinity,
// -Infinity. Compares by value (12.5 == 12.50) in PostgreSQL's order: NaN equals itself and
// is above every other value.
class decimal {
 public:
  decimal() = default;  // 0
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  decimal(I v) {  // NOLINT: implicit, as an integer converts to numeric
    negative_ = v < 0;
    auto magnitude = negative_ ? 0 - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    if (magnitude != 0) digits_ = std::to_string(magnitude);
  }
  // "12.50", "-3", ".5", "1e-3", "NaN", "Infinity", "-Infinity" (case-insensitive);
  // std::invalid_argument for anything else.
  static decimal parse(std::string_view s);
  static decimal nan() noexcept { return decimal(kind::nan); }
  static decimal infinity(bool negative = false) noexcept { return decimal(negative ? kind::minus_infinity : kind::infinity); }

  bool is_nan() const noexcept { return kind_ == kind::nan; }
  bool is_infinite() const noexcept { return kind_ == kind::infinity || kind_ == kind::minus_infinity; }
  bool is_finite() const noexcept { return kind_ == kind::finite; }
  bool is_negative() const noexcept { return kind_ == kind::minus_infinity || (kind_ == kind::finite && negative_); }
  int scale() const noexcept { return scale_; }
  // PostgreSQL's text form: "12.50", "-0.001", "NaN", "Infinity".
  std::string to_string() const;
  // The nearest double (correctly rounded); NaN and the infinities as themselves.
  double to_double() const;
  explicit operator double() const { return to_double(); }

  friend bool operator==(const decimal& a, const decimal& b) noexcept { return compare(a, b) == 0; }
  friend std::weak_ordering operator<=>(const decimal& a, const decimal& b) noexcept {
    int c = compare(a, b);
    return c < 0 ? std::weak_ordering::less : c > 0 ? std::weak_ordering::greater : std::weak_ordering::equivalent;
  }

 private:
  enum class kind : std::uint8_t { finite, nan, infinity, minus_infinity };
  explicit decimal(kind k) noexcept : kind_(k) {}
  static int compare(const decimal& a, const decimal& b) noexcept;
  friend struct codec<decimal>;

  kind kind_ = kind::finite;
  bool negative_ = false;
  std::string digits_;  // the coefficient without leading zeros; empty for 0
  std::int32_t scale_ = 0;
};

struct json {
  json() = default;
  json(std::string t) : text(std::move(t)) {}  // (not an aggregate: see numeric)
  std::string text;
  friend bool operator==(const json&, const json&) = default;
};
struct jsonb {
  jsonb() = default;
  jsonb(std::string t) : text(std::move(t)) {}  // (not an aggregate: see numeric)
  std::string text;
  friend bool operator==(const jsonb&, const jsonb&) = default;
};
struct interval {
  std::int32_t months = 0;
  std::int32_t days = 0;
  std::chrono::microseconds time{0};
  friend bool operator==(const interval&, const interval&) = default;
};
struct uuid {
  std::array<unsigned char, 16> bytes{};
  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase.
  std::string to_string() const;
  // Parses the canonical form (hyphens optional); std::invalid_argument otherwise.
  static uuid parse(std::string_view s);
  friend bool operator==(const uuid&, const uuid&) = default;
};
// time: the time of day, since midnight.
using time_of_day = std::chrono::microseconds;
// timetz: the time of day and its zone's offset.
struct timetz {
  time_of_day time{0};
  std::int32_t utc_offset = 0;  // seconds east of UTC (+02:00 is 7200)
  friend bool operator==(const timetz&, const timetz&) = default;
};
// inet and cidr: an IPv4 or IPv6 address with a network prefix length.
struct inet {
  std::array<unsigned char, 16> address{};  // IPv4 in the first 4 bytes
  std::uint8_t family = 4;                  // 4 or 6
  std::uint8_t prefix = 32;                 // bits of the network part
  bool cidr = false;                        // read from a cidr column (cidr's text shows the prefix always)
  // PostgreSQL's text form: "10.0.0.1", "10.0.0.0/8", "::1".
  std::string to_string() const;
  // "addr" or "addr/prefix" (IPv4 or IPv6); std::invalid_argument otherwise.
  static inet parse(std::string_view s);
  friend bool operator==(const inet&, const inet&) = default;
};
// point: a geometric point.
struct point {
  double x = 0, y = 0;
  friend bool operator==(const point&, const point&) = default;
};
// A range (int4range, int8range, numrange, daterange, tsrange, tstzrange) as asyncpg's
// Range: a bound that is std::nullopt is infinite; an empty range has no bounds.
template <class T>
struct range {
  std::optional<T> lower, upper;
  bool lower_inc = true, upper_inc = false;
  bool empty = false;
  friend bool operator==(const range&, const range&) = default;
};
// A parameter sent as text with an explicit type, as in $1::type: for the types without a
// codec (typed_text{oids::inet, "10.0.0.1"}; OID 0 lets the server infer it, which is how
// an enum label or a composite's "(1,x)" goes into a column of that type).
struct typed_text {
  typed_text(oid t, std::string s) : type(t), text(std::move(s)) {}  // (not an aggregate: see numeric)
  oid type;
  std::string text;
};

namespace detail {
inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline std::uint64_t get_be(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
[[noreturn]] void bad_length(const char* type, int len);
void check_length(const char* type, int len, int want);
inline bool is_text_like(oid t) {
  return t == oids::text || t == oids::varchar || t == oids::bpchar || t == oids::name || t == oids::unknown || t == oids::char_;
}
std::string numeric_to_text(const char* p, int len);
// What PostgreSQL's text output gives for a binary value of type t (timestamptz in UTC,
// money in the C locale's form); type_error when the type's binary form is unknown.
std::string to_text(oid t, const char* p, int len);
// The type's SQL name ("integer", "text[]"), or "type OID n" for one made after initdb.
std::string type_name(oid t);
// A range type's element type (0 for other types).
oid range_element(oid t) noexcept;
// The C++ type's name for errors: "std::string", "std::int32_t", else the compiler's.
template <class T>
std::string cpp_type_name() {
  if constexpr (std::is_same_v<T, std::string>)
    return "std::string";
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return "std::int16_t";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "std::int32_t";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "std::int64_t";
  else if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, float>)
    return "float";
  else {
    std::string_view f = __PRETTY_FUNCTION__;  // "... [T = X]" (clang, g++: "[with T = X; ...]")
    auto at = f.find("T = ");
    if (at == std::string_view::npos) return "the requested C++ type";
    f.remove_prefix(at + 4);
    f = f.substr(0, f.find_first_of(";]"));
    return std::string(f);
  }
}
// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
inline constexpr std::int64_t epoch_shift_us = 946684800LL * 1000000;
inline constexpr std::int32_t epoch_shift_days = 10957;
}  // namespace detail

// codec<T> members:
//   static constexpr oid type_oid;      the parameter's type (0: let the server infer it)
//   static constexpr oid array_oid;     the type of a one-dimensional array of T (0: no arrays)
//   static constexpr oid element_oid;   T's type inside an array parameter
//   static constexpr bool text_param;   the parameter is sent in text format (NUL-terminated)
//   static void encode(const T&, std::string& out);          the parameter's bytes
//   static void encode_element(const T&, std::string& out);  T's binary form inside an array
//   static bool accepts(oid);           whether a column of that type reads into T
//   static T decode(const char* data, int len, oid type);    from binary format
template <class T>
struct codec;

template <class T, oid Oid, oid ArrayOid>
struct integer_codec {
  static constexpr oid type_oid = Oid, array_oid = ArrayOid, element_oid = Oid;
  static constexpr bool text_param = false;
  static void encode(T v, std::string& out) { detail::put_be(out, static_cast<std::make_unsigned_t<T>>(v), sizeof(T)); }
  static void encode_element(T v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == Oid || (sizeof(T) >= 4 && t == oids::int2) || (sizeof(T) >= 8 && t == oids::int4); }
  static T decode(const char* p, int len, oid) {
    if (len == 2) return static_cast<T>(static_cast<std::int16_t>(detail::get_be(p, 2)));
    if (len == 4) return static_cast<T>(static_cast<std::int32_t>(detail::get_be(p, 4)));
    if (len == 8) return static_cast<T>(static_cast<std::int64_t>(detail::get_be(p, 8)));
    detail::bad_length("an integer", len);
  }
};
template <>
struct codec<std::int16_t> : integer_codec<std::int16_t, oids::int2, 1005> {};
template <>
struct codec<std::int32_t> : integer_codec<std::int32_t, oids::int4, 1007> {};
template <>
struct codec<std::int64_t> : integer_codec<std::int64_t, oids::int8, 1016> {};
// long long is std::int64_t's twin on LP64 Linux where int64_t is long.
template <>
struct codec<long long> : integer_codec<long long, oids::int8, 1016> {};

template <>
struct codec<float> {
  static constexpr oid type_oid = oids::float4, array_oid = 1021, element_oid = oids::float4;
  static constexpr bool text_param = false;
  static void encode(float v, std::string& out) { detail::put_be(out, std::bit_cast<std::uint32_t>(v), 4); }
  static void encode_element(float v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::float4; }
  static float decode(const char* p, int len, oid) {
    detail::check_length("real", len, 4);
    return std::bit_cast<float>(static_cast<std::uint32_t>(detail::get_be(p, 4)));
  }
};
template <>
struct codec<double> {
  static constexpr oid type_oid = oids::float8, array_oid = 1022, element_oid = oids::float8;
  static constexpr bool text_param = false;
  static void encode(double v, std::string& out) { detail::put_be(out, std::bit_cast<std::uint64_t>(v), 8); }
  static void encode_element(double v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::float8 || t == oids::float4; }
  static double decode(const char* p, int len, oid) {
    if (len == 4) return std::bit_cast<float>(static_cast<std::uint32_t>(detail::get_be(p, 4)));
    detail::check_length("double precision", len, 8);
    return std::bit_cast<double>(detail::get_be(p, 8));
  }
};
template <>
struct codec<bool> {
  static constexpr oid type_oid = oids::bool_, array_oid = 1000, element_oid = oids::bool_;
  static constexpr bool text_param = false;
  static void encode(bool v, std::string& out) { out.push_back(v ? 1 : 0); }
  static void encode_element(bool v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::bool_; }
  static bool decode(const char* p, int len, oid) {
    detail::check_length("boolean", len, 1);
    return p[0] != 0;
  }
};

template <>
struct codec<std::string_view> {
  static constexpr oid type_oid = 0, array_oid = 1009, element_oid = oids::text;
  static constexpr bool text_param = true;
  static void encode(std::string_view v, std::string& out) { out.append(v); }
  static void encode_element(std::string_view v, std::string& out) { out.append(v); }
};
// Every column reads into a std::string, as PostgreSQL's text output gives it (asyncpg's
// text fallback): the text types as they are, the others through detail::to_text.
template <>
struct codec<std::string> : codec<std::string_view> {
  static bool accepts(oid) { return true; }
  static std::string decode(const char* p, int len, oid t) {
    if (detail::is_text_like(t) || t == oids::json || t == oids::xml) return std::string(p, static_cast<std::size_t>(len));
    return detail::to_text(t, p, len);
  }
};
template <>
struct codec<const char*> : codec<std::string_view> {};
template <std::size_t N>
struct codec<char[N]> : codec<std::string_view> {};

template <>
struct codec<bytea> {
  static constexpr oid type_oid = oids::bytea, array_oid = 1001, element_oid = oids::bytea;
  static constexpr bool text_param = false;
  static void encode(const bytea& v, std::string& out) { out.append(reinterpret_cast<const char*>(v.data()), v.size()); }
  static void encode_element(const bytea& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::bytea; }
  static bytea decode(const char* p, int len, oid) {
    auto* b = reinterpret_cast<const std::byte*>(p);
    return bytea(b, b + len);
  }
};

template <>
struct codec<numeric> {
  static constexpr oid type_oid = oids::numeric, array_oid = 0, element_oid = oids::numeric;
  static constexpr bool text_param = true;
  static void encode(const numeric& v, std::string& out) { out.append(v.text); }
  static bool accepts(oid t) { return t == oids::numeric; }
  static numeric decode(const char* p, int len, oid) { return numeric{detail::numeric_to_text(p, len)}; }
};
template <>
struct codec<json> {
  static constexpr oid type_oid = oids::json, array_oid = 199, element_oid = oids::json;
  static constexpr bool text_param = true;
  static void encode(const json& v, std::string& out) { out.append(v.text); }
  static void encode_element(const json& v, std::string& out) { out.append(v.text); }  // json's binary form is its text
  static bool accepts(oid t) { return t == oids::json || t == oids::jsonb; }
  static json decode(const char* p, int len, oid t) { return json{codec<std::string>::decode(p, len, t)}; }
};
template <>
struct codec<jsonb> {
  static constexpr oid type_oid = oids::jsonb, array_oid = 3807, element_oid = oids::jsonb;
  static constexpr bool text_param = true;
  static void encode(const jsonb& v, std::string& out) { out.append(v.text); }
  static void encode_element(const jsonb& v, std::string& out) {
    out.push_back(1);  // jsonb's binary format version
    out.append(v.text);
  }
  static bool accepts(oid t) { return t == oids::json || t == oids::jsonb; }
  static jsonb decode(const char* p, int len, oid t) { return jsonb{codec<std::string>::decode(p, len, t)}; }
};

template <>
struct codec<date> {
  static constexpr oid type_oid = oids::date, array_oid = 1182, element_oid = oids::date;
  static constexpr bool text_param = false;
  static void encode(date v, std::string& out) {
    std::int32_t d;
    if (v == date::max())
      d = std::numeric_limits<std::int32_t>::max();
    else if (v == date::min())
      d = std::numeric_limits<std::int32_t>::min();
    else
      d = static_cast<std::int32_t>(v.time_since_epoch().count() - detail::epoch_shift_days);
    detail::put_be(out, static_cast<std::uint32_t>(d), 4);
  }
  static void encode_element(date v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::date; }
  static date decode(const char* p, int len, oid) {
    detail::check_length("date", len, 4);
    auto d = static_cast<std::int32_t>(detail::get_be(p, 4));
    if (d == std::numeric_limits<std::int32_t>::max()) return date::max();
    if (d == std::numeric_limits<std::int32_t>::min()) return date::min();
    return date(std::chrono::days(std::int64_t{d} + detail::epoch_shift_days));
  }
};

template <class TP, oid Oid, oid ArrayOid>
struct time_point_codec {
  static constexpr oid type_oid = Oid, array_oid = ArrayOid, element_oid = Oid;
  static constexpr bool text_param = false;
  static void encode(TP v, std::string& out) {
    std::int64_t us;
    if (v == TP::max())
      us = std::numeric_limits<std::int64_t>::max();
    else if (v == TP::min())
      us = std::numeric_limits<std::int64_t>::min();
    else
      us = v.time_since_epoch().count() - detail::epoch_shift_us;
    detail::put_be(out, static_cast<std::uint64_t>(us), 8);
  }
  static void encode_element(TP v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == Oid; }
  static TP decode(const char* p, int len, oid) {
    detail::check_length("a timestamp", len, 8);
    auto us = static_cast<std::int64_t>(detail::get_be(p, 8));
    if (us == std::numeric_limits<std::int64_t>::max()) return TP::max();
    if (us == std::numeric_limits<std::int64_t>::min()) return TP::min();
    return TP(std::chrono::microseconds(us + detail::epoch_shift_us));
  }
};
template <>
struct codec<timestamp> : time_point_codec<timestamp, oids::timestamp, 1115> {};
template <>
struct codec<timestamptz> : time_point_codec<timestamptz, oids::timestamptz, 1185> {};

template <>
struct codec<interval> {
  static constexpr oid type_oid = oids::interval, array_oid = 1187, element_oid = oids::interval;
  static constexpr bool text_param = false;
  static void encode(const interval& v, std::string& out) {
    detail::put_be(out, static_cast<std::uint64_t>(v.time.count()), 8);
    detail::put_be(out, static_cast<std::uint32_t>(v.days), 4);
    detail::put_be(out, static_cast<std::uint32_t>(v.months), 4);
  }
  static void encode_element(const interval& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::interval; }
  static interval decode(const char* p, int len, oid) {
    detail::check_length("interval", len, 16);
    return interval{static_cast<std::int32_t>(detail::get_be(p + 12, 4)), static_cast<std::int32_t>(detail::get_be(p + 8, 4)),
                    std::chrono::microseconds(static_cast<std::int64_t>(detail::get_be(p, 8)))};
  }
};
template <>
struct codec<uuid> {
  static constexpr oid type_oid = oids::uuid, array_oid = 2951, element_oid = oids::uuid;
  static constexpr bool text_param = false;
  static void encode(const uuid& v, std::string& out) { out.append(reinterpret_cast<const char*>(v.bytes.data()), 16); }
  static void encode_element(const uuid& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::uuid; }
  static uuid decode(const char* p, int len, oid) {
    detail::check_length("uuid", len, 16);
    uuid u;
    std::memcpy(u.bytes.data(), p, 16);
    return u;
  }
};

template <>
struct codec<typed_text> {
  static constexpr oid type_oid = 0, array_oid = 0, element_oid = 0;
  static constexpr bool text_param = true;
  static oid param_type(const typed_text& v) noexcept { return v.type; }
  static void encode(const typed_text& v, std::string& out) { out.append(v.text); }
};
// oid, and the types that are an OID underneath (regclass, regtype, ..., xid, cid): their number.
template <>
struct codec<std::uint32_t> {
  static constexpr oid type_oid = oids::oid_, array_oid = 1028, element_oid = oids::oid_;
  static constexpr bool text_param = false;
  static void encode(std::uint32_t v, std::string& out) { detail::put_be(out, v, 4); }
  static void encode_element(std::uint32_t v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) {
    return t == oids::oid_ || t == 24 || t == 28 || t == 29 || (t >= 2202 && t <= 2206) || t == 3734 || t == 3769 || t == 4089 ||
           t == 4096 || t == 4191;
  }
  static std::uint32_t decode(const char* p, int len, oid) {
    detail::check_length("oid", len, 4);
    return static_cast<std::uint32_t>(detail::get_be(p, 4));
  }
};
template <>
struct codec<time_of_day> {
  static constexpr oid type_oid = oids::time, array_oid = 1183, element_oid = oids::time;
  static constexpr bool text_param = false;
  static void encode(time_of_day v, std::string& out) { detail::put_be(out, static_cast<std::uint64_t>(v.count()), 8); }
  static void encode_element(time_of_day v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::time; }
  static time_of_day decode(const char* p, int len, oid) {
    detail::check_length("time", len, 8);
    return time_of_day(static_cast<std::int64_t>(detail::get_be(p, 8)));
  }
};
template <>
struct codec<timetz> {
  static constexpr oid type_oid = oids::timetz, array_oid = 1270, element_oid = oids::timetz;
  static constexpr bool text_param = false;
  // PostgreSQL keeps the zone as seconds west of UTC.
  static void encode(const timetz& v, std::string& out) {
    detail::put_be(out, static_cast<std::uint64_t>(v.time.count()), 8);
    detail::put_be(out, static_cast<std::uint32_t>(-v.utc_offset), 4);
  }
  static void encode_element(const timetz& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::timetz; }
  static timetz decode(const char* p, int len, oid) {
    detail::check_length("time with time zone", len, 12);
    return timetz{time_of_day(static_cast<std::int64_t>(detail::get_be(p, 8))), -static_cast<std::int32_t>(detail::get_be(p + 8, 4))};
  }
};
template <>
struct codec<inet> {
  static constexpr oid type_oid = oids::inet, array_oid = 1041, element_oid = oids::inet;
  static constexpr bool text_param = false;
  // family (2: IPv4, 3: IPv6), prefix bits, is-cidr, address length, address.
  static void encode(const inet& v, std::string& out) {
    const bool v6 = v.family == 6;
    out.push_back(v6 ? 3 : 2);
    out.push_back(static_cast<char>(v.prefix));
    out.push_back(v.cidr ? 1 : 0);
    out.push_back(v6 ? 16 : 4);
    out.append(reinterpret_cast<const char*>(v.address.data()), v6 ? 16 : 4);
  }
  static void encode_element(const inet& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::inet || t == oids::cidr; }
  static inet decode(const char* p, int len, oid) {
    if (len < 4) detail::bad_length("inet", len);
    inet v;
    v.family = p[0] == 3 ? 6 : 4;
    v.prefix = static_cast<std::uint8_t>(p[1]);
    v.cidr = p[2] != 0;
    const int n = static_cast<unsigned char>(p[3]);
    if (n != (v.family == 6 ? 16 : 4) || len != 4 + n) detail::bad_length("inet", len);
    std::memcpy(v.address.data(), p + 4, static_cast<std::size_t>(n));
    return v;
  }
};
template <>
struct codec<point> {
  static constexpr oid type_oid = oids::point, array_oid = 1017, element_oid = oids::point;
  static constexpr bool text_param = false;
  static void encode(const point& v, std::string& out) {
    detail::put_be(out, std::bit_cast<std::uint64_t>(v.x), 8);
    detail::put_be(out, std::bit_cast<std::uint64_t>(v.y), 8);
  }
  static void encode_element(const point& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::point; }
  static point decode(const char* p, int len, oid) {
    detail::check_length("point", len, 16);
    return point{std::bit_cast<double>(detail::get_be(p, 8)), std::bit_cast<double>(detail::get_be(p + 8, 8))};
  }
};

// numeric in binary (numeric_send's form); integer columns read into a decimal too.
template <>
struct codec<decimal> {
  static constexpr oid type_oid = oids::numeric, array_oid = 1231, element_oid = oids::numeric;
  static constexpr bool text_param = false;
  static void encode(const decimal& v, std::string& out);
  static void encode_element(const decimal& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) { return t == oids::numeric || t == oids::int2 || t == oids::int4 || t == oids::int8; }
  static decimal decode(const char* p, int len, oid t);
};

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <>
struct is_vector<bytea> : std::false_type {};
template <class T>
struct unwrap_optional {
  using type = T;
};
template <class T>
struct unwrap_optional<std::optional<T>> {
  using type = T;
};

// Arrays: header (ndim, has-null flag, element type, then each dimension's length and lower
// bound) then each element, last dimension fastest, as a length and its bytes (-1: NULL).
struct array_header {
  int ndim;
  bool has_null;
  oid element;
  int count;
  int dims[6];
  int lbounds[6];
};
array_header read_array_header(const char*& p, const char* end);

// std::vector<T> is a one-dimensional array, std::vector<std::vector<T>> two, and so on.
template <class V>
struct array_traits {
  static constexpr int depth = 0;
  using leaf = V;
};
template <class E, class A>
  requires(!std::is_same_v<E, std::byte>)
struct array_traits<std::vector<E, A>> {
  static constexpr int depth = 1 + array_traits<E>::depth;
  using leaf = typename array_traits<E>::leaf;
};

// One element of an array, a composite or a range: n < 0 is NULL.
template <class E>
E decode_element(const char* p, std::int32_t n, oid t, const char* in) {
  using V = typename unwrap_optional<E>::type;
  if (n < 0) {
    if constexpr (is_optional<E>::value)
      return E{};
    else
      throw type_error(std::string("a NULL ") + in + " does not read into a non-optional " + cpp_type_name<V>() + "; use std::optional");
  } else {
    if (!codec<V>::accepts(t))
      throw type_error(std::string("the ") + in + " of type " + type_name(t) + " does not read into " + cpp_type_name<V>());
    return codec<V>::decode(p, n, t);
  }
}
// Appends a length-prefixed element (4-byte length, then its binary form).
template <class V>
void put_element(const V& x, std::string& out) {
  std::size_t at = out.size();
  out.append(4, '\0');
  codec<V>::encode_element(x, out);
  auto n = static_cast<std::uint32_t>(out.size() - at - 4);
  for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
}
inline std::int32_t get_length(const char*& p, const char* end, int len, const char* what) {
  if (end - p < 4) bad_length(what, len);
  auto n = static_cast<std::int32_t>(get_be(p, 4));
  p += 4;
  if (n > end - p) bad_length(what, len);
  return n;
}
}  // namespace detail

template <class E, class A>
  requires(!std::is_same_v<E, std::byte>)
struct codec<std::vector<E, A>> {
  using leaf = typename detail::array_traits<std::vector<E, A>>::leaf;
  using elem = typename detail::unwrap_optional<leaf>::type;
  static constexpr int depth = detail::array_traits<std::vector<E, A>>::depth;
  static constexpr oid type_oid = codec<elem>::array_oid, array_oid = 0, element_oid = type_oid;
  static constexpr bool text_param = false;
  static void encode(const std::vector<E, A>& v, std::string& out) {
    static_assert(type_oid != 0, "aw::pg: arrays of this type are not supported");
    static_assert(depth <= 6, "aw::pg: PostgreSQL arrays have at most 6 dimensions");
    int dims[depth];
    for (int& d : dims) d = -1;
    bool has_null = false, empty = false;
    measure(v, dims, 0, has_null, empty);
    if (empty) {  // PostgreSQL has no arrays with a zero-length dimension: the empty array
      detail::put_be(out, 0, 4);
      detail::put_be(out, 0, 4);
      detail::put_be(out, codec<elem>::element_oid, 4);
      return;
    }
    detail::put_be(out, depth, 4);
    detail::put_be(out, has_null ? 1 : 0, 4);
    detail::put_be(out, codec<elem>::element_oid, 4);
    for (int d = 0; d < depth; ++d) {
      detail::put_be(out, static_cast<std::uint32_t>(dims[d]), 4);
      detail::put_be(out, 1, 4);
    }
    put_all(v, out);
  }
  static bool accepts(oid) { return true; }  // the element type is checked in decode
  static std::vector<E, A> decode(const char* p, int len, oid) {
    const char* end = p + len;
    auto h = detail::read_array_header(p, end);
    if (h.ndim == 0) return {};
    if (h.ndim != depth)
      throw type_error("a " + std::to_string(h.ndim) + "-dimensional array does not read into " +
                       detail::cpp_type_name<std::vector<E, A>>() + " (" + std::to_string(depth) + " dimensions)");
    if (!codec<elem>::accepts(h.element))
      throw type_error("array elements of type " + detail::type_name(h.element) + " do not read into " + detail::cpp_type_name<elem>());
    std::vector<E, A> v;
    fill(v, h, 0, p, end, len);
    return v;
  }

 private:
  template <class V>
  static void measure(const V& v, int* dims, int d, bool& has_null, bool& empty) {
    if constexpr (detail::array_traits<V>::depth == 0) {
      if constexpr (detail::is_optional<V>::value) has_null |= !v.has_value();
    } else {
      if (v.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) throw type_error("aw::pg: an array is too long");
      int n = static_cast<int>(v.size());
      if (n == 0) empty = true;
      if (dims[d] < 0)
        dims[d] = n;
      else if (dims[d] != n)
        throw type_error("aw::pg: the nested vectors of a multi-dimensional array differ in length (" + std::to_string(dims[d]) + " and " +
                         std::to_string(n) + ")");
      for (const auto& e : v) measure(e, dims, d + 1, has_null, empty);
    }
  }
  template <class V>
  static void put_all(const V& v, std::string& out) {
    for (const auto& e : v) {  // const auto&: std::vector<bool> gives proxies
      if constexpr (detail::array_traits<typename V::value_type>::depth > 0) {
        put_all(e, out);
      } else if constexpr (detail::is_optional<leaf>::value) {
        if (e)
          detail::put_element<elem>(*e, out);
        else
          detail::put_be(out, 0xffffffffu, 4);
      } else {
        detail::put_element<elem>(static_cast<const elem&>(e), out);
      }
    }
  }
  template <class V>
  static void fill(V& v, const detail::array_header& h, int d, const char*& p, const char* end, int len) {
    v.reserve(static_cast<std::size_t>(h.dims[d]));
    for (int i = 0; i < h.dims[d]; ++i) {
      if constexpr (detail::array_traits<typename V::value_type>::depth > 0) {
        v.emplace_back();
        fill(v.back(), h, d + 1, p, end, len);
      } else {
        std::int32_t n = detail::get_length(p, end, len, "an array");
        v.push_back(detail::decode_element<typename V::value_type>(p, n, h.element, "array element"));
        if (n > 0) p += n;
      }
    }
  }
};

// The range types of the element types that have one.
namespace detail {
template <class T>
struct range_oids {
  static constexpr oid type = 0, array = 0;
};
template <>
struct range_oids<std::int32_t> {
  static constexpr oid type = oids::int4range, array = 3905;
};
template <>
struct range_oids<std::int64_t> {
  static constexpr oid type = oids::int8range, array = 3927;
};
template <>
struct range_oids<decimal> {
  static constexpr oid type = oids::numrange, array = 3907;
};
template <>
struct range_oids<date> {
  static constexpr oid type = oids::daterange, array = 3913;
};
template <>
struct range_oids<timestamp> {
  static constexpr oid type = oids::tsrange, array = 3909;
};
template <>
struct range_oids<timestamptz> {
  static constexpr oid type = oids::tstzrange, array = 3911;
};
}  // namespace detail

// Binary range: flags (empty 1, lower inclusive 2, upper inclusive 4, lower infinite 8,
// upper infinite 16), then each finite bound as a length and its bytes.
template <class T>
struct codec<range<T>> {
  static constexpr oid type_oid = detail::range_oids<T>::type, array_oid = detail::range_oids<T>::array, element_oid = type_oid;
  static constexpr bool text_param = false;
  static void encode(const range<T>& v, std::string& out) {
    static_assert(type_oid != 0, "aw::pg: PostgreSQL has no built-in range of this type");
    if (v.empty) {
      out.push_back(1);
      return;
    }
    out.push_back(
        static_cast<char>((v.lower && v.lower_inc ? 2 : 0) | (v.upper && v.upper_inc ? 4 : 0) | (v.lower ? 0 : 8) | (v.upper ? 0 : 16)));
    if (v.lower) detail::put_element<T>(*v.lower, out);
    if (v.upper) detail::put_element<T>(*v.upper, out);
  }
  static void encode_element(const range<T>& v, std::string& out) { encode(v, out); }
  static bool accepts(oid t) {
    oid e = detail::range_element(t);
    return e != 0 && codec<T>::accepts(e);
  }
  static range<T> decode(const char* p, int len, oid t) {
    if (len < 1) detail::bad_length("a range", len);
    const char* end = p + len;
    const auto flags = static_cast<unsigned char>(*p++);
    range<T> v;
    v.lower_inc = (flags & 2) != 0;
    v.upper_inc = (flags & 4) != 0;
    if (flags & 1) {
      v.empty = true;
      return v;
    }
    const oid e = detail::range_element(t);
    if (!(flags & 8)) {
      std::int32_t n = detail::get_length(p, end, len, "a range");
      v.lower = detail::decode_element<T>(p, n, e, "range bound");
      p += n;
    }
    if (!(flags & 16)) {
      std::int32_t n = detail::get_length(p, end, len, "a range");
      v.upper = detail::decode_element<T>(p, n, e, "range bound");
    }
    return v;
  }
};

// A composite value (ROW(...), a table's row type, a composite type) reads into a
// std::tuple of its fields, in order: count, then each field's type, length and bytes.
template <class... Ts>
struct codec<std::tuple<Ts...>> {
  static constexpr oid type_oid = 0, array_oid = 0, element_oid = 0;
  static bool accepts(oid t) { return t == oids::record || t >= oids::first_normal; }
  static std::tuple<Ts...> decode(const char* p, int len, oid) {
    const char* end = p + len;
    if (len < 4) detail::bad_length("a composite", len);
    auto count = static_cast<std::int32_t>(detail::get_be(p, 4));
    p += 4;
    if (count != static_cast<std::int32_t>(sizeof...(Ts)))
      throw type_error("a composite of " + std::to_string(count) + " fields does not read into a std::tuple of " +
                       std::to_string(sizeof...(Ts)));
    return std::tuple<Ts...>{field<Ts>(p, end, len)...};  // braces: evaluated in order
  }

 private:
  template <class E>
  static E field(const char*& p, const char* end, int len) {
    if (end - p < 4) detail::bad_length("a composite", len);
    auto t = static_cast<oid>(detail::get_be(p, 4));
    p += 4;
    std::int32_t n = detail::get_length(p, end, len, "a composite");
    const char* at = p;
    if (n > 0) p += n;
    return detail::decode_element<E>(at, n, t, "composite field");
  }
};

}  // namespace aw::pg
