// aw::to_thread: run blocking code on a worker thread and await its result
// (anyio.to_thread.run_sync, asyncio.to_thread).
//
//   std::size_t n = co_await aw::to_thread(count_lines, path);        // count_lines(path) on a worker
//   co_await aw::to_thread([&] { legacy_flush(db); });
//   // anyio.to_thread.run_sync(fn, limiter=lim, abandon_on_cancel=True):
//   auto v = co_await aw::to_thread(aw::thread_options{.limiter = &lim, .abandon_on_cancel = true}, fn);
//
// Semantics (anyio 4's):
// - fn and args are copied (or moved) into the job and fn(args...) is called with them as
//   rvalues, as std::thread and task_group::start_soon do: pass std::ref for a reference.
//   The value comes back as aw::thread_pool::run gives it (references stay references);
//   an exception is rethrown in the caller.
// - At most default_thread_limiter().total_tokens() calls (40, anyio's default) run at a
//   time per loop; the others wait for a token, in order. The default limiter belongs to the
//   running loop (as anyio's is per event loop: a capacity_limiter is bound to one loop);
//   set_total_tokens() on it changes the bound for that loop. thread_options::limiter uses
//   another limiter instead (it must belong to the same loop).
// - The calls run on default_thread_pool(), which starts threads as they are needed.
// - Waiting for a token and waiting for fn are cancellation points: cancelled before fn
//   starts, fn never runs and aw::cancelled is raised. Once fn runs: by default the caller
//   waits for it and gets its result (anyio: "ignore cancellations in the host task until
//   the operation has completed"; the cancellation is raised by the next wait); with
//   abandon_on_cancel the caller raises aw::cancelled at once, gives the token back, and fn
//   finishes on its own (capture by value what it uses).
// - fn may call back into the loop with aw::from_thread (aw/from_thread.hpp), and can poll
//   aw::from_thread::check_cancelled() to stop early.
// - g++ 12: a lambda capturing a std::string, a std::shared_ptr or the like by value must be
//   named before the co_await (`auto fn = [s] {...}; co_await aw::to_thread(std::move(fn));`):
//   written inside the co_await expression it is the miscompiled temporary of README's
//   "Known compiler bugs" (a hidden copy of it is destroyed too). Lambdas that capture by
//   reference only, and clang, are not affected.
#pragma once

#include <aw/capacity_limiter.hpp>
#include <aw/task.hpp>
#include <aw/thread_pool.hpp>

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace aw {

// anyio's default total_tokens for its default thread limiter.
inline constexpr std::size_t default_thread_tokens = 40;

// The running loop's limiter of aw::to_thread (created with 40 tokens for each loop).
// std::logic_error outside aw::run.
capacity_limiter& default_thread_limiter();

struct thread_options {
  capacity_limiter* limiter = nullptr;  // null: default_thread_limiter()
  bool abandon_on_cancel = false;
};

namespace detail {

template <class R>
task<R> to_thread_job(thread_options opts, std::unique_ptr<result_job<R>> job) {
  capacity_limiter& limiter = opts.limiter ? *opts.limiter : default_thread_limiter();
  // The borrower is this call (a task may hold other tokens of the limiter, or run several
  // to_thread calls through from_thread): the guard's address is unique while it waits.
  struct token {
    capacity_limiter* limiter;
    bool held = false;
    ~token() {
      if (held) limiter->release_on_behalf_of(this);
    }
  } t{&limiter};
  co_await limiter.acquire_on_behalf_of(&t);
  t.held = true;
  co_return co_await job_awaiter<R>(default_thread_pool(), std::move(job), opts.abandon_on_cancel);
}

}  // namespace detail

// co_await aw::to_thread(fn, args...): fn(args...) on a worker thread.
template <class F, class... A>
  requires(!std::is_same_v<std::decay_t<F>, thread_options>)
auto to_thread(F&& fn, A&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>,
                "aw::to_thread: fn cannot be called with these arguments (they are copied into the job and passed as rvalues, as "
                "std::thread does: wrap a reference parameter's argument in std::ref)");
  return detail::to_thread_job(thread_options{}, detail::make_job(std::forward<F>(fn), std::forward<A>(args)...));
}

// co_await aw::to_thread(aw::thread_options{...}, fn, args...): with a limiter of your own
// and/or abandon_on_cancel.
template <class F, class... A>
auto to_thread(thread_options opts, F&& fn, A&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>,
                "aw::to_thread: fn cannot be called with these arguments (they are copied into the job and passed as rvalues, as "
                "std::thread does: wrap a reference parameter's argument in std::ref)");
  return detail::to_thread_job(opts, detail::make_job(std::forward<F>(fn), std::forward<A>(args)...));
}

}  // namespace aw
