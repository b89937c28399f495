#include <aw/exceptions.hpp>

#include <cxxabi.h>
#include <array>
#include <memory>
#include <typeinfo>

namespace aw {
namespace {

// A ring of (replacement, context) pairs. Python keeps __context__ on the exception
// object; C++ exception objects have no room for it, so the link lives here. A ring
// bounds the memory it can hold on to; lookups compare exception_ptr identity.
struct context_ring {
  std::array<std::pair<std::exception_ptr, std::exception_ptr>, context_capacity> links;
  std::size_t next = 0;
};

thread_local context_ring ring;

}  // namespace

std::exception_ptr exception_context(const std::exception_ptr& e) noexcept {
  if (!e) return nullptr;
  for (auto& [replacement, context] : ring.links)
    if (replacement == e) return context;
  return nullptr;
}

namespace detail {

void set_exception_context(const std::exception_ptr& replacement, const std::exception_ptr& context) noexcept {
  if (!replacement || replacement == context) return;
  for (auto& link : ring.links)
    if (link.first == replacement) return;  // the first record wins (see the header)
  ring.links[ring.next] = {replacement, context};
  ring.next = (ring.next + 1) % ring.links.size();
}

std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(x).name(), nullptr, nullptr, &status), std::free);
    return std::string(status == 0 ? name.get() : typeid(x).name()) + ": " + x.what();
  } catch (...) {
    auto* t = abi::__cxa_current_exception_type();
    if (!t) return "unknown exception";
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t->name(), nullptr, nullptr, &status), std::free);
    return std::string("exception of type ") + (status == 0 ? name.get() : t->name());
  }
}

}  // namespace detail
}  // namespace aw
