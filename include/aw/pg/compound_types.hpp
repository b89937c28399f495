// The types built of other types: arrays (std::vector<T>, nested once per dimension),
// ranges (aw::pg::range<T>) and composites (std::tuple<Ts...>), with their binary codecs.
// Included by aw/pg/types.hpp, which has the type table.
#pragma once

#include <aw/pg/types.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace aw::pg {

// A range (int4range, int8range, numrange, daterange, tsrange, tstzrange) as asyncpg's
// Range: a bound that is std::nullopt is infinite; an empty range has no bounds.
template <class T>
struct range {
  std::optional<T> lower, upper;
  bool lower_inc = true, upper_inc = false;
  bool empty = false;
  friend bool operator==(const range&, const range&) = default;
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
    const oid d = decoding_oid(t);
    if (!codec<V>::accepts(d))
      throw type_error(std::string("the ") + in + " of type " + type_name(t) + " does not read into " + cpp_type_name<V>());
    return codec<V>::decode(p, n, d);
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
    if (!codec<elem>::accepts(detail::decoding_oid(h.element)))
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
