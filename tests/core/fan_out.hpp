// A fan-out helper for the tests of the layers below aw::task_group (sleep, fd waits):
// start tasks concurrently on the running loop, then wait until every one has finished;
// the first exception is rethrown by the join. Those tests do not use task_group so that
// a bug in it cannot hide or fake one in the layer under test.
#pragma once

#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <utility>

namespace aw_test {

class join_point {
 public:
  join_point() = default;
  join_point(const join_point&) = delete;
  join_point& operator=(const join_point&) = delete;

  bool await_ready() const noexcept { return remaining_ == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
  void await_resume() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  void started() noexcept { ++remaining_; }
  void finished(std::exception_ptr e) {
    if (e && !error_) error_ = e;
    if (--remaining_ == 0 && waiter_) aw::loop::current().schedule(std::exchange(waiter_, nullptr));
  }
  std::size_t remaining() const noexcept { return remaining_; }

 private:
  std::size_t remaining_ = 0;
  std::coroutine_handle<> waiter_;
  std::exception_ptr error_;
};

// A fire-and-forget coroutine: suspended at creation, destroys itself when it finishes.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return detached{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  explicit detached(std::coroutine_handle<promise_type> h) noexcept : handle(h) {}
  std::coroutine_handle<promise_type> handle;
};

inline detached run_child(aw::task<> t, join_point& join) {
  std::exception_ptr error;
  try {
    co_await std::move(t);
  } catch (...) {
    error = std::current_exception();
  }
  join.finished(error);
}

// Schedules `t` on the running loop, after what is already ready (FIFO).
inline void start(join_point& join, aw::task<> t) {
  join.started();
  aw::loop::current().schedule(run_child(std::move(t), join).handle);
}

}  // namespace aw_test
