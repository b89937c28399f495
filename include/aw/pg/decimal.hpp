// numeric as aw::pg::decimal, exact (asyncpg's Decimal), and its binary codec. Included by
// aw/pg/types.hpp, which has the type table.
#pragma once

#include <aw/pg/types.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace aw::pg {

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

}  // namespace aw::pg
