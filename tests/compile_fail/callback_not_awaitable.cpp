// Misuse: exit_stack::callback with a synchronous callable.
// expect: aw::exit_stack::callback: the callable must return an awaitable
#include <aw/exit_stack.hpp>

void misuse(aw::exit_stack& stack) {
  stack.callback([](int) {}, 1);
}
