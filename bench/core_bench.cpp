// Core micro-benchmarks: the cost of `async with` in each of its forms, of awaiting a task,
// of a switch through the loop, and of a timer. bench/compare runs the same workloads in
// Python asyncio (bench/python/core_bench.py) and prints them side by side; the workload
// names here are the names of its lines.
//
// Every benchmark runs its iterations inside one coroutine under one aw::run, so the
// numbers exclude creating and tearing down the loop. Each reports `per_op`, the CPU time
// of one operation (an iteration may hold several: sleep0_pingpong counts two switches per
// iteration, timers_100k counts 100000 timers); bench/compare reads that counter. CPU time
// rather than wall time: the machines are shared and noisy, and the Python peer measures
// the same way (time.thread_time_ns).
#include <aw/async_with.hpp>
#include <aw/context_manager.hpp>
#include <aw/enter.hpp>
#include <aw/exit_stack.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/trace.hpp>

#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Reports the time of one operation when an iteration performs `ops` of them.
void report_per_op(benchmark::State& state, double ops) {
  state.counters["per_op"] = benchmark::Counter(ops, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------------------------------
// Bench-local helper, not a library facility: a minimal fan-out, because the library has
// no task group yet. start() schedules a task on the loop (it starts on a later turn, like
// asyncio.create_task); join() resumes its awaiter once every started task has finished,
// then frees their frames. No exceptions, no cancellation: the tasks here do neither.
class fan_out {
 public:
  explicit fan_out(std::size_t expected = 0) { frames_.reserve(expected); }
  fan_out(const fan_out&) = delete;
  fan_out& operator=(const fan_out&) = delete;
  ~fan_out() { release(); }

  void start(aw::task<> t) {
    std::coroutine_handle<> h = child(std::move(t), *this).release();
    frames_.push_back(h);
    ++pending_;
    aw::loop::current().schedule(h);
  }

  struct join_awaiter {
    fan_out* self;
    bool await_ready() const noexcept { return self->pending_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { self->waiter_ = h; }
    void await_resume() const noexcept { self->release(); }
  };
  join_awaiter join() noexcept { return {this}; }

 private:
  static aw::task<> child(aw::task<> t, fan_out& g) {
    co_await std::move(t);
    if (--g.pending_ == 0 && g.waiter_) aw::loop::current().schedule(std::exchange(g.waiter_, nullptr));
  }
  void release() noexcept {
    for (std::coroutine_handle<> h : frames_) h.destroy();  // each is suspended at its end
    frames_.clear();
  }

  std::vector<std::coroutine_handle<>> frames_;
  std::size_t pending_ = 0;
  std::coroutine_handle<> waiter_;
};
// ---------------------------------------------------------------------------------------

// A class-based manager whose aenter and aexit are coroutines (Python: a class with
// `async def __aenter__` / `async def __aexit__`). It is its own resource's owner.
struct manager {
  int resource = 0;
  aw::task<int&> aenter() { co_return resource; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

// The generator form (Python: @asynccontextmanager, `yield 0`).
aw::context_manager<int> generator_manager() { co_yield 0; }

aw::task<> trivial() { co_return; }

// async_with: `async with m as r: <trivial body>`.
void async_with(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    manager m;
    auto body = [](int& r) -> aw::task<> {
      benchmark::DoNotOptimize(r);
      co_return;
    };
    for (auto _ : state) co_await aw::async_with(m, body);
  });
  report_per_op(state, 1);
}

// async_with_handwritten: the same block written out by hand, the zero-cost reference.
void async_with_handwritten(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    manager m;
    auto body = [](int& r) -> aw::task<> {
      benchmark::DoNotOptimize(r);
      co_return;
    };
    for (auto _ : state) {
      int& r = co_await m.aenter();
      std::exception_ptr e;
      try {
        co_await body(r);
      } catch (...) {
        e = std::current_exception();
      }
      co_await m.aexit(e);
      if (e) std::rethrow_exception(e);
    }
  });
  report_per_op(state, 1);
}

// async_with_generator: `async with cm() as r: <trivial body>` with an @asynccontextmanager.
void async_with_generator(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    auto body = [](int& r) -> aw::task<> {
      benchmark::DoNotOptimize(r);
      co_return;
    };
    for (auto _ : state) co_await aw::async_with(generator_manager(), body);
  });
  report_per_op(state, 1);
}

// enter: a task whose rest is the body: `auto& r = co_await aw::enter(m);` then return.
aw::task<> enter_once(manager& m) {
  int& r = co_await aw::enter(m);
  benchmark::DoNotOptimize(r);
}

void enter(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    manager m;
    for (auto _ : state) co_await enter_once(m);
  });
  report_per_op(state, 1);
}

// enter_handwritten: what `enter` does, written by hand in the same shape: a task that
// enters, runs the rest of its body, exits, then returns. `enter` is held to this.
aw::task<> enter_handwritten_once(manager& m) {
  int& r = co_await m.aenter();
  std::exception_ptr e;
  try {
    benchmark::DoNotOptimize(r);
  } catch (...) {
    e = std::current_exception();
  }
  co_await m.aexit(e);
  if (e) std::rethrow_exception(e);
}

void enter_handwritten(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    manager m;
    for (auto _ : state) co_await enter_handwritten_once(m);
  });
  report_per_op(state, 1);
}

// exit_stack_10: one stack enters 10 class managers, then closes (exits all 10).
void exit_stack_10(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    manager ms[10];
    for (auto _ : state) {
      aw::exit_stack stack;
      for (manager& m : ms) {
        int& r = co_await stack.enter_context(m);
        benchmark::DoNotOptimize(r);
      }
      co_await stack.aclose();
    }
  });
  report_per_op(state, 1);
}

// await_task: create, await and destroy a trivial task.
void await_task(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    for (auto _ : state) {
      co_await trivial();
      benchmark::ClobberMemory();
    }
  });
  report_per_op(state, 1);
}

// sleep0_pingpong: two tasks hand over through the loop with aw::yield() (asyncio.sleep(0)).
// An iteration is two switches: the main task yields, then the partner does.
aw::task<> partner(const bool& stop) {
  while (!stop) co_await aw::yield();
}

void sleep0_pingpong(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    bool stop = false;
    fan_out g(1);
    g.start(partner(stop));
    co_await aw::yield();  // the partner is running: from here on every turn runs both
    for (auto _ : state) co_await aw::yield();
    stop = true;
    co_await g.join();
  });
  report_per_op(state, 2);
}

// The cost of the trace when on (aw/trace.hpp): sleep0_pingpong and async_with with a trace
// of the run. Each op appends `records_per_op` records; (traced - untraced) / records_per_op
// is the cost of one record. The file is written after the timed loop, when the run ends.
std::string trace_path() { return (std::filesystem::temp_directory_path() / "aw_core_bench_trace.json").string(); }

void sleep0_pingpong_traced(benchmark::State& state) {
  const std::string path = trace_path();
  std::size_t records = 0;
  aw::run(
      [&]() -> aw::task<> {
        bool stop = false;
        fan_out g(1);
        g.start(partner(stop));
        co_await aw::yield();
        const std::size_t before = aw::trace_report_counts().recorded;
        for (auto _ : state) co_await aw::yield();
        records = aw::trace_report_counts().recorded - before;
        stop = true;
        co_await g.join();
      },
      aw::loop_options{.trace = path.c_str()});
  std::filesystem::remove(path);
  report_per_op(state, 2);
  state.counters["records_per_op"] = static_cast<double>(records) / (2.0 * static_cast<double>(state.iterations()));
}

void async_with_traced(benchmark::State& state) {
  const std::string path = trace_path();
  std::size_t records = 0;
  aw::run(
      [&]() -> aw::task<> {
        manager m;
        auto body = [](int& r) -> aw::task<> {
          benchmark::DoNotOptimize(r);
          co_return;
        };
        const std::size_t before = aw::trace_report_counts().recorded;
        for (auto _ : state) co_await aw::async_with(m, body);
        records = aw::trace_report_counts().recorded - before;
      },
      aw::loop_options{.trace = path.c_str()});
  std::filesystem::remove(path);
  report_per_op(state, 1);
  state.counters["records_per_op"] = static_cast<double>(records) / static_cast<double>(state.iterations());
}

// timers_100k: 100000 tasks sleep until one near deadline. An iteration's time is the CPU
// time of one round: starting the tasks and arming their timers, then firing the timers,
// resuming and finishing the tasks and freeing them. Waiting for the deadline, the sleep
// itself, costs no CPU, so what remains is the overhead of the timers.
constexpr int timer_count = 100'000;

std::chrono::nanoseconds thread_cpu_time() noexcept {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

aw::task<> sleeper(aw::clock::time_point deadline) { co_await aw::sleep_until(deadline); }

// One round; returns its CPU time, or a negative duration when the deadline passed before
// every timer was armed (then they were not all pending at once, and `lead` grows).
aw::task<std::chrono::nanoseconds> timer_round(fan_out& g, aw::clock::duration& lead) {
  const auto c0 = thread_cpu_time();
  const auto t0 = aw::now();
  const auto deadline = t0 + lead;
  for (int i = 0; i < timer_count; ++i) g.start(sleeper(deadline));
  co_await aw::yield();  // scheduled after every sleeper: when this resumes, all are armed
  const auto t1 = aw::now();
  co_await g.join();
  const auto c1 = thread_cpu_time();
  if (t1 >= deadline) {
    lead = std::max(2 * lead, 3 * (t1 - t0) / 2);
    co_return std::chrono::nanoseconds(-1);
  }
  co_return c1 - c0;
}

void timers_100k(benchmark::State& state) {
  aw::run([&]() -> aw::task<> {
    fan_out g(timer_count);
    aw::clock::duration lead = 20ms;
    co_await timer_round(g, lead);  // warm-up: grows the ready queue, timer heap and frame cache
    for (auto _ : state) {
      std::chrono::nanoseconds busy;
      while ((busy = co_await timer_round(g, lead)) < std::chrono::nanoseconds::zero()) {
      }
      state.SetIterationTime(std::chrono::duration<double>(busy).count());
    }
  });
  report_per_op(state, timer_count);
}

}  // namespace

BENCHMARK(async_with);
BENCHMARK(async_with_handwritten);
BENCHMARK(async_with_generator);
BENCHMARK(enter);
BENCHMARK(enter_handwritten);
BENCHMARK(exit_stack_10);
BENCHMARK(await_task);
BENCHMARK(sleep0_pingpong);
BENCHMARK(sleep0_pingpong_traced);
BENCHMARK(async_with_traced);
// Manual time: the CPU time of the rounds (see above).
BENCHMARK(timers_100k)->UseManualTime()->Iterations(4)->Unit(benchmark::kMillisecond);

#include "bench_main.hpp"
