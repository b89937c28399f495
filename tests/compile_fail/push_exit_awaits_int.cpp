// Misuse: exit_stack::push_exit with a callable whose awaitable gives an int.
// expect: aw::exit_stack::push_exit: awaiting the callable's result must give bool or void
#include <aw/exit_stack.hpp>

void misuse(aw::exit_stack& stack) {
  stack.push_exit([](std::exception_ptr) -> aw::task<int> { co_return 1; });
}
