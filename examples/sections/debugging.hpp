// Tutorial: "Debugging Tips", built in. The debug mode (AW_DEBUG=1 in the environment,
// or aw::set_debug(true)) logs to stderr, one "aw:" line each:
//   - every enter and exit, with the manager's type, the time spent inside and the
//     exception leaving the block ("print or logging in __aenter__/__aexit__");
//   - a step that blocks the loop for 100 ms or more (asyncio's slow-callback warning),
//     naming the coroutine; this example lowers the threshold to 20 ms;
//   - tasks created but never awaited, at once and again when the loop shuts down, and
//     managers entered but never exited.
// The exit runs on every path ("__aexit__ is always called, even on exceptions"), and the
// exception reaches the caller's try/catch after it ("wrap logic in try/except").
// Coroutine names come from the executable's symbol table: any build that is not stripped.
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

namespace debugging {

using namespace std::chrono_literals;

struct connection {
  aw::task<connection&> aenter() {
    co_await aw::yield();
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr e) {
    std::printf("  connection.aexit(%s)\n", e ? "exception" : "null");
    co_return;
  }
  aw::task<> query(bool fail) {
    co_await aw::sleep(5ms);
    if (fail) throw std::runtime_error("query failed");
  }
};

// Blocks the loop: nothing else can run for 30 ms (std::this_thread::sleep_for in a
// coroutine is the classic mistake; co_await aw::sleep(30ms) is the fix).
inline aw::task<> blocking_step() {
  co_await aw::yield();
  std::this_thread::sleep_for(30ms);
}

inline aw::task<> never_awaited() { co_return; }

inline aw::task<> demo() {
  const bool was_on = aw::debug_enabled();
  aw::set_debug(true);
  aw::set_slow_step_threshold(20ms);

  co_await aw::async_with(connection{}, [](connection& c) -> aw::task<> { co_await c.query(false); });

  try {
    co_await aw::async_with(connection{}, [](connection& c) -> aw::task<> { co_await c.query(true); });
  } catch (const std::exception& e) {
    std::printf("  caught: %s\n", e.what());
  }

  co_await blocking_step();
  co_await aw::yield();  // back to the loop: the slow step ends and is reported

  {
    auto forgotten = never_awaited();
  }  // dropped: reported at once

  aw::debug_counts counts = aw::debug_report_counts();
  std::printf("  so far: %zu task(s) never awaited, %zu slow step(s)\n", counts.tasks_never_awaited, counts.slow_steps);

  aw::set_slow_step_threshold(100ms);
  aw::set_debug(was_on);
}

}  // namespace debugging
