// Measures what the fault tests cannot assert: how long one step of the loop blocks while a
// gzip bomb decodes, how soon the total timeout ends it, and how fast a realistic gzip body
// streams. Not a test; run it by hand on a Release build:
//   build/gcc/tests/faults/http/aw_http_fault_measure [scenario...]
// Each line: the scenario, its outcome, the time it took, and the longest gap seen by a task
// sleeping 1 ms in a loop beside it (the longest the loop was blocked, give or take 1 ms),
// in wall-clock time and in the loop thread's CPU time (which a busy machine does not inflate).
#include <aw/async_with.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include "fault_server.hpp"

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = aw::http;
using aw_http_faults::fault_server;

namespace {

std::string log_text(std::size_t size) {
  static const char* const levels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
  static const char* const paths[] = {"/api/v1/items", "/api/v1/users", "/static/app.js", "/healthz", "/api/v2/orders"};
  std::uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::string out;
  out.reserve(size + 256);
  char line[256];
  for (std::uint64_t i = 0; out.size() < size; ++i) {
    std::uint64_t r = next();
    int n = std::snprintf(
        line, sizeof line,
        "2026-12-07T07:%02llu:%02llu.%03lluZ %s [worker-%llu] request id=%016llx path=%s/%llu status=%d bytes=%llu ms=%.1f\n",
        (unsigned long long)(i / 60000 % 60), (unsigned long long)(i / 1000 % 60), (unsigned long long)(i % 1000), levels[r % 6],
        (unsigned long long)(r >> 8) % 32, (unsigned long long)next(), paths[(r >> 16) % 5], (unsigned long long)(r >> 20) % 100000,
        (r >> 40) % 10 ? 200 : 404, (unsigned long long)(r >> 24) % 60000, (double)((r >> 32) % 5000) / 10);
    out.append(line, static_cast<std::size_t>(n));
  }
  return out;
}

struct result {
  std::string outcome;
  double seconds = 0;
  double longest_gap_ms = 0;
  double longest_cpu_ms = 0;
};

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

result measure(std::function<aw::task<std::string>(http::session&)> body, http::session_options options) {
  result res;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(http::session(std::move(options)), [&](http::session& s) -> aw::task<> {
      bool stop = false;
      co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          while (!stop) {
            auto t0 = aw::now();
            double c0 = thread_cpu_ms();
            co_await aw::sleep(1ms);
            double gap = std::chrono::duration<double, std::milli>(aw::now() - t0).count();
            if (gap > res.longest_gap_ms) res.longest_gap_ms = gap;
            if (thread_cpu_ms() - c0 > res.longest_cpu_ms) res.longest_cpu_ms = thread_cpu_ms() - c0;
          }
        });
        auto start = aw::now();
        try {
          res.outcome = co_await body(s);
        } catch (const std::exception& e) {
          res.outcome = e.what();
        }
        res.seconds = std::chrono::duration<double>(aw::now() - start).count();
        stop = true;
      });
    });
  });
  return res;
}

aw::task<std::string> whole(http::session& s, std::string url) {
  http::response r = co_await s.get(url);
  co_return std::to_string(r.body().size()) + " bytes";
}

aw::task<std::string> streamed(http::session& s, std::string url) {
  std::size_t total = 0;
  co_await aw::async_with(s.get(url), [&](http::response& r) -> aw::task<> {
    auto chunks = r.chunks(64 * 1024);
    while (auto c = co_await chunks.next()) total += c->size();
  });
  co_return std::to_string(total) + " bytes";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> wanted(argv + 1, argv + argc);
  auto want = [&](const std::string& name) {
    if (wanted.empty()) return true;
    for (auto& w : wanted)
      if (w == name) return true;
    return false;
  };
  const std::string bomb = aw_http_faults::gzip_bomb(1024);  // 1 GiB of zeros in about 1 MiB
  const std::string log = log_text(50u << 20);
  const std::string log_gz = aw_http_faults::gzip(log);
  std::printf("bomb: %zu bytes, 1 GiB inflated; log: %zu bytes, %zu gzipped\n", bomb.size(), log.size(), log_gz.size());
  auto serve = [](const std::string& body) {
    return [&body](fault_server::conn& c) {
      while (c.request())
        if (!c.send(aw_http_faults::gzip_response(body))) return;
    };
  };
  fault_server bomb_srv(serve(bomb));
  fault_server log_srv(serve(log_gz));
  struct scenario {
    std::string name;
    const fault_server* srv;
    bool stream;
    std::chrono::milliseconds total;
  };
  const scenario all[] = {
      {"bomb-whole-total6s", &bomb_srv, false, 6000ms},
      {"bomb-stream-total6s", &bomb_srv, true, 6000ms},
      {"bomb-stream", &bomb_srv, true, 0ms},
      {"bomb-whole", &bomb_srv, false, 0ms},
      {"log-stream", &log_srv, true, 0ms},
      {"log-whole", &log_srv, false, 0ms},
  };
  for (const scenario& sc : all) {
    if (!want(sc.name)) continue;
    std::string url = sc.srv->url();
    http::session_options o{.timeout = {.total = sc.total}};
    result r = measure([&](http::session& s) { return sc.stream ? streamed(s, url) : whole(s, url); }, std::move(o));
    std::printf("%-20s %8.3f s  longest loop step %8.1f ms (cpu %7.1f ms)  %s\n", sc.name.c_str(), r.seconds, r.longest_gap_ms,
                r.longest_cpu_ms, r.outcome.c_str());
    std::fflush(stdout);
  }
}
