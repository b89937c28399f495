// aw::run: asyncio.run for C++. Creates a loop on this thread, runs the task to its end,
// returns its value or rethrows its exception, and tears the loop down.
//
//   aw::task<int> main_task();
//   int main() { return aw::run(main_task()); }
//   // or with a lambda, which aw::run keeps alive while its coroutine runs:
//   aw::run([&]() -> aw::task<> { co_await aw::sleep(10ms); });
//
// SIGINT and SIGTERM (where the program left their default action) cancel the main task:
// every wait raises aw::cancelled, every exit runs, and then the process ends as the
// signal would have ended it (status 130 for Ctrl-C in a shell), like asyncio.run.
// The backend is io_uring where the kernel allows it, epoll otherwise; AW_BACKEND=epoll
// or AW_BACKEND=io_uring forces one. AW_DEBUG=1 turns on the debug mode (aw/debug.hpp).
// Only one loop runs on a thread at a time; running aw::run inside a coroutine is an error.
//
// aw::run(main, aw::loop_options{...}) sets up the loop it creates (trio.run's keyword
// arguments): `.clock = &c` runs it on a virtual clock for tests (aw/testing/virtual_clock.hpp,
// trio.run(main, clock=MockClock())); `.trace = "run.json"` writes a timeline of the run
// (aw/trace.hpp). The name is loop_options, not run_options, because
// aw::run_options (aw/thread_pool.hpp) is what a thread pool's run() takes.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/detail/interrupts.hpp>
#include <aw/detail/trace.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <type_traits>

namespace aw {

namespace testing {
class virtual_clock;
}

// How aw::run sets up its loop.
struct loop_options {
  // The loop's clock for every deadline: null for the real one (CLOCK_MONOTONIC). The clock
  // must outlive the run and serve no other loop meanwhile.
  testing::virtual_clock* clock = nullptr;
  // Writes a trace of this run to the file (aw/trace.hpp), whatever AW_TRACE and
  // aw::set_trace say; null or empty: as they say. `trace_ring_events` bounds its records.
  const char* trace = nullptr;
  std::size_t trace_ring_events = std::size_t{1} << 18;
};

namespace detail {
// The loop runs this wrapper, not the main task itself: a task is done() as soon as it
// reaches its final suspend point, but the exits aw::enter registered run after that
// point; the wrapper resumes only when they have finished.
template <class T>
task<T> main_wrapper(task<T> main) {
  co_return co_await std::move(main);
}
}  // namespace detail

template <class T>
T run(task<T> main, loop_options options = {}) {
  if (loop::current_or_null()) throw std::logic_error("aw::run: a loop is already running on this thread (await the task instead)");
  if (!main) throw std::invalid_argument("aw::run: the task is empty (moved from)");
  loop l;
  l.set_clock(options.clock);
  if (options.trace && *options.trace) detail::trace_loop_start(options.trace, options.trace_ring_events, l.id());
  // The main task's context, inside a root scope (what SIGINT will cancel).
  detail::scope_state root_scope;
  detail::task_context root;
  root.scope = &root_scope;
  root_scope.owner = &root;
  detail::interrupt_guard interrupts(l, root_scope);
  const std::coroutine_handle<> main_handle = main.handle_for_trace();
  auto h = detail::main_wrapper(std::move(main)).release();
  h.promise().ctx_ = &root;
  if (detail::trace_on) [[unlikely]]
    detail::trace_main_task(&root, main_handle, h);
  struct frame_guard {
    std::coroutine_handle<> h;
    ~frame_guard() { h.destroy(); }  // before the loop: a suspended frame may hold timers
  } guard{h};
  l.run(h);
  interrupts.reraise_if_caught();
  return h.promise().take();
}

namespace detail {
// An awaitable that converts to the aw::task it names (an aw::async_with block).
template <class A>
concept converts_to_task = requires {
  typename std::remove_cvref_t<A>::task_type;
} && is_task_v<typename std::remove_cvref_t<A>::task_type> && std::convertible_to<A&&, typename std::remove_cvref_t<A>::task_type>;
}  // namespace detail

// aw::run(aw::async_with(m, body)): the block as the main task.
template <class A>
  requires detail::converts_to_task<A>
auto run(A&& block, loop_options options = {}) {
  return run(typename std::remove_cvref_t<A>::task_type(std::forward<A>(block)), options);
}

template <class F>
  requires std::invocable<F&> && (detail::is_task_v<std::invoke_result_t<F&>> || detail::converts_to_task<std::invoke_result_t<F&>>)
auto run(F&& make_main, loop_options options = {}) {
  // The callable outlives its coroutine: a lambda's captures live in the lambda object.
  return run(std::invoke(make_main), options);
}

}  // namespace aw
