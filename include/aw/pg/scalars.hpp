// The fixed-size types beyond the first set: time (aw::pg::time_of_day), timetz, inet and
// cidr, point, with their binary codecs. Included by aw/pg/types.hpp, which has the type table.
#pragma once

#include <aw/pg/types.hpp>

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace aw::pg {

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

}  // namespace aw::pg
