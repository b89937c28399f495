// aw::pg workloads, the same as bench/pg/asyncpg_bench.py runs with asyncpg:
//   pg_select1     SELECT 1 through a pool of 8 connections, 64 concurrent tasks
//   pg_fetchrow    a primary-key lookup (fetchrow) through the same pool
//   pg_select1_multiplexed, pg_fetchrow_multiplexed
//                  the same through a pool with multiplex set: the 64 tasks' statements are
//                  pipelined on the 8 connections (asyncpg's side is its pg_select1 and
//                  pg_fetchrow: it has no such mode)
//   pg_fetch1000   1,000 rows of mixed types fetched and decoded, one connection
//   pg_executemany 100,000 INSERTs with executemany, one connection
//   pg_copy        100,000 rows with copy_records_to_table (COPY FROM STDIN, binary), one connection
//   pg_pipeline    the pg_fetchrow lookup from 64 tasks sharing ONE connection (pipelined;
//                  asyncpg allows one query at a time on a connection, so its side awaits each)
// The server: AW_PG_BENCH_DSN (bench/pg/compare starts one and creates the table
// aw_bench_rows). Each benchmark times only its workload (manual time), not connecting;
// items_per_second is the figure compare reports.
#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

std::string dsn() {
  const char* d = std::getenv("AW_PG_BENCH_DSN");
  return d ? d : "host=127.0.0.1 port=25434 user=postgres dbname=postgres";
}

constexpr int pool_size = 8;
constexpr int tasks = 64;

// Runs `per_query(pool, i)` total times from 64 tasks sharing a pool of 8; gives seconds.
template <class Query>
double through_pool(int total, bool multiplex, Query per_query) {
  return aw::run([&]() -> aw::task<double> {
    aw::pg::pool_options o;
    o.min_size = pool_size;
    o.max_size = pool_size;
    o.multiplex = multiplex;
    double seconds = 0;
    co_await aw::async_with(aw::pg::create_pool(dsn(), o), [&](aw::pg::pool& pool) -> aw::task<> {
      int next = 0;
      auto start = std::chrono::steady_clock::now();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int t = 0; t < tasks; ++t)
          tg.start_soon([&]() -> aw::task<> {
            while (next < total) co_await per_query(pool, next++);
          });
        co_return;
      });
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    co_return seconds;
  });
}

void select1(benchmark::State& state, bool multiplex) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    double s = through_pool(n, multiplex, [](aw::pg::pool& p, int) -> aw::task<> {
      auto v = co_await p.fetchval<std::int32_t>("SELECT 1");
      benchmark::DoNotOptimize(v);
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void fetchrow(benchmark::State& state, bool multiplex) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    double s = through_pool(n, multiplex, [](aw::pg::pool& p, int i) -> aw::task<> {
      auto r = co_await p.fetchrow("SELECT id, name, value, created FROM aw_bench_rows WHERE id = $1", 1 + i % 1000);
      benchmark::DoNotOptimize(r->get<std::string>(1));
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void pg_select1(benchmark::State& state) { select1(state, false); }
void pg_fetchrow(benchmark::State& state) { fetchrow(state, false); }
void pg_select1_multiplexed(benchmark::State& state) { select1(state, true); }
void pg_fetchrow_multiplexed(benchmark::State& state) { fetchrow(state, true); }

// On one connection: gives seconds for `body(conn)`.
template <class Body>
double on_connection(Body body) {
  return aw::run([&]() -> aw::task<double> {
    double seconds = 0;
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> { seconds = co_await body(c); });
    co_return seconds;
  });
}

void pg_fetch1000(benchmark::State& state) {
  const int rounds = static_cast<int>(state.range(0));
  for (auto _ : state) {
    double s = on_connection([&](aw::pg::connection& c) -> aw::task<double> {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < rounds; ++i) {
        auto rows = co_await c.fetch("SELECT id, name, value, created, payload FROM aw_bench_rows");
        for (aw::pg::row r : rows) {
          auto t = r.as<std::int32_t, std::string, double, aw::pg::timestamptz, std::optional<std::string>>();
          benchmark::DoNotOptimize(t);
        }
      }
      co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * rounds * 1000);
}

void pg_executemany(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::tuple<std::int32_t, std::string, double>> rows;
  for (int i = 0; i < n; ++i) rows.emplace_back(i, "row " + std::to_string(i), i * 0.5);
  for (auto _ : state) {
    double s = on_connection([&](aw::pg::connection& c) -> aw::task<double> {
      co_await c.execute("CREATE TEMP TABLE many (id int, name text, value float8)");
      auto start = std::chrono::steady_clock::now();
      co_await c.executemany("INSERT INTO many VALUES ($1, $2, $3)", rows);
      co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void pg_copy(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::tuple<std::int32_t, std::string, double>> rows;
  for (int i = 0; i < n; ++i) rows.emplace_back(i, "row " + std::to_string(i), i * 0.5);
  for (auto _ : state) {
    double s = on_connection([&](aw::pg::connection& c) -> aw::task<double> {
      co_await c.execute("CREATE TEMP TABLE copied (id int, name text, value float8)");
      auto start = std::chrono::steady_clock::now();
      co_await c.copy_records_to_table("copied", rows);
      co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void pg_pipeline(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  static constexpr const char* sql = "SELECT id, name, value, created FROM aw_bench_rows WHERE id = $1";
  for (auto _ : state) {
    double s = on_connection([&](aw::pg::connection& c) -> aw::task<double> {
      (void)co_await c.fetchrow(sql, 1);  // prepared before the clock starts, as the pool's are
      int next = 0;
      auto start = std::chrono::steady_clock::now();
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int t = 0; t < tasks; ++t)
          tg.start_soon([&]() -> aw::task<> {
            while (next < n) {
              auto r = co_await c.fetchrow(sql, 1 + next++ % 1000);
              benchmark::DoNotOptimize(r->get<std::string>(1));
            }
          });
        co_return;
      });
      co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

BENCHMARK(pg_select1)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_fetchrow)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_select1_multiplexed)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_fetchrow_multiplexed)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_fetch1000)->Arg(200)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_executemany)->Arg(100000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_copy)->Arg(100000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(pg_pipeline)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
