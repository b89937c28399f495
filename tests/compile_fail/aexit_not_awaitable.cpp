// Misuse: aexit(std::exception_ptr) returns something that cannot be awaited (a plain bool,
// as a synchronous __exit__ would).
// expect: asyncwith: aexit.std::exception_ptr. must return an awaitable
#include <aw/async_with.hpp>

struct manager {
  aw::task<manager&> aenter() { co_return *this; }
  bool aexit(std::exception_ptr) { return false; }
};

aw::task<> misuse(manager& m) {
  co_await aw::async_with(m, [](manager&) -> aw::task<> { co_return; });
}
