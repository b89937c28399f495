// Misuse: the body of aw::async_with returns nothing that can be awaited.
// expect: aw::async_with: the body must return aw::task<T> or another awaitable
#include <aw/async_with.hpp>

struct manager {
  aw::task<manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(manager& m) {
  co_await aw::async_with(m, [](manager&) { return 1; });
}
