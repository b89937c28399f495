// Trace export: what the loop did, as a timeline. Off by default and free when off (one
// predictable branch per hook). Turn it on with AW_TRACE=path.json in the environment (read
// when a loop starts), aw::set_trace(path), or aw::run(main, aw::loop_options{.trace = path}).
// The file is in the Chrome trace event format: open it in https://ui.perfetto.dev or
// chrome://tracing, or draw it offline with scripts/trace-view path.json > timeline.html.
//
// What it shows, per loop (a process track, "aw loop N"):
//   - a track per task, named after its coroutine (the main task, each task group child;
//     a child's name says which task started it, and tracks are sorted under their parent),
//     with each step (one resumption by the loop) as a slice "step";
//   - every manager entered through async_with, aw::enter or an exit_stack, as a span from
//     the step that entered it to the step that finished its exit: type name, and the
//     exception that left the block or that the exit raised, if any;
//   - every wait between two steps as a span named by its kind (sleep, yield, fd, io_uring,
//     lock / event / channel / ..., to_thread, task group join, start), "(cancelled)" when
//     cancellation interrupted it, with an instant event at the interruption; each cancel of
//     a scope as an instant event naming the scope and the task that entered it;
//   - to_thread jobs on their worker thread's track, with flow arrows from the waiting task
//     to the worker and back;
//   - the modules' waits as spans named by the module around the waits inside them, on the
//     track of the task that made them: "HTTP transfer GET <url>" (start to end),
//     "PostgreSQL query <statement's start>" (send to result), "Mongo call <what> <db.coll>"
//     (its job on the client's worker thread's track, under the same name, with flow
//     arrows), "(cancelled)" when cancellation interrupted a wait inside them.
// Spans are snapped to step boundaries so that they nest as Perfetto requires (a step is the
// innermost slice); their exact enter and exit times are in their arguments.
//
// Memory is bounded: each loop keeps its records in a ring (aw::set_trace's ring_events,
// default 262144 records of 40 bytes); when it is full the oldest records are dropped, and
// the file says how many (metadata "aw_dropped_records"). Nothing is written while the loop
// runs: the loop's thread writes the file when the loop ends, normally or by an exception out
// of aw::run, so a failing program's trace is complete too. With several loops (aw::run_on_threads)
// each ending loop adds its process to the file, which is rewritten (to a temporary file,
// then renamed) so that it is well formed at every moment.
#pragma once

#include <aw/detail/trace.hpp>

#include <cstddef>
#include <string>

namespace aw {

inline constexpr std::size_t default_trace_ring_events = std::size_t{1} << 18;

// Traces every loop started from now on into `path` (empty: stop). Loops already running are
// not affected. Several programs' runs in one process add to the same file.
void set_trace(std::string path, std::size_t ring_events = default_trace_ring_events);
bool trace_enabled() noexcept;

// What the running loop's ring holds, for tests and tools (zeros when it does not trace).
struct trace_counts {
  std::size_t recorded = 0;  // records appended since the loop started
  std::size_t dropped = 0;   // of those, overwritten by newer ones
  std::size_t capacity = 0;  // the ring's bound, in records
  std::size_t held = 0;      // records in the ring now (<= capacity)
};
trace_counts trace_report_counts() noexcept;

}  // namespace aw
