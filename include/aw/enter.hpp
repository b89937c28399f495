// aw::enter: the function form of `async with`. The rest of the enclosing task is the body.
//
//   aw::task<std::string> read_config() {
//     auto& f = co_await aw::enter(aw::files::open("app.conf"));   // exited when the task ends
//     auto& g = co_await aw::enter(shared_lock);                   // exited before f
//     co_return co_await f.read();
//   }
//
// The exits run when the task finishes (co_return, falling off the end, or an exception),
// most recent first, with the exception leaving the task, and the awaiter resumes only
// after the last one has finished. This is an AsyncExitStack that the task owns.
//
// CAUTION, lifetimes: a manager passed as an rvalue is moved into the task's exit record
// and lives until its exit has run. A manager passed as an lvalue is used in place and
// must outlive the task: the task's local variables are destroyed when its body ends,
// before the exits run, so never enter a local of the same task by reference (move it
// in: aw::enter(std::move(m))). Parameters of the task and objects owned by callers are
// fine.
//
// A manager whose exit waits for tasks (aw::task_group) is refused at compile time: the
// tasks may use the task's locals, which die before the exit waits for them
// (aw::enter_allowed). Enter it with aw::async_with.
//
// When an exit suppresses the exception of a task<T> with non-void T, the task has no
// value to give: its awaiter gets aw::no_result_error (a task<void> simply returns).
// Use aw::async_with where an exit may suppress and a value is needed.
#pragma once

#include <aw/context.hpp>
#include <aw/detail/exit_record.hpp>
#include <aw/task.hpp>

#include <type_traits>

namespace aw {
namespace detail {

template <class M>
class [[nodiscard("co_await aw::enter(m): without co_await nothing is entered")]] enter_awaiter {
 public:
  explicit enter_awaiter(M&& m) : entering_(nullptr, std::forward<M>(m)) {}
  enter_awaiter(enter_awaiter&&) noexcept = default;
  [[gnu::always_inline]] ~enter_awaiter() = default;

  // Always suspends: the exit list belongs to the awaiting task, known only here.
  bool await_ready() const noexcept { return false; }

  template <class P>
  [[gnu::always_inline]] auto await_suspend(std::coroutine_handle<P> h) {
    static_assert(
        std::is_base_of_v<promise_base, P> && requires { typename P::is_task_promise; },
        "aw::enter can only be awaited inside a coroutine that returns aw::task");
    entering_.bind(h);
    if constexpr (entering<M, true>::runs_in_place) {
      return !entering_.start(h);  // false: go on at once
    } else {
      return suspend_for_aenter(h);
    }
  }

  [[gnu::always_inline]] entered_t<M> await_resume() { return entering_.resume(); }

 private:
  template <class P>
  std::coroutine_handle<> suspend_for_aenter(std::coroutine_handle<P> h) {
    if (entering_.ready()) return h;
    using R = decltype(entering_.suspend(h));
    if constexpr (std::is_void_v<R>) {
      entering_.suspend(h);
      return std::noop_coroutine();
    } else if constexpr (std::is_same_v<R, bool>) {
      return entering_.suspend(h) ? std::noop_coroutine() : std::coroutine_handle<>(h);
    } else {
      return entering_.suspend(h);
    }
  }

  entering<M, true> entering_;  // true: its record keeps room to run the exit as the lone one
};

}  // namespace detail

// co_await aw::enter(manager): enters it now, exits it when the enclosing task ends.
// Gives the resource (by reference; it lives until the exit), or nothing for a void aenter.
template <class M>
auto enter(M&& m) {
  if constexpr (detail::check_manager<std::remove_cvref_t<M>>()) {
    constexpr bool allowed = enter_allowed<std::remove_cvref_t<M>>;
    static_assert(allowed,
                  "aw::enter: this manager's exit waits for tasks (a task group), which may use the task's local variables, "
                  "destroyed before the exits of aw::enter run: enter it with aw::async_with");
    if constexpr (allowed)
      return detail::enter_awaiter<M>(std::forward<M>(m));
    else
      return detail::refused<detail::entered_t<M>>{};
  } else {
    return std::suspend_never{};
  }
}

}  // namespace aw
