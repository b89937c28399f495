// aw::context_manager<R>: the generator form of an async context manager, Python's
// @contextlib.asynccontextmanager.
//
//   aw::context_manager<connection> connect(std::string dsn) {
//     connection c = co_await open_connection(dsn);      // __aenter__
//     try {
//       co_yield c;                                       // the body runs here
//     } catch (...) {
//       log_failure();                                    // the body's exception, rethrown
//       throw;                                            //   out of co_yield; not rethrowing
//     }                                                   //   it suppresses it
//     co_await c.close();                                 // __aexit__ (on success)
//   }
//   co_await aw::async_with(connect(dsn), [&](connection& c) -> aw::task<> { ... });
//
// A manager with no resource is a context_manager<> (or <void>) and does `co_yield {};`.
// Rules, as in Python: the coroutine must yield exactly once. Finishing without yielding
// raises aw::protocol_error("generator didn't yield") from aenter; yielding again raises
// "generator didn't stop" (or "... after athrow()" when the body had thrown) from aexit.
// A manager is entered at most once. The yielded object lives in the coroutine's frame
// while the body runs: yield an lvalue you own, or a temporary, either is safe.
//
// Cleanup that must run on every path goes in a catch-and-rethrow or an RAII guard, as
// in Python's try/finally; co_await is not allowed inside a catch handler, so capture
// std::current_exception(), leave the handler, then await.
#pragma once

#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

namespace aw {

template <class R = void>
class [[nodiscard(
    "a context_manager does nothing until it is entered: co_await aw::async_with(it, body) or aw::enter(it)")]] context_manager {
  using value_type = std::remove_reference_t<R>;
  struct nothing {};
  using yielded_type = std::conditional_t<std::is_void_v<R>, nothing, value_type>;

 public:
  class promise_type : public detail::promise_base {
   public:
    context_manager get_return_object() noexcept { return context_manager(std::coroutine_handle<promise_type>::from_promise(*this)); }

    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept { return h.promise().continuation_; }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}

    struct yield_awaiter {
      promise_type* p;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept { return p->continuation_; }
      void await_resume() const {
        // The body's exception comes back out of co_yield, as athrow() does in Python.
        if (p->thrown_) std::rethrow_exception(std::exchange(p->thrown_, nullptr));
      }
    };

    yield_awaiter yield_value(yielded_type& v) noexcept
      requires(!std::is_void_v<R>)
    {
      return yielded(std::addressof(v));
    }
    yield_awaiter yield_value(yielded_type&& v) noexcept
      requires(!std::is_void_v<R>)
    {
      return yielded(std::addressof(v));
    }
    yield_awaiter yield_value(nothing) noexcept
      requires std::is_void_v<R>
    {
      return yielded(nullptr);
    }

   private:
    friend class context_manager;
    yield_awaiter yielded(yielded_type* v) noexcept {
      value_ = v;
      ++yields_;
      return {this};
    }
    yielded_type* value_ = nullptr;
    unsigned yields_ = 0;
    std::exception_ptr thrown_;
  };

  context_manager(context_manager&& o) noexcept : h_(std::exchange(o.h_, nullptr)), state_(o.state_) {}
  context_manager& operator=(context_manager&&) = delete;
  ~context_manager() {
    if (h_) {
      if (state_ == state::fresh && detail::debug_on) [[unlikely]]
        detail::debug_manager_dropped(typeid(context_manager), h_);
      h_.destroy();
    }
  }

  // The coroutine behind the manager, for the debug mode's reports.
  std::coroutine_handle<> coroutine() const noexcept { return h_; }

  struct [[nodiscard("co_await it")]] enter_awaiter {
    context_manager* self;
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) {
      if (self->state_ != state::fresh)
        throw protocol_error("aw::context_manager: entered twice (a generator-form manager can be entered once)");
      self->state_ = state::entering;
      detail::inherit_context(self->h_.promise(), awaiting);
      self->h_.promise().continuation_ = awaiting;
      return self->h_;
    }
    decltype(auto) await_resume() {
      auto& p = self->h_.promise();
      if (self->h_.done()) {
        self->state_ = state::finished;
        if (p.exception_) std::rethrow_exception(p.exception_);
        throw protocol_error("generator didn't yield");
      }
      self->state_ = state::entered;
      if constexpr (!std::is_void_v<R>) return static_cast<value_type&>(*p.value_);
    }
  };

  struct [[nodiscard("co_await it")]] exit_awaiter {
    context_manager* self;
    std::exception_ptr e;
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) {
      if (self->state_ != state::entered) throw protocol_error("aw::context_manager: aexit without a successful aenter");
      self->state_ = state::finished;
      auto& p = self->h_.promise();
      p.thrown_ = e;
      detail::inherit_context(p, awaiting);  // the exit may run in another task than the enter did
      p.continuation_ = awaiting;
      return self->h_;
    }
    bool await_resume() {
      auto& p = self->h_.promise();
      if (!self->h_.done()) throw protocol_error(e ? "generator didn't stop after athrow()" : "generator didn't stop");
      if (!p.exception_) return static_cast<bool>(e);  // finished normally: an exception was suppressed
      if (p.exception_ == e) return false;             // the body's exception, rethrown: not suppressed
      std::rethrow_exception(p.exception_);            // a new exception replaces the body's
    }
  };

  enter_awaiter aenter() noexcept { return {this}; }
  exit_awaiter aexit(std::exception_ptr e) noexcept { return {this, std::move(e)}; }

 private:
  enum class state : unsigned char { fresh, entering, entered, finished };
  explicit context_manager(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
  state state_ = state::fresh;
};

}  // namespace aw
