// Misuse: a generator-form manager made and never entered: its code would never run.
// expect: a context_manager does nothing until it is entered: co_await aw::async_with\(it, body\) or aw::enter\(it\)
// flags: -Werror=unused-result -Werror=unused-value
#include <aw/context_manager.hpp>

aw::context_manager<int> answer() { co_yield 42; }

aw::task<> misuse() {
  answer();
  co_return;
}
