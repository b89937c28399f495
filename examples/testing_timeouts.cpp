// examples/testing_timeouts: testing your own timeouts on virtual time
// (aw::testing::virtual_clock; Python: trio.run(main, clock=MockClock(autojump_threshold=0))).
// A fetch that retries three times, 5 s each and 1 s apart, is checked to give up after
// exactly 17 s and to succeed after exactly 3 s against a fake server; the checks take no
// real time, because the clock jumps to the next deadline whenever every task waits.
#include <aw/aw.hpp>
#include <aw/testing/virtual_clock.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>

using namespace std::chrono_literals;

// The code under test.
aw::task<std::optional<int>> fetch_with_retries(std::function<aw::task<int>()> fetch) {
  for (int attempt = 1;; ++attempt) {
    std::optional<int> status = co_await aw::move_on_after(5s, fetch);
    if (status || attempt == 3) co_return status;
    co_await aw::sleep(1s);
  }
}

// The test's fake server: answers 200 after `delay`.
aw::task<int> fake_server(aw::clock::duration delay) {
  co_await aw::sleep(delay);
  co_return 200;
}

long long seconds(aw::clock::duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

int main() {
  aw::testing::virtual_clock clock({.autojump_threshold = 0s});
  bool ok = true;
  auto real_start = std::chrono::steady_clock::now();
  aw::run(
      [&]() -> aw::task<> {
        auto start = aw::now();
        std::optional<int> r = co_await fetch_with_retries([] { return fake_server(24h); });
        std::printf("a server that never answers: %s after %lld s\n", r ? "answered" : "gave up", seconds(aw::now() - start));
        ok = ok && !r && aw::now() - start == 17s;

        start = aw::now();
        r = co_await fetch_with_retries([] { return fake_server(3s); });
        std::printf("a server that answers in 3 s: %d after %lld s\n", r.value_or(0), seconds(aw::now() - start));
        ok = ok && r == 200 && aw::now() - start == 3s;
      },
      {.clock = &clock});
  std::printf("%s, in %.1f ms of real time\n", ok ? "both as expected" : "NOT as expected",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - real_start).count());
  return ok ? 0 : 1;
}
