// The AW_DEBUG mode: enter/exit logging, slow steps, tasks never awaited, managers never
// entered or never exited; and silence when it is off.
//
// The mode's counters are per thread and accumulate over the life of the thread, so these
// tests compare counts before and after. Every test restores the mode, the slow-step
// threshold and AW_DEBUG when it ends.
#include <aw/aw.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

// The binary is linked without -rdynamic: the names come from its symbol table, where the
// functions of a named namespace and of an anonymous one are found alike.
namespace {
aw::task<> hidden_never_awaited_task() { co_return; }
}  // namespace

namespace aw_debug_test {

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

// Puts the debug mode in a known state for one test and restores everything after it.
class debug_scope {
 public:
  explicit debug_scope(bool on) : env_("AW_DEBUG", nullptr), was_(aw::debug_enabled()) { aw::set_debug(on); }
  ~debug_scope() {
    aw::set_debug(was_);
    aw::set_slow_step_threshold(100ms);
  }
  debug_scope(const debug_scope&) = delete;
  debug_scope& operator=(const debug_scope&) = delete;

 private:
  env_guard env_;
  bool was_;
};

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

class traced_manager {
 public:
  traced_manager() = default;
  aw::task<traced_manager&> aenter() {
    ++enters;
    co_await aw::yield();
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr) {
    ++exits;
    co_return;
  }
  int enters = 0;
  int exits = 0;
};

class suppressing_manager {
 public:
  suppressing_manager() = default;
  aw::task<suppressing_manager&> aenter() { co_return *this; }
  aw::task<bool> aexit(std::exception_ptr) { co_return true; }
};

class raising_exit_manager {
 public:
  raising_exit_manager() = default;
  aw::task<raising_exit_manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) {
    co_await aw::yield();
    throw std::logic_error("exit failed");
  }
};

aw::context_manager<int> generator_manager() {
  co_await aw::yield();
  co_yield 7;
}

aw::task<> never_awaited_task() { co_return; }

aw::task<> blocking_step() {
  co_await aw::yield();  // the loop resumes this frame directly: the step is this coroutine's
  std::this_thread::sleep_for(50ms);
}

aw::task<int> uses_enter(traced_manager& m) {
  auto& r = co_await aw::enter(m);
  co_await aw::sleep(1ms);
  co_return r.enters;
}

// A workload that, in the debug mode, would print every kind of report.
aw::task<> everything_reportable() {
  traced_manager m;
  co_await aw::async_with(m, [](traced_manager&) -> aw::task<> { co_return; });
  try {
    co_await aw::async_with(m, [](traced_manager&) -> aw::task<> {
      throw std::runtime_error("boom");
      co_return;
    });
  } catch (const std::runtime_error&) {
  }
  co_await aw::async_with(generator_manager(), [](int&) -> aw::task<> { co_return; });
  (void)co_await uses_enter(m);
  {
    aw::task<> dropped = never_awaited_task();
  }
  {
    auto dropped = generator_manager();  // made, never entered
  }
  co_await blocking_step();
  {
    aw::exit_stack stack;
    co_await stack.enter_context(m);
  }  // destroyed without aclose: never exited
}

// ---------------------------------------------------------------------------------------
// Enter and exit

TEST(Debug, EnterAndExitAreLogged) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  traced_manager m;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(m, [](traced_manager&) -> aw::task<> {
      co_await aw::sleep(1ms);
      co_return;
    });
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.enters, 1);
  EXPECT_EQ(m.exits, 1);
  EXPECT_TRUE(contains(err, "aw: async_with enter aw_debug_test::traced_manager at 0x")) << err;
  // manager type, the time spent inside, no exception
  EXPECT_TRUE(std::regex_search(err, std::regex("aw: exit aw_debug_test::traced_manager at 0x[0-9a-f]+ after [0-9]+\\.[0-9]{3} ms\n")))
      << err;
  EXPECT_FALSE(contains(err, " with ")) << err;
}

TEST(Debug, ExceptionIsLogged) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  bool caught = false;
  aw::run([&]() -> aw::task<> {
    traced_manager m;
    try {
      co_await aw::async_with(m, [](traced_manager&) -> aw::task<> {
        co_await aw::yield();
        throw std::runtime_error("boom");
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(caught);
  EXPECT_TRUE(std::regex_search(err, std::regex("aw: exit aw_debug_test::traced_manager at 0x[0-9a-f]+ after [0-9.]+ ms with "
                                                "std::runtime_error: boom\n")))
      << err;
  EXPECT_FALSE(contains(err, "suppressed")) << err;
}

// A module's own events (an HTTP request's start and end) go through the core, which knows
// nothing of what they are: one line each, with the exception that ended one when there is.
TEST(Debug, AModulesEventIsOneLineWithTheExceptionThatEndedIt) {
  testing::internal::CaptureStderr();
  aw::detail::debug_event("HTTP start", "GET http://127.0.0.1:8080/a");
  aw::detail::debug_event("HTTP end", "GET http://127.0.0.1:8080/a", std::make_exception_ptr(std::runtime_error("connection refused")));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "aw: HTTP start GET http://127.0.0.1:8080/a\n"
            "aw: HTTP end GET http://127.0.0.1:8080/a with std::runtime_error: connection refused\n");
}

TEST(Debug, SuppressionAndReplacementAreLogged) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> {
    suppressing_manager s;
    co_await aw::async_with(s, [](suppressing_manager&) -> aw::task<> {
      throw std::out_of_range("swallowed");
      co_return;
    });
    raising_exit_manager r;
    try {
      co_await aw::async_with(r, [](raising_exit_manager&) -> aw::task<> {
        throw std::runtime_error("body");
        co_return;
      });
    } catch (const std::logic_error&) {
    }
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, "aw: async_with enter aw_debug_test::suppressing_manager")) << err;
  EXPECT_TRUE(contains(err, "with std::out_of_range: swallowed (suppressed)")) << err;
  EXPECT_TRUE(contains(err, "with std::runtime_error: body; exit raised std::logic_error: exit failed")) << err;
}

TEST(Debug, EveryFormIsLogged) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  traced_manager m;
  aw::run([&]() -> aw::task<> {
    // generator form
    co_await aw::async_with(generator_manager(), [](int& v) -> aw::task<> {
      EXPECT_EQ(v, 7);
      co_return;
    });
    // function form
    EXPECT_EQ(co_await uses_enter(m), 1);
    // exit stack
    co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> { co_await stack.enter_context(m); });
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.exits, 2);
  // A generator-form manager is named by its type, and by its coroutine where the symbol
  // table knows it.
  EXPECT_TRUE(contains(err, "aw: async_with enter aw::context_manager<int> ")) << err;
  EXPECT_TRUE(contains(err, "aw: exit aw::context_manager<int> ")) << err;
  EXPECT_TRUE(contains(err, "aw::context_manager<int> (aw_debug_test::generator_manager()) at")) << err;
  EXPECT_TRUE(contains(err, "aw: enter aw_debug_test::traced_manager at")) << err;
  EXPECT_TRUE(contains(err, "aw: async_with enter aw::exit_stack at")) << err;
  EXPECT_TRUE(contains(err, "aw: exit aw::exit_stack at")) << err;
  // two enters of m (aw::enter, enter_context), two exits
  std::regex exit_m("aw: exit aw_debug_test::traced_manager at");
  EXPECT_EQ(std::distance(std::sregex_iterator(err.begin(), err.end(), exit_m), std::sregex_iterator()), 2) << err;
}

TEST(Debug, EnvironmentVariableTurnsItOn) {
  debug_scope debug(false);
  {
    env_guard env("AW_DEBUG", "1");
    testing::internal::CaptureStderr();
    aw::run([]() -> aw::task<> {
      traced_manager m;
      co_await aw::async_with(m, [](traced_manager&) -> aw::task<> { co_return; });
    });
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(contains(err, "aw: async_with enter aw_debug_test::traced_manager")) << err;
  }
  aw::set_debug(false);  // AW_DEBUG=1 turned the mode on for the thread; turn it off again
  {
    env_guard env("AW_DEBUG", "0");
    testing::internal::CaptureStderr();
    aw::run([]() -> aw::task<> {
      traced_manager m;
      co_await aw::async_with(m, [](traced_manager&) -> aw::task<> { co_return; });
    });
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err, "");
    EXPECT_FALSE(aw::debug_enabled());
  }
}

// ---------------------------------------------------------------------------------------
// Slow steps

TEST(Debug, SlowStepIsReported) {
  debug_scope debug(true);
  aw::set_slow_step_threshold(20ms);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run(blocking_step());
  std::string err = testing::internal::GetCapturedStderr();
  auto after = aw::debug_report_counts();
  EXPECT_GE(after.slow_steps, before.slow_steps + 1);
  EXPECT_TRUE(std::regex_search(err, std::regex("aw: a step of .* blocked the loop for [0-9.]+ ms\n"))) << err;
  // Where it happened: the coroutine the loop resumed.
  EXPECT_TRUE(contains(err, "a step of aw_debug_test::blocking_step() blocked")) << err;
}

TEST(Debug, FastStepsAreNotReported) {
  debug_scope debug(true);
  aw::set_slow_step_threshold(1h);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run(blocking_step());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(aw::debug_report_counts().slow_steps, before.slow_steps);
  EXPECT_FALSE(contains(err, "blocked the loop")) << err;
}

// ---------------------------------------------------------------------------------------
// Tasks never awaited

TEST(Debug, DroppedTaskIsReported) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> {
    {
      aw::task<> t = never_awaited_task();
    }
    aw::task<> awaited = never_awaited_task();
    co_await awaited;  // awaited: not reported
  });
  std::string err = testing::internal::GetCapturedStderr();
  auto after = aw::debug_report_counts();
  EXPECT_EQ(after.tasks_never_awaited, before.tasks_never_awaited + 1);
  EXPECT_TRUE(contains(err, "aw: task aw_debug_test::never_awaited_task() was created but never awaited\n")) << err;
  EXPECT_TRUE(contains(err, "aw: at shutdown, ")) << err;
  EXPECT_TRUE(contains(err, "task(s) had been created but never awaited")) << err;
}

TEST(Debug, CoroutinesWithInternalLinkageAreNamed) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  {
    aw::task<> t = hidden_never_awaited_task();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, "aw: task (anonymous namespace)::hidden_never_awaited_task() was created but never awaited\n")) << err;
}

TEST(Debug, ShutdownReportNamesOnlyThisLoopsDroppedTasks) {
  debug_scope debug(true);
  testing::internal::CaptureStderr();
  {
    aw::task<> outside = never_awaited_task();  // named when dropped, before any loop: not the loop's
  }
  aw::run([]() -> aw::task<> {
    {
      aw::task<> a = never_awaited_task();
    }
    {
      aw::task<> b = never_awaited_task();
    }
    co_return;
  });
  std::string first = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(first, "aw: at shutdown, 2 task(s) had been created but never awaited\n")) << first;
  // The next loop dropped nothing: its report does not repeat the earlier ones.
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> { co_await aw::yield(); });
  std::string second = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(contains(second, "never awaited")) << second;
}

TEST(Debug, DroppedTaskOutsideALoopIsCounted) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  {
    aw::task<> t = never_awaited_task();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(aw::debug_report_counts().tasks_never_awaited, before.tasks_never_awaited + 1);
  EXPECT_TRUE(contains(err, "never_awaited_task() was created but never awaited")) << err;
}

TEST(Debug, MovedFromAndAwaitedTasksAreNotReported) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  aw::run([]() -> aw::task<> {
    aw::task<> a = never_awaited_task();
    aw::task<> b = std::move(a);
    co_await std::move(b);
  });
  EXPECT_EQ(aw::debug_report_counts().tasks_never_awaited, before.tasks_never_awaited);
}

// ---------------------------------------------------------------------------------------
// Managers never entered

TEST(Debug, ManagersMadeAndNeverEnteredAreReported) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> {
    {
      auto m = generator_manager();
    }
    {
      aw::signal_receiver r = aw::open_signal_receiver(SIGUSR2);
    }
    {
      std::vector<std::string> argv{"true"};
      aw::process p = aw::open_process(argv);
    }
    co_return;
  });
  std::string err = testing::internal::GetCapturedStderr();
  auto after = aw::debug_report_counts();
  EXPECT_EQ(after.managers_never_entered, before.managers_never_entered + 3);
  EXPECT_TRUE(contains(err, "aw: manager aw::context_manager<int> (aw_debug_test::generator_manager()) was created but never entered\n"))
      << err;
  EXPECT_TRUE(contains(err, "aw: manager aw::signal_receiver was created but never entered\n")) << err;
  EXPECT_TRUE(contains(err, "aw: manager aw::process was created but never entered\n")) << err;
  EXPECT_TRUE(contains(err, "aw: at shutdown, 3 manager(s) had been created but never entered\n")) << err;
}

TEST(Debug, EnteredAndMovedFromManagersAreNotReported) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> {
    co_await aw::async_with(generator_manager(), [](int&) -> aw::task<> { co_return; });  // moved into the block
    auto named = generator_manager();
    co_await aw::async_with(named, [](int&) -> aw::task<> { co_return; });
    auto moved = generator_manager();
    auto to = std::move(moved);
    co_await aw::async_with(to, [](int&) -> aw::task<> { co_return; });
    co_await aw::async_with(aw::open_signal_receiver(SIGUSR2), [](aw::signal_receiver&) -> aw::task<> { co_return; });
    std::vector<std::string> argv{"true"};
    aw::process p = aw::open_process(argv);
    p.start();  // started by hand: used, not entered
    co_await p.aclose();
    aw::exit_stack stack;
    co_await stack.enter_context(generator_manager());
    co_await stack.aclose();
    co_await aw::async_with(aw::exit_stack{}, [](aw::exit_stack&) -> aw::task<> { co_return; });
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered);
  EXPECT_FALSE(contains(err, "never entered")) << err;
}

TEST(Debug, ManagerDroppedOutsideALoopIsCounted) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  {
    auto m = generator_manager();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered + 1);
  EXPECT_TRUE(contains(err, "generator_manager()) was created but never entered")) << err;
}

// ---------------------------------------------------------------------------------------
// Managers never exited

TEST(Debug, ExitStackDestroyedWithoutClosingIsReportedAtShutdown) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  traced_manager m;
  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> {
    {
      aw::exit_stack stack;
      traced_manager& r = co_await stack.enter_context(m);
      EXPECT_EQ(&r, &m);
    }  // destroyed with the exit pending: a destructor cannot await it
    co_await aw::yield();
  });
  std::string err = testing::internal::GetCapturedStderr();
  auto after = aw::debug_report_counts();
  EXPECT_EQ(m.enters, 1);
  EXPECT_EQ(m.exits, 0);
  EXPECT_EQ(after.managers_never_exited, before.managers_never_exited + 1);
  EXPECT_TRUE(std::regex_search(err, std::regex("aw: at shutdown, aw_debug_test::traced_manager at 0x[0-9a-f]+ was entered [0-9.]+ ms "
                                                "ago and never exited\n")))
      << err;
}

TEST(Debug, AnExitStackKeptPastItsLoopIsExitedInALaterOne) {
  // pop_all() hands the pending exits out of the block; the first loop's shutdown report
  // names the manager (it was not exited then), and the entry stays until the exit runs
  // in the second loop: the debug mode never changes what the program does.
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  traced_manager m;
  std::optional<aw::exit_stack> kept;
  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
      co_await stack.enter_context(m);
      co_await stack.enter_context(suppressing_manager{});
      kept.emplace(stack.pop_all());
    });
  });
  std::string first = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.exits, 0);
  EXPECT_EQ(aw::debug_report_counts().managers_never_exited, before.managers_never_exited + 2);
  EXPECT_TRUE(contains(first, "aw_debug_test::traced_manager at ")) << first;
  EXPECT_TRUE(contains(first, "never exited")) << first;

  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> { co_await kept->aclose(); });
  std::string second = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.exits, 1);
  EXPECT_TRUE(kept->empty());
  // Reported once, by the loop that ended with it pending; the later report is silent.
  EXPECT_EQ(aw::debug_report_counts().managers_never_exited, before.managers_never_exited + 2);
  EXPECT_FALSE(contains(second, "never exited")) << second;
  EXPECT_TRUE(std::regex_search(second, std::regex("aw: exit aw_debug_test::suppressing_manager at 0x[0-9a-f]+ after [0-9.]+ ms\n")))
      << second;
  EXPECT_TRUE(std::regex_search(second, std::regex("aw: exit aw_debug_test::traced_manager at 0x[0-9a-f]+ after [0-9.]+ ms\n"))) << second;
}

TEST(Debug, AnExitStackKeptPastItsLoopAndDroppedIsReportedOnce) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  traced_manager m;
  testing::internal::CaptureStderr();
  {
    std::optional<aw::exit_stack> kept;
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(m);
        kept.emplace(stack.pop_all());
      });
    });
  }  // destroyed outside any loop, with the exit pending
  aw::run([]() -> aw::task<> { co_await aw::yield(); });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.exits, 0);
  EXPECT_EQ(aw::debug_report_counts().managers_never_exited, before.managers_never_exited + 1);
  std::size_t reports = 0;
  for (auto at = err.find("never exited"); at != std::string::npos; at = err.find("never exited", at + 1)) ++reports;
  EXPECT_EQ(reports, 1u) << err;  // by the first loop; the second has nothing to report
}

TEST(Debug, ClosedExitStackIsNotReported) {
  debug_scope debug(true);
  auto before = aw::debug_report_counts();
  traced_manager m;
  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> {
    aw::exit_stack stack;
    co_await stack.enter_context(m);
    co_await stack.aclose();
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.exits, 1);
  EXPECT_EQ(aw::debug_report_counts().managers_never_exited, before.managers_never_exited);
  EXPECT_FALSE(contains(err, "never exited")) << err;
}

// ---------------------------------------------------------------------------------------
// Off: silent

TEST(Debug, NothingIsPrintedWhenOff) {
  debug_scope debug(false);
  aw::set_slow_step_threshold(1ms);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run(everything_reportable());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
  EXPECT_FALSE(aw::debug_enabled());
  auto after = aw::debug_report_counts();
  EXPECT_EQ(after.tasks_never_awaited, before.tasks_never_awaited);
  EXPECT_EQ(after.managers_never_exited, before.managers_never_exited);
  EXPECT_EQ(after.managers_never_entered, before.managers_never_entered);
  EXPECT_EQ(after.slow_steps, before.slow_steps);
}

TEST(Debug, TheSameWorkloadReportsEverythingWhenOn) {
  debug_scope debug(true);
  aw::set_slow_step_threshold(20ms);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run(everything_reportable());
  std::string err = testing::internal::GetCapturedStderr();
  auto after = aw::debug_report_counts();
  EXPECT_EQ(after.tasks_never_awaited, before.tasks_never_awaited + 1);
  EXPECT_EQ(after.managers_never_exited, before.managers_never_exited + 1);
  EXPECT_EQ(after.managers_never_entered, before.managers_never_entered + 1);
  EXPECT_GE(after.slow_steps, before.slow_steps + 1);
  EXPECT_TRUE(contains(err, "with std::runtime_error: boom")) << err;
  EXPECT_TRUE(contains(err, "never exited")) << err;
  EXPECT_TRUE(contains(err, "never entered")) << err;
}

}  // namespace aw_debug_test
