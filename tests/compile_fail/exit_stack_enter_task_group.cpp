// Misuse: a task group entered on an exit stack. The stack's exits run after the code that
// entered the group has ended (and pop_all can hand them to another task), while the
// group's exit waits for children that may use that code's local variables.
// expect: aw::exit_stack::enter_context: this manager's exit waits for tasks .* enter it with aw::async_with
#include <aw/exit_stack.hpp>
#include <aw/task_group.hpp>

aw::task<> misuse(aw::exit_stack& stack) {
  int hits = 0;
  auto& tg = co_await stack.enter_context(aw::task_group{});
  tg.start_soon([&]() -> aw::task<> {
    ++hits;
    co_return;
  });
}
