// Misuse: the body of aw::fail_after returns something that cannot be awaited.
// expect: aw::fail_after: the body must return aw::task<T> or another awaitable
#include <aw/cancel_scope.hpp>

#include <chrono>

aw::task<> misuse() {
  co_await aw::fail_after(std::chrono::seconds(1), [] { return 42; });
}
