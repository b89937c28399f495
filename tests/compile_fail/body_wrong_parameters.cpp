// Misuse: the body does not take the managers' resources (one reference per manager whose
// aenter gives one, in order).
// expect: aw::async_with: the body cannot be called with the managers' resources
#include <aw/async_with.hpp>

#include <string>

struct manager {
  aw::task<std::string> aenter() { co_return "resource"; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

aw::task<> misuse(manager& m) {
  co_await aw::async_with(m, [](int&) -> aw::task<> { co_return; });
}
