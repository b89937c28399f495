// aw::run: asyncio.run for C++. Value and exception out, lambdas, one loop per thread,
// deadlock detection, and the backend choice (AW_BACKEND).
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <coroutine>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>

using namespace std::chrono_literals;

namespace {

// Sets (or unsets, with nullptr) an environment variable for the scope of a test.
class env_guard {
 public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~env_guard() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Whether this kernel lets the process use io_uring (the loop falls back to epoll when
// it does not, unless AW_BACKEND=io_uring forces it).
bool io_uring_allowed() {
  env_guard unset("AW_BACKEND", nullptr);
  aw::loop probe(aw::loop::backend_kind::io_uring);
  return probe.kind() == aw::loop::backend_kind::io_uring;
}

class run_error : public std::runtime_error {
 public:
  explicit run_error(int code) : std::runtime_error("run_error " + std::to_string(code)), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Suspends and never arranges to be resumed: nothing can ever wake the awaiting task.
struct never_resumed {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

struct destroy_counter {
  int* count;
  explicit destroy_counter(int* c) : count(c) {}
  destroy_counter(const destroy_counter&) = delete;
  destroy_counter& operator=(const destroy_counter&) = delete;
  ~destroy_counter() { ++*count; }
};

aw::task<int> value_after_sleep(int v) {
  co_await aw::sleep(1ms);
  co_return v;
}

aw::task<int> throws_after_yield(int code) {
  co_await aw::yield();
  throw run_error(code);
}

aw::task<> waits_forever(int* destroyed) {
  destroy_counter guard(destroyed);
  co_await never_resumed{};
}

// ---------------------------------------------------------------------------------------
// Value and exception

TEST(Run, ReturnsTheValue) {
  EXPECT_EQ(aw::run(value_after_sleep(5)), 5);
  std::string s = aw::run([]() -> aw::task<std::string> { co_return std::string(1000, 'x'); });
  EXPECT_EQ(s, std::string(1000, 'x'));
}

TEST(Run, VoidTask) {
  int ran = 0;
  aw::run([&]() -> aw::task<> {
    co_await aw::yield();
    ++ran;
  });
  EXPECT_EQ(ran, 1);
}

TEST(Run, RethrowsTheException) {
  try {
    aw::run(throws_after_yield(7));
    FAIL() << "no exception";
  } catch (const run_error& e) {
    EXPECT_EQ(e.code(), 7);
  }
  EXPECT_THROW(aw::run([]() -> aw::task<> {
                 throw std::bad_alloc();
                 co_return;
               }),
               std::bad_alloc);
  // Not only std::exception: any thrown type comes through.
  try {
    aw::run([]() -> aw::task<int> {
      co_await aw::yield();
      throw 42;
    });
    FAIL() << "no exception";
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
}

TEST(Run, RunsAgainAfterAnException) {
  EXPECT_THROW(aw::run(throws_after_yield(1)), run_error);
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
  EXPECT_EQ(aw::run(value_after_sleep(2)), 2);
}

TEST(Run, EmptyTaskIsInvalidArgument) {
  aw::task<int> t = value_after_sleep(1);
  aw::task<int> other = std::move(t);
  EXPECT_THROW(aw::run(std::move(t)), std::invalid_argument);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
  EXPECT_EQ(aw::run(std::move(other)), 1);
}

// ---------------------------------------------------------------------------------------
// Lambdas

TEST(Run, LambdaWithReferenceCaptures) {
  int a = 2, b = 3;
  int sum = aw::run([&]() -> aw::task<int> {
    co_await aw::sleep(1ms);
    co_return a + b;
  });
  EXPECT_EQ(sum, 5);
}

TEST(Run, TemporaryLambdaOutlivesItsCoroutine) {
  // The captures live in the lambda object, not in the coroutine frame: aw::run must keep
  // the temporary alive until the coroutine finished (AddressSanitizer checks it).
  std::string s = aw::run([captured = std::string(64, 'c')]() -> aw::task<std::string> {
    co_await aw::sleep(1ms);
    co_await aw::yield();
    co_return captured + "!";
  });
  EXPECT_EQ(s, std::string(64, 'c') + "!");
}

TEST(Run, LvalueLambda) {
  int calls = 0;
  auto make = [&]() -> aw::task<int> {
    ++calls;
    co_await aw::yield();
    co_return calls;
  };
  EXPECT_EQ(aw::run(make), 1);
  EXPECT_EQ(aw::run(make), 2);
}

TEST(Run, LambdaRethrows) {
  EXPECT_THROW(aw::run([]() -> aw::task<> {
                 co_await aw::sleep(1ms);
                 throw run_error(3);
               }),
               run_error);
}

// ---------------------------------------------------------------------------------------
// One loop per thread

TEST(Run, CurrentLoopOnlyInsideRun) {
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
  EXPECT_THROW(aw::loop::current(), std::logic_error);
  aw::loop* seen = nullptr;
  aw::run([&]() -> aw::task<> {
    seen = &aw::loop::current();
    EXPECT_EQ(aw::loop::current_or_null(), seen);
    co_await aw::sleep(1ms);
    EXPECT_EQ(&aw::loop::current(), seen);
  });
  EXPECT_NE(seen, nullptr);
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
  EXPECT_THROW(aw::loop::current(), std::logic_error);
}

TEST(Run, NestedRunIsALogicError) {
  aw::run([]() -> aw::task<> {
    aw::loop* outer = &aw::loop::current();
    bool logic_error = false;
    bool deadlock = false;
    try {
      (void)aw::run(value_after_sleep(1));
    } catch (const aw::deadlock_error&) {
      deadlock = true;
    } catch (const std::logic_error& e) {
      logic_error = std::strstr(e.what(), "already running") != nullptr;
    }
    EXPECT_TRUE(logic_error);
    EXPECT_FALSE(deadlock);
    // The lambda overload says the same, and the outer loop is untouched.
    EXPECT_THROW(aw::run([]() -> aw::task<> { co_return; }), std::logic_error);
    EXPECT_EQ(&aw::loop::current(), outer);
    co_await aw::sleep(1ms);
    EXPECT_EQ(&aw::loop::current(), outer);
  });
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
}

TEST(Run, EachThreadRunsItsOwnLoop) {
  aw::loop* other_loop = nullptr;
  int other_value = 0;
  std::thread t([&] {
    other_value = aw::run([&]() -> aw::task<int> {
      other_loop = &aw::loop::current();
      co_await aw::sleep(2ms);
      co_return 2;
    });
  });
  aw::loop* this_loop = nullptr;
  int this_value = aw::run([&]() -> aw::task<int> {
    this_loop = &aw::loop::current();
    co_await aw::sleep(2ms);
    co_return 1;
  });
  t.join();
  EXPECT_EQ(this_value, 1);
  EXPECT_EQ(other_value, 2);
  EXPECT_NE(this_loop, nullptr);
  EXPECT_NE(other_loop, nullptr);
}

// ---------------------------------------------------------------------------------------
// Deadlock

TEST(Run, DeadlockWhenNothingCanWakeTheMainTask) {
  int destroyed = 0;
  EXPECT_THROW(aw::run(waits_forever(&destroyed)), aw::deadlock_error);
  EXPECT_EQ(destroyed, 1);  // the suspended frame was destroyed
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
}

TEST(Run, DeadlockInANestedTask) {
  int destroyed = 0;
  EXPECT_THROW(aw::run([&]() -> aw::task<> {
                 destroy_counter outer(&destroyed);
                 co_await aw::sleep(1ms);  // timers pending first: not a deadlock yet
                 co_await waits_forever(&destroyed);
               }),
               aw::deadlock_error);
  EXPECT_EQ(destroyed, 2);  // both frames, the awaiting one and the awaited one
}

TEST(Run, DeadlockErrorIsALogicError) {
  try {
    aw::run([]() -> aw::task<> { co_await never_resumed{}; });
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_EQ(typeid(e), typeid(aw::deadlock_error));
    EXPECT_NE(std::strstr(e.what(), "nothing can wake it"), nullptr) << e.what();
  }
  // The thread can run a loop again.
  EXPECT_EQ(aw::run(value_after_sleep(4)), 4);
}

// ---------------------------------------------------------------------------------------
// Backend choice

TEST(Run, BackendFollowsAwBackendEpoll) {
  env_guard env("AW_BACKEND", "epoll");
  std::string name = aw::run([]() -> aw::task<std::string> {
    EXPECT_EQ(aw::loop::current().kind(), aw::loop::backend_kind::epoll);
    EXPECT_EQ(aw::loop::current().uring(), nullptr);
    co_await aw::sleep(1ms);
    co_return aw::loop::current().backend_name();
  });
  EXPECT_EQ(name, "epoll");
}

TEST(Run, BackendFollowsAwBackendIoUring) {
  if (!io_uring_allowed()) GTEST_SKIP() << "this kernel does not allow io_uring";
  env_guard env("AW_BACKEND", "io_uring");
  std::string name = aw::run([]() -> aw::task<std::string> {
    EXPECT_EQ(aw::loop::current().kind(), aw::loop::backend_kind::io_uring);
    EXPECT_NE(aw::loop::current().uring(), nullptr);
    co_await aw::sleep(1ms);
    co_return aw::loop::current().backend_name();
  });
  EXPECT_EQ(name, "io_uring");
}

TEST(Run, DefaultBackendIsIoUringWhereAllowed) {
  const bool uring = io_uring_allowed();
  env_guard env("AW_BACKEND", nullptr);
  std::string name = aw::run([]() -> aw::task<std::string> { co_return aw::loop::current().backend_name(); });
  EXPECT_EQ(name, uring ? "io_uring" : "epoll");
  env_guard empty("AW_BACKEND", "");  // set but empty: the same default
  name = aw::run([]() -> aw::task<std::string> { co_return aw::loop::current().backend_name(); });
  EXPECT_EQ(name, uring ? "io_uring" : "epoll");
}

TEST(Run, BogusBackendIsInvalidArgument) {
  env_guard env("AW_BACKEND", "bogus");
  try {
    aw::run(value_after_sleep(1));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::strstr(e.what(), "bogus"), nullptr) << e.what();
  }
  EXPECT_EQ(aw::loop::current_or_null(), nullptr);
}

}  // namespace
