// Tutorial: "Custom Async Context Manager via @asynccontextmanager".
//
//   @asynccontextmanager
//   async def async_timer():
//       start = time.perf_counter()
//       yield
//       print(f"Async elapsed: {time.perf_counter() - start:.2f}s")
//
// A coroutine returning aw::context_manager<R> is the generator: the code before
// `co_yield` is __aenter__, the code after it is __aexit__. With no resource, R is void
// and the coroutine yields `{}`.
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace async_timer_generator {

using namespace std::chrono_literals;

inline double seconds_since(aw::clock::time_point start) { return std::chrono::duration<double>(aw::now() - start).count(); }

inline aw::context_manager<> async_timer() {
  auto start = aw::now();
  co_yield {};  // the body runs here
  std::printf("Async elapsed: %.2fs\n", seconds_since(start));
}

// As in Python, an exception in the body comes back out of the yield, so the line after
// it does not run. Python's try/finally is a catch-and-rethrow here (or an RAII guard).
inline aw::context_manager<> async_timer_always() {
  auto start = aw::now();
  try {
    co_yield {};
  } catch (const std::exception& e) {
    std::printf("Async elapsed: %.2fs (the body raised: %s)\n", seconds_since(start), e.what());
    throw;  // not rethrowing would suppress the exception, as in Python
  }
  std::printf("Async elapsed: %.2fs\n", seconds_since(start));
}

// The function form: the rest of the task is the block.
inline aw::task<> failing_step() {
  co_await aw::enter(async_timer_always());
  co_await aw::sleep(20ms);
  throw std::runtime_error("disk full");
}

inline aw::task<> demo() {
  // async with async_timer():
  //     await asyncio.sleep(0.05)
  co_await aw::async_with(async_timer(), []() -> aw::task<> { co_await aw::sleep(50ms); });

  try {
    co_await failing_step();
  } catch (const std::exception& e) {
    std::printf("  caught after the exit ran: %s\n", e.what());
  }
}

}  // namespace async_timer_generator
