// The function form, auto& r = co_await aw::enter(m): the rest of the enclosing task is the
// body; the exits run when the task finishes, most recent first, with the exception leaving
// the task, before its awaiter resumes (an AsyncExitStack the task owns).
#include "protocol_helpers.hpp"

#include <aw/loop.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>

namespace {

using namespace aw_test;

// ---------------------------------------------------------------------------------------
// The paths out of the task.

TEST(Enter, ExitsRunInReverseOrderWhenTheTaskReturnsBeforeTheAwaiterResumes) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  auto child = [&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    log.push_back("body");
    co_return 7;
  };
  aw::run([&]() -> aw::task<> {
    int v = co_await child();
    log.push_back("after " + std::to_string(v));
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body", "exit B(null)", "exit A(null)", "after 7"}));
  EXPECT_EQ(a.exits, 1);
  EXPECT_EQ(b.exits, 1);
}

TEST(Enter, ExitsRunWhenTheTaskFallsOffTheEnd) {
  log_t log;
  plain_recorder a("A", log);
  auto child = [&]() -> aw::task<> {
    co_await aw::enter(a);
    log.push_back("body");
  };
  aw::run([&]() -> aw::task<> {
    co_await child();
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)", "after"}));
}

TEST(Enter, ExitsRunBeforeAwRunReturnsWhenTheMainTaskEnters) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  int v = aw::run([&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_return 3;
  });
  log.push_back("run returned");
  EXPECT_EQ(v, 3);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "exit A finished", "run returned"}));
}

TEST(Enter, ExitsSeeTheTasksExceptionWhichThenReachesTheAwaiter) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  std::exception_ptr thrown;
  auto child = [&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    thrown = std::make_exception_ptr(test_error("boom"));
    std::rethrow_exception(thrown);
  };
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    try {
      co_await child();
    } catch (...) {
      caught = std::current_exception();
    }
    log.push_back("after");
  });
  EXPECT_EQ(caught, thrown);
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(boom)", "after"}));
}

TEST(Enter, ExceptionInEnterExitsTheManagersAlreadyEnteredWithIt) {
  log_t log;
  plain_recorder a("A", log);
  plain_recorder b("B", log, {.throw_in_enter = "enter B failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    log.push_back("not reached");
  });
  EXPECT_EQ(what(caught), "enter B failed");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit A(enter B failed)"}));
  EXPECT_EQ(a.exits, 1);
  EXPECT_EQ(b.exits, 0);
}

TEST(Enter, ExceptionInTheOnlyEnterPropagatesWithoutAnExit) {
  log_t log;
  recorder a("A", log, {.throw_in_enter = "enter A failed", .sleep_in_enter = true});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::enter(a);
    log.push_back("not reached");
  });
  EXPECT_EQ(what(caught), "enter A failed");
  EXPECT_EQ(log, (log_t{"enter A"}));
  EXPECT_EQ(a.exits, 0);
}

TEST(Enter, ExceptionInExitReplacesTheTasksValue) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed"});
  auto caught = run_catching([&]() -> aw::task<std::string> {
    co_await aw::enter(a);
    co_return std::string("value");
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_EQ(aw::exception_context(caught), nullptr);
}

TEST(Enter, ExceptionInExitReplacesTheTasksExceptionAndKeepsItAsContext) {
  log_t log;
  plain_recorder a("A", log), b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  });
  EXPECT_EQ(what(caught), "exit B failed");
  EXPECT_EQ(what(aw::exception_context(caught)), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(exit B failed)"}));
}

TEST(Enter, ExceptionsRaisedByExitsChainThroughTheirContexts) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit A failed"});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  });
  EXPECT_EQ(what(caught), "exit A failed");
  EXPECT_EQ(what(aw::exception_context(caught)), "exit B failed");
  EXPECT_EQ(what(aw::exception_context(aw::exception_context(caught))), "boom");
}

TEST(Enter, ExitRaisingAfterAnInnerOneSuppressedHasNoContext) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit A failed"});
  recorder b("B", log, {.suppress = true});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  });
  EXPECT_EQ(what(caught), "exit A failed");
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(null)"}));
}

TEST(Enter, SuppressionInATaskOfVoidReturnsNormally) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  plain_recorder b("B", log);
  auto child = [&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  };
  aw::run([&]() -> aw::task<> {
    co_await child();
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(boom)", "after"}));
}

TEST(Enter, SuppressionInATaskOfIntGivesNoResultErrorWithTheSuppressedExceptionAsContext) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  std::exception_ptr thrown;
  auto caught = run_catching([&]() -> aw::task<int> {
    co_await aw::enter(a);
    thrown = std::make_exception_ptr(test_error("boom"));
    std::rethrow_exception(thrown);
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::no_result_error);
  EXPECT_EQ(aw::exception_context(caught), thrown);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(boom)"}));
}

TEST(Enter, ExitThatReturnsTrueAfterSuccessKeepsTheValue) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  int v = aw::run([&]() -> aw::task<int> {
    co_await aw::enter(a);
    co_return 5;
  });
  EXPECT_EQ(v, 5);
}

TEST(Enter, InnerExitRaisingAfterSuccessAndOuterSuppressingKeepsTheValue) {
  // AsyncExitStack semantics: `async with stack: return 5` returns 5 when one exit raises
  // and an outer one suppresses that.
  log_t log;
  recorder a("A", log, {.suppress = true});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto v = aw::run([&]() -> aw::task<std::string> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    co_return std::string("five");
  });
  EXPECT_EQ(v, "five");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(null)", "exit A(exit B failed)"}));
}

TEST(Enter, InnerExitReplacingTheExceptionAndOuterSuppressingInATaskOfVoidReturnsNormally) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  });
  EXPECT_EQ(caught, nullptr);
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(exit B failed)"}));
}

TEST(Enter, InnerExitReplacingTheExceptionAndOuterSuppressingInATaskWithAValueGivesNoResultError) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<std::string> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    throw test_error("boom");
  });
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), aw::no_result_error);
  EXPECT_EQ(what(aw::exception_context(caught)), "boom");
}

TEST(Enter, EarlyCoReturnRunsTheExitsOnce) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  bool leave_early = true;
  int v = aw::run([&]() -> aw::task<int> {
    co_await aw::enter(a);
    if (leave_early) co_return 1;
    co_await aw::enter(b);
    co_return 2;
  });
  EXPECT_EQ(v, 1);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
  EXPECT_EQ(a.exits, 1);
  EXPECT_EQ(b.enters, 0);
}

TEST(Enter, ExitsThatSuspendFinishBeforeTheAwaiterResumes) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true}), b("B", log, {.sleep_in_exit = true});
  auto child = [&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await aw::enter(b);
    co_await aw::yield();
    throw test_error("boom");
  };
  aw::run([&]() -> aw::task<> {
    try {
      co_await child();
    } catch (const test_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit B finished", "exit A(boom)", "exit A finished", "caught boom"}));
}

TEST(Enter, EnterThatSuspendsFinishesBeforeTheTaskContinues) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_enter = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::enter(a);
    log.push_back("body");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)"}));
}

TEST(Enter, EachTaskExitsItsOwnManagers) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  auto inner = [&]() -> aw::task<> {
    co_await aw::enter(b);
    log.push_back("inner body");
  };
  aw::run([&]() -> aw::task<> {
    co_await aw::enter(a);
    co_await inner();
    log.push_back("outer body");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "inner body", "exit B(null)", "outer body", "exit A(null)"}));
}

TEST(Enter, ManyManagersInALoopAreExitedInReverseOrder) {
  log_t log;
  std::vector<plain_recorder> managers;
  for (int i = 0; i < 100; ++i) managers.emplace_back(std::to_string(i), log);
  aw::run([&]() -> aw::task<> {
    for (auto& m : managers) co_await aw::enter(m);
  });
  ASSERT_EQ(log.size(), 200u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(log[i], "enter " + std::to_string(i));
    EXPECT_EQ(log[100 + i], "exit " + std::to_string(99 - i) + "(null)");
  }
}

// ---------------------------------------------------------------------------------------
// Resources and ownership.

TEST(Enter, LvalueManagerIsUsedInPlaceAsItsOwnResource) {
  log_t log;
  recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    auto& r = co_await aw::enter(a);
    static_assert(std::is_same_v<decltype(r), recorder&>);
    EXPECT_EQ(&r, &a);
  });
  EXPECT_FALSE(a.moved_from);
  EXPECT_EQ(a.exits, 1);
}

TEST(Enter, RvalueManagerIsMovedIntoTheExitRecord) {
  log_t log;
  recorder a("A", log);
  recorder* entered = nullptr;
  aw::run([&]() -> aw::task<> {
    auto& r = co_await aw::enter(std::move(a));
    entered = &r;
    EXPECT_NE(&r, &a);
    EXPECT_NE(r.token, nullptr);
  });
  EXPECT_NE(entered, nullptr);
  EXPECT_TRUE(a.moved_from);
  EXPECT_EQ(a.exits, 0);  // the record's manager ran the exit
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(Enter, LocalManagerMovedInOutlivesTheTasksLocals) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    recorder local("A", log, {.sleep_in_exit = true});  // destroyed when the body ends, before the exits
    auto& r = co_await aw::enter(std::move(local));
    EXPECT_EQ(r.name, "A");
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "exit A finished"}));
}

TEST(Enter, PrvalueManagerIsMovedIntoTheExitRecord) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto& r = co_await aw::enter(recorder("A", log, {.sleep_in_exit = true}));
    EXPECT_FALSE(r.moved_from);
    EXPECT_NE(r.token, nullptr);
    co_await aw::yield();
    EXPECT_EQ(r.name, "A");  // still alive: it lives in the record until its exit ran
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "exit A finished"}));
}

TEST(Enter, ValueResourceLivesUntilTheExit) {
  log_t log;
  value_manager a("A", log);
  auto v = aw::run([&]() -> aw::task<std::string> {
    auto& s = co_await aw::enter(a);
    static_assert(std::is_same_v<decltype(s), std::string&>);
    co_await aw::sleep(1ms);
    s += " (used)";
    co_return s;
  });
  EXPECT_EQ(v, "A's resource (used)");
}

TEST(Enter, VoidEnterGivesNothing) {
  log_t log;
  void_manager a("A", log);
  aw::run([&]() -> aw::task<> {
    static_assert(std::is_void_v<decltype(aw::enter(a).await_resume())>);
    co_await aw::enter(a);
    log.push_back("body");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)"}));
}

TEST(Enter, ManagerWithPlainAwaitersWorks) {
  log_t log;
  ready_manager a("A", log);
  int v = aw::run([&]() -> aw::task<int> {
    int& seven = co_await aw::enter(a);
    co_return seven * 6;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(Enter, GeneratorFormManagerIsExitedWhenTheTaskEnds) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<std::string> {
    log.push_back("enter G");
    std::exception_ptr e;
    try {
      co_yield std::string("G's resource");
    } catch (...) {
      e = std::current_exception();
    }
    co_await aw::sleep(1ms);
    log.push_back("exit G(" + what(e) + ")");
    if (e) std::rethrow_exception(e);
  };
  auto caught = run_catching([&]() -> aw::task<> {
    auto& s = co_await aw::enter(generator());
    log.push_back("body " + s);
    throw test_error("boom");
  });
  EXPECT_EQ(what(caught), "boom");
  EXPECT_EQ(log, (log_t{"enter G", "body G's resource", "exit G(boom)"}));
}

TEST(Enter, ExitStackEnteredByTheTaskUnwindsWhenItEnds) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto& stack = co_await aw::enter(aw::exit_stack{});
    co_await stack.enter_context(plain_recorder("A", log));
    co_await stack.enter_context(plain_recorder("B", log));
    log.push_back("body");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body", "exit B(null)", "exit A(null)"}));
}

TEST(Enter, AggregateManagerMovedFromALocalWorks) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    named_manager m{long_name, &log};
    auto& name = co_await aw::enter(std::move(m));
    EXPECT_EQ(name, long_name);
  });
  EXPECT_EQ(log, (log_t{std::string("enter ") + long_name, std::string("exit ") + long_name + "(null)"}));
}

// ---------------------------------------------------------------------------------------
// A lone exit after success runs without a driver frame of its own: its frame resumes the
// awaiter, and the task settles on the awaiter's side.

aw::task<int> enter_and_give(plain_recorder& m, int v) {
  co_await aw::enter(m);
  co_return v;
}

TEST(Enter, LoneExitsSuspendedAtOnceEachSettleTheirOwnTask) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed", .sleep_in_exit = true});
  std::optional<int> got_a;
  std::string got_b;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { got_a = co_await enter_and_give(a, 1); });
      tg.start_soon([&]() -> aw::task<> {
        try {
          (void)co_await enter_and_give(b, 2);
        } catch (const test_error& e) {
          got_b = e.what();
        }
      });
      co_return;
    });
  });
  EXPECT_EQ(got_a, 1);
  EXPECT_EQ(got_b, "exit B failed");
  auto at = [&](const std::string& line) { return std::find(log.begin(), log.end(), line) - log.begin(); };
  ASSERT_EQ(log.size(), 6u) << ::testing::PrintToString(log);
  EXPECT_LT(at("exit B(null)"), at("exit A finished"));  // both exits were suspended at once
  EXPECT_LT(at("exit A(null)"), at("exit B finished"));
}

aw::task<> enter_and_return(plain_recorder& m) { co_await aw::enter(m); }

aw::task<> await_enter_and_return(plain_recorder& m, bool& resumed) {
  co_await enter_and_return(m);
  resumed = true;
}

TEST(Enter, TaskDestroyedWhileItsLoneExitIsSuspendedFreesTheExit) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true}), b("B", log);
  bool resumed = false;
  aw::run([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    auto h = await_enter_and_return(a, resumed).release();  // we own this frame now
    l.schedule(h);
    co_await aw::yield();  // it enters A and returns; A's exit sleeps
    EXPECT_EQ(l.pending_timers(), 1u);
    h.destroy();  // the awaiter dies, and with it the task, its exit's frame and record
    EXPECT_EQ(l.pending_timers(), 0u);
    co_await enter_and_return(b);  // the next lone exit runs as before
  });
  EXPECT_FALSE(resumed);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "enter B", "exit B(null)"}));
}

// Two exits: they run on the driver frame, which unlinks each record before awaiting its
// exit. Destroying the task then must free the record whose exit is suspended (and the
// manager moved into it: recorder's token is on the heap, so a leak shows under ASan).
aw::task<> enter_two_moved(log_t& log, bool& resumed) {
  co_await aw::enter(recorder("A", log));
  co_await aw::enter(recorder("B", log, {.sleep_in_exit = true}));
  resumed = true;
}

aw::task<> await_enter_two_moved(log_t& log, bool& resumed) { co_await enter_two_moved(log, resumed); }

TEST(Enter, TaskDestroyedWhileADriverRunExitIsSuspendedFreesItsRecord) {
  log_t log;
  bool resumed = false;
  aw::run([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    auto h = await_enter_two_moved(log, resumed).release();  // we own this frame now
    l.schedule(h);
    co_await aw::yield();  // it enters A and B and returns; B's exit sleeps on the driver
    EXPECT_EQ(l.pending_timers(), 1u);
    h.destroy();  // the task dies mid-exit: its driver, B's exit frame and record, A's record
    EXPECT_EQ(l.pending_timers(), 0u);
  });
  EXPECT_TRUE(resumed);
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(null)"}));
}

TEST(Enter, AggregatePrvalueManagerInsideTheCoAwaitExpressionWorks) {
#if AW_TEST_GCC12_AGGREGATE_TEMPORARY_BUG
  GTEST_SKIP() << "g++ 12 miscompiles an aggregate temporary inside a co_await expression in the awaiting coroutine itself";
#else
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto& a = co_await aw::enter(named_manager{"a", &log});
    auto& b = co_await aw::enter(named_manager{long_name, &log});
    EXPECT_EQ(a, "a");
    EXPECT_EQ(b, long_name);
  });
  EXPECT_EQ(log, (log_t{"enter a", std::string("enter ") + long_name, std::string("exit ") + long_name + "(null)", "exit a(null)"}));
#endif
}

}  // namespace
