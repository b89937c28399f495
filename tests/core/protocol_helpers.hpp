// Test managers shared by the protocol tests (async_with, enter, context_manager, exit_stack).
//
// Every manager writes what happens to it into a log (a vector of strings) so that a test
// can state the whole story in one comparison: which managers were entered, in what order,
// what each exit saw, and when the parent resumed. Exceptions are logged by their what(),
// a null exception_ptr as "null":
//
//   "enter A"            A.aenter() started
//   "exit A(boom)"       A.aexit(e) started with e = boom
//   "exit A finished"    A's exit finished after sleeping (only when told to sleep)
//
// Each manager type has a constructor: g++ 12 miscompiles aggregate prvalues with
// non-trivial members passed to coroutines inside a co_await expression
// (doc/toolchain.md), and the tests must not trip over that by accident.
#pragma once

#include <aw/async_with.hpp>
#include <aw/context.hpp>
#include <aw/context_manager.hpp>
#include <aw/enter.hpp>
#include <aw/exceptions.hpp>
#include <aw/exit_stack.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aw_test {

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

// The exception the tests throw; what() is the short name the logs show.
struct test_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "null" for no exception, what() otherwise.
inline std::string what(const std::exception_ptr& e) {
  if (!e) return "null";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown";
  }
}

// Runs a task to its end with aw::run and gives the exception it ended with (null if none).
template <class F>
std::exception_ptr run_catching(F&& make_main) {
  try {
    aw::run(std::forward<F>(make_main));
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// How a recording manager behaves. Each message, when set, is thrown (as test_error) at
// that point.
struct behaviour {
  const char* throw_in_enter = nullptr;  // aenter throws this
  const char* throw_in_exit = nullptr;   // aexit throws this
  bool suppress = false;                 // aexit returns true (only the suppressing kinds)
  bool sleep_in_enter = false;           // aenter suspends on the loop before it finishes
  bool sleep_in_exit = false;            // aexit suspends on the loop before it finishes
};

namespace detail {

inline aw::task<> enter_steps(const std::string& name, log_t& log, const behaviour& b) {
  log.push_back("enter " + name);
  if (b.sleep_in_enter) co_await aw::sleep(1ms);
  if (b.throw_in_enter) throw test_error(b.throw_in_enter);
}

inline aw::task<> exit_steps(const std::string& name, log_t& log, const behaviour& b, const std::exception_ptr& e) {
  log.push_back("exit " + name + "(" + what(e) + ")");
  if (b.sleep_in_exit) {
    co_await aw::sleep(1ms);
    log.push_back("exit " + name + " finished");
  }
  if (b.throw_in_exit) throw test_error(b.throw_in_exit);
}

}  // namespace detail

// A manager that is its own resource (aenter gives recorder&) and whose aexit awaits to
// bool: it may suppress. `exits` counts the exits this object ran; `moved_from` is set on
// an object whose state was moved into another.
class recorder {
 public:
  recorder(std::string name, log_t& log, behaviour b = {}) : name(std::move(name)), log(&log), how(b) {}
  recorder(recorder&& o) noexcept
      : name(std::move(o.name)), log(o.log), how(o.how), enters(o.enters), exits(o.exits), token(std::move(o.token)) {
    o.moved_from = true;
  }
  recorder(const recorder&) = delete;  // managers passed as rvalues must be moved, never copied
  recorder& operator=(const recorder&) = delete;

  aw::task<recorder&> aenter() {
    ++enters;
    co_await detail::enter_steps(name, *log, how);
    co_return *this;
  }
  aw::task<bool> aexit(std::exception_ptr e) {
    ++exits;
    co_await detail::exit_steps(name, *log, how, e);
    co_return how.suppress;
  }

  std::string name;
  log_t* log;
  behaviour how;
  int enters = 0;
  int exits = 0;
  bool moved_from = false;
  std::unique_ptr<int> token = std::make_unique<int>(42);  // proves the live object is the moved-to one
};

// Like recorder, but aexit awaits to void: it can never suppress.
class plain_recorder {
 public:
  plain_recorder(std::string name, log_t& log, behaviour b = {}) : name(std::move(name)), log(&log), how(b) {}

  aw::task<plain_recorder&> aenter() {
    ++enters;
    co_await detail::enter_steps(name, *log, how);
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr e) {
    ++exits;
    co_await detail::exit_steps(name, *log, how, e);
  }

  std::string name;
  log_t* log;
  behaviour how;
  int enters = 0;
  int exits = 0;
};

// A manager whose resource is a value (aenter gives std::string, "<name>'s resource");
// aexit awaits to void.
class value_manager {
 public:
  value_manager(std::string name, log_t& log, behaviour b = {}) : name(std::move(name)), log(&log), how(b) {}

  aw::task<std::string> aenter() {
    co_await detail::enter_steps(name, *log, how);
    co_return name + "'s resource";
  }
  aw::task<> aexit(std::exception_ptr e) { co_await detail::exit_steps(name, *log, how, e); }

  std::string name;
  log_t* log;
  behaviour how;
};

// A manager with no resource (aenter gives void); aexit awaits to bool.
class void_manager {
 public:
  void_manager(std::string name, log_t& log, behaviour b = {}) : name(std::move(name)), log(&log), how(b) {}

  aw::task<> aenter() { co_await detail::enter_steps(name, *log, how); }
  aw::task<bool> aexit(std::exception_ptr e) {
    co_await detail::exit_steps(name, *log, how, e);
    co_return how.suppress;
  }

  std::string name;
  log_t* log;
  behaviour how;
};

// An awaiter that is ready at once with an int.
struct ready_int {
  int value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return value; }
};

// A manager whose aenter and aexit are plain awaiters, not coroutines: ready at once.
// aenter gives the int 7; aexit awaits to void.
class ready_manager {
 public:
  ready_manager(std::string name, log_t& log) : name(std::move(name)), log(&log) {}

  ready_int aenter() {
    log->push_back("enter " + name);
    return {7};
  }
  std::suspend_never aexit(std::exception_ptr e) {
    log->push_back("exit " + name + "(" + what(e) + ")");
    return {};
  }

  std::string name;
  log_t* log;
};

inline long count_prefix(const log_t& log, const std::string& prefix) {
  return std::count_if(log.begin(), log.end(), [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
}

}  // namespace aw_test

namespace aw_test {

// An aggregate manager holding a std::string, on purpose: g++ 12 miscompiles such a
// prvalue passed by value to a coroutine inside a co_await expression (doc/toolchain.md;
// doc/gcc12_prvalue_param.cpp). The library must forward rvalue managers
// as xvalues so that `co_await aw::async_with(named_manager{"a", &log}, body)` works.
struct named_manager {
  std::string name;
  log_t* log;

  aw::task<std::string&> aenter() {
    log->push_back("enter " + name);
    co_return name;
  }
  aw::task<> aexit(std::exception_ptr e) {
    log->push_back("exit " + name + "(" + what(e) + ")");
    co_return;
  }
};

// Longer than any small-string buffer: the name lives on the heap.
inline constexpr const char* long_name = "a name long enough to live on the heap, not in the small-string buffer";

// g++ 12's bug is in the awaiting coroutine's own frame: the aggregate temporary written
// inside the co_await expression is destroyed from the wrong address whatever the callee
// does with it, even when the callee takes it by reference and is not a coroutine at all
// (`co_await f(manager{})` with `task f(const manager&)` aborts too). No library can work
// around it; the tests that write such a temporary inside co_await run on other compilers
// only. Building the block first (`auto t = aw::async_with(named_manager{...}, body);`,
// then `co_await std::move(t);`) is fine everywhere.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define AW_TEST_GCC12_AGGREGATE_TEMPORARY_BUG 1
#else
#define AW_TEST_GCC12_AGGREGATE_TEMPORARY_BUG 0
#endif

}  // namespace aw_test
