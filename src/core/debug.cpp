#include <aw/debug.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace aw {
namespace detail {

struct debug_entry {
  std::string type;
  const void* address;
  clock::time_point start;
  debug_entry* prev = nullptr;
  debug_entry* next = nullptr;
};

namespace {

struct debug_state {
  debug_entry* active = nullptr;  // entered, not exited: a doubly linked list
  std::size_t never_awaited = 0;
  std::size_t never_exited = 0;
  std::size_t slow_steps = 0;
  std::chrono::nanoseconds slow_threshold = std::chrono::milliseconds(100);
};

debug_state& state() {
  static thread_local debug_state s;
  return s;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 ? std::string(d.get()) : std::string(name);
}

double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

const char* coroutine_name(std::coroutine_handle<> h, char* buffer, unsigned size) {
  // Both GCC and Clang lay a coroutine frame out with the resume function's address first.
  void* resume = h ? *static_cast<void**>(h.address()) : nullptr;
  Dl_info info{};
  if (resume && dladdr(resume, &info) && info.dli_sname) {
    std::string n = demangle(info.dli_sname);
    // GCC names the resume part "f(args) [clone .actor]"; Clang "f(args) (.resume)".
    for (const char* suffix : {" [clone .actor]", " (.resume)"}) {
      auto at = n.find(suffix);
      if (at != std::string::npos) n.erase(at);
    }
    std::snprintf(buffer, size, "%s", n.c_str());
  } else {
    std::snprintf(buffer, size, "coroutine at %p", resume);
  }
  return buffer;
}

debug_entry* debug_enter(const std::type_info& manager, const void* address, const char* how) {
  auto& s = state();
  auto* e = new debug_entry{demangle(manager.name()), address, clock::now()};
  e->next = s.active;
  if (s.active) s.active->prev = e;
  s.active = e;
  std::fprintf(stderr, "aw: %s %s at %p\n", how, e->type.c_str(), address);
  return e;
}

void debug_exit(debug_entry* e, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised) {
  auto& s = state();
  if (e->prev)
    e->prev->next = e->next;
  else
    s.active = e->next;
  if (e->next) e->next->prev = e->prev;
  std::string what = in_flight ? " with " + describe(in_flight) + (suppressed ? " (suppressed)" : "") : "";
  if (raised && raised != in_flight) what += "; exit raised " + describe(raised);
  std::fprintf(stderr, "aw: exit %s at %p after %.3f ms%s\n", e->type.c_str(), e->address, ms(clock::now() - e->start), what.c_str());
  delete e;
}

void debug_task_dropped(std::coroutine_handle<> h) {
  char name[512];
  ++state().never_awaited;
  std::fprintf(stderr, "aw: task %s was created but never awaited\n", coroutine_name(h, name, sizeof name));
}

void debug_slow_step(std::coroutine_handle<> h, std::chrono::nanoseconds took) {
  auto& s = state();
  if (took < s.slow_threshold) return;
  ++s.slow_steps;
  char name[512];
  std::fprintf(stderr, "aw: a step of %s blocked the loop for %.1f ms\n", coroutine_name(h, name, sizeof name), ms(took));
}

void debug_shutdown_report() {
  auto& s = state();
  std::size_t open = 0;
  for (debug_entry* e = s.active; e; e = e->next) {
    ++open;
    std::fprintf(stderr, "aw: at shutdown, %s at %p was entered %.3f ms ago and never exited\n", e->type.c_str(), e->address,
                 ms(clock::now() - e->start));
  }
  s.never_exited += open;
  while (debug_entry* e = s.active) {
    s.active = e->next;
    delete e;
  }
  if (s.never_awaited) std::fprintf(stderr, "aw: at shutdown, %zu task(s) had been created but never awaited\n", s.never_awaited);
}

}  // namespace detail

debug_counts debug_report_counts() noexcept {
  auto& s = detail::state();
  std::size_t open = s.never_exited;
  for (detail::debug_entry* e = s.active; e; e = e->next) ++open;
  return {s.never_awaited, open, s.slow_steps};
}

void set_slow_step_threshold(std::chrono::nanoseconds threshold) noexcept { detail::state().slow_threshold = threshold; }

}  // namespace aw
