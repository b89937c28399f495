// Misuse: the body of aw::move_on_after returns nothing that can be awaited.
// expect: aw::move_on_after: the body must return aw::task<T> or another awaitable
#include <aw/cancel_scope.hpp>

#include <chrono>

aw::task<> misuse() {
  co_await aw::move_on_after(std::chrono::seconds(1), [] {});
}
