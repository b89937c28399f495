// g++ 12.2 (Debian 12) miscompiles `co_await take(manager{"a"})` inside a coroutine, where
// `take` is a coroutine taking `manager` (an aggregate holding a std::string) by value: the
// parameter's copy in take's frame ends up pointing into a small-string buffer that is not its
// own, and destroying it aborts ("free(): invalid pointer"; ASan: bad-free). clang-19 is
// correct. Passing an lvalue, std::move(lvalue), or a non-aggregate prvalue
// (std::string("a")) is fine.
// doc/toolchain.md explains it and lists its other faces. From the top of the repository:
//   g++ -std=c++20 -O2 doc/gcc12_prvalue_param.cpp && ./a.out        -> aborts
//   clang++-19 -std=c++20 -O2 doc/gcc12_prvalue_param.cpp && ./a.out -> prints "a" then "ok"
#include <coroutine>
#include <cstdio>
#include <string>
#include <utility>

struct task {
  struct promise_type {
    std::coroutine_handle<> continuation = std::noop_coroutine();
    task get_return_object() { return task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept { return h.promise().continuation; }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}
  };
  std::coroutine_handle<promise_type> h;
  explicit task(std::coroutine_handle<promise_type> h) : h(h) {}
  task(task&& o) noexcept : h(std::exchange(o.h, {})) {}
  ~task() {
    if (h) h.destroy();
  }
  bool await_ready() { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> c) {
    h.promise().continuation = c;
    return h;
  }
  void await_resume() {}
};

struct manager {
  std::string name;
};

task take(manager m) {  // by-value parameter of an aggregate type
  std::printf("%s\n", m.name.c_str());
  co_return;
}

task caller() {
  co_await take(manager{"a"});  // aggregate prvalue inside a co_await expression
}

int main() {
  {
    task t = caller();
    t.h.resume();
  }
  std::printf("ok\n");
}
