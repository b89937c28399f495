// Misuse: aw::enter with a type that has no aexit(std::exception_ptr).
// expect: asyncwith: this type is not an async context manager: it has no aexit
#include <aw/enter.hpp>

struct not_a_manager {
  aw::task<not_a_manager&> aenter() { co_return *this; }
};

aw::task<> misuse(not_a_manager& m) { co_await aw::enter(m); }
