// aw::exception_context: Python's __context__ kept beside the exception objects, which
// have no room for it, in a bounded ring.
#include <aw/exceptions.hpp>

#include <cxxabi.h>
#include <array>
#include <cstdint>
#include <memory>
#include <typeinfo>

namespace aw {
namespace {

// A ring of (replacement, context) links. Python keeps __context__ on the exception
// object; C++ exception objects have no room for it, so the link lives here. A ring
// bounds the memory it can hold on to; lookups compare exception_ptr identity. Each link
// carries its place in the sequence of links recorded (see set_exception_context).
struct context_link {
  std::exception_ptr replacement;
  std::exception_ptr context;
  std::uint64_t recorded = 0;
};

struct context_ring {
  std::array<context_link, context_capacity> links;
  std::size_t next = 0;
  std::uint64_t recorded = 0;  // links recorded so far
};

thread_local context_ring ring;

context_link* find_link(const std::exception_ptr& e) noexcept {
  for (auto& link : ring.links)
    if (link.replacement == e) return &link;
  return nullptr;
}

}  // namespace

std::exception_ptr exception_context(const std::exception_ptr& e) noexcept {
  if (!e) return nullptr;
  const context_link* link = find_link(e);
  return link ? link->context : nullptr;
}

namespace detail {

std::uint64_t exception_context_mark() noexcept { return ring.recorded; }

void set_exception_context(const std::exception_ptr& replacement, const std::exception_ptr& context, std::uint64_t since) noexcept {
  if (!replacement || replacement == context) return;
  if (context_link* old = find_link(replacement)) {
    if (old->recorded >= since) return;  // recorded by the exit itself: the latest raise
    *old = context_link{};
  }
  // Python's raise cuts the link that would make the chain from `context` come back to
  // `replacement`. The walk is bounded: the ring holds at most that many links.
  const std::exception_ptr* at = &context;
  for (std::size_t i = 0; *at && i < context_capacity; ++i) {
    context_link* link = find_link(*at);
    if (!link) break;
    if (link->context == replacement) {
      link->context = nullptr;
      break;
    }
    at = &link->context;
  }
  ring.links[ring.next] = context_link{replacement, context, ring.recorded++};
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
