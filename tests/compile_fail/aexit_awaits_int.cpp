// Misuse: awaiting aexit(std::exception_ptr) gives an int, neither bool nor void.
// expect: asyncwith: awaiting aexit.std::exception_ptr. must give bool .true suppresses. or void
#include <aw/async_with.hpp>

struct manager {
  aw::task<manager&> aenter() { co_return *this; }
  aw::task<int> aexit(std::exception_ptr) { co_return 1; }
};

aw::task<> misuse(manager& m) {
  co_await aw::async_with(m, [](manager&) -> aw::task<> { co_return; });
}
