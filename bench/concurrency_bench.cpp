// Structured-concurrency micro-benchmarks: spawning and joining task group
// children, a cancel scope with a deadline around a trivial body, hand-offs of a lock
// between two tasks, a free lock taken and released (fair and fast), and items through a
// memory channel. bench/compare runs the same
// workloads in asyncio, anyio and trio (bench/python/concurrency_bench.py) and prints them
// side by side; the benchmark names here are the names of its lines.
//
// Conventions as in core_bench.cpp: every benchmark runs its iterations inside one
// coroutine under one aw::run (creating the loop is not measured), and reports `per_op`,
// the CPU time of one operation (an iteration may hold many: taskgroup_100k counts 100000
// tasks per iteration); bench/compare reads that counter.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/to_thread.hpp>

#include <aw/lock.hpp>
#include <aw/memory_channel.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace {

using namespace std::chrono_literals;

// Reports the time of one operation when an iteration performs `ops` of them.
void report_per_op(benchmark::State& state, double ops) {
  state.counters["per_op"] = benchmark::Counter(ops, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

aw::task<> trivial() { co_return; }

// taskgroup_100k: one task group starts 100000 trivial children with start_soon, then the
// block ends and waits for them. One op is one child: start it, run it, join it, free it.
constexpr int group_children = 100'000;

void taskgroup_100k(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    auto block = [](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < group_children; ++i) tg.start_soon(trivial);
      co_return;
    };
    {
      aw::task_group warm_up;  // grows the loop's ready queue and the frame cache once
      co_await aw::async_with(warm_up, block);
    }
    for (auto _ : state) {
      aw::task_group g;  // a group is entered once: a new one per round
      co_await aw::async_with(g, block);
    }
  });
  report_per_op(state, group_children);
}

// move_on_after: `with move_on_after(1 hour): await trivial()`. The deadline never passes;
// one op is entering and leaving the scope (arming and disarming its timer) around the
// body task.
void move_on_after(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    auto body = [] { return trivial(); };
    for (auto _ : state) {
      bool completed = co_await aw::move_on_after(1h, body);
      benchmark::DoNotOptimize(completed);
    }
  });
  report_per_op(state, 1);
}

// lock_handoff: two tasks of a task group take turns with one lock. Each acquires, then
// releases, then acquires again: the other task is already waiting, so release() hands
// the lock to it and the next acquire() waits until the other task released. Every
// acquisition is a hand-off from the other task (one switch through the loop). One op is
// one hand-off; an iteration is a round of handoff_round of them.
constexpr int handoff_round = 10'000;

aw::task<> lock_worker(aw::lock& lk, int acquisitions) {
  for (int i = 0; i < acquisitions; ++i) {
    co_await lk.acquire();
    co_await lk.release();
  }
}

void lock_handoff(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    aw::lock lk;
    auto block = [&lk](aw::task_group& tg) -> aw::task<> {
      // The block holds the lock until both workers wait for it, so that from the first
      // acquisition on each one is a hand-off.
      co_await lk.acquire();
      tg.start_soon(lock_worker, std::ref(lk), handoff_round / 2);
      tg.start_soon(lock_worker, std::ref(lk), handoff_round / 2);
      while (lk.tasks_waiting() < 2) co_await aw::yield();
      co_await lk.release();
    };
    for (auto _ : state) {
      aw::task_group g;
      co_await aw::async_with(g, block);
    }
  });
  report_per_op(state, handoff_round);
}

// lock_acquire_release, lock_acquire_release_fast: one task acquires a free lock and
// releases it, nobody else around. The default (fair) acquire yields to the loop once,
// holding the lock, so that a task taking it in a loop lets the others queue (anyio's
// default, trio's checkpoint); aw::fast_acquire skips that yield (anyio's
// fast_acquire=True). One op is one acquire and one release.
void acquire_release(benchmark::State& state, aw::lock& lk) {
  aw::run([&]() -> aw::task<> {
    for (auto _ : state) {
      co_await lk.acquire();
      co_await lk.release();
    }
  });
  report_per_op(state, 1);
}

void lock_acquire_release(benchmark::State& state) {
  aw::lock lk;
  acquire_release(state, lk);
}

void lock_acquire_release_fast(benchmark::State& state) {
  aw::lock lk(aw::fast_acquire);
  acquire_release(state, lk);
}

// channel_1m: a producer task sends 1000000 ints through a memory channel of capacity 64,
// then closes its half; a consumer task receives until the end of the stream. One op is
// one item.
constexpr int channel_items = 1'000'000;
constexpr std::size_t channel_capacity = 64;

aw::task<> producer(aw::send_channel<int> tx, int items) {
  for (int i = 0; i < items; ++i) co_await tx.send(i);
  tx.close();  // the end of the stream
}

aw::task<> consumer(aw::receive_channel<int> rx, long long& sum) {
  while (auto item = co_await rx.next()) sum += *item;
}

void channel_1m(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    long long sum = 0;
    auto block = [&sum](aw::task_group& tg) -> aw::task<> {
      auto [tx, rx] = aw::memory_channel<int>(channel_capacity);
      tg.start_soon(producer, std::move(tx), channel_items);
      tg.start_soon(consumer, std::move(rx), std::ref(sum));
      co_return;
    };
    for (auto _ : state) {
      aw::task_group g;
      co_await aw::async_with(g, block);
      benchmark::DoNotOptimize(sum);
    }
  });
  report_per_op(state, channel_items);
}

// to_thread_roundtrip: `await to_thread(noop)`, one after another: take a token of the
// default limiter, hand the job to a waiting worker, wake it, post the completion back, wake
// the loop. The loop's thread sleeps meanwhile, so per_op is wall-clock time here (the
// Python peers measure it the same way).
void to_thread_roundtrip(benchmark::State& state) {
  std::int64_t elapsed_ns = 0;
  aw::run([&]() -> aw::task<> {
    co_await aw::to_thread([] {});  // starts a worker
    auto start = std::chrono::steady_clock::now();
    for (auto _ : state) co_await aw::to_thread([] {});
    elapsed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  });
  state.counters["per_op"] = benchmark::Counter(static_cast<double>(elapsed_ns) * 1e-9 / static_cast<double>(state.iterations()));
}

}  // namespace

BENCHMARK(taskgroup_100k)->Unit(benchmark::kMillisecond);
BENCHMARK(move_on_after);
BENCHMARK(to_thread_roundtrip)->UseRealTime();
BENCHMARK(lock_handoff)->Unit(benchmark::kMicrosecond);
BENCHMARK(lock_acquire_release);
BENCHMARK(lock_acquire_release_fast);
BENCHMARK(channel_1m)->Unit(benchmark::kMillisecond);

#include "bench_main.hpp"
