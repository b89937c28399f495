// The trace timeline (aw/trace.hpp): the picture the debug mode's lines cannot give. A run
// with loop_options::trace (or AW_TRACE=path.json in the environment) writes, when its loop
// ends, a Chrome trace event file: a track per task with its steps, every manager as a span,
// every wait with its kind, cancellations as marks. This demo is a small task group with a
// lock, a to_thread job and a timeout, traced; open the file in https://ui.perfetto.dev or
// chrome://tracing, or draw it offline: scripts/trace-view aw-tour-trace.json > timeline.html
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

namespace tracing {

using namespace std::chrono_literals;

inline constexpr const char* trace_file = "aw-tour-trace.json";

inline aw::task<> worker(aw::lock& lk, int n) {
  co_await aw::async_with(lk, [&](aw::lock&) -> aw::task<> { co_await aw::sleep(n * 2ms); });
  co_await aw::to_thread([] { std::this_thread::sleep_for(1ms); });
}

inline aw::task<> demo() {
  aw::lock lk;
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
    for (int n = 1; n <= 3; ++n) tg.start_soon(worker, std::ref(lk), n);
    co_await aw::move_on_after(3ms, [&]() -> aw::task<> { co_await aw::sleep(1h); });  // shows as a cancelled wait
  });
  std::printf("  three workers took the lock in turn; the timeout cancelled a sleep\n");
}

// Runs the demo with a trace, then says where the file is.
inline void run_traced() {
  aw::run(demo(), aw::loop_options{.trace = trace_file});
  std::printf(
      "  wrote %s: open it in https://ui.perfetto.dev (or chrome://tracing),\n"
      "  or run scripts/trace-view %s > timeline.html and open that offline\n",
      trace_file, trace_file);
}

}  // namespace tracing
