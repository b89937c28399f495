// The trace export (AW_TRACE, aw/trace.hpp): the hooks, which append records to the running
// loop's ring (trace_ring.hpp), and the loop's start and end, which hand the ring to the writer.
#include <aw/detail/cancellation.hpp>
#include <aw/detail/debug.hpp>
#include <aw/detail/thread_job.hpp>
#include <aw/detail/trace.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/trace.hpp>

#include "trace_ring.hpp"

#include <cxxabi.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace aw {
namespace detail {
namespace {

thread_local std::unique_ptr<loop_trace> current;

struct global_trace {
  std::mutex mutex;
  std::string path;  // set_trace / AW_TRACE
  std::size_t ring_events = default_trace_ring_events;
  // The file as written so far: the events of every loop that ended, for `written_path`.
  std::string written_path;
  std::string events;
  std::size_t dropped = 0;
  // Loops tracing now: the hooks stay armed while one does, or while `path` is set, and
  // cost their one branch again once neither holds.
  std::size_t active = 0;
};
global_trace& global() {
  static global_trace* g = new global_trace;  // never destroyed: a loop may end during exit
  return *g;
}

std::int64_t epoch_ns() {
  static const std::int64_t e = clock::now().time_since_epoch().count();
  return e;
}

std::int64_t now_ns() noexcept { return clock::now().time_since_epoch().count() - epoch_ns(); }

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 ? std::string(d.get()) : std::string(name);
}

std::uint32_t task_id(loop_trace& s, task_context* ctx) noexcept {
  if (!ctx) return 0;
  if (ctx->trace_id == 0) {
    ctx->trace_id = ++s.next_task;
    s.push({now_ns(), ctx->trace_id, 0, 0, 0, rk::task_start, 0});  // a task begun before tracing
  }
  return ctx->trace_id;
}

}  // namespace

std::int64_t trace_now_ns() noexcept { return now_ns(); }

void trace_step_begin(std::coroutine_handle<> h) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  s->cur_task = 0;
  s->push({now_ns(), reinterpret_cast<std::uint64_t>(h.address()), 0, 0, 0, rk::step_begin, 0});
}

void trace_step_end() noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  s->push({now_ns(), s->cur_task, 0, 0, 0, rk::step_end, 0});
}

void trace_wait(task_context* ctx, std::coroutine_handle<> h, trace_kind kind, const char* what) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  std::uint32_t id = task_id(*s, ctx);
  if (id) s->cur_task = id;
  s->push({now_ns(), id, reinterpret_cast<std::uint64_t>(h.address()), 0, s->str(what), rk::wait, static_cast<std::uint8_t>(kind)});
}

void trace_task_start_pending(std::coroutine_handle<> h, task_context* parent, const std::type_info* type, const void* code) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  std::uint32_t pid = task_id(*s, parent);
  std::uint32_t name = 0;
  try {
    if (code) {
      name = s->code_name_of(code);
    } else if (type) {
      auto it = s->type_names.find(type);
      if (it != s->type_names.end()) {
        name = it->second;
      } else {
        name = s->str(demangle(type->name()));
        s->type_names.emplace(type, name);
      }
    }
  } catch (...) {
  }
  try {
    s->pending[h.address()] = {pid, name};
  } catch (...) {
  }
}

void trace_task_adopt(task_context* child, std::coroutine_handle<> h) noexcept {
  loop_trace* s = current.get();
  if (!s || !child) return;
  child->trace_id = ++s->next_task;
  s->cur_task = child->trace_id;
  std::uint32_t parent = 0, name = 0;
  auto it = s->pending.find(h.address());
  if (it != s->pending.end()) {
    parent = it->second.first;
    name = it->second.second;
    s->pending.erase(it);
  }
  s->push({now_ns(), child->trace_id, parent, reinterpret_cast<std::uint64_t>(h.address()), name, rk::task_start, 0});
}

void trace_main_task(task_context* root, std::coroutine_handle<> main, std::coroutine_handle<> first) noexcept {
  loop_trace* s = current.get();
  if (!s || !root) return;
  root->trace_id = ++s->next_task;
  std::uint32_t name = 0;
  try {
    name = s->code_name_of(resume_address(main));
  } catch (...) {
  }
  s->push({now_ns(), root->trace_id, 0, reinterpret_cast<std::uint64_t>(first.address()), name, rk::task_start, 1});
}

void trace_task_end(task_context* ctx) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  std::uint32_t id = task_id(*s, ctx);
  if (id) s->cur_task = id;
  s->push({now_ns(), id, 0, 0, 0, rk::task_end, 0});
}

std::uint32_t trace_enter(const std::type_info& manager, std::coroutine_handle<> coroutine) noexcept {
  loop_trace* s = current.get();
  if (!s) return 0;
  std::uint32_t name = 0;
  try {
    const void* code = resume_address(coroutine);
    const void* key = reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(&manager) ^ reinterpret_cast<std::uintptr_t>(code));
    auto it = s->manager_names.find(key);
    if (it != s->manager_names.end()) {
      name = it->second;
    } else {
      std::string n = demangle(manager.name());
      if (coroutine) n += std::string(" (") + s->strings[s->code_name_of(code)] + ")";
      name = s->str(n);
      s->manager_names.emplace(key, name);
    }
  } catch (...) {
  }
  std::uint32_t span = ++s->next_span;
  s->push({now_ns(), span, 0, 0, name, rk::enter, 0});
  return span;
}

void trace_exit(std::uint32_t span, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised) noexcept {
  loop_trace* s = current.get();
  if (!s || span == 0) return;
  std::uint32_t what = 0;
  try {
    std::string w;
    if (in_flight) w = describe(in_flight) + (suppressed ? " (suppressed)" : "");
    if (raised && raised != in_flight) w += (w.empty() ? "exit raised " : "; exit raised ") + describe(raised);
    what = s->str(w);
  } catch (...) {
  }
  s->push({now_ns(), span, 0, 0, what, rk::exit, static_cast<std::uint8_t>(suppressed)});
}

std::uint32_t trace_span_begin(const char* kind, const std::string& label) noexcept {
  loop_trace* s = current.get();
  if (!s) return 0;
  std::uint32_t span = ++s->next_span;
  s->push({now_ns(), span, s->str(kind), 0, s->str(label), rk::span_begin, 0});
  return span;
}

void trace_span_end(std::uint32_t span, bool raised) noexcept {
  loop_trace* s = current.get();
  if (!s || span == 0) return;
  s->push({now_ns(), span, 0, 0, 0, rk::span_end, static_cast<std::uint8_t>(raised)});
}

void trace_cancel(const scope_state* scope) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  std::uint32_t owner = scope->owner ? task_id(*s, scope->owner) : 0;
  s->push({now_ns(), reinterpret_cast<std::uint64_t>(scope), owner, 0, 0, rk::cancel, 0});
}

void trace_interrupt(const task_context* ctx) noexcept {
  loop_trace* s = current.get();
  if (!s) return;
  s->push({now_ns(), ctx->trace_id, 0, 0, 0, rk::interrupt, 0});
}

void trace_job_ran(thread_job& job, std::int64_t start_ns, std::int64_t end_ns) noexcept {
  job.trace_start = start_ns;
  job.trace_end = end_ns;
  job.trace_tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
}

void trace_job_done(const thread_job& job) noexcept {
  loop_trace* s = current.get();
  if (!s || job.trace_start == 0) return;
  s->push({now_ns(), job.ctx ? job.ctx->trace_id : 0u, static_cast<std::uint64_t>(job.trace_start),
           static_cast<std::uint64_t>(job.trace_end), job.trace_tid, rk::job, 0});
}

void trace_loop_start(const char* path, std::size_t ring_events, std::uint64_t loop_id) {
  auto& g = global();
  auto s = std::make_unique<loop_trace>();
  std::lock_guard<std::mutex> lock(g.mutex);
  if (current) {  // replaced: the run's own options after the loop took the process-wide ones
    current.reset();
    --g.active;
  }
  if (path && *path) {
    s->path = path;
    s->capacity = ring_events;
  } else if (!g.path.empty()) {
    s->path = g.path;
    s->capacity = g.ring_events;
  } else {
    trace_on = g.active != 0;
    return;
  }
  ++g.active;
  trace_on = true;
  if (s->capacity == 0) s->capacity = 1;
  s->ring.reserve(std::min<std::size_t>(s->capacity, 4096));
  s->os_tid = static_cast<long>(::syscall(SYS_gettid));
  s->loop_id = loop_id;
  epoch_ns();
  current = std::move(s);
}

void trace_loop_end() noexcept {
  std::unique_ptr<loop_trace> s = std::move(current);
  if (!s) return;
  auto& g = global();
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    --g.active;
    trace_on = g.active != 0 || !g.path.empty();
  }
  try {
    std::string events = trace_events(*s);
    std::lock_guard<std::mutex> lock(g.mutex);
    if (g.written_path != s->path) {
      g.written_path = s->path;
      g.events.clear();
      g.dropped = 0;
    }
    if (!events.empty()) {
      if (!g.events.empty()) g.events += ",\n";
      g.events += events;
    }
    g.dropped += s->recorded - s->ring.size();
    trace_write_file(s->path, g.events, g.dropped);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aw: cannot write the trace to %s: %s\n", s->path.c_str(), e.what());
  }
}

}  // namespace detail

void set_trace(std::string path, std::size_t ring_events) {
  auto& g = detail::global();
  std::lock_guard<std::mutex> lock(g.mutex);
  detail::trace_on = !path.empty() || g.active != 0;
  g.path = std::move(path);
  g.ring_events = ring_events;
}

bool trace_enabled() noexcept { return detail::trace_on; }

trace_counts trace_report_counts() noexcept {
  const detail::loop_trace* s = detail::current.get();
  if (!s) return {};
  return {s->recorded, s->recorded - s->ring.size(), s->capacity, s->ring.size()};
}

}  // namespace aw
