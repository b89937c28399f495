// aw::blocking_portal: asyncwith from code that is not async (anyio's
// start_blocking_portal). A portal is a loop on a thread of its own; any other thread hands
// it coroutines to run and blocks for their results, so a synchronous program can adopt
// asyncwith one call at a time.
//
//   aw::blocking_portal portal;                                   // the loop starts on its thread
//   reply r = portal.call(fetch, url);                            // fetch(url) -> aw::task<reply>
//   std::future<int> n = portal.start_task_soon(count_users);      // runs meanwhile
//   {
//     auto conn = portal.enter(aw::pg::connect(dsn));             // async with ... as conn, from sync code
//     portal.call([&]() -> aw::task<> { co_await conn->execute("VACUUM"); });
//   }                                                             // the exit is awaited here, on the portal
//   int rows = n.get();
//
// Semantics:
// - call(fn, args...) runs fn(args...) on the portal's loop: when it returns aw::task<T>
//   (or another awaitable) the task is awaited there, otherwise the plain call's value is
//   the result. The calling thread blocks meanwhile and gets the value or the exception.
//   The arguments are passed on as they are (the caller waits, so references stay valid).
// - start_task_soon(fn, args...) does the same without waiting: fn and the arguments are
//   copied (as std::thread copies them) and the result comes through the std::future.
// - enter(manager) enters an async context manager on the portal and gives an RAII object
//   holding it open (anyio's wrap_async_context_manager): `*e` / `e->` is the resource, and
//   the destructor awaits the manager's exit on the portal. The manager is entered and exited
//   by one task of the portal, so managers that start tasks (aw::task_group) work. A
//   destructor cannot see the exception that is unwinding the stack: the exit then gets an
//   aw::portal_unwinding error in its place (so a transaction rolls back); call
//   exit(std::current_exception()) in a catch block to hand the exception itself. exit()
//   returns whether the manager suppressed the exception and raises what the exit raised;
//   the destructor raises it too, unless the stack is already unwinding.
// - Everything the portal runs is a task in one task group of the portal's loop: a failing
//   call does not disturb the others (its exception goes to its caller). stop() (and the
//   destructor) stops taking new calls (they raise std::logic_error), waits for the tasks
//   still running, or cancels them first when asked (stop(true); the destructor does that
//   when it runs during stack unwinding, as anyio's portal does on an exception), and joins
//   the thread. Their callers then get aw::cancelled.
// - Calling into the portal from its own loop would wait for itself: std::logic_error.
#pragma once

#include <aw/async_with.hpp>
#include <aw/context_manager.hpp>
#include <aw/event.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

namespace aw {

// What an RAII exit passes to the manager when the stack unwinds through it (a destructor
// cannot see the exception itself).
class portal_unwinding : public std::runtime_error {
 public:
  portal_unwinding() : std::runtime_error("aw::blocking_portal: the stack unwound through an entered manager") {}
};

class blocking_portal;

namespace detail {

// A unit of work for the portal's loop: posted from a caller's thread, started on the loop
// as a task of the portal's task group.
struct portal_job : posted_call {
  // Starts the job's task in `tg`; a failure to start goes to the job's caller.
  void (*launch)(portal_job* self, task_group& tg) noexcept = nullptr;
  task_group* group = nullptr;  // set when posted
};

// What a call gives: what awaiting fn's result gives when it is awaitable, else the result.
template <class R>
struct portal_value {
  using type = std::conditional_t<std::is_lvalue_reference_v<R>, R, std::remove_cv_t<std::remove_reference_t<R>>>;
};
template <class R>
  requires awaitable<R>
struct portal_value<R> {
  using type = std::conditional_t<std::is_lvalue_reference_v<await_result_t<R>>, await_result_t<R>,
                                  std::remove_cv_t<std::remove_reference_t<await_result_t<R>>>>;
};

// Runs fn(args...) on the loop (awaiting it when it gives an awaitable) and settles `out`.
// Called once, so fn and the arguments are passed on as rvalues where they are values.
template <class T, class F, class Tuple>
task<> settle(std::promise<T>& out, F&& fn, Tuple&& args) {
  try {
    using R = decltype(std::apply(std::forward<F>(fn), std::forward<Tuple>(args)));
    if constexpr (awaitable<R>) {
      if constexpr (std::is_void_v<T>) {
        co_await std::apply(std::forward<F>(fn), std::forward<Tuple>(args));
        out.set_value();
      } else {
        decltype(auto) v = co_await std::apply(std::forward<F>(fn), std::forward<Tuple>(args));
        out.set_value(std::forward<decltype(v)>(v));
      }
    } else if constexpr (std::is_void_v<T>) {
      std::apply(std::forward<F>(fn), std::forward<Tuple>(args));
      out.set_value();
    } else {
      out.set_value(std::apply(std::forward<F>(fn), std::forward<Tuple>(args)));
    }
  } catch (...) {
    out.set_exception(std::current_exception());
  }
}

// call(): lives on the caller's stack, which blocks until the promise is settled.
template <class T, class F, class... A>
struct call_job final : portal_job {
  call_job(F&& f, A&&... a) : fn(std::forward<F>(f)), args(std::forward<A>(a)...) { launch = &start; }
  static void start(portal_job* p, task_group& tg) noexcept {
    auto* self = static_cast<call_job*>(p);
    try {
      tg.start_soon([self]() -> task<> { co_await settle(self->out, std::forward<F>(self->fn), std::move(self->args)); });
    } catch (...) {
      self->out.set_exception(std::current_exception());
    }
  }
  F&& fn;
  std::tuple<A&&...> args;
  std::promise<T> out;
};

// start_task_soon(): owned by its task once launched.
template <class T, class F, class... A>
struct owned_job final : portal_job {
  owned_job(F f, A... a) : fn(std::move(f)), args(std::move(a)...) { launch = &start; }
  static void start(portal_job* p, task_group& tg) noexcept {
    std::unique_ptr<owned_job> self(static_cast<owned_job*>(p));
    std::promise<T>* out = &self->out;
    try {
      tg.start_soon([](std::unique_ptr<owned_job> job) -> task<> { co_await settle(job->out, std::move(job->fn), std::move(job->args)); },
                    std::move(self));
    } catch (...) {
      if (self) out->set_exception(std::current_exception());  // not handed over: still ours
    }
  }
  F fn;
  std::tuple<A...> args;
  std::promise<T> out;
};

}  // namespace detail

template <class M>
class portal_entered;

class blocking_portal {
 public:
  // Starts the portal's thread and its loop (the backend as aw::run chooses it).
  blocking_portal();
  // stop(), cancelling what still runs when the stack is unwinding, then joins.
  ~blocking_portal();
  blocking_portal(const blocking_portal&) = delete;
  blocking_portal& operator=(const blocking_portal&) = delete;

  // Runs fn(args...) on the portal and blocks for its value: see the top of this header.
  template <class F, class... A>
    requires std::invocable<F&&, A&&...>
  auto call(F&& fn, A&&... args) -> typename detail::portal_value<std::invoke_result_t<F&&, A&&...>>::type {
    using T = typename detail::portal_value<std::invoke_result_t<F&&, A&&...>>::type;
    detail::call_job<T, F, A...> job(std::forward<F>(fn), std::forward<A>(args)...);
    std::future<T> result = job.out.get_future();
    post(job, "call");
    return result.get();
  }

  // Starts fn(args...) on the portal and returns at once; the future gives its value.
  template <class F, class... A>
    requires std::invocable<std::decay_t<F>, std::decay_t<A>...>
  auto start_task_soon(F&& fn, A&&... args) {
    using T = typename detail::portal_value<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>::type;
    using job_type = detail::owned_job<T, std::decay_t<F>, std::decay_t<A>...>;
    auto job = std::make_unique<job_type>(std::forward<F>(fn), std::forward<A>(args)...);
    std::future<T> result = job->out.get_future();
    post(*job, "start_task_soon");
    job.release();  // its task owns it from now on
    return result;
  }

  // Enters `m` on the portal; the RAII object exits it. An lvalue manager must outlive
  // the object; an rvalue is moved into the portal's task.
  template <class M>
  [[nodiscard("the manager is exited when this object is destroyed: keep it for the block")]] portal_entered<M> enter(M&& m) {
    using entered = portal_entered<M>;
    auto s = std::make_unique<typename entered::state>();
    s->portal = this;
    std::promise<void> entered_signal;
    std::future<void> ready = entered_signal.get_future();
    start_task_soon([](std::remove_reference_t<M>* mgr, typename entered::state* st,
                       std::promise<void>* signal) -> task<> { co_await hold_open(std::forward<M>(*mgr), st, signal); },
                    std::addressof(m), s.get(), &entered_signal);
    ready.get();  // aenter's exception, if any, is raised here
    return entered(std::move(s));
  }

  // Stops taking calls, waits for (or, with cancel_remaining, cancels) what still runs and
  // joins the thread. Idempotent; the destructor calls it.
  void stop(bool cancel_remaining = false);

  // Whether the calling thread is the portal's (where a blocking call would wait for itself).
  bool on_portal_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct shared;
  // Posts `job` to the loop, or raises std::logic_error when the portal has stopped or
  // when called from the portal's own thread.
  void post(detail::portal_job& job, const char* what);
  static task<> serve(shared* s);

  // The portal's task that holds `m` open until the caller asks for the exit, then exits
  // it with the caller's exception (raised in the block, so the manager sees it).
  template <class M, class State>
  static task<> hold_open(M&& m, State* st, std::promise<void>* signal) {
    bool entered = false;
    try {
      co_await async_with(std::forward<M>(m), [&](auto&... r) -> task<> {
        if constexpr (sizeof...(r) == 1) st->value = std::addressof(r...);
        entered = true;
        signal->set_value();
        co_await st->leave.wait();
        if (st->error) std::rethrow_exception(st->error);
      });
      st->suppressed = st->error != nullptr;  // the block raised, yet async_with returned
      st->exited.set_value();
    } catch (...) {
      std::exception_ptr e = std::current_exception();
      if (!entered)
        signal->set_exception(e);  // aenter failed: enter() raises it
      else if (e == st->error)
        st->exited.set_value();  // the caller's exception, not suppressed: not the exit's failure
      else
        st->exited.set_exception(e);  // the exit raised, or the portal cancelled the block
    }
  }

  std::unique_ptr<shared> shared_;
  std::thread thread_;
  int unwinding_ = std::uncaught_exceptions();
};

// An async context manager held open by a portal: see the top of this header.
template <class M>
class portal_entered {
 public:
  using resource = resource_t<std::remove_cvref_t<M>>;

  portal_entered(const portal_entered&) = delete;
  portal_entered& operator=(const portal_entered&) = delete;
  ~portal_entered() noexcept(false) {
    if (!state_ || state_->exit_requested) return;
    if (std::uncaught_exceptions() > unwinding_) {
      try {
        exit(std::make_exception_ptr(portal_unwinding()));
      } catch (...) {  // an exception is in flight already: the exit's own is lost, as in any destructor
      }
    } else {
      exit(nullptr);
    }
  }

  // The resource aenter gave.
  template <class R = resource>
    requires(!std::is_void_v<R>)
  std::remove_reference_t<R>& operator*() const {
    return *state_->value;
  }
  template <class R = resource>
    requires(!std::is_void_v<R>)
  std::remove_reference_t<R>* operator->() const {
    return state_->value;
  }

  // Awaits the manager's exit on the portal with `e` (null: the block ended normally).
  // Returns whether the manager suppressed `e`; raises what the exit raised. Once only.
  bool exit(std::exception_ptr e) {
    if (!state_ || state_->exit_requested) throw std::logic_error("aw::portal_entered::exit: already exited");
    if (state_->portal->on_portal_thread())
      throw std::logic_error("aw::portal_entered::exit: called on the portal's own loop, which would wait for itself");
    state_->exit_requested = true;
    state_->error = e;
    try {
      state_->portal->call([s = state_.get()] { s->leave.set(); });
    } catch (const std::logic_error&) {
      // The portal has stopped, so the task holding the manager has ended (cancelled, its
      // exit done): `exited` says how.
    }
    state_->exited_future.get();
    return e && state_->suppressed;
  }

 private:
  friend class blocking_portal;
  struct state {
    blocking_portal* portal = nullptr;
    std::remove_reference_t<resource>* value = nullptr;
    aw::event leave;  // set on the portal's loop when the caller asks for the exit
    std::exception_ptr error;
    bool exit_requested = false;
    bool suppressed = false;
    std::promise<void> exited;
    std::future<void> exited_future = exited.get_future();
  };
  explicit portal_entered(std::unique_ptr<state> s) : state_(std::move(s)) {}

  std::unique_ptr<state> state_;
  int unwinding_ = std::uncaught_exceptions();
};

}  // namespace aw
