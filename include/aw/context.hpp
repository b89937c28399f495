// The async context manager protocol: Python's __aenter__/__aexit__ as a C++20 concept.
//
// A type is an async context manager when it has
//   aenter()                      returning an awaitable; its result is the resource the body
//                                 gets (a reference when the manager is its own resource);
//   aexit(std::exception_ptr e)   returning an awaitable of bool or of void. `e` is the
//                                 exception leaving the body, null on success. Awaiting true
//                                 suppresses `e`: control continues after the block. A void
//                                 exit never suppresses.
//
//   struct timer {
//     std::chrono::steady_clock::time_point start;
//     aw::task<timer&> aenter() { start = aw::now(); co_return *this; }
//     aw::task<> aexit(std::exception_ptr) { print(aw::now() - start); co_return; }
//   };
//   static_assert(aw::async_context_manager<timer>);
//
// Obligations of an implementation, which every form (async_with, enter, exit_stack,
// context_manager) relies on:
//   1. aexit is awaited exactly once after aenter completed, and never when aenter threw.
//   2. An exception thrown by aexit replaces `e` (aw::exception_context(new) gives `e`).
//   3. Only the owner of an aw::cancelled may suppress it.
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

namespace aw {
namespace detail {

template <class A>
concept has_member_co_await = requires(A&& a) { static_cast<A&&>(a).operator co_await(); };
template <class A>
concept has_free_co_await = requires(A&& a) { operator co_await(static_cast<A&&>(a)); };
template <class W>
concept is_awaiter = requires(W& w) {
  { w.await_ready() } -> std::convertible_to<bool>;
  w.await_resume();
};

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (has_member_co_await<A>)
    return static_cast<A&&>(a).operator co_await();
  else if constexpr (has_free_co_await<A>)
    return operator co_await(static_cast<A&&>(a));
  else
    return static_cast<A&&>(a);
}

template <class A>
concept has_awaiter = has_member_co_await<A> || has_free_co_await<A> || is_awaiter<A>;

}  // namespace detail

// Anything `co_await` accepts in an aw::task.
template <class A>
concept awaitable = detail::has_awaiter<A> && detail::is_awaiter<std::remove_reference_t<decltype(detail::get_awaiter(std::declval<A>()))>>;

// What `co_await a` gives.
template <awaitable A>
using await_result_t = decltype(detail::get_awaiter(std::declval<A>()).await_resume());

namespace detail {
template <class M>
concept has_aenter = requires(M& m) { m.aenter(); };
template <class M>
concept has_aexit = requires(M& m, std::exception_ptr e) { m.aexit(e); };
template <class M>
using aenter_awaitable_t = decltype(std::declval<M&>().aenter());
template <class M>
using aexit_awaitable_t = decltype(std::declval<M&>().aexit(std::declval<std::exception_ptr>()));

template <class M>
constexpr bool aexit_result_ok() {
  if constexpr (awaitable<aexit_awaitable_t<M>>) {
    using R = await_result_t<aexit_awaitable_t<M>>;
    return std::is_void_v<R> || std::is_same_v<std::remove_cvref_t<R>, bool>;
  } else {
    return false;
  }
}
}  // namespace detail

template <class M>
concept async_context_manager = detail::has_aenter<M> && detail::has_aexit<M> && awaitable<detail::aenter_awaitable_t<M>> &&
                                awaitable<detail::aexit_awaitable_t<M>> && detail::aexit_result_ok<M>();

// The resource a manager hands to the body: what awaiting aenter() gives.
template <async_context_manager M>
using resource_t = await_result_t<detail::aenter_awaitable_t<M>>;

// True when M's exit can suppress an exception (its aexit awaits to bool).
template <async_context_manager M>
inline constexpr bool exit_may_suppress = !std::is_void_v<await_result_t<detail::aexit_awaitable_t<M>>>;

// False for a manager whose exit waits for tasks it started (aw::task_group), which may
// use the local variables of the code that started them. aw::enter and
// exit_stack::enter_context refuse such a manager at compile time: their exits run after
// that code has ended and its locals are destroyed. Enter it with aw::async_with, whose
// exit runs before the enclosing code goes on. A manager says so with a member
// `static constexpr bool exit_waits_for_tasks = true;` (or specialises this).
template <class M>
inline constexpr bool enter_allowed = !requires { requires M::exit_waits_for_tasks; };

namespace detail {

// Readable compile errors for a type used as a manager. Each form calls this first, and
// instantiates nothing else when it fails, so the message is the first and only error.
template <class M>
constexpr bool check_manager() {
  static_assert(has_aenter<M>, "asyncwith: this type is not an async context manager: it has no aenter() member");
  static_assert(has_aexit<M>, "asyncwith: this type is not an async context manager: it has no aexit(std::exception_ptr) member");
  if constexpr (has_aenter<M> && has_aexit<M>) {
    static_assert(awaitable<aenter_awaitable_t<M>>, "asyncwith: aenter() must return an awaitable, such as aw::task<R>");
    static_assert(awaitable<aexit_awaitable_t<M>>,
                  "asyncwith: aexit(std::exception_ptr) must return an awaitable, such as aw::task<bool> or aw::task<>");
    if constexpr (awaitable<aexit_awaitable_t<M>>)
      static_assert(aexit_result_ok<M>(), "asyncwith: awaiting aexit(std::exception_ptr) must give bool (true suppresses) or void");
  }
  return async_context_manager<M>;
}

// An awaitable that is ready at once with a value (used where a manager's aenter has
// nothing to wait for).
template <class T>
struct [[nodiscard("co_await it")]] ready {
  T value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() noexcept { return static_cast<T>(value); }
};

// What a form gives in place of a manager it refused with a static_assert: awaiting it
// gives an R, so that the static_assert stays the only error. await_resume is never
// defined: the program does not compile anyway.
template <class R>
struct refused {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  R await_resume() const noexcept;
};

}  // namespace detail
}  // namespace aw
