// aw::pg::detail::params: a statement's parameters encoded for libpq (internal).
#pragma once

#include <aw/pg/type_codec.hpp>
#include <aw/pg/types.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace aw::pg {

namespace detail {
// Parameters encoded for libpq: bytes in one buffer, pointers fixed up at the end.
class params {
 public:
  void clear() noexcept {
    buf_.clear();
    types_.clear();
    offsets_.clear();
    lengths_.clear();
    formats_.clear();
  }
  template <class T>
  void add(const T& v) {
    if constexpr (is_optional<T>::value) {
      if (!v) {
        if constexpr (has_static_codec<typename T::value_type>)
          types_.push_back(codec<typename T::value_type>::type_oid);
        else
          types_.push_back(runtime_type(typeid(typename T::value_type)));
        offsets_.push_back(-1);
        lengths_.push_back(0);
        formats_.push_back(1);
        return;
      }
      add(*v);
    } else if constexpr (!has_static_codec<std::remove_cv_t<T>>) {
      static_assert(runtime_codec_allowed<std::remove_cv_t<T>>,
                    "aw::pg: no codec sends this type as a parameter: use a type of the table in aw/pg/types.hpp, or "
                    "register a codec for a class or enum of your own with connection::set_type_codec");
      add_runtime(typeid(T), &v, &cpp_type_name<T>);
    } else {
      using C = codec<std::remove_cv_t<T>>;
      if constexpr (requires { C::param_type(v); })
        types_.push_back(C::param_type(v));
      else
        types_.push_back(C::type_oid);
      offsets_.push_back(static_cast<int>(buf_.size()));
      C::encode(v, buf_);
      if constexpr (C::text_param) {
        // libpq reads text parameters up to a NUL: one inside would cut the value short.
        if (std::memchr(buf_.data() + offsets_.back(), 0, buf_.size() - static_cast<std::size_t>(offsets_.back())) != nullptr)
          nul_in_text(types_.size());
        buf_.push_back('\0');
      }
      lengths_.push_back(static_cast<int>(buf_.size()) - offsets_.back() - (C::text_param ? 1 : 0));
      formats_.push_back(C::text_param ? 0 : 1);
    }
  }
  // Fixes the value pointers; call after the last add() (and again after a move: a short
  // buffer moves its bytes).
  void finish() {
    values_.resize(offsets_.size());
    for (std::size_t i = 0; i < offsets_.size(); ++i) values_[i] = offsets_[i] < 0 ? nullptr : buf_.data() + offsets_[i];
  }
  int size() const noexcept { return static_cast<int>(types_.size()); }
  // The connection's runtime codecs (connection::set_type_codec), for the C++ types that
  // have no aw::pg::codec. clear() keeps them.
  void use_codecs(std::shared_ptr<const codec_registry> c) noexcept { codecs_ = std::move(c); }
  const oid* types() const noexcept { return types_.data(); }
  const char* const* values() const noexcept { return values_.data(); }
  const int* lengths() const noexcept { return lengths_.data(); }
  const int* formats() const noexcept { return formats_.data(); }

 private:
  [[noreturn]] static void nul_in_text(std::size_t parameter) {
    throw type_error("aw::pg: parameter $" + std::to_string(parameter) +
                     " holds a NUL byte, which PostgreSQL text cannot hold (send binary data as aw::pg::bytea)");
  }
  void add_runtime(std::type_index cpp, const void* v, std::string (*cpp_name)());
  oid runtime_type(std::type_index cpp) const noexcept;
  std::shared_ptr<const codec_registry> codecs_;
  std::string buf_;
  std::vector<oid> types_;
  std::vector<int> offsets_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::vector<const char*> values_;
};

// A statement's text with a NUL byte raises aw::pg::interface_error (PostgreSQL would end
// the statement there).
void check_sql(std::string_view sql);
// The highest $n a statement refers to (literals, quoted identifiers and comments left out).
int highest_placeholder(std::string_view sql) noexcept;
// Raises aw::pg::interface_error when more arguments are given than the statement takes.
void check_argument_count(std::string_view sql, int takes, int given);
}  // namespace detail

}  // namespace aw::pg
