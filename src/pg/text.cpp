// asyncpg's text fallback: any column reads into a std::string. Results come in binary
// (libpq asks for one format for all columns), so the text is made here from the binary
// form, the way the server's output functions make it; the tests compare the two.
#include <aw/pg/types.hpp>

#include "user_types.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace aw::pg {
namespace detail {
namespace {

constexpr oid oid_like[] = {24, 28, 29, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191};

std::string signed_text(const char* p, int len) {
  if (len == 2) return std::to_string(static_cast<std::int16_t>(get_be(p, 2)));
  if (len == 4) return std::to_string(static_cast<std::int32_t>(get_be(p, 4)));
  if (len == 8) return std::to_string(static_cast<std::int64_t>(get_be(p, 8)));
  bad_length("an integer", len);
}

// float8out/float4out: the shortest text that reads back the same, in exponent form when the
// decimal exponent is below -4 or reaches the type's digits (15, or 6 for real).
template <class F>
std::string float_text(F v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<std::size_t>(sci.ptr - buf));
  int exp = std::atoi(std::string(s.substr(s.find('e') + 1)).c_str());
  if (exp < -4 || exp >= (sizeof(F) == 4 ? 6 : 15)) return std::string(s);
  auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

void two(std::string& s, long v) {
  s.push_back(static_cast<char>('0' + v / 10));
  s.push_back(static_cast<char>('0' + v % 10));
}
// ".5", ".000007": the microseconds without trailing zeros, nothing for none.
void fraction(std::string& s, long us) {
  if (us == 0) return;
  char buf[8];
  std::snprintf(buf, sizeof buf, ".%06ld", us);
  std::string f(buf);
  while (f.back() == '0') f.pop_back();
  s += f;
}
void time_text(std::string& s, std::int64_t us) {
  const std::int64_t secs = us / 1000000;
  two(s, static_cast<long>(secs / 3600));
  s.push_back(':');
  two(s, static_cast<long>(secs / 60 % 60));
  s.push_back(':');
  two(s, static_cast<long>(secs % 60));
  fraction(s, static_cast<long>(us % 1000000));
}
// "+02", "+05:30", "-03:30" from seconds east of UTC.
void zone_text(std::string& s, std::int32_t east) {
  s.push_back(east < 0 ? '-' : '+');
  long a = std::labs(east);
  two(s, a / 3600);
  if (a % 3600) {
    s.push_back(':');
    two(s, a / 60 % 60);
    if (a % 60) {
      s.push_back(':');
      two(s, a % 60);
    }
  }
}
// "2024-02-29", with " BC" for years before 1 (appended by the caller, after any time).
bool date_text(std::string& s, std::int64_t days_since_1970) {
  using namespace std::chrono;
  year_month_day ymd{sys_days(days(days_since_1970))};
  int y = static_cast<int>(ymd.year());
  bool bc = y <= 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", bc ? 1 - y : y, static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  s += buf;
  return bc;
}
std::string timestamp_text(const char* p, int len, bool tz) {
  check_length("a timestamp", len, 8);
  auto us = static_cast<std::int64_t>(get_be(p, 8));
  if (us == std::numeric_limits<std::int64_t>::max()) return "infinity";
  if (us == std::numeric_limits<std::int64_t>::min()) return "-infinity";
  us += epoch_shift_us;
  std::int64_t day = us / 86400000000LL, rest = us % 86400000000LL;
  if (rest < 0) {
    rest += 86400000000LL;
    --day;
  }
  std::string s;
  bool bc = date_text(s, day);
  s.push_back(' ');
  time_text(s, rest);
  if (tz) s += "+00";
  if (bc) s += " BC";
  return s;
}

// EncodeInterval's "postgres" style: "1 year 2 mons -3 days +04:05:06.5".
std::string interval_text(const char* p, int len) {
  check_length("interval", len, 16);
  auto us = static_cast<std::int64_t>(get_be(p, 8));
  auto days = static_cast<std::int32_t>(get_be(p + 8, 4));
  auto months = static_cast<std::int32_t>(get_be(p + 12, 4));
  std::string s;
  bool zero = true, before = false;
  auto part = [&](long v, const char* unit) {
    if (v == 0) return;
    s += zero ? "" : " ";
    if (before && v > 0) s.push_back('+');
    s += std::to_string(v) + " " + unit + (v != 1 ? "s" : "");
    before = v < 0;
    zero = false;
  };
  part(months / 12, "year");
  part(months % 12, "mon");
  part(days, "day");
  if (us != 0 || zero) {
    bool minus = us < 0;
    if (!zero) s.push_back(' ');
    if (minus)
      s.push_back('-');
    else if (before)
      s.push_back('+');
    std::uint64_t a = minus ? 0 - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
    std::uint64_t hours = a / 3600000000ULL;
    if (hours < 10) s.push_back('0');
    s += std::to_string(hours);
    s.push_back(':');
    two(s, static_cast<long>(a / 60000000 % 60));
    s.push_back(':');
    two(s, static_cast<long>(a / 1000000 % 60));
    fraction(s, static_cast<long>(a % 1000000));
  }
  return s;
}

// cash_out in the C locale: "$1,234.56", "-$0.05".
std::string money_text(const char* p, int len) {
  check_length("money", len, 8);
  auto v = static_cast<std::int64_t>(get_be(p, 8));
  std::uint64_t a = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  std::string digits = std::to_string(a / 100);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  std::string s = v < 0 ? "-$" : "$";
  s += grouped;
  s.push_back('.');
  two(s, static_cast<long>(a % 100));
  return s;
}

std::string hex_bytes(const char* p, int len, const char* sep) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < len; ++i) {
    if (i > 0) s += sep;
    auto b = static_cast<unsigned char>(p[i]);
    s.push_back(hex[b >> 4]);
    s.push_back(hex[b & 15]);
  }
  return s;
}

std::string point_text(const char* p) {
  // Appended piece by piece: "(" + a temporary string makes g++ 12 -O3 warn (-Wrestrict), falsely.
  std::string s = "(";
  s += float_text(std::bit_cast<double>(get_be(p, 8)));
  s += ',';
  s += float_text(std::bit_cast<double>(get_be(p + 8, 8)));
  s += ')';
  return s;
}
std::string points_text(const char* p, int len, int at, int n) {
  std::string s;
  if (len != at + 16 * n) bad_length("a geometric type", len);
  for (int i = 0; i < n; ++i) {
    if (i) s += ',';
    s += point_text(p + at + 16 * i);
  }
  return s;
}

std::string bits_text(const char* p, int len) {
  if (len < 4) bad_length("bit", len);
  auto bits = static_cast<std::int32_t>(get_be(p, 4));
  if (bits < 0 || (bits + 7) / 8 != len - 4) bad_length("bit", len);
  std::string s;
  for (int i = 0; i < bits; ++i) s.push_back((static_cast<unsigned char>(p[4 + i / 8]) >> (7 - i % 8)) & 1 ? '1' : '0');
  return s;
}

// UTF-8 without NUL or control characters other than tab and line ends.
bool valid_utf8(const char* p, int len) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  for (int i = 0; i < len;) {
    unsigned c = u[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      continue;
    }
    int n = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= len) return false;
    for (int k = 1; k <= n; ++k)
      if ((u[i + k] >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}

// Quoting as array_out, record_out and range_out do: quotes around a value that holds a
// character of `special` or a space, or is empty; a backslash before a quote or backslash
// (record and range: the quote or backslash doubled).
std::string quoted(const std::string& v, const char* special, bool doubled, bool null_word) {
  bool need = v.empty();
  for (char c : v)
    if (std::strchr(special, c) || c == ' ' || (c >= '\t' && c <= '\r')) need = true;
  if (null_word && v.size() == 4 && (v[0] | 0x20) == 'n' && (v[1] | 0x20) == 'u' && (v[2] | 0x20) == 'l' && (v[3] | 0x20) == 'l')
    need = true;
  if (!need) return v;
  std::string s = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') s.push_back(doubled ? c : '\\');
    s.push_back(c);
  }
  s.push_back('"');
  return s;
}

bool try_array(const char* p, int len, std::string& out);
bool try_record(const char* p, int len, std::string& out);

bool try_array(const char* p, int len, std::string& out) {
  const char* end = p + len;
  array_header h;
  try {
    h = read_array_header(p, end);
  } catch (const type_error&) {
    return false;
  }
  if (h.has_null && h.ndim == 0) return false;
  if (h.ndim == 0) {
    if (p != end) return false;
    out = "{}";
    return true;
  }
  std::vector<std::string> items;
  items.reserve(static_cast<std::size_t>(h.count));
  for (int i = 0; i < h.count; ++i) {
    if (end - p < 4) return false;
    auto n = static_cast<std::int32_t>(get_be(p, 4));
    p += 4;
    if (n < 0) {
      items.emplace_back("NULL");
      continue;
    }
    if (n > end - p) return false;
    items.push_back(quoted(to_text(h.element, p, n), "{}\",\\", false, true));
    p += n;
  }
  if (p != end) return false;
  std::string s;
  bool bounds = false;
  for (int d = 0; d < h.ndim; ++d) bounds |= h.lbounds[d] != 1;
  if (bounds) {
    for (int d = 0; d < h.ndim; ++d) {
      s += '[';
      s += std::to_string(h.lbounds[d]);
      s += ':';
      s += std::to_string(static_cast<long>(h.lbounds[d]) + h.dims[d] - 1);
      s += ']';
    }
    s.push_back('=');
  }
  // Braces around each run of the last dimension, and of each dimension above it.
  std::size_t at = 0;
  constexpr int max_dims = static_cast<int>(std::extent_v<decltype(h.dims)>);
  auto emit = [&](auto& self, int d) -> void {
    s.push_back('{');
    for (int i = 0; i < h.dims[d]; ++i) {
      if (i) s.push_back(',');
      // (d + 1 < max_dims holds as ndim does: it tells g++ 12, whose -Warray-bounds does not see it.)
      if (d + 1 < h.ndim && d + 1 < max_dims)
        self(self, d + 1);
      else
        s += items[at++];
    }
    s.push_back('}');
  };
  emit(emit, 0);
  out = std::move(s);
  return true;
}

bool try_record(const char* p, int len, std::string& out) {
  const char* end = p + len;
  if (len < 4) return false;
  auto count = static_cast<std::int32_t>(get_be(p, 4));
  p += 4;
  if (count < 0 || count > 1664) return false;  // MaxTupleAttributeNumber
  std::string s = "(";
  for (int i = 0; i < count; ++i) {
    if (end - p < 8) return false;
    auto t = static_cast<oid>(get_be(p, 4));
    auto n = static_cast<std::int32_t>(get_be(p + 4, 4));
    p += 8;
    if (i) s.push_back(',');
    if (n < 0) continue;
    if (n > end - p) return false;
    s += quoted(to_text(t, p, n), "\"\\(),", true, false);
    p += n;
  }
  if (p != end) return false;
  s.push_back(')');
  out = std::move(s);
  return true;
}

std::string range_text(oid element, const char* p, int len) {
  if (len < 1) bad_length("a range", len);
  const char* end = p + len;
  auto flags = static_cast<unsigned char>(*p++);
  if (flags & 1) return "empty";
  std::string s(1, flags & 2 ? '[' : '(');
  auto bound = [&] {
    if (end - p < 4) bad_length("a range", len);
    auto n = static_cast<std::int32_t>(get_be(p, 4));
    p += 4;
    if (n < 0 || n > end - p) bad_length("a range", len);
    s += quoted(to_text(element, p, n), "\"\\()[],", true, false);
    p += n;
  };
  if (!(flags & 8)) bound();
  s.push_back(',');
  if (!(flags & 16)) bound();
  s.push_back(flags & 4 ? ']' : ')');
  return s;
}

}  // namespace

bool user_type_text(oid t, const char* p, int len, std::string& out) {
  const type_catalog* c = current_catalog();
  const user_type* u = c ? c->find(t) : nullptr;
  if (!u) return false;
  switch (u->kind) {
    case user_type::domain:
      out = to_text(u->element, p, len);
      return true;
    case user_type::enum_:
      out.assign(p, static_cast<std::size_t>(len));
      return true;
    case user_type::composite:
      if (!try_record(p, len, out)) throw type_error("malformed binary composite " + u->name);
      return true;
    case user_type::array:
      if (!try_array(p, len, out)) throw type_error("malformed binary array " + u->name);
      return true;
    case user_type::range:
      out = range_text(u->element, p, len);
      return true;
    case user_type::base:
      if (u->text_form) {
        out.assign(p, static_cast<std::size_t>(len));
        return true;
      }
      [[fallthrough]];
    default:
      throw type_error("the binary form of " + u->name +
                       " has no known text form: cast the column to text in the query (::text), or register a codec for it "
                       "(connection::set_type_codec)");
  }
}

oid range_element(oid t) noexcept {
  switch (t) {
    case oids::int4range:
      return oids::int4;
    case oids::int8range:
      return oids::int8;
    case oids::numrange:
      return oids::numeric;
    case oids::daterange:
      return oids::date;
    case oids::tsrange:
      return oids::timestamp;
    case oids::tstzrange:
      return oids::timestamptz;
    default: {
      const type_catalog* c = current_catalog();
      const user_type* u = c ? c->find(t) : nullptr;
      return u && u->kind == user_type::range ? u->element : 0;
    }
  }
}

std::string to_text(oid t, const char* p, int len) {
  switch (t) {
    case oids::bool_:
      check_length("boolean", len, 1);
      return p[0] ? "t" : "f";
    case oids::bytea:
      return "\\x" + hex_bytes(p, len, "");
    case oids::char_:
    case oids::name:
    case oids::text:
    case oids::unknown:
    case oids::bpchar:
    case oids::varchar:
    case oids::json:
    case oids::xml:  // xml's binary form is its text
      return std::string(p, static_cast<std::size_t>(len));
    case oids::jsonb:
    case 4072:  // jsonpath: a version byte, then the text
      return len > 0 ? std::string(p + 1, static_cast<std::size_t>(len - 1)) : std::string();
    case oids::int2:
    case oids::int4:
    case oids::int8:
      return signed_text(p, len);
    case oids::oid_:
      check_length("oid", len, 4);
      return std::to_string(get_be(p, 4));
    case 5069:  // xid8
      check_length("xid8", len, 8);
      return std::to_string(get_be(p, 8));
    case 3220: {  // pg_lsn
      check_length("pg_lsn", len, 8);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(get_be(p, 4)), static_cast<unsigned>(get_be(p + 4, 4)));
      return buf;
    }
    case oids::float4:
      check_length("real", len, 4);
      return float_text(std::bit_cast<float>(static_cast<std::uint32_t>(get_be(p, 4))));
    case oids::float8:
      check_length("double precision", len, 8);
      return float_text(std::bit_cast<double>(get_be(p, 8)));
    case oids::money:
      return money_text(p, len);
    case oids::numeric:
      return numeric_to_text(p, len);
    case oids::date: {
      check_length("date", len, 4);
      auto d = static_cast<std::int32_t>(get_be(p, 4));
      if (d == std::numeric_limits<std::int32_t>::max()) return "infinity";
      if (d == std::numeric_limits<std::int32_t>::min()) return "-infinity";
      std::string s;
      if (date_text(s, std::int64_t{d} + epoch_shift_days)) s += " BC";
      return s;
    }
    case oids::time: {
      std::string s;
      check_length("time", len, 8);
      time_text(s, static_cast<std::int64_t>(get_be(p, 8)));
      return s;
    }
    case oids::timetz: {
      std::string s;
      check_length("time with time zone", len, 12);
      time_text(s, static_cast<std::int64_t>(get_be(p, 8)));
      zone_text(s, -static_cast<std::int32_t>(get_be(p + 8, 4)));
      return s;
    }
    case oids::timestamp:
      return timestamp_text(p, len, false);
    case oids::timestamptz:
      return timestamp_text(p, len, true);
    case oids::interval:
      return interval_text(p, len);
    case oids::uuid:
      return codec<uuid>::decode(p, len, t).to_string();
    case oids::inet:
    case oids::cidr:
      return codec<inet>::decode(p, len, t).to_string();
    case 829:  // macaddr
      check_length("macaddr", len, 6);
      return hex_bytes(p, len, ":");
    case 774:  // macaddr8
      check_length("macaddr8", len, 8);
      return hex_bytes(p, len, ":");
    case oids::point:
      check_length("point", len, 16);
      return point_text(p);
    case 601:  // lseg
      return "[" + points_text(p, len, 0, 2) + "]";
    case 603:  // box
      return points_text(p, len, 0, 2);
    case 628:  // line: {A,B,C}
      check_length("line", len, 24);
      return "{" + float_text(std::bit_cast<double>(get_be(p, 8))) + "," + float_text(std::bit_cast<double>(get_be(p + 8, 8))) + "," +
             float_text(std::bit_cast<double>(get_be(p + 16, 8))) + "}";
    case 718:  // circle: <(x,y),r>
      check_length("circle", len, 24);
      return "<" + point_text(p) + "," + float_text(std::bit_cast<double>(get_be(p + 16, 8))) + ">";
    case 602: {  // path: closed flag, count, points
      if (len < 5) bad_length("path", len);
      bool closed = p[0] != 0;
      auto n = static_cast<std::int32_t>(get_be(p + 1, 4));
      if (n < 0 || n > len / 16) bad_length("path", len);
      return (closed ? "(" : "[") + points_text(p, len, 5, n) + (closed ? ")" : "]");
    }
    case 604: {  // polygon: count, points
      if (len < 4) bad_length("polygon", len);
      auto n = static_cast<std::int32_t>(get_be(p, 4));
      if (n < 0 || n > len / 16) bad_length("polygon", len);
      return "(" + points_text(p, len, 4, n) + ")";
    }
    case 1560:  // bit
    case 1562:  // varbit
      return bits_text(p, len);
    default:
      break;
  }
  for (oid o : oid_like)
    if (t == o) {
      check_length("oid", len, 4);
      return std::to_string(get_be(p, 4));
    }
  std::string s;
  if (user_type_text(t, p, len, s)) return s;
  if (oid e = range_element(t)) return range_text(e, p, len);
  // A type the connection did not look up (a field of an anonymous record, a cursor's
  // column): arrays and composites describe their own elements; a type made after initdb
  // whose binary form is UTF-8 text (an enum's label, citext, a domain over text) is that
  // text. Neither of the first two can be text: both begin with a NUL byte.
  if (t == oids::record) {
    if (try_record(p, len, s)) return s;
    throw type_error("malformed binary composite");
  }
  if (try_array(p, len, s)) return s;
  if (t >= oids::first_normal && (try_record(p, len, s) || (valid_utf8(p, len) && (s.assign(p, static_cast<std::size_t>(len)), true))))
    return s;
  throw type_error("the binary form of " + type_name(t) + " has no known text form: cast the column to text in the query (::text)");
}

std::string type_name(oid t) {
  struct entry {
    oid id;
    const char* name;
  };
  static constexpr entry names[] = {{16, "boolean"},
                                    {17, "bytea"},
                                    {18, "\"char\""},
                                    {19, "name"},
                                    {20, "bigint"},
                                    {21, "smallint"},
                                    {23, "integer"},
                                    {25, "text"},
                                    {26, "oid"},
                                    {114, "json"},
                                    {142, "xml"},
                                    {600, "point"},
                                    {650, "cidr"},
                                    {700, "real"},
                                    {701, "double precision"},
                                    {705, "unknown"},
                                    {790, "money"},
                                    {829, "macaddr"},
                                    {869, "inet"},
                                    {1042, "character"},
                                    {1043, "character varying"},
                                    {1082, "date"},
                                    {1083, "time without time zone"},
                                    {1114, "timestamp without time zone"},
                                    {1184, "timestamp with time zone"},
                                    {1186, "interval"},
                                    {1266, "time with time zone"},
                                    {1700, "numeric"},
                                    {2249, "record"},
                                    {2950, "uuid"},
                                    {3802, "jsonb"},
                                    {3904, "int4range"},
                                    {3906, "numrange"},
                                    {3908, "tsrange"},
                                    {3910, "tstzrange"},
                                    {3912, "daterange"},
                                    {3926, "int8range"},
                                    {1000, "boolean[]"},
                                    {1001, "bytea[]"},
                                    {1005, "smallint[]"},
                                    {1007, "integer[]"},
                                    {1009, "text[]"},
                                    {1015, "character varying[]"},
                                    {1016, "bigint[]"},
                                    {1021, "real[]"},
                                    {1022, "double precision[]"},
                                    {1028, "oid[]"},
                                    {1182, "date[]"},
                                    {1115, "timestamp without time zone[]"},
                                    {1185, "timestamp with time zone[]"},
                                    {1187, "interval[]"},
                                    {1231, "numeric[]"},
                                    {2951, "uuid[]"},
                                    {199, "json[]"},
                                    {3807, "jsonb[]"},
                                    {1041, "inet[]"},
                                    {1183, "time without time zone[]"},
                                    {2287, "record[]"},
                                    {3905, "int4range[]"},
                                    {3927, "int8range[]"},
                                    {1014, "character[]"}};
  for (const entry& e : names)
    if (e.id == t) return e.name;
  if (const type_catalog* c = current_catalog())
    if (const user_type* u = c->find(t)) return u->name;
  return "type OID " + std::to_string(t);
}

}  // namespace detail

std::string inet::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const bool v6 = family == 6;
  if (!::inet_ntop(v6 ? AF_INET6 : AF_INET, address.data(), buf, sizeof buf)) return "?";
  std::string s = buf;
  if (cidr || prefix != (v6 ? 128 : 32)) {
    s += '/';
    s += std::to_string(prefix);
  }
  return s;
}

inet inet::parse(std::string_view s) {
  inet v;
  std::string addr(s.substr(0, s.find('/')));
  if (::inet_pton(AF_INET, addr.c_str(), v.address.data()) == 1) {
    v.family = 4;
    v.prefix = 32;
  } else if (::inet_pton(AF_INET6, addr.c_str(), v.address.data()) == 1) {
    v.family = 6;
    v.prefix = 128;
  } else {
    throw std::invalid_argument("aw::pg::inet::parse: not an IP address: " + std::string(s));
  }
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    std::string_view bits = s.substr(slash + 1);
    unsigned n = 0;
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
    if (ec != std::errc() || end != bits.data() + bits.size() || bits.empty() || n > v.prefix)
      throw std::invalid_argument("aw::pg::inet::parse: bad prefix length: " + std::string(s));
    v.prefix = static_cast<std::uint8_t>(n);
  }
  return v;
}

}  // namespace aw::pg
