// anyio's start_blocking_portal: asyncwith called from code that is not async.
//
//   with start_blocking_portal() as portal:
//       body = portal.call(fetch, "a")
//       future = portal.start_task_soon(count, 3)
//       with portal.wrap_async_context_manager(timer("held from sync code")):
//           ...
//
// aw::blocking_portal runs a loop on a thread of its own. A synchronous program hands it
// coroutines with call() (blocks for the value) or start_task_soon() (a std::future), and
// holds an async manager open with enter(), an RAII object whose destructor awaits the exit
// on the portal: the way an existing program adopts asyncwith one call at a time.
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>

namespace blocking_portal {

using namespace std::chrono_literals;

inline aw::task<std::string> fetch(std::string what) {
  co_await aw::sleep(5ms);
  co_return "contents of " + what;
}

inline aw::task<int> count(int n) {
  for (int i = 0; i < n; ++i) co_await aw::sleep(2ms);
  co_return n;
}

// An async manager that says when it is entered and exited.
struct timer {
  const char* name;
  aw::task<const char*> aenter() {
    co_await aw::sleep(1ms);
    std::printf("  entered %s (on the portal's loop)\n", name);
    co_return name;
  }
  aw::task<> aexit(std::exception_ptr) {
    co_await aw::sleep(1ms);
    std::printf("  exited %s (awaited on the portal's loop)\n", name);
  }
};

// A plain synchronous function: no co_await anywhere.
inline void synchronous_program() {
  aw::blocking_portal portal;
  std::printf("  portal.call(fetch, \"a\") gave \"%s\"\n", portal.call(fetch, std::string("a")).c_str());
  std::future<int> counted = portal.start_task_soon(count, 3);
  {
    auto t = portal.enter(timer{"held from sync code"});
    std::printf("  inside the block: resource \"%s\"\n", *t);
  }
  std::printf("  the future of start_task_soon(count, 3) gave %d\n", counted.get());
}  // the portal stops: it waits for its tasks and joins its thread

// The tour runs every section inside a loop; the synchronous program runs on a worker
// thread here, as it would in main() (examples/blocking_portal.cpp).
inline aw::task<> demo() { co_await aw::to_thread(synchronous_program); }

}  // namespace blocking_portal
