// Misuse: a block written without co_await. aw::async_with gives an awaitable, which does
// nothing until it is awaited: the body would never run.
// expect: a task does nothing until it is awaited: co_await it
// flags: -Werror=unused-result -Werror=unused-value
#include <aw/async_with.hpp>

struct manager {
  aw::task<manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(manager& m) {
  aw::async_with(m, [](manager&) -> aw::task<> { co_return; });
  co_return;
}
