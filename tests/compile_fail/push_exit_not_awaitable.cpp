// Misuse: exit_stack::push_exit with a synchronous callable (returns a bool, not an awaitable).
// expect: aw::exit_stack::push_exit: the callable must return an awaitable of bool or void
#include <aw/exit_stack.hpp>

void misuse(aw::exit_stack& stack) {
  stack.push_exit([](std::exception_ptr) { return false; });
}
