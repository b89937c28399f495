// Misuse: aenter() returns something that cannot be awaited.
// expect: asyncwith: aenter.. must return an awaitable
#include <aw/async_with.hpp>

struct manager {
  int aenter() { return 1; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(manager& m) {
  co_await aw::async_with(m, [](int&) -> aw::task<> { co_return; });
}
