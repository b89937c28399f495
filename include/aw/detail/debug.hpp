// Hooks of the AW_DEBUG mode (see aw/debug.hpp). Each call site tests detail::debug_on
// first, so the mode costs one predictable branch when it is off.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace aw::detail {

// Relaxed atomic: set from any thread (aw::set_debug), read on the hot paths as a plain load.
inline std::atomic<bool> debug_on{false};

struct debug_entry;  // one entered, not yet exited manager

// `held_by_record`: the entry goes into an exit record (aw::enter, exit_stack), which can
// outlive the loop; the record frees it, by exiting it or by debug_drop.
debug_entry* debug_enter(const std::type_info& manager, const void* address, const char* how, std::coroutine_handle<> coroutine = {},
                         bool held_by_record = false);

// Logs entering `m`; a generator-form manager is named by its coroutine too.
template <class M>
debug_entry* debug_enter_manager(M& m, const char* how, bool held_by_record = false) {
  if constexpr (requires { m.coroutine(); })
    return debug_enter(typeid(M), &m, how, m.coroutine(), held_by_record);
  else
    return debug_enter(typeid(M), &m, how, {}, held_by_record);
}
void debug_exit(debug_entry* entry, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised);
// The record holding `entry` is destroyed without exiting it.
void debug_drop(debug_entry* entry) noexcept;
void debug_task_dropped(std::coroutine_handle<> never_started);
// A manager made by one of the library's factories (aw::files::open, s.get(url),
// conn.transaction(), a generator-form manager, ...) destroyed without ever being entered
// (or awaited, for the ones that can be): the call was written without async_with, enter or
// co_await. A generator-form manager is named by its coroutine too.
void debug_manager_dropped(const std::type_info& manager, std::coroutine_handle<> coroutine = {});

// Held by such a manager: it reports the manager when destroyed still pending, that is
// neither entered() nor moved from. One flag; when the mode is off, one branch in the
// destructor.
template <class M>
class enter_check {
 public:
  enter_check() noexcept = default;
  enter_check(const enter_check& o) noexcept : pending_(o.pending_) {}
  enter_check(enter_check&& o) noexcept : pending_(std::exchange(o.pending_, false)) {}
  enter_check& operator=(const enter_check& o) noexcept {
    report();
    pending_ = o.pending_;
    return *this;
  }
  enter_check& operator=(enter_check&& o) noexcept {
    if (this != &o) {
      report();
      pending_ = std::exchange(o.pending_, false);
    }
    return *this;
  }
  ~enter_check() { report(); }

  void entered() noexcept { pending_ = false; }

 private:
  void report() noexcept {
    if (pending_ && debug_on) [[unlikely]]
      debug_manager_dropped(typeid(M));
  }
  bool pending_ = true;
};
// A module's event, which the core cannot name (an HTTP request's start and end): the line
// "aw: <what> <text>", followed by " with <the exception>" when `error` is set.
void debug_event(const char* what, const std::string& text, const std::exception_ptr& error = nullptr);
// `resumed_code` is resume_address(h) read before resuming: the frame may be gone after.
void debug_slow_step(const void* resumed_code, std::chrono::nanoseconds took);
// A loop starts: its shutdown report counts what is dropped from now on.
void debug_loop_started() noexcept;
void debug_shutdown_report();
// The name of the coroutine function behind a handle, for reports ("?" when unknown).
const char* coroutine_name(std::coroutine_handle<> h, char* buffer, unsigned size);
const char* code_name(const void* code, char* buffer, unsigned size);
const void* resume_address(std::coroutine_handle<> h) noexcept;

}  // namespace aw::detail
