// aw::task_group: background tasks whose lifetime is a block (anyio's create_task_group(),
// asyncio.TaskGroup).
//
//   co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
//     for (auto& url : urls) tg.start_soon(fetch, url);    // fetch(url) returns aw::task<...>
//     tg.start_soon([&]() -> aw::task<> { co_await heartbeat(); });
//     co_return;                                            // see below
//   });  // here every child has finished
//
// The block, as every coroutine lambda, must be a coroutine: declared `-> aw::task<>` but with
// neither co_await nor co_return in its body (a block that only calls start_soon), a lambda
// is an ordinary function returning a task, and falling off its end is undefined behaviour.
// End it with `co_return;`. Compilers warn (-Wreturn-type); the CMake package makes that an
// error for the targets that link aw::core, unless their property AW_WERROR_RETURN_TYPE is OFF.
//
// - start_soon(fn, args...) copies fn and args into the child and runs fn(args...) soon
//   (on a later turn of the loop), passing the copies as rvalues as std::thread does (a
//   move-only argument may be taken by value; std::ref passes a reference); the child's
//   value, if any, is discarded. fn returns an aw::task<T> or any other awaitable (an HTTP
//   request, aw::sleep(...)), which the child awaits; the same holds for start().
// - co_await start(fn, args...) runs fn(args..., status) as a child and waits until it calls
//   status.started(value) (anyio's task_status.started), then returns the value: a server
//   task can report "listening on port N" before the caller goes on. Until started() the
//   child runs in the caller's cancel scopes (cancelling the caller cancels it, and its
//   failure is raised out of start(), not by the group); from started() on it is a child
//   of the group like any other (moving into a cancelled group cancels it and the tasks it
//   started). A started() called while the caller is cancelled leaves the child in the
//   caller's scopes (trio): start() then raises what the child ends with (aw::cancelled at
//   its next wait), or gives the value if it ends without waiting. A child that returns
//   without calling started() makes start() raise std::logic_error. The value type is
//   the X of fn's last parameter aw::task_status<X>& (void: started() takes nothing), or
//   start<X>(...) names it.
// - Leaving the block waits for every child, however the block is left. No child
//   outlives its group. The body's own locals are destroyed before that wait, so a child
//   refers to what is declared before the block, never inside it. For the same reason a
//   group is entered with aw::async_with only: aw::enter and exit_stack::enter_context
//   refuse it at compile time (their exits run after the entering code's locals are gone).
// - The first failure (of a child, or of the block itself) cancels the group: the block
//   and every child get aw::cancelled at their next wait. When the children are done, all
//   failures are raised together as one aw::exception_group (always a group, even of one,
//   as anyio 4 does); aw::cancelled is never one of them.
// - The group is a cancel scope: cancel() cancels the block and every child; the
//   cancellation is then swallowed by the group, not an error. A cancelled outer scope
//   reaches the children too. cancel() before the block takes effect when it is entered;
//   after the block it only sets cancel_called().
// - Leaving the block is a cancellation point: inside a cancelled scope it raises
//   aw::cancelled once the children are done.
// - A group is entered once. It takes new children (start_soon, start) from the block's
//   start until the block has exited and its last child has finished: children may start
//   siblings while the block waits for them. Then it is closed to new arrivals (trio):
//   start_soon and start are std::logic_error, as they are before the block.
#pragma once

#include <aw/async_with.hpp>
#include <aw/detail/assert.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/exception_group.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
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
    if (trace_on) [[unlikely]]
      trace_task_adopt(ctx, h);
    return false;
  }
  void await_resume() const noexcept {}
};

// What start() waits for, in the caller's frame: the value or the failure, and the scope
// the child runs in until started() moves it into the group.
template <class T>
struct start_state {
  scope_state start_scope;  // under the caller's innermost scope: its cancellation reaches the child
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  std::exception_ptr error;
  std::coroutine_handle<> caller;
};

struct deduce_status {};
template <class P>
struct status_value {
  using type = void;
};

}  // namespace detail

class task_group;

// The child's end of task_group::start: started(value) hands the value to start()'s caller
// and moves the child into the group. Calling it twice is std::logic_error. Called while
// start()'s caller is cancelled, it only keeps the value: the child stays in the caller's
// scopes (trio), so start() raises aw::cancelled at the child's next wait.
template <class T = void>
class task_status {
 public:
  task_status(const task_status&) = delete;
  task_status& operator=(const task_status&) = delete;

  template <class U = T>
    requires(!std::is_void_v<T> && std::is_convertible_v<U &&, T>)
  void started(U&& value) {
    check();
    state_->value.emplace(std::forward<U>(value));
    hand_over();
  }
  void started()
    requires std::is_void_v<T>
  {
    check();
    state_->value.emplace(true);
    hand_over();
  }
  // True until started() is called.
  bool pending() const noexcept { return !started_; }

 private:
  friend class task_group;
  task_status(task_group* g, detail::start_state<T>* st, detail::task_context* ctx) noexcept : group_(g), state_(st), ctx_(ctx) {}
  void check() const {
    if (started_) throw std::logic_error("aw::task_status::started: called twice on the same task status");
  }
  inline void hand_over() noexcept;

  task_group* group_;
  detail::start_state<T>* state_;  // null once the child has moved into the group
  detail::task_context* ctx_;
  bool started_ = false;
};

namespace detail {
template <class X>
struct status_value<task_status<X>> {
  using type = X;
};
// The X of a callable's last parameter aw::task_status<X>&; void when there is none or the
// callable is generic.
template <class... P>
struct last_status {
  using type = void;
};
template <class P>
struct last_status<P> {
  using type = typename status_value<std::remove_cvref_t<P>>::type;
};
template <class P0, class P1, class... P>
struct last_status<P0, P1, P...> : last_status<P1, P...> {};
template <class F>
struct status_of_callable {
  using type = void;
};
template <class R, class... P>
struct status_of_callable<R (*)(P...)> : last_status<P...> {};
template <class R, class C, class... P>
struct status_of_callable<R (C::*)(P...)> : last_status<P...> {};
template <class R, class C, class... P>
struct status_of_callable<R (C::*)(P...) const> : last_status<P...> {};
template <class F>
  requires requires { &F::operator(); }
struct status_of_callable<F> : status_of_callable<decltype(&F::operator())> {};
template <class R, class... P>
struct status_of_callable<R(P...)> : last_status<P...> {};
}  // namespace detail

class task_group {
 public:
  // The children may use the block's enclosing code's locals: aw::enter and
  // exit_stack::enter_context, whose exits run after those are gone, refuse a group.
  static constexpr bool exit_waits_for_tasks = true;

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

  // Starts fn(args...) (a callable returning aw::task<T>, or any other awaitable, which
  // the child awaits) as a child of the group.
  template <class F, class... A>
  void start_soon(F&& fn, A&&... args) {
    // Called as std::thread calls: with the copies, as rvalues (so a move-only argument
    // can be taken by value; pass std::ref for a reference).
    constexpr bool invocable = std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>;
    static_assert(invocable,
                  "aw::task_group::start_soon: fn cannot be called with these arguments (they are copied into the child and "
                  "passed as rvalues, as std::thread does: wrap a reference parameter's argument in std::ref)");
    if constexpr (invocable) {
      constexpr bool returns_awaitable = awaitable<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>;
      static_assert(returns_awaitable, "aw::task_group::start_soon: the callable must return aw::task<T> or another awaitable");
      if constexpr (returns_awaitable) {
        check_open("aw::task_group::start_soon");
        auto child = run_child(this, std::forward<F>(fn), std::forward<A>(args)...);
        if (detail::trace_on) [[unlikely]]
          trace_child(child.h, fn);
        ++pending_;
        loop_->schedule(child.h);
      }
    }
  }

  template <class T, class F, class... A>
  class [[nodiscard("co_await it: start() returns when the child has called started()")]] start_awaiter {
   public:
    start_awaiter(task_group* g, F fn, A... args) : group_(g), fn_(std::move(fn)), args_(std::move(args)...) {}
    start_awaiter(const start_awaiter&) = delete;
    start_awaiter& operator=(const start_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
      detail::task_context* ctx = detail::context_of(h);
      if (!ctx) throw std::logic_error("aw::task_group::start: await it in an aw::task running under aw::run");
      group_->check_open("aw::task_group::start");
      state_.caller = h;
      state_.start_scope.link(ctx->innermost());
      auto child =
          std::apply([&](A&... a) { return task_group::run_started_child<T>(group_, &state_, std::move(fn_), std::move(a)...); }, args_);
      if (detail::trace_on) [[unlikely]] {
        group_->trace_child(child.h, fn_);
        detail::trace_wait(ctx, h, detail::trace_kind::start, nullptr);
      }
      ++group_->pending_;
      group_->loop_->schedule(child.h);
    }
    auto await_resume() {
      if (state_.error) std::rethrow_exception(state_.error);
      if constexpr (std::is_void_v<T>)
        return;
      else
        return std::move(*state_.value);
    }

   private:
    task_group* group_;
    F fn_;
    std::tuple<A...> args_;
    detail::start_state<T> state_;
  };

  // Starts fn(args..., status) as a child and waits until it calls status.started(value);
  // returns the value (anyio: `value = await tg.start(fn, *args)`).
  template <class T = detail::deduce_status, class F, class... A>
  auto start(F&& fn, A&&... args) {
    using V = std::conditional_t<std::is_same_v<T, detail::deduce_status>, typename detail::status_of_callable<std::decay_t<F>>::type, T>;
    static_assert(!std::is_reference_v<V>, "aw::task_group::start: the started value is returned by value; use a pointer or std::ref");
    constexpr bool invocable = std::is_invocable_v<std::decay_t<F>, std::decay_t<A>..., task_status<V>&>;
    static_assert(invocable,
                  "aw::task_group::start: fn cannot be called as fn(args..., aw::task_status<T>&) (args are copied into the child "
                  "and passed as rvalues; T is deduced from fn's last parameter, or given as start<T>(...))");
    if constexpr (invocable) {
      static_assert(awaitable<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>..., task_status<V>&>>,
                    "aw::task_group::start: the callable must return aw::task<T> or another awaitable");
    }
    return start_awaiter<V, std::decay_t<F>, std::decay_t<A>...>(this, std::forward<F>(fn), std::forward<A>(args)...);
  }

  // Cancels the block and every child (anyio: tg.cancel_scope.cancel()): now (if entered)
  // or as soon as it is entered. After the block it only marks the group, as
  // cancel_scope::cancel() does: the task that entered it may be gone.
  void cancel() noexcept {
    if (host_)
      scope_.cancel();
    else
      scope_.cancel_called = true;
  }
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
    AW_ASSERT(pending_ == 0 && scope_.tasks.empty(), "a task group's block exits after its children have finished");
    active_ = false;
    const bool outer = scope_.outer_cancellation_visible();
    const bool mine = scope_.cancel_called && !outer;
    std::exception_ptr misnested;
    try {
      detail::leave_scope(host_, &scope_);
    } catch (const std::logic_error&) {  // scopes left out of order: raised, with the children's errors
      misnested = std::current_exception();
    }
    scope_.owner = nullptr;  // the entering task may end before the group does
    host_ = nullptr;
    if (misnested && errors_.empty()) std::rethrow_exception(misnested);
    if (misnested) errors_.push_back(misnested);
    if (!errors_.empty()) throw exception_group("unhandled errors in a task group", std::move(errors_));
    // Leaving a group is a cancellation point (trio's nursery, anyio): a block that ended
    // normally inside a cancelled outer scope raises aw::cancelled here.
    if (outer && !e) throw cancelled{};
    co_return e&& mine&& detail::is_cancellation(e);
  }

 private:
  // A group takes children from entering until its block has exited and its last child
  // has finished (trio's nursery): a child accepted later would outlive the group.
  void check_open(const char* what) const {
    if (active_) return;
    if (entered_once_)
      throw std::logic_error(std::string(what) +
                             ": the task group is closed to new arrivals (its block has exited and its children have finished)");
    throw std::logic_error(std::string(what) + ": the task group is not active (start children inside its block)");
  }

  struct wait_for_children {
    task_group* self;
    bool await_ready() const noexcept { return self->pending_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept {  // not interruptible: children must end first
      self->waiter_ = h;
      if (detail::trace_on) [[unlikely]]
        detail::trace_wait(self->host_, h, detail::trace_kind::join, nullptr);
    }
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
    if (detail::trace_on) [[unlikely]]
      detail::trace_task_end(&ctx);
    g->unlink_child(&ctx);
    g->child_finished(std::move(failure));
  }

  template <class T, class F, class... A>
  static detail::child_coroutine run_started_child(task_group* g, detail::start_state<T>* st, F fn, A... args) {
    detail::task_context ctx;
    co_await detail::adopt_context{&ctx};
    ctx.scope = &st->start_scope;
    st->start_scope.tasks.push_front(ctx);
    task_status<T> status(g, st, &ctx);
    std::exception_ptr failure;
    try {
      co_await std::invoke(std::move(fn), std::move(args)..., status);
    } catch (...) {
      failure = std::current_exception();
    }
    if (detail::trace_on) [[unlikely]]
      detail::trace_task_end(&ctx);
    if (status.state_) {
      // It ended under start(), before started() or after a started() that the caller's
      // cancellation left in place: its failure is start()'s, not the group's (trio, anyio).
      detail::intrusive_list<detail::task_context>::erase(ctx);
      st->start_scope.unlink();
      if (failure)
        st->error = std::move(failure);
      else if (!st->value)
        st->error = std::make_exception_ptr(std::logic_error("aw::task_group::start: the child returned without calling started()"));
      g->loop_->schedule(st->caller);
      g->child_finished(nullptr);
    } else {
      g->unlink_child(&ctx);
      g->child_finished(std::move(failure));
    }
  }

  // started(): the child leaves the caller's scopes for the group's. The scopes it entered
  // itself go with it; a shield or exit scope in its chain is re-pointed without linking.
  template <class T>
  void adopt_started(detail::start_state<T>* st, detail::task_context* ctx) noexcept {
    detail::intrusive_list<detail::task_context>::erase(*ctx);
    detail::scope_state* moved = nullptr;
    if (ctx->innermost() == &st->start_scope) {
      ctx->scope = &scope_;
    } else {
      for (detail::scope_state* s = ctx->scope; s; s = s->parent)
        if (s->parent == &st->start_scope) {
          if (s->linked()) {
            s->unlink();
            s->link(&scope_);
            moved = s;
          } else {
            s->parent = &scope_;
          }
          break;
        }
    }
    st->start_scope.unlink();
    link_child(ctx);
    // A group cancelled before the child arrived cancels what came with it: the tasks the
    // child started are asleep in waits that no cancel() interrupted (the child itself is
    // running: its next wait sees the cancellation).
    if (moved) moved->deliver();
    loop_->schedule(st->caller);
  }

  template <class>
  friend class task_status;

  void link_child(detail::task_context* c) noexcept { scope_.tasks.push_front(*c); }

  // Names the child's track after fn: a function by its symbol, a lambda or other callable
  // by its type. The child's context lives in its frame, created at its first step: the
  // trace learns it from the handle.
  template <class F>
  void trace_child(std::coroutine_handle<> h, const F& fn) noexcept {
    using D = std::decay_t<F>;
    if constexpr (std::is_pointer_v<D> && std::is_function_v<std::remove_pointer_t<D>>)
      detail::trace_task_start_pending(h, host_, nullptr, reinterpret_cast<const void*>(fn));
    else
      detail::trace_task_start_pending(h, host_, &typeid(D), nullptr);
  }
  void unlink_child(detail::task_context* c) noexcept { detail::intrusive_list<detail::task_context>::erase(*c); }

  void child_finished(std::exception_ptr failure) {
    if (failure && !(detail::is_cancellation(failure) && scope_.effectively_cancelled())) {
      errors_.push_back(std::move(failure));
      scope_.cancel();
    }
    if (--pending_ == 0 && waiter_) {
      active_ = false;  // closed now, not when the host resumes: another task may run first
      loop_->schedule(std::exchange(waiter_, nullptr));
    }
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

template <class T>
inline void task_status<T>::hand_over() noexcept {
  started_ = true;
  // A child moved out of a cancelled caller could carry an aw::cancelled that is already
  // unwinding it into a group where no cancelled scope catches it (trio): it stays.
  if (state_->start_scope.effectively_cancelled()) return;
  group_->adopt_started(std::exchange(state_, nullptr), ctx_);
}

}  // namespace aw
