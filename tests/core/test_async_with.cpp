// The block form, co_await aw::async_with(m..., body): every path out of the body, the
// result types, the resources the body gets, and Python's nesting for several managers.
#include "protocol_helpers.hpp"

#include <aw/loop.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace {

using namespace aw_test;

// ---------------------------------------------------------------------------------------
// The concept and its traits.

static_assert(aw::async_context_manager<recorder>);
static_assert(aw::async_context_manager<plain_recorder>);
static_assert(aw::async_context_manager<value_manager>);
static_assert(aw::async_context_manager<void_manager>);
static_assert(aw::async_context_manager<ready_manager>);
static_assert(aw::async_context_manager<named_manager>);
static_assert(aw::async_context_manager<aw::exit_stack>);
static_assert(aw::async_context_manager<aw::context_manager<int>>);
static_assert(aw::async_context_manager<aw::context_manager<>>);
static_assert(!aw::async_context_manager<int>);
static_assert(!aw::async_context_manager<std::string>);

static_assert(std::is_same_v<aw::resource_t<recorder>, recorder&>);
static_assert(std::is_same_v<aw::resource_t<value_manager>, std::string>);
static_assert(std::is_same_v<aw::resource_t<void_manager>, void>);
static_assert(std::is_same_v<aw::resource_t<ready_manager>, int>);
static_assert(std::is_same_v<aw::resource_t<aw::exit_stack>, aw::exit_stack&>);
static_assert(std::is_same_v<aw::resource_t<aw::context_manager<int>>, int&>);
static_assert(std::is_same_v<aw::resource_t<aw::context_manager<>>, void>);

static_assert(aw::exit_may_suppress<recorder>);
static_assert(aw::exit_may_suppress<void_manager>);
static_assert(aw::exit_may_suppress<aw::exit_stack>);
static_assert(aw::exit_may_suppress<aw::context_manager<int>>);
static_assert(!aw::exit_may_suppress<plain_recorder>);
static_assert(!aw::exit_may_suppress<value_manager>);
static_assert(!aw::exit_may_suppress<ready_manager>);

// ---------------------------------------------------------------------------------------
// One manager: the paths out of the body.

TEST(AsyncWith, NormalExitRunsTheExitOnceWithNullBeforeTheParentResumes) {
  log_t log;
  plain_recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)", "after"}));
  EXPECT_EQ(a.enters, 1);
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, ExceptionInTheBodyReachesTheExitAndThenTheParent) {
  log_t log;
  plain_recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
        log.push_back("body");
        throw test_error("boom");
        co_return;
      });
      log.push_back("not reached");
    } catch (const test_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(boom)", "caught boom"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, TheBodysExceptionObjectIsTheOneThatPropagates) {
  log_t log;
  recorder a("A", log);  // may suppress, but does not
  std::exception_ptr thrown;
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(caught, thrown);
  EXPECT_EQ(aw::exception_context(caught), nullptr);
}

TEST(AsyncWith, ExitSeesTheVeryExceptionTheBodyThrew) {
  std::exception_ptr thrown, seen;
  struct spy {
    std::exception_ptr* seen;
    explicit spy(std::exception_ptr* s) : seen(s) {}
    aw::task<> aenter() { co_return; }
    aw::task<> aexit(std::exception_ptr e) {
      *seen = e;
      co_return;
    }
  };
  spy s(&seen);
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(s, [&]() -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(seen, thrown);
  EXPECT_EQ(caught, thrown);
}

TEST(AsyncWith, ExceptionInEnterPropagatesWithoutRunningTheBodyOrTheExit) {
  log_t log;
  recorder a("A", log, {.throw_in_enter = "enter failed"});
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
        log.push_back("body");
        co_return;
      });
    } catch (const test_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  });
  EXPECT_EQ(log, (log_t{"enter A", "caught enter failed"}));
  EXPECT_EQ(a.enters, 1);
  EXPECT_EQ(a.exits, 0);
}

TEST(AsyncWith, ExceptionInEnterAfterSuspendingPropagates) {
  log_t log;
  recorder a("A", log, {.throw_in_enter = "enter failed", .sleep_in_enter = true});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "enter failed");
  EXPECT_EQ(log, (log_t{"enter A"}));
  EXPECT_EQ(a.exits, 0);
}

TEST(AsyncWith, ExceptionInExitAfterASuccessfulBodyPropagatesWithNoContext) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<int> { co_return 1; });
    log.push_back("not reached");
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, ExceptionInExitReplacesTheBodysAndKeepsItAsContext) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed"});
  std::exception_ptr thrown;
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_EQ(aw::exception_context(caught), thrown);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(boom)"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, SuppressingExitContinuesAfterTheBlock) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
      log.push_back("body");
      throw test_error("boom");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(boom)", "after"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, SuppressedExceptionGivesAnEmptyOptional) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(a, [&](recorder&) -> aw::task<int> {
      throw test_error("boom");
      co_return 1;
    });
  });
  EXPECT_FALSE(result.has_value());
}

TEST(AsyncWith, ExitThatMaySuppressButSucceedsGivesAnEngagedOptional) {
  log_t log;
  recorder a("A", log, {.suppress = true});  // returns true, but there is nothing to suppress
  auto result = aw::run(
      [&]() -> aw::task<std::optional<int>> { co_return co_await aw::async_with(a, [&](recorder&) -> aw::task<int> { co_return 5; }); });
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 5);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(AsyncWith, ExitReturningFalseDoesNotSuppress) {
  log_t log;
  recorder a("A", log, {.suppress = false});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder&) -> aw::task<int> {
      throw test_error("boom");
      co_return 1;
    });
  });
  EXPECT_EQ(what(caught), "boom");
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, EarlyCoReturnFromTheBodyRunsTheExitOnce) {
  log_t log;
  plain_recorder a("A", log);
  bool leave_early = true;
  int result = aw::run([&]() -> aw::task<int> {
    co_return co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<int> {
      log.push_back("body");
      if (leave_early) co_return 1;
      log.push_back("not reached");
      co_return 2;
    });
  });
  EXPECT_EQ(result, 1);
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, ExitThatSuspendsFinishesBeforeTheParentResumes) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)", "exit A finished", "after"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, ExitThatSuspendsWithAnExceptionFinishesBeforeTheParentCatches) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
        co_await aw::yield();  // the body suspends too
        throw test_error("boom");
      });
    } catch (const test_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(boom)", "exit A finished", "caught boom"}));
}

TEST(AsyncWith, SuppressingExitThatSuspendsFinishesBeforeTheParentResumes) {
  log_t log;
  recorder a("A", log, {.suppress = true, .sleep_in_exit = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(boom)", "exit A finished", "after"}));
}

TEST(AsyncWith, ExitThatSuspendsThenThrowsReplacesTheBodysException) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit failed", .sleep_in_exit = true});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_EQ(what(aw::exception_context(caught)), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "exit A(boom)", "exit A finished"}));
}

TEST(AsyncWith, EnterThatSuspendsFinishesBeforeTheBodyStarts) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_enter = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)"}));
}

TEST(AsyncWith, ExceptionThatIsNotAStdExceptionReachesTheExit) {
  log_t log;
  plain_recorder a("A", log);
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      throw 42;
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(unknown)"}));
  try {
    std::rethrow_exception(caught);
  } catch (int x) {
    EXPECT_EQ(x, 42);
  } catch (...) {
    ADD_FAILURE() << "the body's int did not propagate";
  }
}

TEST(AsyncWith, ExitRunsOnceOnEveryIterationOfALoop) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  int suppressed = 0;
  aw::run([&]() -> aw::task<> {
    for (int i = 0; i < 1000; ++i) {
      auto r = co_await aw::async_with(a, [&](recorder&) -> aw::task<int> {
        if (i % 2) throw test_error("odd");
        co_return i;
      });
      if (!r) ++suppressed;
    }
  });
  EXPECT_EQ(a.enters, 1000);
  EXPECT_EQ(a.exits, 1000);
  EXPECT_EQ(suppressed, 500);
}

TEST(AsyncWith, NestedBlocksExitInnerFirst) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      co_await aw::async_with(b, [&](plain_recorder&) -> aw::task<> {
        log.push_back("body");
        co_return;
      });
      log.push_back("between");
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body", "exit B(null)", "between", "exit A(null)"}));
}

// ---------------------------------------------------------------------------------------
// Result types.

TEST(AsyncWith, BodyValueIsReturnedAsIsWhenNoExitCanSuppress) {
  log_t log;
  plain_recorder a("A", log);
  int result = aw::run([&]() -> aw::task<int> {
    auto r = co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<int> { co_return 5; });
    static_assert(std::is_same_v<decltype(r), int>);
    co_return r;
  });
  EXPECT_EQ(result, 5);
}

TEST(AsyncWith, BodyValueIsAnOptionalWhenAnExitCanSuppress) {
  log_t log;
  recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    auto r = co_await aw::async_with(a, [&](recorder&) -> aw::task<std::string> { co_return "five"; });
    static_assert(std::is_same_v<decltype(r), std::optional<std::string>>);
    EXPECT_EQ(r, std::optional<std::string>("five"));
  });
}

TEST(AsyncWith, ReferenceResultIsAReferenceWhenNoExitCanSuppress) {
  log_t log;
  plain_recorder a("A", log);
  int x = 1;
  aw::run([&]() -> aw::task<> {
    auto&& r = co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<int&> { co_return x; });
    static_assert(std::is_same_v<decltype(r), int&>);
    EXPECT_EQ(&r, &x);
  });
}

TEST(AsyncWith, ReferenceResultIsAnOptionalReferenceWrapperWhenAnExitCanSuppress) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  int x = 1;
  aw::run([&]() -> aw::task<> {
    auto r = co_await aw::async_with(a, [&](recorder&) -> aw::task<int&> { co_return x; });
    static_assert(std::is_same_v<decltype(r), std::optional<std::reference_wrapper<int>>>);
    EXPECT_TRUE(r.has_value() && &r->get() == &x);

    auto suppressed = co_await aw::async_with(a, [&](recorder&) -> aw::task<int&> {
      throw test_error("boom");
      co_return x;
    });
    EXPECT_FALSE(suppressed.has_value());
  });
}

TEST(AsyncWith, VoidBodyGivesVoidEvenWhenAnExitCanSuppress) {
  log_t log;
  recorder a("A", log);
  plain_recorder b("B", log);
  aw::run([&]() -> aw::task<> {
    using suppressing = decltype(aw::async_with(a, [](recorder&) -> aw::task<> { co_return; }));
    using plain = decltype(aw::async_with(b, [](plain_recorder&) -> aw::task<> { co_return; }));
    static_assert(std::is_void_v<aw::await_result_t<suppressing>> && std::is_convertible_v<suppressing, aw::task<void>>);
    static_assert(std::is_void_v<aw::await_result_t<plain>> && std::is_convertible_v<plain, aw::task<void>>);
    co_await aw::async_with(a, [](recorder&) -> aw::task<> { co_return; });
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(AsyncWith, MoveOnlyResultIsMovedOut) {
  log_t log;
  plain_recorder a("A", log);
  recorder b("B", log);
  aw::run([&]() -> aw::task<> {
    std::unique_ptr<int> p =
        co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<std::unique_ptr<int>> { co_return std::make_unique<int>(3); });
    EXPECT_TRUE(p && *p == 3);
    std::optional<std::unique_ptr<int>> q =
        co_await aw::async_with(b, [&](recorder&) -> aw::task<std::unique_ptr<int>> { co_return std::make_unique<int>(4); });
    EXPECT_TRUE(q && *q && **q == 4);
  });
}

// ---------------------------------------------------------------------------------------
// Resources.

TEST(AsyncWith, LvalueManagerIsUsedInPlaceAsItsOwnResource) {
  log_t log;
  recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](recorder& r) -> aw::task<> {
      EXPECT_EQ(&r, &a);
      co_return;
    });
  });
  EXPECT_FALSE(a.moved_from);
  EXPECT_EQ(a.exits, 1);
}

TEST(AsyncWith, RvalueManagerIsMovedIntoTheBlock) {
  log_t log;
  recorder a("A", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(std::move(a), [&](recorder& r) -> aw::task<> {
      EXPECT_NE(&r, &a);
      EXPECT_FALSE(r.moved_from);
      EXPECT_NE(r.token, nullptr);
      EXPECT_EQ(r.name, "A");
      co_return;
    });
  });
  EXPECT_TRUE(a.moved_from);
  EXPECT_EQ(a.exits, 0);  // the moved-to manager ran the exit
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(AsyncWith, PrvalueManagerLivesUntilItsExitHasRun) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(recorder("A", log, {.sleep_in_exit = true}), [&](recorder& r) -> aw::task<> {
      EXPECT_EQ(r.name, "A");
      co_await aw::yield();
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "exit A finished"}));
}

TEST(AsyncWith, ValueResourceLivesWhileTheBodyRuns) {
  log_t log;
  value_manager a("A", log);
  auto result = aw::run([&]() -> aw::task<std::string> {
    co_return co_await aw::async_with(a, [&](std::string& r) -> aw::task<std::string> {
      co_await aw::sleep(1ms);
      r += " (used)";
      co_return r;
    });
  });
  EXPECT_EQ(result, "A's resource (used)");
}

TEST(AsyncWith, VoidEnterGivesTheBodyNoParameter) {
  log_t log;
  void_manager a("A", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&]() -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)"}));
}

TEST(AsyncWith, ManagerWithPlainAwaitersWorks) {
  log_t log;
  ready_manager a("A", log);
  int result =
      aw::run([&]() -> aw::task<int> { co_return co_await aw::async_with(a, [&](int& seven) -> aw::task<int> { co_return seven * 6; }); });
  EXPECT_EQ(result, 42);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)"}));
}

TEST(AsyncWith, BodyPassedAsAnLvalueIsCalledInPlace) {
  log_t log;
  plain_recorder a("A", log);
  int calls = 0;
  auto body = [&calls](plain_recorder&) -> aw::task<int> { co_return ++calls; };
  aw::run([&]() -> aw::task<> {
    EXPECT_EQ(co_await aw::async_with(a, body), 1);
    EXPECT_EQ(co_await aw::async_with(a, body), 2);
  });
  EXPECT_EQ(a.exits, 2);
}

TEST(AsyncWith, GenericLambdaBodyGetsTheResources) {
  log_t log;
  value_manager a("A", log);
  auto result = aw::run(
      [&]() -> aw::task<std::string> { co_return co_await aw::async_with(a, [&](auto& r) -> aw::task<std::string> { co_return r; }); });
  EXPECT_EQ(result, "A's resource");
}

// ---------------------------------------------------------------------------------------
// Several managers: Python's nesting.

TEST(AsyncWith, SeveralManagersAreEnteredLeftToRightAndExitedRightToLeft) {
  log_t log;
  plain_recorder a("A", log), b("B", log), c("C", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, b, c, [&](plain_recorder&, plain_recorder&, plain_recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "enter C", "body", "exit C(null)", "exit B(null)", "exit A(null)", "after"}));
  EXPECT_EQ(a.exits + b.exits + c.exits, 3);
}

TEST(AsyncWith, SeveralManagersAllSeeTheBodysException) {
  log_t log;
  plain_recorder a("A", log), b("B", log);
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, b, [&](plain_recorder&, plain_recorder&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(boom)"}));
}

TEST(AsyncWith, BodyGetsOneResourcePerManagerInOrderSkippingVoidOnes) {
  log_t log;
  value_manager a("A", log);
  void_manager b("B", log);
  recorder c("C", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, b, c, [&](std::string& ra, recorder& rc) -> aw::task<> {
      EXPECT_EQ(ra, "A's resource");
      EXPECT_EQ(&rc, &c);
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "enter C", "exit C(null)", "exit B(null)", "exit A(null)"}));
}

TEST(AsyncWith, WhenEnteringTheSecondThrowsTheFirstIsExitedWithThatException) {
  log_t log;
  plain_recorder a("A", log);
  plain_recorder b("B", log, {.throw_in_enter = "enter B failed"});
  plain_recorder c("C", log);
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, b, c, [&](plain_recorder&, plain_recorder&, plain_recorder&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "enter B failed");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit A(enter B failed)"}));
  EXPECT_EQ(a.exits, 1);
  EXPECT_EQ(b.exits, 0);
  EXPECT_EQ(c.enters, 0);
}

TEST(AsyncWith, TheFirstManagerMaySuppressTheSecondsEnterException) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  recorder b("B", log, {.throw_in_enter = "enter B failed"});
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(a, b, [&](recorder&, recorder&) -> aw::task<int> { co_return 1; });
  });
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit A(enter B failed)"}));
}

TEST(AsyncWith, WhenTheInnerExitSuppressesTheOuterSeesNoException) {
  log_t log;
  plain_recorder a("A", log);
  recorder b("B", log, {.suppress = true});
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(a, b, [&](plain_recorder&, recorder&) -> aw::task<int> {
      throw test_error("boom");
      co_return 1;
    });
  });
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(null)"}));
}

TEST(AsyncWith, WhenTheInnerExitThrowsTheOuterSeesTheNewException) {
  log_t log;
  plain_recorder a("A", log);
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, b, [&](plain_recorder&, plain_recorder&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "exit B failed");
  EXPECT_EQ(what(aw::exception_context(caught)), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(exit B failed)"}));
}

TEST(AsyncWith, ExceptionsRaisedByExitsChainThroughTheirContexts) {
  log_t log;
  plain_recorder a("A", log, {.throw_in_exit = "exit A failed"});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(a, b, [&](plain_recorder&, plain_recorder&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "exit A failed");
  EXPECT_EQ(what(aw::exception_context(caught)), "exit B failed");
  EXPECT_EQ(what(aw::exception_context(aw::exception_context(caught))), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(exit B failed)"}));
}

// ---------------------------------------------------------------------------------------
// aw::exception_context is that of the latest raise (Python's __context__): an exception
// object raised again by a later exit takes the exception in flight at that exit.

// A manager that keeps its first failure and raises that same object from every exit
// after it, as a connection that broke once fails every later use.
class broken_manager {
 public:
  broken_manager() = default;
  aw::task<broken_manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) {
    co_await aw::yield();
    if (!fatal) fatal = std::make_exception_ptr(test_error("fatal"));
    std::rethrow_exception(fatal);
  }
  std::exception_ptr fatal;
};

aw::task<> failing_body(broken_manager&, std::string what) {
  throw test_error(std::move(what));
  co_return;
}

TEST(ExceptionContext, TheSameExceptionRaisedByASecondBlocksExitTakesThatBlocksException) {
  broken_manager m;
  std::exception_ptr first;
  std::exception_ptr second;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(m, [](broken_manager& r) { return failing_body(r, "body 1"); });
    } catch (...) {
      first = std::current_exception();
    }
    EXPECT_EQ(what(aw::exception_context(first)), "body 1");
    try {
      co_await aw::async_with(m, [](broken_manager& r) { return failing_body(r, "body 2"); });
    } catch (...) {
      second = std::current_exception();
    }
  });
  ASSERT_EQ(first, m.fatal);
  ASSERT_EQ(second, m.fatal);
  // Python: `raise X` while handling "body 2" sets X.__context__ to "body 2".
  EXPECT_EQ(what(aw::exception_context(second)), "body 2");
}

TEST(ExceptionContext, TheSameExceptionRaisedAgainThroughAnExitStackTakesTheNewException) {
  broken_manager m;
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    for (const char* body : {"body 1", "body 2"}) {
      try {
        co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
          co_await stack.enter_context(m);
          throw test_error(body);
        });
      } catch (...) {
        caught = std::current_exception();
      }
    }
  });
  ASSERT_EQ(caught, m.fatal);
  EXPECT_EQ(what(aw::exception_context(caught)), "body 2");
}

aw::task<> enter_and_fail(broken_manager& m, std::string what) {
  co_await aw::enter(m);
  throw test_error(std::move(what));
}

TEST(ExceptionContext, TheSameExceptionRaisedAgainByAnEnteredManagerTakesTheNewException) {
  broken_manager m;
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    for (const char* body : {"body 1", "body 2"}) {
      try {
        co_await enter_and_fail(m, body);
      } catch (...) {
        caught = std::current_exception();
      }
    }
  });
  ASSERT_EQ(caught, m.fatal);
  EXPECT_EQ(what(aw::exception_context(caught)), "body 2");
}

TEST(ExceptionContext, ARaiseWithNoExceptionInFlightLeavesTheContextAsItWas) {
  // Python sets __context__ only when an exception is being handled: raising the stored
  // exception again after a body that succeeded keeps the link of the earlier raise.
  broken_manager m;
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(m, [](broken_manager& r) { return failing_body(r, "body 1"); });
    } catch (...) {
    }
    try {
      co_await aw::async_with(m, [](broken_manager&) -> aw::task<> { co_return; });
    } catch (...) {
      caught = std::current_exception();
    }
  });
  ASSERT_EQ(caught, m.fatal);
  EXPECT_EQ(what(aw::exception_context(caught)), "body 1");
}

TEST(ExceptionContext, AnExitStacksChainOutlivesTheBlockAroundTheStack) {
  // The stack's exits raise B (context "boom"), then the stored exception (context B); the
  // block around the stack sees the stored exception leave the stack's exit while "boom"
  // is in flight, and keeps the chain the stack built: that raise was the latest.
  broken_manager m;
  log_t log;
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(m, [](broken_manager& r) { return failing_body(r, "earlier"); });
    } catch (...) {
    }
    try {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(m);
        co_await stack.enter_context(plain_recorder("B", log, {.throw_in_exit = "exit B failed"}));
        throw test_error("boom");
      });
    } catch (...) {
      caught = std::current_exception();
    }
  });
  ASSERT_EQ(caught, m.fatal);
  EXPECT_EQ(what(aw::exception_context(caught)), "exit B failed");
  EXPECT_EQ(what(aw::exception_context(aw::exception_context(caught))), "boom");
}

TEST(ExceptionContext, AnExceptionRaisedAgainAfterASuppressionInAStackHasNoContext) {
  // AsyncExitStack: an exit raising after an inner one suppressed the block's exception
  // raises with nothing in flight, and the stack sets that __context__ to None, also for
  // an exception object raised before.
  broken_manager m;
  log_t log;
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(m, [](broken_manager& r) { return failing_body(r, "earlier"); });
    } catch (...) {
    }
    try {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        co_await stack.enter_context(m);
        co_await stack.enter_context(recorder("B", log, {.suppress = true}));
        throw test_error("boom");
      });
    } catch (...) {
      caught = std::current_exception();
    }
  });
  ASSERT_EQ(caught, m.fatal);
  EXPECT_EQ(aw::exception_context(caught), nullptr);
}

// Raises the exception object it is given.
class raising_manager {
 public:
  explicit raising_manager(std::exception_ptr* e) : e_(e) {}
  aw::task<raising_manager&> aenter() { co_return *this; }
  aw::task<> aexit(std::exception_ptr) {
    co_await aw::yield();
    std::rethrow_exception(*e_);
  }

 private:
  std::exception_ptr* e_;
};

TEST(ExceptionContext, ALinkThatWouldCloseACycleIsCut) {
  // F is raised while E is in flight (F -> E), then E while F is in flight: Python links
  // E -> F and cuts F's link to E, so walking the chain ends.
  std::exception_ptr e = std::make_exception_ptr(test_error("E"));
  std::exception_ptr f = std::make_exception_ptr(test_error("F"));
  std::exception_ptr caught;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(raising_manager(&f), [&](raising_manager&) -> aw::task<> {
        std::rethrow_exception(e);
        co_return;
      });
    } catch (...) {
    }
    EXPECT_EQ(aw::exception_context(f), e);
    try {
      co_await aw::async_with(raising_manager(&e), [&](raising_manager&) -> aw::task<> {
        std::rethrow_exception(f);
        co_return;
      });
    } catch (...) {
      caught = std::current_exception();
    }
  });
  ASSERT_EQ(caught, e);
  EXPECT_EQ(aw::exception_context(e), f);
  EXPECT_EQ(aw::exception_context(f), nullptr);
}

TEST(AsyncWith, WhenAnInnerExitThrowsAfterSuccessTheOuterMaySuppressIt) {
  log_t log;
  recorder a("A", log, {.suppress = true});
  plain_recorder b("B", log, {.throw_in_exit = "exit B failed"});
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(a, b, [&](recorder&, plain_recorder&) -> aw::task<int> { co_return 1; });
  });
  // As nested `async with` blocks in Python: the outer block suppressed an exception, so
  // control continues after it and the body's value is gone.
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(null)", "exit A(exit B failed)"}));
}

TEST(AsyncWith, SeveralExitsThatSuspendRunOneAfterAnotherBeforeTheParentResumes) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  plain_recorder b("B", log, {.sleep_in_exit = true});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, b, [&](plain_recorder&, plain_recorder&) -> aw::task<> { co_return; });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(null)", "exit B finished", "exit A(null)", "exit A finished", "after"}));
}

TEST(AsyncWith, LvalueAndRvalueManagersMix) {
  log_t log;
  recorder a("A", log);
  auto result = aw::run([&]() -> aw::task<std::optional<std::string>> {
    co_return co_await aw::async_with(a, value_manager("B", log), recorder("C", log),
                                      [&](recorder& ra, std::string& rb, recorder& rc) -> aw::task<std::string> {
                                        EXPECT_EQ(&ra, &a);
                                        EXPECT_FALSE(rc.moved_from);
                                        co_return rb + ", " + rc.name;
                                      });
  });
  EXPECT_EQ(result, std::optional<std::string>("B's resource, C"));
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "enter C", "exit C(null)", "exit B(null)", "exit A(null)"}));
}

TEST(AsyncWith, ManagersOfEveryFormNestInOneBlock) {
  log_t log;
  recorder a("A", log);
  auto generator = [&]() -> aw::context_manager<std::string> {
    log.push_back("enter G");
    co_yield std::string("G's resource");
    log.push_back("exit G");
  };
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, generator(), aw::exit_stack{}, [&](recorder&, std::string& g, aw::exit_stack& stack) -> aw::task<> {
      EXPECT_EQ(g, "G's resource");
      co_await stack.enter_context(plain_recorder("S", log));
      log.push_back("body");
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter G", "enter S", "body", "exit S(null)", "exit G", "exit A(null)"}));
}

// ---------------------------------------------------------------------------------------
// g++ 12 and aggregate temporaries with a std::string member (doc/toolchain.md;
// protocol_helpers.hpp says why the co_await form cannot work under g++ 12).

TEST(AsyncWith, AggregatePrvalueManagerIsMovedIntoTheBlock) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    // The temporaries die at the end of this statement: the block owns its copies.
    auto short_block = aw::async_with(named_manager{"a", &log}, [&](std::string& name) -> aw::task<> {
      log.push_back("body " + name);
      co_return;
    });
    auto long_block = aw::async_with(named_manager{long_name, &log}, [&](std::string& name) -> aw::task<> {
      EXPECT_EQ(name, long_name);
      co_return;
    });
    co_await std::move(short_block);
    co_await std::move(long_block);
  });
  EXPECT_EQ(log,
            (log_t{"enter a", "body a", "exit a(null)", std::string("enter ") + long_name, std::string("exit ") + long_name + "(null)"}));
}

TEST(AsyncWith, AggregateManagerMovedFromALocalWorks) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    named_manager m{long_name, &log};
    co_await aw::async_with(std::move(m), [&](std::string& name) -> aw::task<> {
      EXPECT_EQ(name, long_name);
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{std::string("enter ") + long_name, std::string("exit ") + long_name + "(null)"}));
}

TEST(AsyncWith, AggregatePrvalueManagerInsideTheCoAwaitExpressionWorks) {
#if AW_TEST_GCC12_AGGREGATE_TEMPORARY_BUG
  GTEST_SKIP() << "g++ 12 miscompiles an aggregate temporary inside a co_await expression in the awaiting coroutine itself";
#else
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(named_manager{"a", &log}, named_manager{long_name, &log}, [&](std::string& a, std::string& b) -> aw::task<> {
      log.push_back("body " + a);
      EXPECT_EQ(b, long_name);
      co_return;
    });
  });
  EXPECT_EQ(log,
            (log_t{"enter a", std::string("enter ") + long_name, "body a", std::string("exit ") + long_name + "(null)", "exit a(null)"}));
#endif
}

// ---------------------------------------------------------------------------------------
// The block without a frame of its own (one manager; aenter, body and aexit aw::task):
// every way a child can still be running when it returns to the block.

TEST(AsyncWith, BlockIsAnAwTaskWhenStoredAsOne) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_enter = true});
  aw::run([&]() -> aw::task<> {
    aw::task<int> t = aw::async_with(a, [&](plain_recorder&) -> aw::task<int> { co_return 7; });
    log.push_back("made");
    EXPECT_EQ(co_await std::move(t), 7);
  });
  EXPECT_EQ(log, (log_t{"made", "enter A", "exit A(null)"}));
}

TEST(AsyncWith, RunTakesABlockAsItsMainTask) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_enter = true});
  auto body = [&](plain_recorder&) -> aw::task<int> { co_return 5; };
  EXPECT_EQ(aw::run(aw::async_with(a, body)), 5);
  EXPECT_EQ(aw::run([&] { return aw::async_with(a, body); }), 5);
  EXPECT_EQ(log, (log_t{"enter A", "exit A(null)", "enter A", "exit A(null)"}));
}

TEST(AsyncWith, EachChildMaySuspendAndTheBlockGoesOnWhenItFinishes) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_enter = true, .sleep_in_exit = true});
  aw::run([&]() -> aw::task<> {
    int v = co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<int> {
      co_await aw::sleep(1ms);
      log.push_back("body");
      co_return 3;
    });
    log.push_back("after " + std::to_string(v));
  });
  EXPECT_EQ(log, (log_t{"enter A", "body", "exit A(null)", "exit A finished", "after 3"}));
}

TEST(AsyncWith, ExitsTheBodyEnteredWithAwEnterRunBeforeTheBlocksExit) {
  log_t log;
  plain_recorder a("A", log), lone("L", log, {.sleep_in_exit = true}), b("B", log, {.sleep_in_exit = true}),
      c("C", log, {.throw_in_exit = "exit C failed"});
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> { co_await aw::enter(lone); });  // a direct exit
    try {
      co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {  // a driver
        co_await aw::enter(b);
        co_await aw::enter(c);
      });
    } catch (const test_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter L", "exit L(null)", "exit L finished", "exit A(null)", "enter A", "enter B", "enter C",
                        "exit C(null)", "exit B(exit C failed)", "exit B finished", "exit A(exit C failed)", "caught exit C failed"}));
}

TEST(AsyncWith, ExitsTheBodyEnteredWithAwEnterFinishingAtOnceAreNotWaitedFor) {
  log_t log;
  plain_recorder a("A", log), b("B", log), c("C", log);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> { co_await aw::enter(b); });
    co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
      co_await aw::enter(b);
      co_await aw::enter(c);
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(null)", "exit A(null)", "enter A", "enter B", "enter C", "exit C(null)",
                        "exit B(null)", "exit A(null)"}));
}

aw::task<> block_in(plain_recorder& a, log_t& log, bool& resumed) {
  co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> {
    log.push_back("body");
    co_await aw::sleep(24h);
  });
  resumed = true;
}

TEST(AsyncWith, TaskDestroyedWhileItsBlockWaitsFreesTheBlock) {
  log_t log;
  plain_recorder a("A", log);
  bool resumed = false;
  aw::run([&]() -> aw::task<> {
    aw::loop& l = aw::loop::current();
    auto h = block_in(a, log, resumed).release();  // we own this frame now
    l.schedule(h);
    co_await aw::yield();
    EXPECT_EQ(l.pending_timers(), 1u);
    h.destroy();  // the body's frame and the block's driver die with it
    EXPECT_EQ(l.pending_timers(), 0u);
  });
  EXPECT_FALSE(resumed);
  EXPECT_EQ(log, (log_t{"enter A", "body"}));
}

}  // namespace
