// Hooks of the AW_DEBUG mode (see aw/debug.hpp). Each call site tests detail::debug_on
// first, so the mode costs one predictable branch when it is off.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <typeinfo>

namespace aw::detail {

inline bool debug_on = false;

struct debug_entry;  // one entered, not yet exited manager

debug_entry* debug_enter(const std::type_info& manager, const void* address, const char* how);
void debug_exit(debug_entry* entry, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised);
void debug_task_dropped(std::coroutine_handle<> never_started);
void debug_slow_step(std::coroutine_handle<> resumed, std::chrono::nanoseconds took);
void debug_shutdown_report();
// The name of the coroutine function behind a handle, for reports ("?" when unknown).
const char* coroutine_name(std::coroutine_handle<> h, char* buffer, unsigned size);

}  // namespace aw::detail
