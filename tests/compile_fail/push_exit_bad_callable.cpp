// Misuse: exit_stack::push_exit with a callable that cannot take the std::exception_ptr.
// expect: aw::exit_stack::push_exit: give an async context manager or a callable f.std::exception_ptr.
#include <aw/exit_stack.hpp>

void misuse(aw::exit_stack& stack) {
  stack.push_exit([](int) -> aw::task<bool> { co_return false; });
}
