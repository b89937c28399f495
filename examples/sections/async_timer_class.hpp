// Tutorial: "Custom Async Context Manager (Class-based)".
//
//   class AsyncTimer:
//       async def __aenter__(self):
//           self.start = time.perf_counter()
//           return self
//       async def __aexit__(self, exc_type, exc_val, exc_tb):
//           print(f"Async elapsed: {time.perf_counter() - self.start:.2f}s")
//
// In C++ the two dunder methods are the members aenter() and aexit(std::exception_ptr),
// each returning an awaitable (here an aw::task). aenter gives the resource (`as t`);
// returning a reference to *this is Python's `return self`.
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

namespace async_timer_class {

using namespace std::chrono_literals;

struct async_timer {
  const char* label = "Async";
  aw::clock::time_point start{};

  aw::task<async_timer&> aenter() {
    start = aw::now();
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr) {  // null on success; a void exit never suppresses
    std::printf("%s elapsed: %.2fs\n", label, std::chrono::duration<double>(aw::now() - start).count());
    co_return;
  }
};
static_assert(aw::async_context_manager<async_timer>);

// The function form: the rest of the task is the body, the exit runs when the task ends.
inline aw::task<> timed_work() {
  auto& timer = co_await aw::enter(async_timer{"enter"});  // moved into the task: lives until its exit
  std::printf("  in timed_work, timing as '%s'\n", timer.label);
  co_await aw::sleep(20ms);
}  // timer.aexit(nullptr) is awaited here, before the caller resumes

inline aw::task<> demo() {
  // async with AsyncTimer() as t:
  //     await asyncio.sleep(0.05)
  async_timer timer;
  co_await aw::async_with(timer, [](async_timer& t) -> aw::task<> {
    std::printf("  in the block, timing as '%s'\n", t.label);
    co_await aw::sleep(50ms);
  });

  co_await timed_work();
  std::printf("  timed_work returned after its exit ran\n");
}

}  // namespace async_timer_class
