// aw::http::headers: HTTP header fields, case-insensitive and multi-valued, in the order
// they were added (aiohttp's CIMultiDict, httpx's Headers).
//
//   aw::http::headers h{{"Accept", "application/json"}};
//   h.add("X-Tag", "a");
//   h.add("x-tag", "b");
//   h.get("X-TAG");        // "a": the first value
//   h.get_all("x-tag");    // {"a", "b"}
//   h.set("x-tag", "c");   // replaces every value
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http {

class headers {
 public:
  using field = std::pair<std::string, std::string>;

  headers() = default;
  headers(std::initializer_list<field> fields) : fields_(fields) {}

  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  void set(std::string name, std::string value) {
    remove(name);
    add(std::move(name), std::move(value));
  }
  void remove(std::string_view name) {
    std::erase_if(fields_, [&](const field& f) { return equal(f.first, name); });
  }

  std::optional<std::string_view> get(std::string_view name) const {
    for (const field& f : fields_)
      if (equal(f.first, name)) return f.second;
    return std::nullopt;
  }
  std::vector<std::string_view> get_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const field& f : fields_)
      if (equal(f.first, name)) out.push_back(f.second);
    return out;
  }
  bool contains(std::string_view name) const { return get(name).has_value(); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

  static bool equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (lower(a[i]) != lower(b[i])) return false;
    return true;
  }

 private:
  static char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
  std::vector<field> fields_;
};

}  // namespace aw::http
