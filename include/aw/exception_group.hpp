// aw::exception_group: several exceptions raised together (PEP 654's ExceptionGroup), as a
// task group raises the failures of its children.
//
//   try {
//     co_await aw::async_with(aw::task_group{}, body);
//   } catch (const aw::exception_group& g) {
//     for (const std::exception_ptr& e : g.exceptions()) log(aw::detail::describe(e));
//     if (auto [timeouts, rest] = g.split<aw::timeout_error>(); rest) throw *rest;
//   }
//
// Groups may nest (a child that ran its own task group); contains/split/subgroup look at
// the leaves, keeping the nesting, as PEP 654's split() and subgroup() do.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aw {

class exception_group : public std::exception {
 public:
  exception_group(std::string message, std::vector<std::exception_ptr> exceptions)
      : message_(std::move(message)), exceptions_(std::move(exceptions)) {
    what_ = message_ + " (" + std::to_string(exceptions_.size()) + " sub-exception" + (exceptions_.size() == 1 ? "" : "s") + ")";
  }

  const char* what() const noexcept override { return what_.c_str(); }
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

  // Whether a leaf is an E (searching nested groups).
  template <class E>
  bool contains() const {
    for (const auto& e : exceptions_) {
      try {
        std::rethrow_exception(e);
      } catch (const exception_group& g) {
        if (g.contains<E>()) return true;
      } catch (const E&) {
        return true;
      } catch (...) {
      }
    }
    return false;
  }

  // (the leaves that are E, the others), each as a group with this one's message, or
  // nothing where no leaf goes.
  template <class E>
  std::pair<std::optional<exception_group>, std::optional<exception_group>> split() const {
    std::vector<std::exception_ptr> match, rest;
    for (const auto& e : exceptions_) {
      try {
        std::rethrow_exception(e);
      } catch (const exception_group& g) {
        auto [m, r] = g.split<E>();
        if (m) match.push_back(std::make_exception_ptr(std::move(*m)));
        if (r) rest.push_back(std::make_exception_ptr(std::move(*r)));
      } catch (const E&) {
        match.push_back(e);
      } catch (...) {
        rest.push_back(e);
      }
    }
    return {wrap(std::move(match)), wrap(std::move(rest))};
  }

  // The leaves that are E, or nothing.
  template <class E>
  std::optional<exception_group> subgroup() const {
    return split<E>().first;
  }

 private:
  std::optional<exception_group> wrap(std::vector<std::exception_ptr> v) const {
    if (v.empty()) return std::nullopt;
    return exception_group(message_, std::move(v));
  }

  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
  std::string what_;
};

}  // namespace aw
