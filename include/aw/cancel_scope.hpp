// Cancel scopes and timeouts: anyio's CancelScope, move_on_after, fail_after and
// current_effective_deadline.
//
//   // with anyio.move_on_after(1): ...
//   std::optional<reply> r = co_await aw::move_on_after(1s, [&] { return fetch(url); });
//   if (!r) std::puts("gave up after a second");
//
//   // with anyio.fail_after(1): ...    -> aw::timeout_error when the second runs out
//   reply r = co_await aw::fail_after(1s, [&] { return fetch(url); });
//
//   // with CancelScope() as scope: ...   (any code may call scope.cancel())
//   aw::cancel_scope scope;
//   co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> { co_await serve(); });
//
// Semantics (trio's and anyio's): cancelling a scope makes every wait inside it (sleep,
// fd waits, I/O, locks, ...) raise aw::cancelled, and keeps doing so until the scope is
// left: cancellation is level triggered, not a one-shot exception. The scope that was
// cancelled swallows the aw::cancelled when it leaves (cancelled_caught() then says so);
// where an outer scope was cancelled too, the exception goes on to the outermost one.
// A shielded scope is deaf to cancellation from outside it. A deadline cancels the scope
// when it passes. Exits (aexit, a generator's cleanup, exit-stack callbacks) run shielded
// from the cancellation that caused them, so a connection can be closed gracefully; bound
// such cleanup with a scope of its own (move_on_after inside the exit).
//
// A scope is entered once, in one task, and must be left in the task that entered it, after
// the scopes entered inside it (leaving it first, as an exit stack can, is std::logic_error:
// trio's "Cancel scope stack corrupted"; the scopes still open inside it move under its
// parent).
#pragma once

#include <aw/async_with.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <chrono>
#include <coroutine>
#include <optional>
#include <stdexcept>
#include <type_traits>

namespace aw {

// Raised by aw::fail_after when its deadline cancelled the body (Python's TimeoutError).
class timeout_error : public std::runtime_error {
 public:
  timeout_error() : std::runtime_error("aw::fail_after: the deadline passed") {}
};

class cancel_scope {
 public:
  // A scope without a deadline, cancelled only by cancel().
  cancel_scope() noexcept = default;
  // A scope cancelled at `deadline` (clock::time_point::max() for none).
  explicit cancel_scope(clock::time_point deadline, bool shield = false) noexcept {
    state_.deadline = deadline;
    state_.shield = shield;
  }
  // Movable until entered (async_with moves a temporary scope into its frame).
  cancel_scope(cancel_scope&& o) noexcept : cancel_scope(o.state_.deadline, o.state_.shield) {
    if (o.ctx_) std::terminate();  // moving an entered scope: its tree links point at it
    state_.cancel_called = o.state_.cancel_called;
  }
  cancel_scope& operator=(cancel_scope&&) = delete;
  ~cancel_scope() { disarm(); }

  // Cancels the scope: now (if entered) or as soon as it is entered. Idempotent.
  void cancel() noexcept {
    disarm();
    if (ctx_)
      state_.cancel();
    else
      state_.cancel_called = true;
  }
  bool cancel_called() const noexcept { return state_.cancel_called; }
  // True once the scope has left, having swallowed the cancellation it caused.
  bool cancelled_caught() const noexcept { return cancelled_caught_; }

  clock::time_point deadline() const noexcept { return state_.deadline; }
  void set_deadline(clock::time_point d) {
    state_.deadline = d;
    if (ctx_) arm();
  }
  bool shield() const noexcept { return state_.shield; }
  void set_shield(bool on) noexcept {
    const bool dropped = state_.shield && !on;
    state_.shield = on;
    if (dropped && ctx_) state_.deliver();  // an outer cancellation now reaches the waits inside
  }

  struct [[nodiscard("co_await it")]] enter_awaiter {
    cancel_scope* self;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      self->enter(detail::context_of(h));
      return false;
    }
    cancel_scope& await_resume() const noexcept { return *self; }
  };
  struct [[nodiscard("co_await it")]] exit_awaiter {
    cancel_scope* self;
    std::exception_ptr e;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      suppress = self->leave(detail::context_of(h), e);
      return false;
    }
    bool await_resume() const noexcept { return suppress; }
    bool suppress = false;
  };
  enter_awaiter aenter() noexcept { return {this}; }
  exit_awaiter aexit(std::exception_ptr e) noexcept { return {this, std::move(e)}; }

 private:
  struct deadline_timer : timer_node {
    cancel_scope* self = nullptr;
  };

  void enter(detail::task_context* ctx) {
    if (!ctx) throw std::logic_error("aw::cancel_scope: enter it in an aw::task running under aw::run");
    if (ctx_ || entered_once_) throw std::logic_error("aw::cancel_scope: a scope can be entered once");
    ctx_ = ctx;
    entered_once_ = true;
    state_.enter(ctx);
    arm();
  }

  bool leave(detail::task_context* ctx, const std::exception_ptr& e) {
    if (!ctx_)
      throw std::logic_error(entered_once_ ? "aw::cancel_scope: the scope was already left"
                                           : "aw::cancel_scope: left without being entered");
    if (ctx != ctx_) throw std::logic_error("aw::cancel_scope: left in another task than the one that entered it");
    disarm();
    // Decide before leaving: whether an outer cancellation reaches this scope's code.
    bool mine = state_.cancel_called && !state_.outer_cancellation_visible();
    ctx_ = nullptr;
    detail::leave_scope(ctx, &state_);  // std::logic_error when left before a scope entered inside it
    if (e && mine && detail::is_cancellation(e)) {
      cancelled_caught_ = true;
      return true;
    }
    return false;
  }

  void arm() {
    disarm();
    if (state_.cancel_called || state_.deadline == clock::time_point::max()) return;
    if (state_.deadline <= aw::now()) {
      state_.cancel();
      return;
    }
    timer_.self = this;
    timer_.deadline = state_.deadline;
    timer_.fire = [](timer_node* t) { static_cast<deadline_timer*>(t)->self->state_.cancel(); };
    loop_ = &loop::current();
    loop_->add_timer(timer_);
  }
  void disarm() noexcept {
    if (timer_.armed()) loop_->remove_timer(timer_);
  }

  detail::scope_state state_;
  deadline_timer timer_;
  detail::task_context* ctx_ = nullptr;
  loop* loop_ = nullptr;
  bool entered_once_ = false;
  bool cancelled_caught_ = false;
};

namespace detail {
template <class Body>
using body_value_t = typename body_traits<std::invoke_result_t<Body&>>::value;
// A timeout's body: a callable without arguments returning an awaitable.
template <class Body>
constexpr bool timeout_body_ok() {
  if constexpr (std::is_invocable_v<Body&>)
    return body_traits<std::invoke_result_t<Body&>>::is_awaitable;
  else
    return false;
}
template <class T>
using move_on_result_t = std::conditional_t<std::is_void_v<T>, bool, typename with_result<T, true>::type>;

// The deadline is taken when the task starts (tasks are lazy), not when it is made.
template <class Body>
task<move_on_result_t<body_value_t<Body>>> move_on_after_task(clock::duration d, Body body) {
  cancel_scope scope(aw::now() + d);
  if constexpr (std::is_void_v<body_value_t<Body>>) {
    co_await async_with(scope, [&](cancel_scope&) { return body(); });
    co_return !scope.cancelled_caught();
  } else {
    co_return co_await async_with(scope, [&](cancel_scope&) { return body(); });
  }
}

template <class Body>
task<body_value_t<Body>> fail_after_task(clock::duration d, Body body) {
  cancel_scope scope(aw::now() + d);
  if constexpr (std::is_void_v<body_value_t<Body>>) {
    co_await async_with(scope, [&](cancel_scope&) { return body(); });
    if (scope.cancelled_caught()) throw timeout_error{};
  } else {
    auto r = co_await async_with(scope, [&](cancel_scope&) { return body(); });
    if (!r) throw timeout_error{};
    co_return std::move(*r);
  }
}
}  // namespace detail

// Runs body() with a deadline `d` from now. Gives its value, or nothing when the deadline
// cancelled it: std::optional<T> for a body of aw::task<T>, bool (true: it completed) for
// aw::task<>. The body may return any other awaitable (an HTTP request, aw::sleep(...)):
// it is awaited as it is. Python: `with anyio.move_on_after(d)`.
template <class Rep, class Period, class Body>
auto move_on_after(std::chrono::duration<Rep, Period> d, Body body) {
  constexpr bool ok = detail::timeout_body_ok<Body>();
  static_assert(ok,
                "aw::move_on_after: the body must return aw::task<T> or another awaitable, and take no arguments (a coroutine "
                "lambda: [&]() -> aw::task<> { ... })");
  if constexpr (ok)
    return detail::move_on_after_task(std::chrono::ceil<clock::duration>(d), std::move(body));
  else
    return task<bool>{};
}

// Runs body() with a deadline `d` from now; aw::timeout_error when the deadline cancelled
// it. The body returns an aw::task<T> or another awaitable, as for move_on_after. Python:
// `with anyio.fail_after(d)`.
template <class Rep, class Period, class Body>
auto fail_after(std::chrono::duration<Rep, Period> d, Body body) {
  constexpr bool ok = detail::timeout_body_ok<Body>();
  static_assert(ok,
                "aw::fail_after: the body must return aw::task<T> or another awaitable, and take no arguments (a coroutine "
                "lambda: [&]() -> aw::task<> { ... })");
  if constexpr (ok)
    return detail::fail_after_task(std::chrono::ceil<clock::duration>(d), std::move(body));
  else
    return task<void>{};
}

namespace detail {
struct [[nodiscard("co_await it: aw::current_deadline() gives the deadline when awaited")]] deadline_awaiter {
  clock::time_point d{};
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    d = effective_deadline(context_of(h));
    return false;
  }
  clock::time_point await_resume() const noexcept { return d; }
};
}  // namespace detail

// co_await aw::current_deadline(): the earliest deadline that can cancel the calling task
// (clock::time_point::max() for none, min() when it is cancelled already). Python:
// anyio.current_effective_deadline().
inline detail::deadline_awaiter current_deadline() noexcept { return {}; }

}  // namespace aw
