// aw::from_thread: from a worker thread of aw::to_thread (or aw::thread_pool::run), run
// something on the loop that started it and wait for it (anyio.from_thread.run,
// anyio.from_thread.run_sync, anyio.from_thread.check_cancelled).
//
//   co_await aw::to_thread([&] {
//     for (auto& row : read_blocking_rows()) {
//       aw::from_thread::check_cancelled();                            // stop early when cancelled
//       aw::from_thread::run([&]() -> aw::task<> { co_await channel.send(row); });  // a coroutine, on the loop
//     }
//     aw::from_thread::run_sync([&] { ++rows_done; });                 // a plain call, on the loop
//   });
//
// Semantics:
// - run(fn, args...) calls fn(args...) (which returns aw::task<T>) on the loop's thread,
//   awaits the task there, and gives its value or rethrows its exception on the worker,
//   which blocks meanwhile. run_sync(fn, args...) calls a plain function the same way. The
//   arguments are passed on as they are (the worker waits, so references stay valid).
// - The task runs inside the cancel scope of the task that awaits the worker (anyio 4): when
//   that scope is cancelled, the task's waits raise aw::cancelled and run() rethrows it on
//   the worker.
// - check_cancelled() raises aw::cancelled on the worker once the awaiting task has been
//   cancelled (or has abandoned the job).
// - A job that was abandoned (abandon_on_cancel) has lost its loop, which may be gone:
//   run, run_sync and check_cancelled raise aw::cancelled (trio's behaviour).
// - Outside a worker of aw::to_thread or aw::thread_pool::run (on the loop's thread, on a
//   thread of your own): std::logic_error. On the loop's thread a blocking call would
//   deadlock; await the task instead.
#pragma once

#include <aw/detail/thread_job.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <functional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace aw {
namespace detail {

template <class T, class F, class... A>
class task_callback final : public callback {
 public:
  explicit task_callback(F&& fn, A&&... args) noexcept : fn_(std::forward<F>(fn)), args_(std::forward<A>(args)...) { run = &start; }
  T take() { return out_.take(); }

 private:
  static void start(posted_call* c) noexcept {
    auto* self = static_cast<task_callback*>(c);
    loop::current().schedule(drive(self).h);
  }
  task<T> make_task() { return std::apply(std::forward<F>(fn_), std::move(args_)); }

  // A task of its own (the worker is its parent, so to speak) in a scope under the caller's.
  static child_coroutine drive(task_callback* self) {
    task_context ctx;
    scope_state scope;
    co_await adopt_context{&ctx};
    self->enter_host_scope(ctx, scope);
    std::exception_ptr failure;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await self->make_task();
        self->out_.capture([] {});
      } else if constexpr (std::is_reference_v<T>) {
        T r = co_await self->make_task();
        self->out_.capture([&]() -> T { return r; });
      } else {
        T v = co_await self->make_task();
        self->out_.capture([&]() -> T { return std::move(v); });
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) self->out_.set_exception(std::move(failure));
    scope.unlink();
    self->finish();  // the worker may destroy *self from here on
  }

  F&& fn_;
  std::tuple<A&&...> args_;
  outcome<T> out_;
};

template <class T, class F, class... A>
class sync_callback final : public callback {
 public:
  explicit sync_callback(F&& fn, A&&... args) noexcept : fn_(std::forward<F>(fn)), args_(std::forward<A>(args)...) { run = &start; }
  T take() { return out_.take(); }

 private:
  static void start(posted_call* c) noexcept {
    auto* self = static_cast<sync_callback*>(c);
    self->out_.capture([self]() -> T { return std::apply(std::forward<F>(self->fn_), std::move(self->args_)); });
    self->finish();
  }

  F&& fn_;
  std::tuple<A&&...> args_;
  outcome<T> out_;
};

}  // namespace detail

namespace from_thread {

// Runs fn(args...) (returning aw::task<T>) on the loop, waits for the task, gives its value.
template <class F, class... A>
  requires std::invocable<F&&, A&&...> && detail::is_task_v<std::invoke_result_t<F&&, A&&...>>
auto run(F&& fn, A&&... args) -> typename std::invoke_result_t<F&&, A&&...>::value_type {
  using T = typename std::invoke_result_t<F&&, A&&...>::value_type;
  detail::task_callback<T, F, A...> c(std::forward<F>(fn), std::forward<A>(args)...);
  c.call();
  return c.take();
}

// Runs the plain function fn(args...) on the loop and gives its value.
template <class F, class... A>
  requires std::invocable<F&&, A&&...>
auto run_sync(F&& fn, A&&... args) -> detail::returned_t<std::invoke_result_t<F&&, A&&...>> {
  using T = detail::returned_t<std::invoke_result_t<F&&, A&&...>>;
  detail::sync_callback<T, F, A...> c(std::forward<F>(fn), std::forward<A>(args)...);
  c.call();
  return c.take();
}

// Raises aw::cancelled when the task awaiting this worker's job has been cancelled.
void check_cancelled();

}  // namespace from_thread
}  // namespace aw
