// The out-of-line parts of the type conversions and of results.
#include <aw/pg/result.hpp>
#include <aw/pg/types.hpp>

#include <libpq-fe.h>

#include <cstdio>
#include <ostream>
#include <stdexcept>
#include <string>

namespace aw::pg {
namespace detail {

void bad_length(const char* type, int len) {
  throw type_error(std::string("malformed binary value for ") + type + " (" + std::to_string(len) + " bytes)");
}
void check_length(const char* type, int len, int want) {
  if (len != want) bad_length(type, len);
}

// Binary numeric: ndigits, weight (of the first base-10000 digit), sign, dscale, digits.
std::string numeric_to_text(const char* p, int len) {
  if (len < 8) bad_length("numeric", len);
  int ndigits = static_cast<std::int16_t>(get_be(p, 2));
  int weight = static_cast<std::int16_t>(get_be(p + 2, 2));
  unsigned sign = static_cast<unsigned>(get_be(p + 4, 2));
  int dscale = static_cast<std::int16_t>(get_be(p + 6, 2));
  if (len != 8 + 2 * ndigits) bad_length("numeric", len);
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  auto digit = [&](int i) -> int { return i >= 0 && i < ndigits ? static_cast<int>(get_be(p + 8 + 2 * i, 2)) : 0; };
  std::string s;
  if (sign == 0x4000) s.push_back('-');
  // Integer part: digits 0..weight.
  if (weight < 0) {
    s.push_back('0');
  } else {
    for (int i = 0; i <= weight; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof buf, i == 0 ? "%d" : "%04d", digit(i));
      s += buf;
    }
  }
  if (dscale > 0) {
    s.push_back('.');
    std::string frac;
    for (int i = weight + 1; static_cast<int>(frac.size()) < dscale; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%04d", digit(i));
      frac += buf;
    }
    frac.resize(static_cast<std::size_t>(dscale));
    s += frac;
  }
  return s;
}

array_header read_array_header(const char*& p, const char* end) {
  if (end - p < 12) throw type_error("malformed binary array");
  array_header h{};
  h.ndim = static_cast<std::int32_t>(get_be(p, 4));
  h.has_null = get_be(p + 4, 4) != 0;
  h.element = static_cast<oid>(get_be(p + 8, 4));
  p += 12;
  if (h.ndim < 0 || h.ndim > 6) throw type_error("malformed binary array");
  if (h.ndim == 0) return h;
  if (end - p < 8 * h.ndim) throw type_error("malformed binary array");
  long count = 1;
  for (int d = 0; d < h.ndim; ++d) {
    h.dims[d] = static_cast<std::int32_t>(get_be(p, 4));
    h.lbounds[d] = static_cast<std::int32_t>(get_be(p + 4, 4));
    // Each element takes 4 bytes at least: a larger count is not this array's.
    if (h.dims[d] < 0 || (h.dims[d] > 0 && count > (end - p) / 4 / h.dims[d])) throw type_error("malformed binary array");
    count *= h.dims[d];
    p += 8;
  }
  h.count = static_cast<int>(count);
  return h;
}

raw_field raw(const pg_result* r, int row, int col) noexcept {
  bool null = PQgetisnull(r, row, col);
  return raw_field{PQgetvalue(r, row, col), PQgetlength(r, row, col), PQftype(r, col), null};
}
int column_count(const pg_result* r) noexcept { return r ? PQnfields(r) : 0; }
int column_index(const pg_result* r, std::string_view name) {
  std::string n(name);
  // PQfnumber folds unquoted names to lower case; an exact match first keeps "Name" readable.
  for (int i = 0, e = column_count(r); i < e; ++i)
    if (n == PQfname(r, i)) return i;
  int i = r ? PQfnumber(r, n.c_str()) : -1;
  if (i < 0) throw type_error("no column named \"" + n + "\" in the result");
  return i;
}
std::string describe_column(const pg_result* r, int col) {
  types_scope scope(r);
  std::string type = type_name(PQftype(r, col));
  if (type.starts_with("type OID")) type.erase(0, 5);
  return "column " + std::to_string(col) + " (\"" + PQfname(r, col) + "\", type " + type + ")";
}
void column_out_of_range(const pg_result* r, int col) {
  throw type_error("column " + std::to_string(col) + " is out of range: the result has " + std::to_string(column_count(r)) + " columns");
}

}  // namespace detail

std::string uuid::to_string() const {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(hex[bytes[i] >> 4]);
    s.push_back(hex[bytes[i] & 15]);
  }
  return s;
}

uuid uuid::parse(std::string_view s) {
  uuid u;
  int n = 0;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (char c : s) {
    if (c == '-') continue;
    int v = val(c);
    if (v < 0 || n >= 32) throw std::invalid_argument("aw::pg::uuid::parse: not a UUID: " + std::string(s));
    u.bytes[n / 2] = static_cast<unsigned char>(n % 2 ? (u.bytes[n / 2] | v) : v << 4);
    ++n;
  }
  if (n != 32) throw std::invalid_argument("aw::pg::uuid::parse: not a UUID: " + std::string(s));
  return u;
}

std::string value::type_name() const {
  const oid t = type();
  if (!detail::needs_types(t)) return detail::type_name(t);
  detail::types_scope scope(r_);
  return detail::type_name(t);
}
std::string_view value::name() const noexcept { return PQfname(r_, col_); }
std::ostream& operator<<(std::ostream& os, const value& v) { return os << v.to_string(); }

std::vector<std::string_view> row::keys() const {
  std::vector<std::string_view> k;
  for (int i = 0, n = detail::column_count(r_); i < n; ++i) k.emplace_back(PQfname(r_, i));
  return k;
}
std::vector<std::pair<std::string_view, value>> row::items() const {
  std::vector<std::pair<std::string_view, value>> it;
  for (int i = 0, n = detail::column_count(r_); i < n; ++i) it.emplace_back(PQfname(r_, i), value(r_, row_, i));
  return it;
}
std::vector<value> row::values() const {
  std::vector<value> v;
  for (value x : *this) v.push_back(x);
  return v;
}

std::size_t result::size() const noexcept { return r_ ? static_cast<std::size_t>(PQntuples(r_)) : 0; }
std::size_t result::columns() const noexcept { return r_ ? static_cast<std::size_t>(PQnfields(r_)) : 0; }
std::string_view result::column_name(std::size_t i) const {
  if (i >= columns()) detail::column_out_of_range(r_, static_cast<int>(i));
  return PQfname(r_, static_cast<int>(i));
}
oid result::column_type(std::size_t i) const {
  if (i >= columns()) detail::column_out_of_range(r_, static_cast<int>(i));
  return PQftype(r_, static_cast<int>(i));
}
std::size_t result::rows_affected() const noexcept {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::stoull(n) : 0;
}
std::string_view result::status() const noexcept { return r_ ? PQcmdStatus(r_) : ""; }
void result::clear() noexcept {
  if (r_) PQclear(r_);
  r_ = nullptr;
}

}  // namespace aw::pg
