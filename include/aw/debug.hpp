// The debug mode: the tutorial's debugging tips, built in. Off by default and free when
// off (one predictable branch per hook). Turn it on with AW_DEBUG=1 in the environment
// (read when a loop starts) or aw::set_debug(true). Reports go to stderr, one line each,
// prefixed "aw:".
//
// With the mode on:
//   - every enter and exit through async_with, enter and exit_stack is logged: manager
//     type, time spent inside, and the exception that left the block, if any;
//   - a step (one resumption of a coroutine by the loop) that blocks the loop for 100 ms
//     or more is reported with the coroutine that ran it (asyncio's slow-callback warning);
//   - a task created but never awaited is reported when it is dropped, and so is a manager
//     made by the library (aw::files::open, s.get(url), pool.acquire(), conn.transaction(),
//     a generator-form manager, ...) and dropped without being entered;
//   - when the loop shuts down, tasks that were created but never awaited, managers created
//     but never entered, and managers entered but never exited, are reported;
//   - a module's events, which the core names only as text (detail::debug_event): each
//     request of aw::http, at its start and its end (aw/http/event_hooks.hpp).
// Coroutine names come from the symbol tables of the executable and of the libraries (.symtab,
// read from the files; -rdynamic is not needed). A stripped binary has none: its coroutines
// are reported by address (a coroutine's body is a local symbol, which -rdynamic does not
// export either).
#pragma once

#include <aw/detail/debug.hpp>

#include <chrono>
#include <cstddef>

namespace aw {

inline void set_debug(bool on) noexcept { detail::debug_on = on; }
inline bool debug_enabled() noexcept { return detail::debug_on; }

// What the shutdown report found, also returned for tests and tools.
struct debug_counts {
  std::size_t tasks_never_awaited = 0;
  std::size_t managers_never_exited = 0;
  std::size_t slow_steps = 0;
  std::size_t managers_never_entered = 0;
};
debug_counts debug_report_counts() noexcept;

// The slow-step threshold (default 100 ms).
void set_slow_step_threshold(std::chrono::nanoseconds threshold) noexcept;

}  // namespace aw
