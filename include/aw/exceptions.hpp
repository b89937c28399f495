// The exceptions asyncwith itself throws, and how a replaced exception stays reachable.
//
// When an exit (aexit, a generator's cleanup, an exit-stack callback) throws while another
// exception is in flight, the new exception replaces the old one, as in Python. C++ cannot
// attach the old one to an exception object someone else constructed, so asyncwith keeps
// the link itself, like Python's __context__:
//
//   try {
//     co_await aw::async_with(pool, body);        // body threw A, pool.aexit threw B
//   } catch (...) {
//     auto b = std::current_exception();            // B
//     auto a = aw::exception_context(b);            // A
//   }
//
// The links are kept per thread for the most recent `context_capacity` replacements.
#pragma once

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>

namespace aw {

// A wait was interrupted by cancellation. Cancel scopes (aw::cancel_scope) raise it into
// the tasks they cancel; only the scope that raised it may swallow it.
class cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "aw::cancelled"; }
};

// The async context manager protocol was broken at run time: a generator-form manager
// that did not yield, yielded twice, or was entered twice. Python raises RuntimeError for
// the same mistakes; the messages are Python's.
class protocol_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An exit suppressed the exception of an aw::task<T> with non-void T that used
// aw::enter: the task has no value to return. The suppressed exception is reachable
// through aw::exception_context. (The block form, aw::async_with, returns an empty
// std::optional instead; prefer it when an exit may suppress.)
class no_result_error : public std::logic_error {
 public:
  no_result_error() : std::logic_error("aw::enter: an exit suppressed the exception of a task that must return a value") {}
};

// aw::run's main task is waiting, and nothing (no ready task, timer or I/O) can ever wake
// it. asyncio would hang forever here; asyncwith says so.
class deadlock_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// True when `e` holds an aw::cancelled (an exit that wants to know why its block ended).
bool is_cancellation(const std::exception_ptr& e) noexcept;

inline constexpr std::size_t context_capacity = 256;

// The exception that was in flight when `e` was raised by an exit, or null.
std::exception_ptr exception_context(const std::exception_ptr& e) noexcept;

namespace detail {
// Records that `replacement` was raised while `context` was in flight (null: while none
// was). The first record for an exception is kept: an exception raised out of an exit stack
// already carries the chain the stack built, and the block that awaited the stack's exit
// must not rewrite it (Python's AsyncExitStack keeps its __context__ the same way).
void set_exception_context(const std::exception_ptr& replacement, const std::exception_ptr& context) noexcept;
// The exception's what(), or its type, for logs and messages.
std::string describe(const std::exception_ptr& e);
}  // namespace detail

}  // namespace aw
