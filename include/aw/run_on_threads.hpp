// aw::run_on_threads: aw::run on n threads at once, each thread with a loop of its own
// running fn(index), for a server that uses every core (one loop per core, each with its
// own listening socket on a shared port: SO_REUSEPORT).
//
//   aw::run_on_threads(std::thread::hardware_concurrency(), [&](std::size_t i) -> aw::task<> {
//     co_await serve_on_this_core(i);
//   });
//
// - fn(index) (index 0 to n-1; it returns aw::task<>) runs on thread `index`, in a loop of
//   that thread; the call returns when every thread has finished and has been joined. fn
//   is called on the threads, at the same time: it must be safe to call so (a lambda that
//   only reads its captures is). The loops share nothing: what they exchange needs the
//   cross-thread tools (aw::loop::call_soon_threadsafe, atomics, locks).
// - The threads are siblings in a task group: when one fails, the others are cancelled
//   (their waits raise aw::cancelled and their exits run), as a trio nursery cancels its
//   children when one fails; once all have finished, run_on_threads raises an
//   aw::exception_group of the failures (each thread's own exception, in index order).
//   A thread that ends normally does not stop the others.
// - SIGINT and SIGTERM (where the program left their default action) cancel every thread's
//   task; when all have finished, the process ends as the signal would have ended it, as
//   with aw::run. One handler serves all: it wakes the calling thread, which runs a small
//   loop of its own while it waits and cancels each thread's loop through
//   loop::call_soon_threadsafe, so no two loops ever contend for the signal.
// - Like aw::run, it is not called from inside a loop (std::logic_error); n == 0 is
//   std::invalid_argument. The backend choice (AW_BACKEND) and the debug mode apply to every loop.
#pragma once

#include <aw/task.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

namespace aw {
namespace detail {
void run_on_threads(std::size_t n, const std::function<task<>(std::size_t)>& fn);
}

template <class F>
  requires std::invocable<const F&, std::size_t> && std::same_as<std::invoke_result_t<const F&, std::size_t>, task<>>
void run_on_threads(std::size_t n, const F& fn) {
  // By reference: every thread calls the one callable (which outlives the threads).
  detail::run_on_threads(n, [&fn](std::size_t i) { return std::invoke(fn, i); });
}

}  // namespace aw
