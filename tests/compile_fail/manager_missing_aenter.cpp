// Misuse: a type without aenter() used as an async context manager.
// expect: asyncwith: this type is not an async context manager: it has no aenter
#include <aw/async_with.hpp>

struct not_a_manager {
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(not_a_manager& m) {
  co_await aw::async_with(m, []() -> aw::task<> { co_return; });
}
