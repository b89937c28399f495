// Hooks of the trace export (AW_TRACE, aw/trace.hpp). Each call site tests detail::trace_on
// first, so tracing costs one predictable branch when it is off. The hooks append fixed-size
// records to the running loop's ring; turning them into Chrome trace events (tracks, spans,
// flows) happens once, when the loop ends.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <typeinfo>
#include <utility>

namespace aw::detail {

struct task_context;
struct scope_state;
class thread_job;

// Relaxed atomic: set from any thread (aw::set_trace, a loop started with loop_options::trace),
// read on the hot paths as a plain load. The records go to the loop of the calling thread,
// when that loop traces.
inline std::atomic<bool> trace_on{false};

enum class trace_kind : std::uint8_t { sleep, yield, fd, uring, sync, worker, join, start };

// A task suspends in a wait of `kind` (`what`: a string literal naming the primitive, or null);
// `h` is the coroutine the wait resumes.
void trace_wait(task_context* ctx, std::coroutine_handle<> h, trace_kind kind, const char* what) noexcept;
// A task group in task `parent` made a child whose first step resumes `h`, named by `type`
// (demangled) or by the function at `code`; the child's context, which lives in its frame,
// is made at that first step (trace_task_adopt).
void trace_task_start_pending(std::coroutine_handle<> h, task_context* parent, const std::type_info* type, const void* code) noexcept;
void trace_task_adopt(task_context* child, std::coroutine_handle<> h) noexcept;
void trace_task_end(task_context* ctx) noexcept;
// A manager is entered: the span's id for trace_exit (0 when the loop does not trace).
std::uint32_t trace_enter(const std::type_info& manager, std::coroutine_handle<> coroutine) noexcept;
template <class M>
std::uint32_t trace_enter_manager(M& m) noexcept {
  if constexpr (requires { m.coroutine(); })
    return trace_enter(typeid(M), m.coroutine());
  else
    return trace_enter(typeid(M), {});
}
void trace_exit(std::uint32_t span, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised) noexcept;
void trace_cancel(const scope_state* scope) noexcept;
// Cancellation interrupts the wait `ctx` is suspended in.
void trace_interrupt(const task_context* ctx) noexcept;
// Worker side of a thread job: when fn started and ended, on which thread (worker thread).
void trace_job_ran(thread_job& job, std::int64_t start_ns, std::int64_t end_ns) noexcept;
std::int64_t trace_now_ns() noexcept;
// The loop's thread: the job's outcome is back.
void trace_job_done(const thread_job& job) noexcept;

// A module's wait (an HTTP transfer, a database call), which the loop cannot name: a span
// `label` of kind `kind` (a string literal) in the task whose step begins it, until
// trace_span_end (`raised`: an error ended it), which may come from any step of the loop.
// A cancellation that interrupts a wait inside it marks it cancelled.
std::uint32_t trace_span_begin(const char* kind, const std::string& label) noexcept;
void trace_span_end(std::uint32_t span, bool raised) noexcept;

// One such span, ended at the latest when destroyed (raised if an exception is unwinding).
// Off, it costs the branch on trace_on: the label is only built (label()) when tracing.
class trace_span {
 public:
  trace_span() noexcept = default;
  template <class F>
  trace_span(const char* kind, F&& label) noexcept {
    if (trace_on) [[unlikely]]
      begin(kind, label);
  }
  trace_span(const trace_span&) = delete;
  trace_span& operator=(const trace_span&) = delete;
  ~trace_span() {
    if (id_) [[unlikely]]
      trace_span_end(id_, std::uncaught_exceptions() > unwinding_);
  }

  template <class F>
  void begin(const char* kind, F& label) noexcept {
    if (id_) trace_span_end(id_, false);
    id_ = 0;
    unwinding_ = std::uncaught_exceptions();
    try {
      id_ = trace_span_begin(kind, label());
    } catch (...) {  // no memory for the label
      id_ = trace_span_begin(kind, std::string());
    }
  }
  void end(bool raised) noexcept {
    if (id_) [[unlikely]]
      trace_span_end(std::exchange(id_, 0), raised);
  }

 private:
  std::uint32_t id_ = 0;
  int unwinding_ = 0;
};

// The loop: a step resumes `h`, and ends.
void trace_step_begin(std::coroutine_handle<> h) noexcept;
void trace_step_end() noexcept;
// The loop of this thread starts (with its own options: null path for the process-wide one)
// and ends, writing the file.
void trace_loop_start(const char* path, std::size_t ring_events, std::uint64_t loop_id);
void trace_loop_end() noexcept;
// aw::run's main task `main`, whose first step resumes `first` (the wrapper aw::run runs).
void trace_main_task(task_context* root, std::coroutine_handle<> main, std::coroutine_handle<> first) noexcept;

}  // namespace aw::detail
