// Cancel scopes' cancellation: a cancel reaches every task of the scope's subtree, stopping
// at shielded scopes (aw/detail/cancellation.hpp holds the tree).
#include <aw/detail/assert.hpp>
#include <aw/detail/cancellation.hpp>

namespace aw::detail {
namespace {

void interrupt_subtree(scope_state* s) noexcept {
  if (s->owner) s->owner->interrupt_if_cancelled();
  for (task_context& t : s->tasks) t.interrupt_if_cancelled();
  for (scope_state& c : s->children) {
    AW_ASSERT(c.parent == s, "a scope's children point back at it");
    if (!c.shield) interrupt_subtree(&c);
  }
}

}  // namespace

void scope_state::cancel() noexcept {
  if (cancel_called) return;
  cancel_called = true;
  if (trace_on) [[unlikely]]
    trace_cancel(this);
  interrupt_subtree(this);
}

void scope_state::deliver() noexcept {
  if (effectively_cancelled()) interrupt_subtree(this);
}

}  // namespace aw::detail

namespace aw {

bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const cancelled&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace aw
