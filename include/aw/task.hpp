// aw::task<T>: the coroutine type of asyncwith, Python's `async def`.
//
// A task is lazy: calling a coroutine that returns aw::task<T> allocates its frame and
// runs nothing until the task is awaited (or handed to aw::run). Awaiting it runs it to
// completion and gives its value, or rethrows its exception. A task is move-only and
// must be awaited exactly once; AW_DEBUG=1 reports one that was dropped unawaited.
//
//   aw::task<int> answer() { co_return 42; }
//   aw::task<> main_task() {
//     int x = co_await answer();
//     std::printf("%d\n", x);
//   }
//
// Resuming the awaiter when a task ends is a symmetric transfer (await_suspend returns
// the next coroutine), so a chain of a million nested awaits runs in constant stack.
// A task also carries the exits that aw::enter registered; they run, in reverse order of
// entering, between the end of the body and the resumption of the awaiter.
#pragma once

#include <aw/detail/debug.hpp>
#include <aw/detail/frame_allocator.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace aw {

template <class T = void>
class task;

namespace detail {

struct exit_record;
struct task_context;
void destroy_exit_records(exit_record* head) noexcept;
// State shared by every promise type of the library: frame allocation, the awaiter to
// resume at the end, the exception, and the exits registered by aw::enter.
class promise_base {
 public:
  static void* operator new(std::size_t n) { return frame_allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_deallocate(p, n); }

  promise_base() = default;
  promise_base(const promise_base&) = delete;
  promise_base& operator=(const promise_base&) = delete;
  ~promise_base() {
    if (exits_) [[unlikely]]
      destroy_exit_records(exits_);  // the frame died suspended: nothing can await them now
    if (exit_driver_) exit_driver_.destroy();
  }

  std::suspend_always initial_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  task_context* ctx_ = nullptr;  // the task (in anyio's sense) this frame runs in
  // Settled, with the outcome of aw::enter's exits, before the awaiter resumes.
  std::exception_ptr exception_;
  exit_record* exits_ = nullptr;                   // aw::enter's exits, most recent first
  std::coroutine_handle<> exit_driver_ = nullptr;  // the coroutine running them
};

// Hands the awaiting frame's task context to a frame it starts (when the awaiter is a
// frame of this library; a foreign coroutine has none to give).
template <class P>
void inherit_context(promise_base& child, std::coroutine_handle<P> awaiting) noexcept;

template <class P>
std::coroutine_handle<> start_deferred_exits(std::coroutine_handle<P> h) noexcept;

template <class P>
struct final_awaiter {
  bool await_ready() noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    P& p = h.promise();
    if (p.exits_) [[unlikely]]
      return start_deferred_exits(h);
    return p.continuation_;
  }
  void await_resume() noexcept {}
};

template <class T>
class promise final : public promise_base {
 public:
  using is_task_promise = void;
  task<T> get_return_object() noexcept;
  final_awaiter<promise> final_suspend() noexcept { return {}; }

  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
    has_value_ = true;
  }

  promise() noexcept {}
  ~promise() { reset_value(); }

  bool has_value() const noexcept { return has_value_; }
  void reset_value() noexcept {
    if (has_value_) {
      value_.~T();
      has_value_ = false;
    }
  }
  T take() {
    if (exception_) [[unlikely]]
      std::rethrow_exception(exception_);
    return std::move(value_);
  }
  // The value, for a caller that has seen there is no exception.
  T& value() noexcept { return value_; }

 private:
  union {
    T value_;
  };
  bool has_value_ = false;
};

template <class T>
class promise<T&> final : public promise_base {
 public:
  using is_task_promise = void;
  task<T&> get_return_object() noexcept;
  final_awaiter<promise> final_suspend() noexcept { return {}; }
  void return_value(T& v) noexcept { value_ = std::addressof(v); }
  bool has_value() const noexcept { return value_ != nullptr; }
  void reset_value() noexcept { value_ = nullptr; }
  T& take() {
    if (exception_) [[unlikely]]
      std::rethrow_exception(exception_);
    return *value_;
  }

 private:
  T* value_ = nullptr;
};

template <>
class promise<void> final : public promise_base {
 public:
  using is_task_promise = void;
  task<void> get_return_object() noexcept;
  final_awaiter<promise> final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  bool has_value() const noexcept { return true; }
  void reset_value() noexcept {}
  void take() {
    if (exception_) [[unlikely]]
      std::rethrow_exception(exception_);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard("a task does nothing until it is awaited: co_await it")]] task {
 public:
  using promise_type = detail::promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : h_(h) {}
  task(task&& o) noexcept : h_(std::exchange(o.h_, nullptr)), started_(o.started_) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      destroy();
      h_ = std::exchange(o.h_, nullptr);
      started_ = o.started_;
    }
    return *this;
  }
  ~task() { destroy(); }

  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }

  struct awaiter {
    handle_type h;
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      detail::inherit_context(h.promise(), awaiting);
      h.promise().continuation_ = awaiting;
      return h;
    }
    decltype(auto) await_resume() { return h.promise().take(); }
  };

  // Awaiting runs the task; it may be awaited once (again is std::logic_error).
  awaiter operator co_await() && { return start(); }
  awaiter operator co_await() & { return start(); }

  // For the library's own drivers (aw::run, exit drivers): gives up ownership of the frame.
  handle_type release() noexcept {
    started_ = true;
    return std::exchange(h_, nullptr);
  }
  // The frame, for naming the task after its coroutine (the trace of aw::run's main task).
  std::coroutine_handle<> handle_for_trace() const noexcept { return h_; }

 private:
  awaiter start() {
    if (!h_ || started_) [[unlikely]]
      throw std::logic_error(h_ ? "aw::task awaited twice" : "awaiting an empty aw::task (moved from or default-constructed)");
    started_ = true;
    return awaiter{h_};
  }
  void destroy() noexcept {
    if (h_) {
      if (!started_ && detail::debug_on) [[unlikely]]
        detail::debug_task_dropped(h_);
      h_.destroy();
      h_ = nullptr;
    }
  }

  handle_type h_ = nullptr;
  bool started_ = false;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<promise>::from_promise(*this)};
}
template <class T>
task<T&> promise<T&>::get_return_object() noexcept {
  return task<T&>{std::coroutine_handle<promise>::from_promise(*this)};
}
inline task<void> promise<void>::get_return_object() noexcept { return task<void>{std::coroutine_handle<promise>::from_promise(*this)}; }

template <class P>
void inherit_context(promise_base& child, std::coroutine_handle<P> awaiting) noexcept {
  if constexpr (std::is_base_of_v<promise_base, P>) child.ctx_ = awaiting.promise().ctx_;
}

// The task context of a library frame (null for a foreign coroutine).
template <class P>
task_context* context_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (std::is_base_of_v<promise_base, P>)
    return h.promise().ctx_;
  else
    return nullptr;
}

// Gives the task context of the coroutine that awaits it, without suspending.
struct current_context {
  task_context* ctx = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<promise_base, P>) ctx = h.promise().ctx_;
    return false;
  }
  task_context* await_resume() const noexcept { return ctx; }
};

template <class X>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<task<T>> = true;
}  // namespace detail

}  // namespace aw

#include <aw/detail/exit_record.hpp>
