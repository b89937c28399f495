// Misuse: aw::enter awaited in a coroutine that is not an aw::task (here the generator form
// of a manager, which has no exits of its own to run them).
// expect: aw::enter can only be awaited inside a coroutine that returns aw::task
#include <aw/context_manager.hpp>
#include <aw/enter.hpp>

struct manager {
  aw::task<manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::context_manager<int> misuse(manager& m) {
  co_await aw::enter(m);
  co_yield 1;
}
