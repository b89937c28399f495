// aw::exit_stack: Python's contextlib.AsyncExitStack. A dynamic number of managers and
// callbacks, exited in reverse order with full `async with` semantics.
//
//   co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
//     std::vector<aw::files::file*> files;
//     for (auto& name : names) files.push_back(&co_await stack.enter_context(aw::files::open(name)));
//     stack.callback([]() -> aw::task<> {
//       std::puts("all closed");
//       co_return;
//     });
//     ...
//   });
//
// - enter_context(m): enters m now; gives its resource. m's exit is pushed.
// - push_exit(f): pushes f(std::exception_ptr), an awaitable of bool or void, as an exit
//   (push_async_exit); push_exit(manager) pushes a manager's aexit without entering it.
// - callback(f, args...): pushes f(args...), an awaitable; it does not see the exception
//   and never suppresses (push_async_callback).
// - pop_all(): moves every pending exit into a new stack and leaves this one empty.
// - aclose(): runs every exit now, as if leaving the block without an exception.
// As a manager, aexit(e) runs every exit; each sees the exception current at its turn
// (suppressed ones clear it, raising ones replace it).
// Managers entered as lvalues are referenced and must outlive the stack; rvalues are
// moved into it. A manager whose exit waits for tasks (aw::task_group) cannot be entered
// (aw::enter_allowed): the stack's exits run after the code that filled it has ended. A stack destroyed with exits pending does not run
// them (a destructor cannot await): the debug mode reports those managers as never exited.
#pragma once

#include <aw/context.hpp>
#include <aw/detail/exit_record.hpp>
#include <aw/task.hpp>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace aw {
namespace detail {

template <class A>
task<bool> await_as_false(A a) {
  co_await std::move(a);
  co_return false;
}

// An exit callback f(std::exception_ptr).
template <class F>
struct exit_callback_record final : exit_record {
  explicit exit_callback_record(F&& fn) : f(std::forward<F>(fn)) {
    run = &run_exit;
    destroy = &destroy_record<exit_callback_record>;
  }
  static exit_frame run_exit(exit_record* self, const std::exception_ptr& e) {
    return as_exit_call(std::invoke(static_cast<exit_callback_record*>(self)->f, std::exception_ptr(e))).release_frame();
  }
  std::remove_cvref_t<F> f;
};

// A callback f(args...) that sees no exception and never suppresses.
template <class F, class... A>
struct callback_record final : exit_record {
  template <class G, class... B>
  explicit callback_record(G&& fn, B&&... a) : f(std::forward<G>(fn)), args(std::forward<B>(a)...) {
    run = &run_exit;
    destroy = &destroy_record<callback_record>;
  }
  static exit_frame run_exit(exit_record* self, const std::exception_ptr&) {
    auto* r = static_cast<callback_record*>(self);
    if constexpr (std::is_same_v<decltype(std::apply(r->f, r->args)), task<void>>)
      return exit_call(std::apply(r->f, r->args)).release_frame();
    else
      return exit_call(await_as_false(std::apply(r->f, r->args))).release_frame();  // whatever it gives, it never suppresses
  }
  F f;
  std::tuple<A...> args;
};

template <class Record, class... X>
Record* new_record(X&&... x) {
  void* p = frame_allocate(sizeof(Record));
  try {
    return ::new (p) Record(std::forward<X>(x)...);
  } catch (...) {
    frame_deallocate(p, sizeof(Record));
    throw;
  }
}

}  // namespace detail

class [[nodiscard(
    "an exit_stack runs its exits when it is left or aclose()d: enter it (co_await aw::async_with(aw::exit_stack{}, body)) or keep "
    "it")]] exit_stack {
  template <class M>
  class [[nodiscard("co_await stack.enter_context(m)")]] entering_awaiter {
   public:
    entering_awaiter(detail::exit_record** head, M&& m) : entering_(head, std::forward<M>(m)) {}
    entering_awaiter(entering_awaiter&&) noexcept = default;
    [[gnu::always_inline]] ~entering_awaiter() = default;
    [[gnu::always_inline]] bool await_ready() {
      if constexpr (detail::entering<M>::runs_in_place)
        return false;  // await_suspend runs aenter: it needs the awaiting task
      else
        return entering_.ready();
    }
    template <class H>
    [[gnu::always_inline]] decltype(auto) await_suspend(H h) {
      if constexpr (detail::entering<M>::runs_in_place)
        return !entering_.start(h);  // false: go on at once
      else
        return entering_.suspend(h);
    }
    [[gnu::always_inline]] detail::entered_t<M> await_resume() { return entering_.resume(); }

   private:
    detail::entering<M> entering_;
  };

 public:
  exit_stack() noexcept = default;
  exit_stack(exit_stack&& o) noexcept : head_(std::exchange(o.head_, nullptr)) {}
  exit_stack& operator=(exit_stack&&) = delete;
  ~exit_stack() { detail::destroy_exit_records(head_); }

  bool empty() const noexcept { return head_ == nullptr; }

  // Enters `m` and pushes its exit; gives the resource (a reference that lives until the
  // exit ran), or nothing for a void aenter.
  template <class M>
  auto enter_context(M&& m) {
    if constexpr (detail::check_manager<std::remove_cvref_t<M>>()) {
      constexpr bool allowed = enter_allowed<std::remove_cvref_t<M>>;
      static_assert(allowed,
                    "aw::exit_stack::enter_context: this manager's exit waits for tasks (a task group), which may use the local "
                    "variables of the code that entered it, destroyed before the stack's exits run: enter it with aw::async_with");
      if constexpr (allowed)
        return entering_awaiter<M>(&head_, std::forward<M>(m));
      else
        return detail::refused<detail::entered_t<M>>{};
    } else {
      return task<void>{};
    }
  }

  // Pushes an exit: a callable f(std::exception_ptr) awaiting to bool (true suppresses) or
  // void, or a manager whose aexit is pushed without entering it.
  template <class F>
  void push_exit(F&& f) {
    if constexpr (async_context_manager<std::remove_cvref_t<F>>) {
      push(detail::new_manager_record<F>(std::forward<F>(f)));
    } else {
      static_assert(std::is_invocable_v<std::remove_reference_t<F>&, std::exception_ptr>,
                    "aw::exit_stack::push_exit: give an async context manager or a callable f(std::exception_ptr)");
      if constexpr (std::is_invocable_v<std::remove_reference_t<F>&, std::exception_ptr>) {
        using A = std::invoke_result_t<std::remove_reference_t<F>&, std::exception_ptr>;
        static_assert(awaitable<A>, "aw::exit_stack::push_exit: the callable must return an awaitable of bool or void");
        if constexpr (awaitable<A>) {
          static_assert(std::is_void_v<await_result_t<A>> || std::is_same_v<std::remove_cvref_t<await_result_t<A>>, bool>,
                        "aw::exit_stack::push_exit: awaiting the callable's result must give bool or void");
          push(detail::new_record<detail::exit_callback_record<F>>(std::forward<F>(f)));
        }
      }
    }
  }

  // Pushes f(args...) (an awaitable); arguments are stored by value until it runs.
  template <class F, class... A>
  void callback(F&& f, A&&... args) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>,
                  "aw::exit_stack::callback: the callable cannot be called with these arguments");
    if constexpr (std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>) {
      static_assert(awaitable<std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>>,
                    "aw::exit_stack::callback: the callable must return an awaitable, such as aw::task<>");
      if constexpr (awaitable<std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>>) {  // one error, not two
        using record = detail::callback_record<std::decay_t<F>, std::decay_t<A>...>;
        push(detail::new_record<record>(std::forward<F>(f), std::forward<A>(args)...));
      }
    }
  }

  // Moves every pending exit into a new stack (for handing resources to a caller once
  // setup succeeded).
  exit_stack pop_all() noexcept {
    exit_stack s;
    s.head_ = std::exchange(head_, nullptr);
    return s;
  }

  // Runs every pending exit now, most recent first. Throws what the last raising exit raised.
  task<> aclose() { return detail::unwind(head_, nullptr, detail::rethrow_raised{}); }

  detail::ready<exit_stack&> aenter() noexcept { return {*this}; }

  task<bool> aexit(std::exception_ptr e) {
    detail::unwind_result r;
    co_await detail::unwind(head_, e, [&r](detail::unwind_result x) { r = std::move(x); });
    if (r.raised && r.raised != e) std::rethrow_exception(r.raised);
    co_return r.suppressed;
  }

 private:
  void push(detail::exit_record* r) noexcept {
    r->next = head_;
    head_ = r;
  }
  detail::exit_record* head_ = nullptr;
};

}  // namespace aw
