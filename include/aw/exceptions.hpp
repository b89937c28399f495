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
// As with __context__, the link is that of the latest raise: an exception object that an
// exit raises again (a manager that keeps its fatal error and raises it from every exit)
// links to the exception in flight at that exit, not at the first. The links are kept per
// thread for the most recent `context_capacity` replacements.
#pragma once

#include <cstddef>
#include <cstdint>
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

// The exception that was in flight when an exit last raised `e`, or null.
std::exception_ptr exception_context(const std::exception_ptr& e) noexcept;

namespace detail {
// A point in the sequence of links recorded on this thread: taken before an exit runs, it
// tells set_exception_context which links the exit recorded itself.
std::uint64_t exception_context_mark() noexcept;
// Records that `replacement` was raised while `context` was in flight (null: while none
// was), replacing an older link, as each Python `raise` sets __context__ anew. A link
// recorded since `since` (a mark taken before the exit ran) is kept: an exception raised
// out of an exit stack carries the chain the stack built while it ran, the latest raise,
// and the block that awaited the stack's exit must not rewrite it (Python's AsyncExitStack
// keeps its __context__ the same way). A link that would close a cycle through
// `replacement` is cut, as Python cuts it.
void set_exception_context(const std::exception_ptr& replacement, const std::exception_ptr& context,
                           std::uint64_t since = UINT64_MAX) noexcept;
// The exception's what(), or its type, for logs and messages.
std::string describe(const std::exception_ptr& e);
}  // namespace detail

}  // namespace aw
