// aw::pg::decimal: parsing, printing, comparing, and numeric's binary form.
#include <aw/pg/types.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace aw::pg {

namespace {
bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}
// Beyond numeric's own limits (131072 digits before the point, 16383 after): refused
// before a string of that many zeros is made.
constexpr long max_exponent = 200000;
}  // namespace

decimal decimal::parse(std::string_view s) {
  auto bad = [&]() -> decimal { throw std::invalid_argument("aw::pg::decimal: not a number: \"" + std::string(s) + "\""); };
  std::string_view t = s;
  bool negative = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    negative = t[0] == '-';
    t.remove_prefix(1);
  }
  if (iequals(t, "nan")) return s[0] == '+' || s[0] == '-' ? bad() : nan();
  if (iequals(t, "infinity") || iequals(t, "inf")) return infinity(negative);
  std::string digits;
  long scale = 0;
  bool any = false, point = false;
  std::size_t i = 0;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (!(digits.empty() && c == '0')) digits.push_back(c);
      if (point) ++scale;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!any) return bad();
  if (i < t.size()) {
    if (t[i] != 'e' && t[i] != 'E') return bad();
    std::string_view e = t.substr(i + 1);
    bool eneg = false;
    if (!e.empty() && (e[0] == '+' || e[0] == '-')) {
      eneg = e[0] == '-';
      e.remove_prefix(1);
    }
    if (e.empty()) return bad();
    long exp = 0;
    for (char c : e) {
      if (c < '0' || c > '9') return bad();
      exp = exp * 10 + (c - '0');
      if (exp > max_exponent) return bad();
    }
    scale -= eneg ? -exp : exp;
  }
  if (scale < -max_exponent || scale > max_exponent) return bad();
  if (scale < 0) {
    if (!digits.empty()) digits.append(static_cast<std::size_t>(-scale), '0');
    scale = 0;
  }
  decimal d;
  d.digits_ = std::move(digits);
  d.scale_ = static_cast<std::int32_t>(scale);
  d.negative_ = negative && !d.digits_.empty();
  return d;
}

std::string decimal::to_string() const {
  switch (kind_) {
    case kind::nan:
      return "NaN";
    case kind::infinity:
      return "Infinity";
    case kind::minus_infinity:
      return "-Infinity";
    case kind::finite:
      break;
  }
  std::string s = negative_ ? "-" : "";
  const auto scale = static_cast<std::size_t>(scale_);
  std::string d = digits_;
  if (d.size() <= scale) d.insert(0, scale - d.size() + 1, '0');  // a 0 before the point
  s.append(d, 0, d.size() - scale);
  if (scale > 0) {
    s.push_back('.');
    s.append(d, d.size() - scale, scale);
  }
  return s;
}

double decimal::to_double() const { return std::strtod(to_string().c_str(), nullptr); }

int decimal::compare(const decimal& a, const decimal& b) noexcept {
  // NaN above everything and equal to itself; then -Infinity < finite < Infinity.
  auto rank = [](const decimal& d) { return d.kind_ == kind::nan ? 3 : d.kind_ == kind::infinity ? 2 : d.kind_ == kind::finite ? 1 : 0; };
  if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
  if (a.kind_ != kind::finite) return 0;
  int sa = a.digits_.empty() ? 0 : a.negative_ ? -1 : 1, sb = b.digits_.empty() ? 0 : b.negative_ ? -1 : 1;
  if (sa != sb) return sa < sb ? -1 : 1;
  if (sa == 0) return 0;
  // Same sign: compare magnitudes by the place of the leading digit, then digit by digit.
  long ea = static_cast<long>(a.digits_.size()) - a.scale_, eb = static_cast<long>(b.digits_.size()) - b.scale_;
  int mag = 0;
  if (ea != eb) {
    mag = ea < eb ? -1 : 1;
  } else {
    std::size_t n = std::max(a.digits_.size(), b.digits_.size());
    for (std::size_t i = 0; i < n && mag == 0; ++i) {
      char x = i < a.digits_.size() ? a.digits_[i] : '0', y = i < b.digits_.size() ? b.digits_[i] : '0';
      if (x != y) mag = x < y ? -1 : 1;
    }
  }
  return sa < 0 ? -mag : mag;
}

// numeric_send: ndigits, weight (of the first base-10000 digit), sign, dscale, the digits.
void codec<decimal>::encode(const decimal& v, std::string& out) {
  std::uint16_t sign = 0;
  switch (v.kind_) {
    case decimal::kind::nan:
      sign = 0xC000;
      break;
    case decimal::kind::infinity:
      sign = 0xD000;
      break;
    case decimal::kind::minus_infinity:
      sign = 0xF000;
      break;
    case decimal::kind::finite:
      sign = v.negative_ ? 0x4000 : 0;
      break;
  }
  if (v.kind_ != decimal::kind::finite || v.digits_.empty()) {
    detail::put_be(out, 0, 2);
    detail::put_be(out, 0, 2);
    detail::put_be(out, sign == 0x4000 ? 0 : sign, 2);
    detail::put_be(out, v.kind_ == decimal::kind::finite ? static_cast<std::uint16_t>(v.scale_) : 0, 2);
    return;
  }
  // Pad the integer part on the left and the fraction on the right to groups of 4.
  const long int_len = static_cast<long>(v.digits_.size()) - v.scale_;
  std::string d = v.digits_;
  long lead = int_len > 0 ? (4 - int_len % 4) % 4 : 0;
  long int_groups = int_len > 0 ? (int_len + lead) / 4 : 0;
  if (int_len <= 0) d.insert(0, static_cast<std::size_t>(-int_len), '0');  // zeros between the point and the digits
  d.insert(0, static_cast<std::size_t>(lead), '0');
  d.append((4 - d.size() % 4) % 4, '0');
  std::vector<std::uint16_t> groups;
  for (std::size_t i = 0; i < d.size(); i += 4)
    groups.push_back(static_cast<std::uint16_t>((d[i] - '0') * 1000 + (d[i + 1] - '0') * 100 + (d[i + 2] - '0') * 10 + (d[i + 3] - '0')));
  long weight = int_groups - 1;
  std::size_t first = 0;
  while (first < groups.size() && groups[first] == 0) {
    ++first;
    --weight;
  }
  std::size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  detail::put_be(out, static_cast<std::uint16_t>(last - first), 2);
  detail::put_be(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)), 2);
  detail::put_be(out, sign, 2);
  detail::put_be(out, static_cast<std::uint16_t>(v.scale_), 2);
  for (std::size_t i = first; i < last; ++i) detail::put_be(out, groups[i], 2);
}

decimal codec<decimal>::decode(const char* p, int len, oid t) {
  if (t != oids::numeric) {
    if (len == 2) return decimal(static_cast<std::int16_t>(detail::get_be(p, 2)));
    if (len == 4) return decimal(static_cast<std::int32_t>(detail::get_be(p, 4)));
    if (len == 8) return decimal(static_cast<std::int64_t>(detail::get_be(p, 8)));
    detail::bad_length("an integer", len);
  }
  return decimal::parse(detail::numeric_to_text(p, len));
}

}  // namespace aw::pg
