// Tutorial: Use Cases, "Background tasks: anyio.create_task_group()".
//
//   async with anyio.create_task_group() as tg:
//       for name in ("a", "b", "c"):
//           tg.start_soon(worker, name)
//   # here every worker has finished
//
// aw::task_group is the same block: children run concurrently, leaving the block waits for
// all of them, and the first failure cancels the rest; all failures come out together as
// one aw::exception_group.
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace background_tasks {

using namespace std::chrono_literals;

inline aw::task<> worker(std::string name, std::chrono::milliseconds delay) {
  std::printf("  %s: started\n", name.c_str());
  co_await aw::sleep(delay);
  std::printf("  %s: done after %lld ms\n", name.c_str(), static_cast<long long>(delay.count()));
}

inline aw::task<> flaky(std::chrono::milliseconds delay) {
  co_await aw::sleep(delay);
  throw std::runtime_error("flaky failed");
}

// A sibling that is cancelled still runs its cleanup: here an exit that waits.
inline aw::task<> patient() {
  try {
    co_await aw::sleep(10s);
  } catch (const aw::cancelled&) {
    std::printf("  patient: cancelled because a sibling failed\n");
    throw;  // aw::cancelled must go on: the group swallows it
  }
}

inline aw::task<> demo() {
  auto start = aw::now();
  co_await aw::async_with(aw::task_group{}, [](aw::task_group& tg) -> aw::task<> {
    tg.start_soon(worker, "a", 30ms);
    tg.start_soon(worker, "b", 10ms);
    tg.start_soon(worker, "c", 20ms);
    std::printf("  three workers started; leaving the block waits for them\n");
    co_return;
  });
  std::printf("  all done in %.0f ms, not 60: they ran concurrently\n",
              std::chrono::duration<double, std::milli>(aw::now() - start).count());

  try {
    co_await aw::async_with(aw::task_group{}, [](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(patient);
      tg.start_soon(flaky, 10ms);
      co_return;
    });
  } catch (const aw::exception_group& g) {
    std::printf("  caught %s: contains std::runtime_error: %s\n", g.what(), g.contains<std::runtime_error>() ? "yes" : "no");
  }
}

}  // namespace background_tasks
