// aw::async_with: the block form of `async with`.
//
//   // async with aiofiles.open("a") as a, aiofiles.open("b", "w") as b: ...
//   co_await aw::async_with(open_a, open_b, [&](auto& a, auto& b) -> aw::task<> {
//     co_await b.write(co_await a.read());
//   });
//
// Managers are entered left to right and exited right to left, as nested blocks: when
// entering the second throws, the first is exited with that exception. Each exit is
// awaited on every path out of the body (return, exception, cancellation) before
// async_with completes. The body gets the resources of the managers whose aenter gives
// one (managers whose aenter gives void add no parameter) and returns an aw::task<T>, or
// any other awaitable of T (awaited in the block as it is).
//
// The result: void for a void body. For a body of aw::task<T> (or an awaitable of T), T
// when no manager can
// suppress an exception (every aexit awaits to void), std::optional<T> when one can
// (empty when an exception was suppressed); a reference T& becomes
// std::optional<std::reference_wrapper<T>>.
//
// Managers passed as lvalues are used in place and must outlive the block; rvalues are
// moved into the block's frame. An exception thrown by an exit replaces the one in
// flight, which aw::exception_context(new) still gives (the latest raise's: an exception
// object raised again links to the exception in flight then).
#pragma once

#include <aw/context.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/detail/debug.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace aw {
namespace detail {

// What a body returns: an aw::task<T> or any other awaitable (an HTTP request object,
// aw::sleep(...)), awaited as it is. `value` is what awaiting it gives, as a value unless
// it is an lvalue reference.
template <class A>
struct body_traits {
  static constexpr bool is_awaitable = false;
};
template <class A>
  requires awaitable<A>
struct body_traits<A> {
  static constexpr bool is_awaitable = true;
  using value = std::conditional_t<std::is_lvalue_reference_v<await_result_t<A>>, await_result_t<A>,
                                   std::remove_cv_t<std::remove_reference_t<await_result_t<A>>>>;
};

template <class T, bool MaySuppress>
struct with_result {
  using type = T;
};
template <class T>
struct with_result<T, true> {
  using type = std::optional<T>;
};
template <class T>
struct with_result<T&, true> {
  using type = std::optional<std::reference_wrapper<T>>;
};
template <>
struct with_result<void, true> {
  using type = void;
};

// The resources handed to the body so far, as a tuple of references. A manager whose
// aenter gives void adds none (a specialization, not std::conditional_t, which would form
// a reference to void).
template <class Res, class R>
struct add_resource {
  using type = decltype(std::tuple_cat(std::declval<Res>(), std::declval<std::tuple<std::remove_reference_t<R>&>>()));
};
template <class Res>
struct add_resource<Res, void> {
  using type = Res;
};
template <class Res, class M>
using add_resource_t = typename add_resource<Res, resource_t<M>>::type;

template <class Body, class Res>
struct body_result;
template <class Body, class... R>
struct body_result<Body, std::tuple<R...>> {
  static constexpr bool invocable = std::is_invocable_v<Body&, R...>;
  using type = typename std::conditional_t<invocable, std::invoke_result<Body&, R...>, std::type_identity<void>>::type;
};

// The resource types seen after entering every manager in Ms.
template <class Res, class... Ms>
struct all_resources {
  using type = Res;
};
template <class Res, class M, class... Ms>
struct all_resources<Res, M, Ms...> {
  using type = typename all_resources<add_resource_t<Res, M>, Ms...>::type;
};

template <class Out, class T>
Out wrap_result(T&& v) {
  if constexpr (std::is_reference_v<T> && !std::is_reference_v<Out>)
    return Out(std::ref(v));
  else
    return static_cast<Out>(std::forward<T>(v));
}

// Holds the body's result while the exits run.
template <class Out>
struct result_slot {
  std::optional<Out> v;
  void set(Out&& x) { v.emplace(std::move(x)); }
  Out take() { return std::move(*v); }
};
template <class Out>
struct result_slot<Out&> {
  Out* v = nullptr;
  void set(Out& x) { v = std::addressof(x); }
  Out& take() { return *v; }
};
template <>
struct result_slot<void> {};

// Holds what aenter gave while the body runs.
template <class R>
struct resource_slot {
  std::optional<R> v;
  template <class A>
  R& set(A&& x) {
    return v.emplace(std::forward<A>(x));
  }
};
template <class R>
struct resource_slot<R&> {
  R& set(R& x) { return x; }
};

// One level of nesting: enter `m`, run the next level (or the body), exit `m`.
// At the outermost level the body and the managers given as rvalues are held by value
// in this frame; inner levels refer to them.
template <class Out, class T, class Body, class Res, class M, class... Rest>
task<Out> with_level(Body body, Res resources, M m, Rest... rest) {
  using manager = std::remove_reference_t<M>;
  using R = resource_t<manager>;
  manager& mgr = m;
  debug_entry* entry = debug_on ? debug_enter_manager(mgr, "async_with enter") : nullptr;
  const std::uint32_t span = trace_on ? trace_enter_manager(mgr) : 0;

  [[maybe_unused]] std::conditional_t<std::is_void_v<R>, char, resource_slot<R>> held{};
  [[maybe_unused]] std::remove_reference_t<R>* res = nullptr;
  try {
    if constexpr (std::is_void_v<R>)
      co_await mgr.aenter();
    else
      res = std::addressof(held.set(co_await mgr.aenter()));
  } catch (...) {
    if (entry) debug_exit(entry, std::current_exception(), false, std::current_exception());
    if (span) trace_exit(span, std::current_exception(), false, std::current_exception());
    throw;  // nothing was entered: nothing to exit
  }

  [[maybe_unused]] result_slot<Out> result;
  std::exception_ptr e;
  try {
    auto next = [&] {
      if constexpr (std::is_void_v<R>)
        return resources;
      else
        return std::tuple_cat(resources, std::tuple<std::remove_reference_t<R>&>(*res));
    }();
    if constexpr (sizeof...(Rest) == 0) {
      if constexpr (std::is_void_v<T>)
        co_await std::apply(body, next);
      else
        result.set(wrap_result<Out>(co_await std::apply(body, next)));
    } else {
      auto inner =
          with_level<Out, T, std::remove_reference_t<Body>&, decltype(next), std::remove_reference_t<Rest>&...>(body, next, rest...);
      if constexpr (std::is_void_v<Out>)
        co_await std::move(inner);
      else
        result.set(co_await std::move(inner));
    }
  } catch (...) {
    e = std::current_exception();
  }

  bool suppress = false;
  std::exception_ptr raised;
  // The exit runs shielded from the cancellation that may have caused it.
  shield_guard shielded(co_await current_context{});
  const std::uint64_t mark = e ? exception_context_mark() : 0;
  try {
    if constexpr (exit_may_suppress<manager>)
      suppress = static_cast<bool>(co_await mgr.aexit(e));
    else
      co_await mgr.aexit(e);
  } catch (...) {
    raised = std::current_exception();
  }
  if (entry) [[unlikely]]
    debug_exit(entry, e, suppress && e && !raised, raised);
  if (span) [[unlikely]]
    trace_exit(span, e, suppress && e && !raised, raised);
  if (raised) {
    // Python's raise sets __context__ only while an exception is being handled.
    if (e) set_exception_context(raised, e, mark);
    std::rethrow_exception(raised);
  }
  if (e) {
    if (!suppress) std::rethrow_exception(e);
    if constexpr (exit_may_suppress<manager> && !std::is_void_v<Out>) co_return Out{};
  }
  if constexpr (!std::is_void_v<Out>) co_return result.take();
}

template <class Args, std::size_t... I>
auto start_with(Args&& args, std::index_sequence<I...>) {
  constexpr std::size_t n = sizeof...(I);
  using body_arg = std::tuple_element_t<n, std::remove_reference_t<Args>>;  // B& or B&&
  using body_type = std::conditional_t<std::is_lvalue_reference_v<body_arg>, body_arg, std::remove_cvref_t<body_arg>>;
  using resources =
      typename all_resources<std::tuple<>, std::remove_cvref_t<std::tuple_element_t<I, std::remove_reference_t<Args>>>...>::type;
  using call = body_result<std::remove_reference_t<body_type>, resources>;
  static_assert(call::invocable,
                "aw::async_with: the body cannot be called with the managers' resources (one reference parameter per manager "
                "whose aenter gives a resource, in order)");
  if constexpr (call::invocable) {
    static_assert(body_traits<typename call::type>::is_awaitable,
                  "aw::async_with: the body must return aw::task<T> or another awaitable (write it as a coroutine lambda: [&](auto& r) "
                  "-> aw::task<> { ... })");
    if constexpr (body_traits<typename call::type>::is_awaitable) {
      using T = typename body_traits<typename call::type>::value;
      constexpr bool may_suppress = (exit_may_suppress<std::remove_cvref_t<std::tuple_element_t<I, std::remove_reference_t<Args>>>> || ...);
      using Out = typename with_result<T, may_suppress>::type;
      // Managers given as rvalues are moved into the frame as xvalues, never passed on
      // as prvalues. (That keeps this frame right under g++ 12's aggregate-temporary bug,
      // doc/toolchain.md and doc/gcc12_prvalue_param.cpp, but cannot fix the caller's: the
      // temporary lives in the caller's frame. README, "Known compiler bugs".)
      return with_level<Out, T, body_type, std::tuple<>,
                        std::conditional_t<std::is_lvalue_reference_v<std::tuple_element_t<I, std::remove_reference_t<Args>>>,
                                           std::tuple_element_t<I, std::remove_reference_t<Args>>,
                                           std::remove_cvref_t<std::tuple_element_t<I, std::remove_reference_t<Args>>>>...>(
          std::get<n>(std::move(args)), std::tuple<>{}, std::get<I>(std::move(args))...);
    } else {
      return task<void>{};
    }
  } else {
    return task<void>{};
  }
}

template <class... Ms>
constexpr bool check_managers() {
  return (check_manager<std::remove_cvref_t<Ms>>() && ...);
}

template <class Args, std::size_t... I>
constexpr bool check_with_managers(std::index_sequence<I...>) {
  return check_managers<std::tuple_element_t<I, Args>...>();
}

}  // namespace detail

// co_await aw::async_with(manager..., body): see the top of this header.
template <class... Args>
auto async_with(Args&&... args) {
  static_assert(sizeof...(Args) >= 2, "aw::async_with(manager..., body): give at least one manager, then the body");
  using all = std::tuple<Args&&...>;
  constexpr auto managers = std::make_index_sequence<sizeof...(Args) - 1>{};
  if constexpr (sizeof...(Args) >= 2) {
    if constexpr (detail::check_with_managers<std::tuple<Args...>>(managers))
      return detail::start_with(all(std::forward<Args>(args)...), managers);
    else
      return task<void>{};
  }
}

}  // namespace aw
