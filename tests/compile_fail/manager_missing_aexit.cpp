// Misuse: a type without aexit(std::exception_ptr) used as an async context manager.
// expect: asyncwith: this type is not an async context manager: it has no aexit
#include <aw/async_with.hpp>

struct not_a_manager {
  aw::task<not_a_manager&> aenter() { co_return *this; }
};

aw::task<> misuse(not_a_manager& m) {
  co_await aw::async_with(m, [](not_a_manager&) -> aw::task<> { co_return; });
}
