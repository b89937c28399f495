// Misuse: exit_stack::enter_context with a type that has no aenter().
// expect: asyncwith: this type is not an async context manager: it has no aenter
#include <aw/exit_stack.hpp>

struct not_a_manager {
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(aw::exit_stack& stack, not_a_manager& m) { co_await stack.enter_context(m); }
