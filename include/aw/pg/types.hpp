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
                     tstzrange = 3910, daterange = 3912, int8range = 3926, record_array = 2287;
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
// decimal (aw/pg/decimal.hpp) is used by the range codec before its definition.
class decimal;

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
// The OID whose built-in decoder reads a value of type t: t itself for a built-in type; for a
// type the connection looked up (user_types.cpp, inside a types_scope): a domain's base
// type, text for an enum (its binary form is its label) or a type whose binary form is its
// text (citext), record for a composite; t itself otherwise.
oid user_decoding_oid(oid t) noexcept;
inline oid decoding_oid(oid t) noexcept { return t < oids::first_normal ? t : user_decoding_oid(t); }
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

}  // namespace aw::pg

// The codecs added later, one header each: time/timetz/inet/point, decimal, and the types
// built of other types (arrays, ranges, composites).
#include <aw/pg/compound_types.hpp>
#include <aw/pg/decimal.hpp>
#include <aw/pg/scalars.hpp>
