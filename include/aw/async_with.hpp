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
// moved into the block. An exception thrown by an exit replaces the one in
// flight, which aw::exception_context(new) still gives (the latest raise's: an exception
// object raised again links to the exception in flight then).
//
// async_with gives an awaitable to co_await once, which converts to aw::task<R> for code
// that stores or passes the block as a task (aw::task<int> t = aw::async_with(m, body);).
// A block of one manager whose aenter, aexit and body are aw::task has no coroutine frame
// of its own (detail::with_block): its awaiter runs them in turn. Blocks nested inside
// each other's bodies then take stack while they run without suspending, in proportion to
// their depth, where the other blocks (frames of their own) take none.
#pragma once

#include <aw/context.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/detail/debug.hpp>
#include <aw/detail/exit_record.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
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

// A block of one manager whose aenter, body and aexit are aw::task, the common case,
// driven from its awaiter without a frame of its own: each child runs inside
// await_suspend with the no-op coroutine as its continuation, so that resuming it returns
// here once it has finished. A child that suspends instead hands the rest of the block to
// a coroutine (drive) that it resumes when it finishes. The steps and their order are
// with_level's.
template <class Out, class T, class Body, class M>
class [[nodiscard("a task does nothing until it is awaited: co_await it")]] with_block {
  using manager = std::remove_reference_t<M>;
  using R = resource_t<manager>;
  using enter_handle = typename aenter_awaitable_t<manager>::handle_type;
  using exit_handle = typename aexit_awaitable_t<manager>::handle_type;
  using body_task = typename body_result<std::remove_reference_t<Body>, add_resource_t<std::tuple<>, manager>>::type;
  using body_handle = typename body_task::handle_type;
  // Where the block waits for a child that suspended (entering, in_body, exiting).
  enum class stage : unsigned char { start, entering, in_body, exiting, done };

 public:
  // What the block converts to (aw::run takes a block through it).
  using task_type = task<Out>;
  template <class B, class N>
  with_block(B&& b, N&& m) : body_(std::forward<B>(b)), mgr_(std::forward<N>(m)) {}
  // Until it is awaited (converting it to an aw::task moves it into a coroutine).
  with_block(with_block&& o) : body_(std::forward<Body>(o.body_)), mgr_(std::forward<M>(o.mgr_)) {
    if (o.stage_ != stage::start) throw std::logic_error("aw::async_with: a block can be moved until it is awaited, not after");
  }
  with_block& operator=(with_block&&) = delete;
  ~with_block() {
    if (stage_ != stage::start && stage_ != stage::done) [[unlikely]] {
      // Destroyed while a child was suspended (its awaiter died): the child first.
      child_.destroy();
      if (driver_) driver_.destroy();
    }
  }

  // The block as an aw::task, for code that stores or passes one.
  operator task<Out>() && { return as_task(std::move(*this)); }

  bool await_ready() const {
    if (stage_ != stage::start) [[unlikely]]
      throw std::logic_error("aw::async_with: a block awaited twice");
    return false;
  }
  // Finished at once, it does not suspend the awaiting coroutine (false), which then goes
  // on without being resumed through its frame.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    ctx_ = context_of(awaiting);
    if (advance()) [[likely]]
      return false;
    auto d = drive(*this).release();
    d.promise().ctx_ = ctx_;
    d.promise().continuation_ = awaiting;
    driver_ = d;
    *pending_slot_ = d;  // d starts once the pending child has finished
    return true;
  }
  Out await_resume() {
    if (driver_) [[unlikely]]
      driver_.destroy();
    if (e_) std::rethrow_exception(e_);
    if constexpr (!std::is_void_v<Out>) {
      if constexpr (exit_may_suppress<manager>)
        if (suppressed_) return Out{};
      return result_.take();
    }
  }

 private:
  static task<Out> as_task(with_block b) {
    if constexpr (std::is_void_v<Out>)
      co_await b;
    else
      co_return co_await b;
  }

  // Resumes the pending child when it finishes, then goes on with the block.
  static task<void> drive(with_block& self) {
    while (!self.advance()) co_await await_child{self.pending_slot_};
  }

  manager& mgr() noexcept { return mgr_; }

  // Runs child `h` until it finishes (true) or suspends (false: the block waits at `next`).
  template <class H>
  bool run(H h, stage next) noexcept {
    std::coroutine_handle<>* slot = run_in_place(h, ctx_);
    if (!slot) [[likely]]
      return true;
    child_ = h;
    pending_slot_ = slot;
    stage_ = next;
    return false;
  }

  // Runs the block from where it waits: true once it has finished, false when a child
  // suspended.
  bool advance() noexcept {
    enter_handle enter = nullptr;
    body_handle body = nullptr;
    switch (stage_) {
      case stage::start:
        try {
          if (debug_on) [[unlikely]]
            entry_ = debug_enter_manager(mgr(), "async_with enter");
          if (trace_on) [[unlikely]]
            span_ = trace_enter_manager(mgr());
          enter = mgr().aenter().release();
        } catch (...) {
          return failed_enter(enter);
        }
        if (!run(enter, stage::entering)) return false;
        [[fallthrough]];
      case stage::entering:
        if (!enter) enter = enter_handle::from_address(child_.address());
        try {
          if constexpr (std::is_void_v<R>)
            enter.promise().take();
          else
            res_ = std::addressof(held_.set(enter.promise().take()));
        } catch (...) {
          return failed_enter(enter);
        }
        enter.destroy();
        try {
          if constexpr (std::is_void_v<R>)
            body = std::invoke(body_).release();
          else
            body = std::invoke(body_, *res_).release();
        } catch (...) {
          e_ = std::current_exception();
          return start_exit();
        }
        if (!run(body, stage::in_body)) return false;
        [[fallthrough]];
      case stage::in_body:
        if (!body) body = body_handle::from_address(child_.address());
        try {
          if constexpr (std::is_void_v<T>)
            body.promise().take();
          else
            result_.set(wrap_result<Out>(body.promise().take()));
        } catch (...) {
          e_ = std::current_exception();
        }
        body.destroy();
        return start_exit();
      case stage::exiting:
        finish_exit(exit_handle::from_address(child_.address()));
        return true;
      case stage::done:
        break;
    }
    return true;
  }

  bool failed_enter(enter_handle enter) noexcept {
    e_ = std::current_exception();
    if (enter) enter.destroy();
    if (entry_) debug_exit(entry_, e_, false, e_);
    if (span_) trace_exit(span_, e_, false, e_);
    stage_ = stage::done;  // nothing was entered: nothing to exit
    return true;
  }

  // The exit runs shielded from the cancellation that may have caused it.
  bool start_exit() noexcept {
    shielded_.emplace(ctx_);
    mark_ = e_ ? exception_context_mark() : 0;
    exit_handle exit;
    try {
      exit = mgr().aexit(e_).release();
    } catch (...) {
      settle(false, std::current_exception());
      return true;
    }
    if (!run(exit, stage::exiting)) return false;
    finish_exit(exit);
    return true;
  }

  void finish_exit(exit_handle exit) noexcept {
    bool suppress = false;
    std::exception_ptr raised;
    try {
      if constexpr (exit_may_suppress<manager>)
        suppress = static_cast<bool>(exit.promise().take());
      else
        exit.promise().take();
    } catch (...) {
      raised = std::current_exception();
    }
    exit.destroy();
    settle(suppress, std::move(raised));
  }

  // The block's outcome, in e_: the exception the exit raised, or the body's unless the
  // exit suppressed it.
  void settle(bool suppress, std::exception_ptr raised) noexcept {
    shielded_.reset();
    stage_ = stage::done;
    if (entry_) [[unlikely]]
      debug_exit(entry_, e_, suppress && e_ && !raised, raised);
    if (span_) [[unlikely]]
      trace_exit(span_, e_, suppress && e_ && !raised, raised);
    if (raised) [[unlikely]] {
      // Python's raise sets __context__ only while an exception is being handled.
      if (e_) set_exception_context(raised, e_, mark_);
      e_ = std::move(raised);
    } else if (e_ && suppress) {
      e_ = nullptr;
      suppressed_ = true;
    }
  }

  Body body_;
  M mgr_;
  task_context* ctx_ = nullptr;
  std::coroutine_handle<> child_ = nullptr;          // the child that suspended
  std::coroutine_handle<>* pending_slot_ = nullptr;  // where it finds what to resume when it finishes
  std::coroutine_handle<> driver_ = nullptr;         // drive(), once a child suspended
  [[no_unique_address]] std::conditional_t<std::is_void_v<R>, char, resource_slot<R>> held_{};
  [[no_unique_address]] std::conditional_t<std::is_void_v<R>, char, std::remove_reference_t<R>*> res_{};
  [[no_unique_address]] result_slot<Out> result_;
  std::exception_ptr e_;  // the body's, then what the block raises
  std::optional<shield_guard> shielded_;
  debug_entry* entry_ = nullptr;
  std::uint32_t span_ = 0;  // the trace's span of the manager, or 0
  std::uint64_t mark_ = 0;
  stage stage_ = stage::start;
  bool suppressed_ = false;
};

template <class M, class Body>
constexpr bool frameless_block() {
  using manager = std::remove_cvref_t<M>;
  using body = typename body_result<std::remove_reference_t<Body>, add_resource_t<std::tuple<>, manager>>::type;
  return is_task_v<aenter_awaitable_t<manager>> && is_task_v<aexit_awaitable_t<manager>> && is_task_v<body>;
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
      if constexpr (n == 1) {
        using M0 = std::tuple_element_t<0, std::remove_reference_t<Args>>;
        using manager_arg = std::conditional_t<std::is_lvalue_reference_v<M0>, M0, std::remove_cvref_t<M0>>;
        if constexpr (frameless_block<manager_arg, body_type>())
          return with_block<Out, T, body_type, manager_arg>(std::get<n>(std::move(args)), std::get<0>(std::move(args)));
        else
          return with_level<Out, T, body_type, std::tuple<>, manager_arg>(std::get<n>(std::move(args)), std::tuple<>{},
                                                                          std::get<0>(std::move(args)));
      } else
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
