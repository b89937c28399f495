// The generator form, aw::context_manager<R> (Python's @asynccontextmanager): the code
// before co_yield is the enter, the code after it the exit; the body's exception comes back
// out of co_yield; not yielding, or yielding again, is an aw::protocol_error.
#include "protocol_helpers.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <type_traits>

namespace {

using namespace aw_test;

static_assert(std::is_same_v<aw::context_manager<>, aw::context_manager<void>>);
static_assert(std::is_same_v<aw::resource_t<aw::context_manager<std::string>>, std::string&>);
static_assert(std::is_same_v<aw::resource_t<aw::context_manager<int&>>, int&>);
static_assert(std::is_same_v<aw::resource_t<aw::context_manager<>>, void>);

// An RAII guard that logs when it is destroyed: the generator's try/finally.
struct guard {
  log_t* log;
  explicit guard(log_t& l) : log(&l) {}
  ~guard() { log->push_back("guard destroyed"); }
};

// The usual shape: log, yield the resource, log the exception the body ended with,
// optionally sleep, then rethrow it (or not).
struct options {
  bool sleep_in_enter = false;
  bool sleep_in_exit = false;
  bool suppress = false;
};

aw::context_manager<std::string> logging_generator(std::string name, log_t& log, options o = {}) {
  log.push_back("enter " + name);
  if (o.sleep_in_enter) co_await aw::sleep(1ms);
  std::exception_ptr e;
  try {
    co_yield name + "'s resource";
  } catch (...) {
    e = std::current_exception();  // co_await is not allowed in a handler: leave it first
  }
  log.push_back("exit " + name + "(" + what(e) + ")");
  if (o.sleep_in_exit) {
    co_await aw::sleep(1ms);
    log.push_back("exit " + name + " finished");
  }
  if (e && !o.suppress) std::rethrow_exception(e);
}

// ---------------------------------------------------------------------------------------
// The paths out of the body.

TEST(ContextManager, NormalExitRunsTheCodeAfterTheYieldOnceBeforeTheParentResumes) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("G", log), [&](std::string& r) -> aw::task<> {
      log.push_back("body " + r);
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter G", "body G's resource", "exit G(null)", "after"}));
}

TEST(ContextManager, BodysExceptionIsRethrownOutOfTheYield) {
  log_t log;
  std::exception_ptr thrown;
  auto generator = [&]() -> aw::context_manager<int> {
    try {
      co_yield 1;
    } catch (const test_error& e) {
      log.push_back(std::string("generator caught ") + e.what());
      throw;
    }
    log.push_back("not reached");
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(caught, thrown);  // the same exception object, not a copy
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  EXPECT_EQ(log, (log_t{"generator caught boom"}));
}

TEST(ContextManager, BodysExceptionSkipsTheCodeAfterAnUnguardedYield) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<int> {
    guard g(log);
    co_yield 1;
    log.push_back("not reached");
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "boom");
  EXPECT_EQ(log, (log_t{"guard destroyed"}));
}

TEST(ContextManager, CatchingWithoutRethrowingSuppresses) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("G", log, {.suppress = true}), [&](std::string&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter G", "exit G(boom)", "after"}));
}

TEST(ContextManager, SuppressedExceptionGivesAnEmptyOptional) {
  log_t log;
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(logging_generator("G", log, {.suppress = true}), [&](std::string&) -> aw::task<int> {
      throw test_error("boom");
      co_return 1;
    });
  });
  EXPECT_FALSE(result.has_value());
}

TEST(ContextManager, SuccessfulBodyGivesAnEngagedOptional) {
  log_t log;
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(logging_generator("G", log), [&](std::string&) -> aw::task<int> { co_return 1; });
  });
  EXPECT_EQ(result, std::optional<int>(1));
}

TEST(ContextManager, RethrowingTheSameExceptionAfterLeavingTheHandlerDoesNotSuppress) {
  log_t log;
  std::exception_ptr thrown;
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("G", log, {.sleep_in_exit = true}), [&](std::string&) -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(caught, thrown);
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  EXPECT_EQ(log, (log_t{"enter G", "exit G(boom)", "exit G finished"}));
}

TEST(ContextManager, ThrowingADifferentExceptionReplacesTheBodysAndKeepsItAsContext) {
  std::exception_ptr thrown;
  auto generator = []() -> aw::context_manager<> {
    try {
      co_yield {};
    } catch (const test_error&) {
      throw test_error("replaced");
    }
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&]() -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "replaced");
  EXPECT_EQ(aw::exception_context(caught), thrown);
}

TEST(ContextManager, ExceptionBeforeTheYieldPropagatesWithoutRunningTheBody) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<int> {
    guard g(log);
    co_await aw::sleep(1ms);
    throw test_error("enter failed");
    co_yield 1;
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "enter failed");
  EXPECT_EQ(log, (log_t{"guard destroyed"}));
}

TEST(ContextManager, ExceptionAfterTheYieldOnSuccessPropagatesWithNoContext) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<int> {
    co_yield 1;
    co_await aw::sleep(1ms);
    throw test_error("exit failed");
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
    log.push_back("not reached");
  });
  EXPECT_EQ(what(caught), "exit failed");
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  EXPECT_EQ(log, (log_t{"body"}));
}

TEST(ContextManager, EarlyCoReturnFromTheBodyRunsTheCodeAfterTheYieldOnce) {
  log_t log;
  bool leave_early = true;
  auto result = aw::run([&]() -> aw::task<std::optional<int>> {
    co_return co_await aw::async_with(logging_generator("G", log), [&](std::string&) -> aw::task<int> {
      if (leave_early) co_return 1;
      log.push_back("not reached");
      co_return 2;
    });
  });
  EXPECT_EQ(result, std::optional<int>(1));
  EXPECT_EQ(log, (log_t{"enter G", "exit G(null)"}));
}

TEST(ContextManager, ExitThatSuspendsFinishesBeforeTheParentResumes) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("G", log, {.sleep_in_enter = true, .sleep_in_exit = true}), [&](std::string&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter G", "body", "exit G(null)", "exit G finished", "after"}));
}

TEST(ContextManager, SuppressingExitThatSuspendsFinishesBeforeTheParentResumes) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("G", log, {.sleep_in_exit = true, .suppress = true}), [&](std::string&) -> aw::task<> {
      co_await aw::yield();
      throw test_error("boom");
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"enter G", "exit G(boom)", "exit G finished", "after"}));
}

// ---------------------------------------------------------------------------------------
// Python's RuntimeErrors, as aw::protocol_error.

TEST(ContextManager, FinishingWithoutYieldingIsGeneratorDidntYield) {
  log_t log;
  bool yield_it = false;
  auto generator = [&]() -> aw::context_manager<int> {
    if (!yield_it) co_return;
    co_yield 1;
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_THROW(std::rethrow_exception(caught), aw::protocol_error);
  EXPECT_EQ(what(caught), "generator didn't yield");
  EXPECT_TRUE(log.empty());
}

TEST(ContextManager, YieldingAgainAfterSuccessIsGeneratorDidntStop) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<int> {
    guard g(log);
    co_yield 1;
    log.push_back("yield again");
    co_yield 2;
    log.push_back("not reached");
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_THROW(std::rethrow_exception(caught), aw::protocol_error);
  EXPECT_EQ(what(caught), "generator didn't stop");
  EXPECT_EQ(aw::exception_context(caught), nullptr);
  // The generator's frame is destroyed with the manager, still suspended: its guard runs.
  EXPECT_EQ(log, (log_t{"body", "yield again", "guard destroyed"}));
}

TEST(ContextManager, YieldingAgainAfterTheBodyThrewIsGeneratorDidntStopAfterAthrow) {
  std::exception_ptr thrown;
  auto generator = []() -> aw::context_manager<int> {
    try {
      co_yield 1;
    } catch (...) {
    }
    co_yield 2;
  };
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int&) -> aw::task<> {
      thrown = std::make_exception_ptr(test_error("boom"));
      std::rethrow_exception(thrown);
      co_return;
    });
  });
  EXPECT_THROW(std::rethrow_exception(caught), aw::protocol_error);
  EXPECT_EQ(what(caught), "generator didn't stop after athrow()");
  EXPECT_EQ(aw::exception_context(caught), thrown);
}

TEST(ContextManager, EnteringTwiceIsAProtocolError) {
  log_t log;
  auto cm = logging_generator("G", log);
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(cm, [&](std::string&) -> aw::task<> {
      log.push_back("first body");
      co_return;
    });
    co_await aw::async_with(cm, [&](std::string&) -> aw::task<> {
      log.push_back("second body");
      co_return;
    });
  });
  EXPECT_THROW(std::rethrow_exception(caught), aw::protocol_error);
  EXPECT_NE(what(caught).find("entered twice"), std::string::npos) << what(caught);
  EXPECT_EQ(log, (log_t{"enter G", "first body", "exit G(null)"}));
}

TEST(ContextManager, EnteringAgainAfterAFailedEnterIsAProtocolError) {
  auto generator = []() -> aw::context_manager<int> {
    throw test_error("enter failed");
    co_yield 1;
  };
  auto cm = generator();
  auto first = run_catching([&]() -> aw::task<> { co_await aw::async_with(cm, [](int&) -> aw::task<> { co_return; }); });
  auto second = run_catching([&]() -> aw::task<> { co_await aw::async_with(cm, [](int&) -> aw::task<> { co_return; }); });
  EXPECT_EQ(what(first), "enter failed");
  EXPECT_THROW(std::rethrow_exception(second), aw::protocol_error);
}

TEST(ContextManager, ExitWithoutEnterIsAProtocolError) {
  log_t log;
  auto cm = logging_generator("G", log);
  auto caught = run_catching([&]() -> aw::task<> { co_await cm.aexit(nullptr); });
  EXPECT_THROW(std::rethrow_exception(caught), aw::protocol_error);
  EXPECT_TRUE(log.empty());
}

TEST(ContextManager, NothingRunsUntilTheManagerIsEntered) {
  log_t log;
  {
    auto cm = logging_generator("G", log);
    (void)cm;
  }
  EXPECT_TRUE(log.empty());
}

// ---------------------------------------------------------------------------------------
// Resources.

TEST(ContextManager, VoidManagerYieldsEmptyBracesAndTheBodyTakesNoParameter) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<> {
    log.push_back("enter");
    co_yield {};
    log.push_back("exit");
  };
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&]() -> aw::task<> {
      log.push_back("body");
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"enter", "body", "exit"}));
}

TEST(ContextManager, BodyGetsTheYieldedLvalueItself) {
  log_t log;
  auto generator = [&]() -> aw::context_manager<std::string> {
    std::string s = "original";
    co_yield s;
    log.push_back("generator sees " + s);
  };
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](std::string& s) -> aw::task<> {
      s = "changed by the body";
      co_return;
    });
  });
  EXPECT_EQ(log, (log_t{"generator sees changed by the body"}));
}

TEST(ContextManager, YieldedTemporaryLivesWhileTheBodyRuns) {
  auto generator = []() -> aw::context_manager<std::string> { co_yield std::string(long_name); };
  auto v = aw::run([&]() -> aw::task<std::optional<std::string>> {
    co_return co_await aw::async_with(generator(), [&](std::string& s) -> aw::task<std::string> {
      co_await aw::sleep(1ms);
      co_return s;
    });
  });
  EXPECT_EQ(v, std::optional<std::string>(long_name));
}

TEST(ContextManager, ReferenceManagerYieldsAnObjectItDoesNotOwn) {
  int x = 1;
  auto generator = [&]() -> aw::context_manager<int&> { co_yield x; };
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(generator(), [&](int& r) -> aw::task<> {
      EXPECT_EQ(&r, &x);
      r = 2;
      co_return;
    });
  });
  EXPECT_EQ(x, 2);
}

TEST(ContextManager, GeneratorParametersLiveInItsFrame) {
  log_t log;
  auto v = aw::run([&]() -> aw::task<std::optional<std::string>> {
    auto cm = logging_generator(std::string(long_name), log);
    co_return co_await aw::async_with(std::move(cm), [&](std::string& r) -> aw::task<std::string> { co_return r; });
  });
  EXPECT_EQ(v, std::optional<std::string>(std::string(long_name) + "'s resource"));
}

// ---------------------------------------------------------------------------------------
// Several generators, and the other forms.

TEST(ContextManager, NestedGeneratorsSeeTheExceptionInnerFirst) {
  log_t log;
  auto caught = run_catching([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("A", log), logging_generator("B", log), [&](std::string&, std::string&) -> aw::task<> {
      throw test_error("boom");
      co_return;
    });
  });
  EXPECT_EQ(what(caught), "boom");
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(boom)"}));
}

TEST(ContextManager, WhenTheInnerGeneratorSuppressesTheOuterSeesNoException) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(logging_generator("A", log), logging_generator("B", log, {.suppress = true}),
                            [&](std::string&, std::string&) -> aw::task<> {
                              throw test_error("boom");
                              co_return;
                            });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "exit B(boom)", "exit A(null)"}));
}

TEST(ContextManager, EnteredThroughAnExitStack) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
      auto& a = co_await stack.enter_context(logging_generator("A", log, {.sleep_in_exit = true}));
      auto& b = co_await stack.enter_context(logging_generator("B", log));
      log.push_back("body " + a + ", " + b);
    });
  });
  EXPECT_EQ(log, (log_t{"enter A", "enter B", "body A's resource, B's resource", "exit B(null)", "exit A(null)", "exit A finished"}));
}

}  // namespace
