// aw::task_group: background tasks whose lifetime is a block (anyio's create_task_group(),
// asyncio.TaskGroup).
//
//   co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
//     for (auto& url : urls) tg.start_soon(fetch, url);    // fetch(url) returns aw::task<...>
//     tg.start_soon([&]() -> aw::task<> { co_await heartbeat(); });
//   });  // here every child has finished
//
// - start_soon(fn, args...) copies fn and args into the child and runs fn(args...) soon
//   (on a later turn of the loop), passing the copies as rvalues as std::thread does (a
//   move-only argument may be taken by value; std::ref passes a reference); the child's
//   value, if any, is discarded.
// - Leaving the block waits for every child, however the block is left. No child
//   outlives its group.
// - The first failure (of a child, or of the block itself) cancels the group: the block
//   and every child get aw::cancelled at their next wait. When the children are done, all
//   failures are raised together as one aw::exception_group (always a group, even of one,
//   as anyio 4 does); aw::cancelled is never one of them.
// - The group is a cancel scope: cancel() cancels the block and every child; the
//   cancellation is then swallowed by the group, not an error. A cancelled outer scope
//   reaches the children too.
// - Leaving the block is a cancellation point: inside a cancelled scope it raises
//   aw::cancelled once the children are done.
// - A group is entered once; start_soon outside the block is std::logic_error.
#pragma once

#include <aw/async_with.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/exception_group.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace aw {
namespace detail {

// A coroutine whose frame frees itself when it finishes: a task group's child. Its
// runner catches everything, so nothing ever reaches unhandled_exception.
struct child_coroutine {
  struct promise_type : promise_base {
    child_coroutine get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
};

// Makes the awaiting frame run in `ctx` (a new task), without suspending.
struct adopt_context {
  task_context* ctx;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) const noexcept {
    h.promise().ctx_ = ctx;
    return false;
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

class task_group {
 public:
  task_group() noexcept = default;
  // Movable until entered (async_with moves a temporary group into its frame).
  task_group(task_group&& o) noexcept {
    if (o.host_) std::terminate();  // moving an entered group: its children point at it
    // What can happen to a group before it is entered goes with it (as with cancel_scope):
    // a cancel() called early, and having been used already.
    scope_.cancel_called = o.scope_.cancel_called;
    entered_once_ = o.entered_once_;
  }
  task_group& operator=(task_group&&) = delete;

  // Starts fn(args...) (a callable returning aw::task<T>) as a child of the group.
  template <class F, class... A>
  void start_soon(F&& fn, A&&... args) {
    // Called as std::thread calls: with the copies, as rvalues (so a move-only argument
    // can be taken by value; pass std::ref for a reference).
    constexpr bool invocable = std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>;
    static_assert(invocable,
                  "aw::task_group::start_soon: fn cannot be called with these arguments (they are copied into the child and "
                  "passed as rvalues, as std::thread does: wrap a reference parameter's argument in std::ref)");
    if constexpr (invocable) {
      constexpr bool returns_task = detail::is_task_v<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>;
      static_assert(returns_task, "aw::task_group::start_soon: the callable must return aw::task<T>");
      if constexpr (returns_task) {
        if (!active_) throw std::logic_error("aw::task_group::start_soon: the task group is not active (start children inside its block)");
        auto child = run_child(this, std::forward<F>(fn), std::forward<A>(args)...);
        ++pending_;
        loop_->schedule(child.h);
      }
    }
  }

  // Cancels the block and every child (anyio: tg.cancel_scope.cancel()).
  void cancel() noexcept { scope_.cancel(); }
  bool cancel_called() const noexcept { return scope_.cancel_called; }

  struct [[nodiscard("co_await it")]] enter_awaiter {
    task_group* self;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      self->enter(detail::context_of(h));
      return false;
    }
    task_group& await_resume() const noexcept { return *self; }
  };
  enter_awaiter aenter() noexcept { return {this}; }

  task<bool> aexit(std::exception_ptr e) {
    if (e && !(detail::is_cancellation(e) && scope_.effectively_cancelled())) {
      errors_.insert(errors_.begin(), e);  // the block's own failure comes first
      scope_.cancel();
    }
    if (pending_ != 0) co_await wait_for_children{this};
    active_ = false;
    const bool outer = scope_.outer_cancellation_visible();
    const bool mine = scope_.cancel_called && !outer;
    detail::leave_scope(host_, &scope_);
    host_ = nullptr;
    if (!errors_.empty()) throw exception_group("unhandled errors in a task group", std::move(errors_));
    // Leaving a group is a cancellation point (trio's nursery, anyio): a block that ended
    // normally inside a cancelled outer scope raises aw::cancelled here.
    if (outer && !e) throw cancelled{};
    co_return e&& mine&& detail::is_cancellation(e);
  }

 private:
  struct wait_for_children {
    task_group* self;
    bool await_ready() const noexcept { return self->pending_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { self->waiter_ = h; }  // not interruptible: children must end first
    void await_resume() const noexcept {}
  };

  void enter(detail::task_context* ctx) {
    if (!ctx) throw std::logic_error("aw::task_group: enter it in an aw::task running under aw::run");
    if (host_ || entered_once_) throw std::logic_error("aw::task_group: a task group can be entered once");
    host_ = ctx;
    entered_once_ = true;
    active_ = true;
    loop_ = &loop::current();
    scope_.enter(ctx);
  }

  template <class F, class... A>
  static detail::child_coroutine run_child(task_group* g, F fn, A... args) {
    detail::task_context ctx;
    co_await detail::adopt_context{&ctx};
    ctx.scope = &g->scope_;
    g->link_child(&ctx);
    std::exception_ptr failure;
    try {
      co_await std::invoke(std::move(fn), std::move(args)...);  // both live in this frame until the child ends
    } catch (...) {
      failure = std::current_exception();
    }
    g->unlink_child(&ctx);
    g->child_finished(std::move(failure));
  }

  void link_child(detail::task_context* c) noexcept {
    c->next_in_scope = scope_.first_task;
    if (c->next_in_scope) c->next_in_scope->prev_in_scope = c;
    scope_.first_task = c;
  }
  void unlink_child(detail::task_context* c) noexcept {
    if (c->prev_in_scope)
      c->prev_in_scope->next_in_scope = c->next_in_scope;
    else
      scope_.first_task = c->next_in_scope;
    if (c->next_in_scope) c->next_in_scope->prev_in_scope = c->prev_in_scope;
  }

  void child_finished(std::exception_ptr failure) {
    if (failure && !(detail::is_cancellation(failure) && scope_.effectively_cancelled())) {
      errors_.push_back(std::move(failure));
      scope_.cancel();
    }
    if (--pending_ == 0 && waiter_) loop_->schedule(std::exchange(waiter_, nullptr));
  }

  detail::scope_state scope_;
  detail::task_context* host_ = nullptr;
  loop* loop_ = nullptr;
  std::size_t pending_ = 0;
  std::coroutine_handle<> waiter_;
  std::vector<std::exception_ptr> errors_;
  bool entered_once_ = false;
  bool active_ = false;
};

}  // namespace aw
