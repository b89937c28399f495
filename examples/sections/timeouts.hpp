// Timeouts and cancellation (anyio's move_on_after, fail_after and CancelScope), and the
// point of the whole library: a block cancelled by a timeout still awaits its exit.
//
//   with anyio.move_on_after(0.05):
//       async with connection() as c:
//           await c.query()          # too slow: cancelled; the connection is still closed
#pragma once

#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

namespace timeouts {

using namespace std::chrono_literals;

inline double ms_since(aw::clock::time_point t) { return std::chrono::duration<double, std::milli>(aw::now() - t).count(); }

// A connection whose close takes time: the exit runs shielded, so the timeout that
// cancelled the body does not cut the close short.
class connection {
 public:
  connection() = default;
  aw::task<connection&> aenter() {
    std::printf("  connect\n");
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr e) {
    co_await aw::sleep(20ms);  // a graceful close: say goodbye to the server
    std::printf("  closed gracefully%s\n", aw::is_cancellation(e) ? " (the body was cancelled)" : "");
  }
  aw::task<int> query(std::chrono::milliseconds takes) {
    co_await aw::sleep(takes);
    co_return 42;
  }
};

inline aw::task<> demo() {
  auto start = aw::now();
  bool finished = co_await aw::move_on_after(50ms, []() -> aw::task<> {
    connection c;
    co_await aw::async_with(c, [](connection& conn) -> aw::task<> {
      co_await conn.query(10s);
      std::printf("  not printed: the query was cancelled\n");
    });
  });
  std::printf("  move_on_after(50ms): %s after %.0f ms (the close ran to its end)\n", finished ? "finished" : "timed out", ms_since(start));

  auto fast = co_await aw::move_on_after(1s, []() -> aw::task<int> {
    connection c;
    co_return co_await aw::async_with(c, [](connection& conn) { return conn.query(5ms); });  // int: this exit never suppresses
  });
  std::printf("  a fast query within the timeout gives %d\n", fast ? *fast : -1);

  try {
    co_await aw::fail_after(10ms, []() -> aw::task<> { co_await aw::sleep(1h); });
  } catch (const aw::timeout_error& e) {
    std::printf("  fail_after(10ms): aw::timeout_error: %s\n", e.what());
  }
}

}  // namespace timeouts
