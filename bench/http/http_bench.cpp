// aw::http throughput against a local nginx: `concurrency` tasks, each doing GETs in turn on
// one session's keep-alive pool (aiohttp's and httpx's usual shape). One benchmark iteration
// is `per_round` requests; requests/s and bytes/s are Google Benchmark's counters.
//   http_small  64 concurrent GETs of a 100-byte file
//   http_1mib   16 concurrent GETs of a 1 MiB file, each body read whole (32 per task a round)
#include <aw/aw.hpp>
#include <aw/http.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace {

std::string base_url() {
  const char* u = std::getenv("AW_HTTP_BENCH_URL");
  return u ? u : "http://127.0.0.1:18080";
}

void run_gets(benchmark::State& state, const std::string& path, int concurrency, int per_task) {
  const std::string url = base_url() + path;
  std::size_t bytes = 0, requests = 0;
  bool failed = false;
  aw::run([&]() -> aw::task<> {
    aw::http::session_options options;
    options.limit = static_cast<std::size_t>(concurrency);
    co_await aw::async_with(aw::http::session(std::move(options)), [&](aw::http::session& s) -> aw::task<> {
      for (auto _ : state) {
        auto start = std::chrono::steady_clock::now();
        co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
          for (int c = 0; c < concurrency; ++c)
            tg.start_soon([&]() -> aw::task<> {
              for (int i = 0; i < per_task; ++i) {
                aw::http::response r = co_await s.get(url);
                if (r.status() != 200) failed = true;
                bytes += r.body().size();
                ++requests;
              }
            });
          co_return;
        });
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    });
  });
  if (failed) state.SkipWithError("a request did not answer 200");
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void http_small(benchmark::State& state) { run_gets(state, "/small", 64, 100); }
// 32 bodies per task and round (512 MiB): each round ends when its slowest task does, and with
// 4 per task that tail was about a tenth of the round; the peers and wrk have one tail per run.
void http_1mib(benchmark::State& state) { run_gets(state, "/1mib", 16, 32); }

}  // namespace

BENCHMARK(http_small)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(http_1mib)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_MAIN();
