// Built against the installed package (find_package and pkg-config): the public headers,
// libaw_core and its dependencies (liburing, threads, dl) must all be found and linked.
#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

namespace {

class timer {
 public:
  timer() = default;
  aw::task<timer&> aenter() {
    start_ = aw::now();
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr) {
    elapsed = aw::now() - start_;
    co_return;
  }
  aw::clock::duration elapsed{};

 private:
  aw::clock::time_point start_;
};

aw::context_manager<int> answer() { co_yield 42; }

aw::task<int> main_task() {
  timer t;
  int value = 0;
  co_await aw::async_with(t, answer(), [&](timer&, int& a) -> aw::task<> {
    co_await aw::sleep(std::chrono::milliseconds(1));
    value = a;
  });
  if (t.elapsed < std::chrono::milliseconds(1)) co_return 1;
  co_return value == 42 ? 0 : 2;
}

}  // namespace

int main() {
  int status = aw::run(main_task());
  std::printf("consumer: %s (backend %s)\n", status == 0 ? "ok" : "FAILED",
              aw::run([]() -> aw::task<const char*> { co_return aw::loop::current().backend_name(); }));
  return status;
}
