// Runs a test's main task on virtual time (aw::testing::virtual_clock) that jumps to the
// next deadline as soon as every task waits: the test's sleeps and deadlines take no real
// time, and a task woken by a deadline sees aw::now() equal to it, so timings are asserted
// exactly. Tests whose waits involve a worker thread or a peer outside the loop keep the
// real clock (the virtual one would jump past them), and so do the few that test it.
#pragma once

#include <aw/run.hpp>
#include <aw/testing/virtual_clock.hpp>

#include <chrono>
#include <exception>
#include <utility>

namespace aw_test {

// A clock whose time starts at zero and jumps as soon as every task waits.
inline constexpr aw::testing::virtual_clock::options autojump{.autojump_threshold = std::chrono::seconds(0)};

// Runs on `clock`, which the test reads after the run (clock.now(): when the run ended).
template <class F>
auto run_virtual(aw::testing::virtual_clock& clock, F&& make_main) {
  return aw::run(std::forward<F>(make_main), {.clock = &clock});
}

template <class F>
auto run_virtual(F&& make_main) {
  aw::testing::virtual_clock clock(autojump);
  return run_virtual(clock, std::forward<F>(make_main));
}

// run_virtual, giving the exception the task ended with (null if none).
template <class... A>
std::exception_ptr run_virtual_catching(A&&... a) {
  try {
    run_virtual(std::forward<A>(a)...);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

}  // namespace aw_test
