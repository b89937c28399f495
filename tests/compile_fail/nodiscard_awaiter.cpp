// Misuse: an awaitable of the library (here aw::sleep's) written without co_await: nothing
// would wait.
// expect: co_await it: without co_await nothing sleeps
// flags: -Werror=unused-result -Werror=unused-value
#include <aw/sleep.hpp>

aw::task<> misuse() {
  aw::sleep(std::chrono::milliseconds(10));
  co_return;
}
