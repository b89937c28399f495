// The main() of every Google Benchmark binary in bench/: records which backend and
// compiler the numbers come from (bench/compare prints them), then runs the benchmarks.
// Include it once, at the end of a benchmark's .cpp.
#pragma once

#include <aw/loop.hpp>

#include <benchmark/benchmark.h>

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  {
    aw::loop probe;  // which backend the benchmarks get (AW_BACKEND can force one)
    benchmark::AddCustomContext("aw_backend", probe.backend_name());
  }
#if defined(__clang__)
  benchmark::AddCustomContext("aw_compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("aw_compiler", "g++ " __VERSION__);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
