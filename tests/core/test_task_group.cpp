// aw::task_group and aw::exception_group: structured concurrency as anyio 4 documents it
// ("Creating and managing tasks", "Handling multiple errors in a task group").
//
// - start_soon runs a child concurrently, soon (not inside start_soon), with the callable
//   and its arguments copied into the child;
// - leaving the block waits for every child, however the block is left: no child
//   outlives its group;
// - the first failure cancels the block and every sibling; all failures are raised
//   together as one aw::exception_group (even a single one), the block's own first;
//   aw::cancelled never is one of them; nested groups nest;
// - tg.cancel() is swallowed by the group; an outer cancellation reaches the children and
//   goes on to its own scope; leaving the group is a cancellation point;
// - racy paths are repeated many times and must end the same way every time.
//
// Cancel scopes on their own (cancel, deadlines, shields, move_on_after, fail_after) are
// tested in test_cancel_scope.cpp; here they only appear around or inside a group.
//
// The tests run on virtual time (virtual_time.hpp): deadlines fire exactly when due and
// take no real time, so time assertions are equalities, and the races around a deadline
// hit each case (before, at, after it) deterministically; one race keeps the real clock.
// A child that would sleep for an hour proves by the test finishing that it was cancelled.
#include "protocol_helpers.hpp"
#include "virtual_time.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace aw_test;

// ---------------------------------------------------------------------------------------
// Helpers

std::string shape(const std::exception_ptr& e);

// A group written as "[a, [b, c]]": leaves by their what(), nested groups in brackets.
std::string shape(const aw::exception_group& g) {
  std::string s = "[";
  for (std::size_t i = 0; i < g.exceptions().size(); ++i) {
    if (i) s += ", ";
    s += shape(g.exceptions()[i]);
  }
  return s + "]";
}

std::string shape(const std::exception_ptr& e) {
  if (!e) return "null";
  try {
    std::rethrow_exception(e);
  } catch (const aw::exception_group& g) {
    return shape(g);
  } catch (...) {
    return what(e);
  }
}

// The exception_group `e` holds. Fails the test (and gives an empty group) when `e` is
// null or holds anything else.
aw::exception_group group_of(const std::exception_ptr& e) {
  if (!e) {
    ADD_FAILURE() << "expected an aw::exception_group, got no exception";
  } else {
    try {
      std::rethrow_exception(e);
    } catch (const aw::exception_group& g) {
      return g;
    } catch (...) {
      ADD_FAILURE() << "expected an aw::exception_group, got " << what(e);
    }
  }
  return aw::exception_group("none", {});
}

std::exception_ptr error(const char* message) { return std::make_exception_ptr(test_error(message)); }

// A child for start_soon given as a function pointer: records its arguments.
aw::task<> record_args(log_t* log, std::string text, int n) {
  co_await aw::sleep(1ms);
  log->push_back(text + " " + std::to_string(n));
}

// Takes a move-only argument by value.
aw::task<> take_unique(std::unique_ptr<int> p, int* out) {
  co_await aw::yield();
  *out = *p;
}

// A child whose value the group discards.
aw::task<int> answer(int* calls) {
  ++*calls;
  co_await aw::yield();
  co_return 42;
}

// Starts two more of itself, down to depth 0, in the group that runs it; counts every one.
aw::task<> spawn_tree(aw::task_group& tg, int depth, int& count) {
  ++count;
  co_await aw::sleep(1ms);  // by now the host may be waiting in the group's exit
  if (depth > 0)
    for (int i = 0; i < 2; ++i) tg.start_soon(spawn_tree, std::ref(tg), depth - 1, std::ref(count));
}

// ---------------------------------------------------------------------------------------
// aw::exception_group on its own

TEST(ExceptionGroup, HoldsItsExceptionsInOrderAndCountsThemInWhat) {
  std::vector<std::exception_ptr> v{error("a"), error("b")};
  aw::exception_group g("two failures", v);
  EXPECT_EQ(g.message(), "two failures");
  EXPECT_EQ(std::string(g.what()), "two failures (2 sub-exceptions)");
  ASSERT_EQ(g.exceptions().size(), 2u);
  EXPECT_EQ(g.exceptions()[0], v[0]);  // the very objects, not copies
  EXPECT_EQ(g.exceptions()[1], v[1]);
  EXPECT_EQ(shape(g), "[a, b]");

  aw::exception_group one("one failure", {error("c")});
  EXPECT_EQ(std::string(one.what()), "one failure (1 sub-exception)");

  static_assert(std::is_base_of_v<std::exception, aw::exception_group>);
  aw::exception_group copy = g;  // copyable: a caught group can be kept
  EXPECT_EQ(shape(copy), "[a, b]");
  EXPECT_STREQ(copy.what(), g.what());
}

TEST(ExceptionGroup, ContainsSearchesNestedGroups) {
  auto inner = std::make_exception_ptr(aw::exception_group("inner", {std::make_exception_ptr(std::out_of_range("deep"))}));
  aw::exception_group g("outer", {error("a"), inner});
  EXPECT_TRUE(g.contains<test_error>());
  EXPECT_TRUE(g.contains<std::runtime_error>());  // by base class, as except* matches
  EXPECT_TRUE(g.contains<std::out_of_range>());   // only in the nested group
  EXPECT_TRUE(g.contains<std::logic_error>());
  EXPECT_TRUE(g.contains<std::exception>());
  EXPECT_FALSE(g.contains<std::bad_alloc>());
  EXPECT_FALSE(g.contains<aw::cancelled>());
  EXPECT_FALSE(aw::exception_group("empty", {}).contains<std::exception>());
}

TEST(ExceptionGroup, SplitKeepsTheNestingAndTheMessages) {
  auto inner =
      std::make_exception_ptr(aw::exception_group("inner", {std::make_exception_ptr(std::out_of_range("deep")), error("deep runtime")}));
  aw::exception_group g("outer", {error("a"), inner, std::make_exception_ptr(std::logic_error("b"))});
  ASSERT_EQ(shape(g), "[a, [deep, deep runtime], b]");

  auto [logic, rest] = g.split<std::logic_error>();
  ASSERT_TRUE(logic);
  ASSERT_TRUE(rest);
  EXPECT_EQ(shape(*logic), "[[deep], b]");
  EXPECT_EQ(shape(*rest), "[a, [deep runtime]]");
  EXPECT_EQ(logic->message(), "outer");
  EXPECT_EQ(rest->message(), "outer");
  // The nested part keeps the nested group's own message.
  EXPECT_EQ(group_of(logic->exceptions()[0]).message(), "inner");
  EXPECT_EQ(group_of(rest->exceptions()[1]).message(), "inner");
  // The leaves are the original exception objects.
  EXPECT_EQ(logic->exceptions()[1], g.exceptions()[2]);
  EXPECT_EQ(rest->exceptions()[0], g.exceptions()[0]);

  // Splitting a split part again.
  auto [deep, not_deep] = logic->split<std::out_of_range>();
  ASSERT_TRUE(deep);
  ASSERT_TRUE(not_deep);
  EXPECT_EQ(shape(*deep), "[[deep]]");
  EXPECT_EQ(shape(*not_deep), "[b]");

  // A side where no leaf goes is empty.
  auto [all, none] = g.split<std::exception>();
  ASSERT_TRUE(all);
  EXPECT_FALSE(none);
  EXPECT_EQ(shape(*all), shape(g));
  auto [no_match, everything] = g.split<std::bad_alloc>();
  EXPECT_FALSE(no_match);
  ASSERT_TRUE(everything);
  EXPECT_EQ(shape(*everything), shape(g));
}

TEST(ExceptionGroup, SubgroupIsTheMatchingSideOfSplit) {
  auto inner = std::make_exception_ptr(aw::exception_group("inner", {std::make_exception_ptr(std::out_of_range("deep"))}));
  aw::exception_group g("outer", {error("a"), inner});
  auto ranges = g.subgroup<std::out_of_range>();
  ASSERT_TRUE(ranges);
  EXPECT_EQ(shape(*ranges), "[[deep]]");
  auto runtime = g.subgroup<std::runtime_error>();
  ASSERT_TRUE(runtime);
  EXPECT_EQ(shape(*runtime), "[a]");
  EXPECT_FALSE(g.subgroup<aw::cancelled>());
}

TEST(ExceptionGroup, LeavesNeedNotBeStdExceptions) {
  aw::exception_group g("mixed", {std::make_exception_ptr(42), error("a")});
  EXPECT_TRUE(g.contains<int>());
  auto [ints, rest] = g.split<int>();
  ASSERT_TRUE(ints);
  ASSERT_TRUE(rest);
  EXPECT_EQ(ints->exceptions().size(), 1u);
  EXPECT_EQ(shape(*rest), "[a]");
  auto [std_ones, others] = g.split<std::exception>();
  EXPECT_EQ(shape(*std_ones), "[a]");
  EXPECT_EQ(others->exceptions().size(), 1u);
}

// ---------------------------------------------------------------------------------------
// start_soon: concurrency, "soon", what is copied into the child

TEST(TaskGroup, ChildrenRunConcurrently) {
  log_t log;
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  aw::clock::duration elapsed{};
  run_virtual(clock, [&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (const char* name : {"A", "B", "C"})
        tg.start_soon([&log, name]() -> aw::task<> {
          log.push_back(std::string("start ") + name);
          co_await aw::sleep(30ms);
          log.push_back(std::string("end ") + name);
        });
      co_return;
    });
    elapsed = aw::now() - t0;
    log.push_back("after");
  });
  ASSERT_EQ(log.size(), 7u);
  for (const char* name : {"A", "B", "C"}) {
    EXPECT_EQ(count_prefix(log, std::string("start ") + name), 1) << name;
    EXPECT_EQ(count_prefix(log, std::string("end ") + name), 1) << name;
  }
  auto at = [&](const std::string& s) { return std::find(log.begin(), log.end(), s) - log.begin(); };
  EXPECT_LT(at("start B"), at("end A"));  // B started while A was still sleeping
  EXPECT_LT(at("start C"), at("end A"));
  EXPECT_EQ(log.back(), "after");
  EXPECT_EQ(elapsed, 30ms);
}

TEST(TaskGroup, ChildrenStartSoonNotInsideStartSoon) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        log.push_back("child");
        co_return;
      });
      log.push_back("host after start_soon");  // the child has not run yet
      co_await aw::yield();                    // now it does
      log.push_back("host after yield");
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"host after start_soon", "child", "host after yield", "after"}));
}

TEST(TaskGroup, ChildrenStartEvenWhenTheBlockNeverWaits) {
  // The block returns without awaiting anything: the children start while the host
  // waits in the group's exit.
  int ran = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&ran]() -> aw::task<> {
          ++ran;
          co_return;
        });
      co_return;
    });
    EXPECT_EQ(ran, 3);
  });
  EXPECT_EQ(ran, 3);
}

TEST(TaskGroup, FunctionPointerWithArgumentsCopiedIntoTheChild) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      std::string text = "a string long enough to live on the heap rather than inline";
      int n = 1;
      tg.start_soon(&record_args, &log, text, n);
      tg.start_soon(record_args, &log, std::string("by name"), 2);  // a function, not a pointer
      text = "changed after start_soon";
      n = 99;
      co_return;
    });
  });
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (log_t{"a string long enough to live on the heap rather than inline 1", "by name 2"}));
}

TEST(TaskGroup, LambdaCapturingByValueIsCopiedIntoTheChild) {
  std::string seen;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      {
        std::string s = "captured by value, long enough for the heap, not the inline buffer";
        auto fn = [s, &seen]() -> aw::task<> {
          co_await aw::sleep(1ms);
          seen = s;  // the capture lives in the child's copy of the lambda
        };
        tg.start_soon(fn);
        s = "changed";
      }  // s and fn are gone
      co_return;
    });
  });
  EXPECT_EQ(seen, "captured by value, long enough for the heap, not the inline buffer");
}

TEST(TaskGroup, MoveOnlyArgumentsAndCallables) {
  int from_arg = 0;
  int from_capture = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(take_unique, std::make_unique<int>(7), &from_arg);
      auto p = std::make_unique<int>(8);
      tg.start_soon([p = std::move(p), &from_capture]() -> aw::task<> {
        co_await aw::yield();
        from_capture = *p;
      });
      co_return;
    });
  });
  EXPECT_EQ(from_arg, 7);
  EXPECT_EQ(from_capture, 8);
}

TEST(TaskGroup, ChildValueIsDiscarded) {
  int calls = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(answer, &calls);
      tg.start_soon(answer, &calls);
      co_return;
    });
  });
  EXPECT_EQ(calls, 2);
}

TEST(TaskGroup, TheBlocksValueComesThroughAsAnOptional) {
  // The group's exit may swallow its own cancellation, so a valued block gives an optional.
  run_virtual([&]() -> aw::task<> {
    std::optional<int> v = co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<int> {
      tg.start_soon([]() -> aw::task<> { co_await aw::sleep(1ms); });
      co_return 7;
    });
    EXPECT_EQ(v, 7);
  });
}

TEST(TaskGroup, LvalueGroupWorksInPlace) {
  aw::task_group tg;
  int ran = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      EXPECT_EQ(&g, &tg);
      g.start_soon([&ran]() -> aw::task<> {
        co_await aw::sleep(1ms);
        ++ran;
      });
      co_return;
    });
  });
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(tg.cancel_called());
}

// A child may be any awaitable a callable returns, not only an aw::task.

// An awaiter of the test's own: resumes on the next turn of the loop and records its value.
struct recorded {
  recorded(int v, std::vector<int>* out) : value(v), seen(out) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { aw::loop::current().schedule(h); }
  int await_resume() const {
    seen->push_back(value);
    return value;
  }
  int value;
  std::vector<int>* seen;
};

recorded make_recorded(int v, std::vector<int>* out) { return recorded(v, out); }

// An awaitable through operator co_await: hands out the awaiter of the task it holds.
struct deferred {
  explicit deferred(aw::task<> t) : work(std::move(t)) {}
  auto operator co_await() && { return std::move(work).operator co_await(); }
  aw::task<> work;
};

aw::task<> push_later(std::vector<int>* out, int v) {
  co_await aw::sleep(1ms);
  out->push_back(v);
}

TEST(TaskGroup, AChildMayBeAnyAwaitable) {
  std::vector<int> seen;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&] { return recorded(1, &seen); });
      tg.start_soon(make_recorded, 2, &seen);
      tg.start_soon([&] { return deferred(push_later(&seen, 3)); });
      tg.start_soon([] { return aw::sleep(1h); });  // the group's cancel() reaches it
      int v = co_await tg.start([&](aw::task_status<int>& status) {
        status.started(4);
        return recorded(5, &seen);
      });
      seen.push_back(v);
      co_await aw::sleep(5ms);
      tg.cancel();
    });
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4, 5}));
}

// ---------------------------------------------------------------------------------------
// Leaving the block waits for every child

TEST(TaskGroup, LeavingWaitsForChildrenAfterTheBlockReturns) {
  bool done = false;
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  run_virtual(clock, [&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::sleep(20ms);
        done = true;
      });
      co_return;
    });
    EXPECT_TRUE(done);
    EXPECT_EQ(aw::now() - t0, 20ms);
  });
  EXPECT_TRUE(done);
}

// A child that, when cancelled, runs a cleanup that sleeps (in a shielded scope, as a
// `finally:` with `CancelScope(shield=True)` does in anyio), then re-raises.
aw::task<> child_with_slow_cleanup(log_t* log, std::chrono::milliseconds cleanup) {
  std::exception_ptr cancellation;
  try {
    co_await aw::sleep(1h);
  } catch (const aw::cancelled&) {
    cancellation = std::current_exception();
  }
  // No co_await in the handler: the cleanup runs after it.
  log->push_back("child cancelled");
  aw::cancel_scope shield(aw::clock::time_point::max(), true);
  co_await aw::async_with(shield, [&](aw::cancel_scope&) -> aw::task<> {
    co_await aw::sleep(cleanup);
    log->push_back("child cleanup done");
  });
  std::rethrow_exception(cancellation);
}

TEST(TaskGroup, LeavingWaitsForChildrenWhenTheBlockThrows) {
  log_t log;
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  auto caught = run_virtual_catching(clock, [&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(child_with_slow_cleanup, &log, 20ms);
      co_await aw::sleep(1ms);
      log.push_back("block throws");
      throw test_error("block");
    });
    log.push_back("not reached");
  });
  auto g = group_of(caught);
  EXPECT_EQ(shape(g), "[block]");
  EXPECT_EQ(log, (log_t{"block throws", "child cancelled", "child cleanup done"}));
  EXPECT_EQ(clock.now() - t0, 21ms);
}

TEST(TaskGroup, LeavingWaitsForChildrenWhenTheBlockIsCancelled) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(child_with_slow_cleanup, &log, 10ms);
      tg.start_soon(child_with_slow_cleanup, &log, 20ms);
      co_await aw::sleep(1ms);
      tg.cancel();
      log.push_back("block cancelled the group");
      co_await aw::sleep(1h);  // raises aw::cancelled at once
      log.push_back("not reached");
    });
    log.push_back("after");
  });
  EXPECT_EQ(
      log, (log_t{"block cancelled the group", "child cancelled", "child cancelled", "child cleanup done", "child cleanup done", "after"}));
}

TEST(TaskGroup, NoChildOutlivesItsGroupWhenASiblingFails) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  auto caught = run_virtual_catching(clock, [&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(child_with_slow_cleanup, &log, 15ms);
      tg.start_soon([&]() -> aw::task<> {
        // Exits run shielded: the exit's sleep is not cut short by the group's cancellation.
        co_await aw::async_with(a, [&](plain_recorder&) -> aw::task<> { co_await aw::sleep(1h); });
      });
      tg.start_soon([]() -> aw::task<> {
        co_await aw::sleep(2ms);
        throw test_error("boom");
      });
      co_await aw::sleep(1h);
    });
  });
  log.push_back("group left");
  EXPECT_EQ(shape(group_of(caught)), "[boom]");
  EXPECT_EQ(a.exits, 1);
  // Every cleanup finished before the group was left.
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), "group left");
  EXPECT_EQ(count_prefix(log, "child cleanup done"), 1);
  EXPECT_EQ(count_prefix(log, "exit A(aw::cancelled)"), 1);
  EXPECT_EQ(count_prefix(log, "exit A finished"), 1);
  EXPECT_EQ(clock.now() - t0, 17ms);
}

// ---------------------------------------------------------------------------------------
// Failures: the first cancels everything, all are raised together

TEST(TaskGroup, FirstFailureCancelsTheBlockAndEverySibling) {
  int siblings_cancelled = 0;
  bool host_cancelled = false;
  log_t log;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            ++siblings_cancelled;
            throw;
          }
        });
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::sleep(5ms);
        log.push_back("child fails");
        throw test_error("boom");
      });
      try {
        co_await aw::sleep(1h);  // the host's own wait is interrupted too
      } catch (const aw::cancelled&) {
        host_cancelled = true;
        throw;
      }
    });
    log.push_back("not reached");
  });
  auto g = group_of(caught);
  EXPECT_EQ(shape(g), "[boom]");
  EXPECT_FALSE(g.contains<aw::cancelled>());
  EXPECT_EQ(siblings_cancelled, 3);
  EXPECT_TRUE(host_cancelled);
  EXPECT_EQ(log, (log_t{"child fails"}));
}

TEST(TaskGroup, ASingleFailureIsStillAGroup) {
  // anyio 4: a task group always raises an ExceptionGroup, even of one exception.
  bool caught_as_test_error = false;
  bool caught_as_group = false;
  run_virtual([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([]() -> aw::task<> {
          throw test_error("only");
          co_return;
        });
        co_return;
      });
    } catch (const test_error&) {
      caught_as_test_error = true;
    } catch (const aw::exception_group& g) {
      caught_as_group = true;
      EXPECT_EQ(shape(g), "[only]");
      EXPECT_TRUE(g.contains<test_error>());
      EXPECT_EQ(std::string(g.what()), g.message() + " (1 sub-exception)");
    }
  });
  EXPECT_FALSE(caught_as_test_error);
  EXPECT_TRUE(caught_as_group);
}

TEST(TaskGroup, ChildrenFailingTogetherGiveOneEntryEach) {
  // The three start in the same turn and fail before any wait: none can be cancelled first.
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (const char* m : {"a", "b", "c"})
        tg.start_soon([m]() -> aw::task<> {
          throw test_error(m);
          co_return;
        });
      co_await aw::sleep(1h);
    });
  });
  auto g = group_of(caught);
  EXPECT_EQ(shape(g), "[a, b, c]");  // in the order they failed
  EXPECT_FALSE(g.contains<aw::cancelled>());
}

TEST(TaskGroup, TheBlocksOwnFailureComesFirst) {
  bool host_saw_cancelled = false;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([]() -> aw::task<> {
        throw test_error("child");
        co_return;
      });
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        host_saw_cancelled = true;
      }
      throw test_error("block");  // the block reacts to the cancellation with an error
    });
  });
  EXPECT_TRUE(host_saw_cancelled);
  EXPECT_EQ(shape(group_of(caught)), "[block, child]");
}

TEST(TaskGroup, ChildFailingInItsCancellationHandlerJoinsTheBlocksFailure) {
  // anyio's "Handling multiple errors": a task reacting to cancellation by raising gives a
  // second exception; the group raises both.
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([]() -> aw::task<> {
        bool was_cancelled = false;
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          was_cancelled = true;
        }
        if (was_cancelled) throw test_error("cleanup failed");
      });
      co_await aw::yield();  // the child is now sleeping
      throw test_error("block");
    });
  });
  auto g = group_of(caught);
  EXPECT_EQ(shape(g), "[block, cleanup failed]");
  EXPECT_FALSE(g.contains<aw::cancelled>());
}

TEST(TaskGroup, ChildStartedAfterTheBlockFailedIsCancelledAtItsFirstWait) {
  log_t log;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        log.push_back("child runs");  // code before the first wait runs
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          log.push_back("child cancelled");
          throw;
        }
      });
      throw test_error("block");  // before the child even started
      co_return;
    });
  });
  EXPECT_EQ(shape(group_of(caught)), "[block]");
  EXPECT_EQ(log, (log_t{"child runs", "child cancelled"}));
}

TEST(TaskGroup, ChildThatCatchesCancelledAndReturnsIsFine) {
  log_t log;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          log.push_back("swallowed");
        }
        co_return;  // returns normally although cancelled
      });
      tg.start_soon([]() -> aw::task<> {
        co_await aw::sleep(2ms);
        throw test_error("boom");
      });
      co_return;
    });
  });
  EXPECT_EQ(shape(group_of(caught)), "[boom]");
  EXPECT_EQ(log, (log_t{"swallowed"}));

  // And under tg.cancel(): no error at all.
  log.clear();
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          log.push_back("swallowed");
        }
      });
      co_await aw::yield();
      tg.cancel();
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"swallowed", "after"}));
}

// A child that runs a group of its own, where two children fail at once.
aw::task<> run_inner_group() {
  co_await aw::async_with(aw::task_group{}, [](aw::task_group& inner) -> aw::task<> {
    inner.start_soon([]() -> aw::task<> {
      throw test_error("a");
      co_return;
    });
    inner.start_soon([]() -> aw::task<> {
      throw std::logic_error("b");
      co_return;
    });
    co_await aw::sleep(1h);
  });
}

TEST(TaskGroup, NestedGroupsGiveNestedExceptionGroups) {
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(run_inner_group);
      tg.start_soon([]() -> aw::task<> {
        bool was_cancelled = false;
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          was_cancelled = true;
        }
        if (was_cancelled) throw std::out_of_range("c");  // a std::logic_error too
      });
      co_await aw::sleep(1h);
    });
  });
  auto g = group_of(caught);
  ASSERT_EQ(shape(g), "[[a, b], c]");
  EXPECT_EQ(g.exceptions().size(), 2u);
  EXPECT_EQ(group_of(g.exceptions()[0]).exceptions().size(), 2u);

  EXPECT_TRUE(g.contains<test_error>());
  EXPECT_TRUE(g.contains<std::logic_error>());
  EXPECT_TRUE(g.contains<std::out_of_range>());
  EXPECT_FALSE(g.contains<aw::cancelled>());
  EXPECT_FALSE(g.contains<std::bad_alloc>());

  auto [logic, rest] = g.split<std::logic_error>();
  ASSERT_TRUE(logic);
  ASSERT_TRUE(rest);
  EXPECT_EQ(shape(*logic), "[[b], c]");
  EXPECT_EQ(shape(*rest), "[[a]]");
  EXPECT_EQ(logic->message(), g.message());

  // Nested splitting: the matching side split again.
  auto [ranges, plain_logic] = logic->split<std::out_of_range>();
  ASSERT_TRUE(ranges);
  ASSERT_TRUE(plain_logic);
  EXPECT_EQ(shape(*ranges), "[c]");
  EXPECT_EQ(shape(*plain_logic), "[[b]]");

  auto runtime = g.subgroup<std::runtime_error>();
  ASSERT_TRUE(runtime);
  EXPECT_EQ(shape(*runtime), "[[a]]");
  EXPECT_FALSE(g.subgroup<aw::cancelled>());
  auto [everything, nothing] = g.split<std::exception>();
  EXPECT_EQ(shape(*everything), "[[a, b], c]");
  EXPECT_FALSE(nothing);
}

// ---------------------------------------------------------------------------------------
// Cancellation

TEST(TaskGroup, CancelIsSwallowedAndTheCodeAfterTheBlockRuns) {
  int children_cancelled = 0;
  bool host_cancelled = false;
  log_t log;
  aw::task_group tg;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      for (int i = 0; i < 3; ++i)
        g.start_soon([&]() -> aw::task<> {
          try {
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            ++children_cancelled;
            throw;
          }
        });
      co_await aw::sleep(1ms);
      EXPECT_FALSE(g.cancel_called());
      g.cancel();
      EXPECT_TRUE(g.cancel_called());
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        host_cancelled = true;
        throw;
      }
    });
    log.push_back("after");
  });
  EXPECT_EQ(children_cancelled, 3);
  EXPECT_TRUE(host_cancelled);
  EXPECT_EQ(log, (log_t{"after"}));
  EXPECT_TRUE(tg.cancel_called());
}

TEST(TaskGroup, CancelFromAChild) {
  bool host_cancelled = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&tg]() -> aw::task<> {
        co_await aw::sleep(2ms);
        tg.cancel();
      });
      try {
        co_await aw::sleep(1h);
      } catch (const aw::cancelled&) {
        host_cancelled = true;
        throw;
      }
    });
  });
  EXPECT_TRUE(host_cancelled);
}

TEST(TaskGroup, CancelWhileTheHostWaitsInTheExit) {
  // The block has returned; a child cancels the group; the sleeping sibling is cancelled
  // and the group is left without an error.
  bool sibling_cancelled = false;
  bool after = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          sibling_cancelled = true;
          throw;
        }
      });
      tg.start_soon([&tg]() -> aw::task<> {
        co_await aw::sleep(2ms);
        tg.cancel();
      });
      co_return;
    });
    after = true;
  });
  EXPECT_TRUE(sibling_cancelled);
  EXPECT_TRUE(after);
}

TEST(TaskGroup, CancelledGroupGivesAnEmptyValue) {
  run_virtual([&]() -> aw::task<> {
    std::optional<int> v = co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<int> {
      tg.cancel();
      co_await aw::sleep(1h);
      co_return 1;
    });
    EXPECT_FALSE(v);
  });
}

TEST(TaskGroup, CancelledBeforeEnteringCancelsAtTheFirstWait) {
  log_t log;
  aw::task_group tg;
  tg.cancel();
  EXPECT_TRUE(tg.cancel_called());
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      g.start_soon([&]() -> aw::task<> {
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          log.push_back("child cancelled");
          throw;
        }
      });
      log.push_back("block runs");
      co_await aw::sleep(1h);
      log.push_back("not reached");
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"block runs", "child cancelled", "after"}));
}

TEST(TaskGroup, CancelledBeforeEnteringSurvivesAMoveIntoTheBlock) {
  // async_with moves an rvalue group into its frame; an early cancel() goes with it, as
  // it does for an rvalue cancel_scope.
  log_t log;
  run_virtual([&]() -> aw::task<> {
    aw::task_group g;
    g.cancel();
    co_await aw::async_with(std::move(g), [&](aw::task_group& tg) -> aw::task<> {
      EXPECT_TRUE(tg.cancel_called());
      log.push_back("block runs");
      co_await aw::yield();  // raises aw::cancelled
      log.push_back("not reached");
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"block runs", "after"}));
}

TEST(TaskGroup, OuterDeadlineCancelsTheChildrenAndIsReported) {
  int children_cancelled = 0;
  bool host_cancelled = false;
  std::optional<bool> completed;
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  run_virtual(clock, [&]() -> aw::task<> {
    completed = co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 3; ++i)
          tg.start_soon([&]() -> aw::task<> {
            try {
              co_await aw::sleep(1h);
            } catch (const aw::cancelled&) {
              ++children_cancelled;
              throw;
            }
          });
        try {
          co_await aw::sleep(1h);
        } catch (const aw::cancelled&) {
          host_cancelled = true;
          throw;
        }
      });
    });
  });
  ASSERT_TRUE(completed.has_value());
  EXPECT_FALSE(*completed);  // the timeout is reported, not swallowed by the group
  EXPECT_EQ(children_cancelled, 3);
  EXPECT_TRUE(host_cancelled);
  EXPECT_EQ(clock.now() - t0, 20ms);
}

TEST(TaskGroup, OuterDeadlineWhileTheBlockWaitsForItsChildren) {
  // The block has returned and waits for its children when the deadline passes: the
  // children are cancelled, and leaving the group raises aw::cancelled for the outer scope.
  int children_cancelled = 0;
  bool block_returned = false;
  std::optional<bool> completed;
  aw::testing::virtual_clock clock(autojump);
  const aw::clock::time_point t0{};  // where virtual time starts
  run_virtual(clock, [&]() -> aw::task<> {
    completed = co_await aw::move_on_after(10ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 2; ++i)
          tg.start_soon([&]() -> aw::task<> {
            try {
              co_await aw::sleep(1h);
            } catch (const aw::cancelled&) {
              ++children_cancelled;
              throw;
            }
          });
        block_returned = true;
        co_return;
      });
      ADD_FAILURE() << "leaving a group inside a cancelled scope must raise aw::cancelled";
    });
  });
  EXPECT_TRUE(block_returned);
  ASSERT_TRUE(completed.has_value());
  EXPECT_FALSE(*completed);
  EXPECT_EQ(children_cancelled, 2);
  EXPECT_EQ(clock.now() - t0, 10ms);
}

TEST(TaskGroup, LeavingIsACancellationPointEvenWhenEveryChildIgnoredTheCancellation) {
  int ignored = 0;
  std::optional<bool> completed;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 2; ++i)
          tg.start_soon([&]() -> aw::task<> {
            try {
              co_await aw::sleep(1h);
            } catch (const aw::cancelled&) {
              ++ignored;  // and returns normally
            }
          });
        co_return;
      });
      ADD_FAILURE() << "not reached";
    });
  });
  EXPECT_EQ(ignored, 2);
  ASSERT_TRUE(completed.has_value());
  EXPECT_FALSE(*completed);
}

TEST(TaskGroup, OuterCancelScopeCancelledWhileChildrenRun) {
  int children_cancelled = 0;
  bool after_scope = false;
  aw::cancel_scope outer;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(outer, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            ++children_cancelled;
            throw;
          }
        });
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::sleep(2ms);
          outer.cancel();  // a child cancels a scope outside its group
          co_await aw::sleep(1h);
        });
        co_await aw::sleep(1h);
      });
      ADD_FAILURE() << "not reached";
    });
    after_scope = true;
  });
  EXPECT_EQ(children_cancelled, 1);
  EXPECT_TRUE(outer.cancelled_caught());  // the outer scope, not the group, swallowed it
  EXPECT_TRUE(after_scope);
}

TEST(TaskGroup, ChildrenSeeTheOuterDeadline) {
  aw::clock::time_point host_deadline{}, child_deadline{};
  run_virtual([&]() -> aw::task<> {
    co_await aw::move_on_after(1h, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        host_deadline = co_await aw::current_deadline();
        tg.start_soon([&]() -> aw::task<> { child_deadline = co_await aw::current_deadline(); });
        co_return;
      });
    });
  });
  EXPECT_NE(host_deadline, aw::clock::time_point::max());
  EXPECT_EQ(child_deadline, host_deadline);
}

TEST(TaskGroup, FailureWhileTheHostIsShieldedReachesItAfterTheShield) {
  log_t log;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::sleep(1ms);
        log.push_back("child fails");
        throw test_error("boom");
      });
      aw::cancel_scope shield(aw::clock::time_point::max(), true);
      co_await aw::async_with(shield, [&](aw::cancel_scope&) -> aw::task<> {
        co_await aw::sleep(10ms);  // not interrupted
        log.push_back("shielded sleep done");
      });
      try {
        co_await aw::yield();  // the first wait after the shield sees the cancellation
      } catch (const aw::cancelled&) {
        log.push_back("host cancelled");
        throw;
      }
    });
  });
  EXPECT_EQ(shape(group_of(caught)), "[boom]");
  EXPECT_EQ(log, (log_t{"child fails", "shielded sleep done", "host cancelled"}));
}

// ---------------------------------------------------------------------------------------
// Children starting children

TEST(TaskGroup, ChildrenStartChildrenInTheSameGroup) {
  int count = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(spawn_tree, std::ref(tg), 4, std::ref(count));
      co_return;  // the tree grows while the host waits in the exit
    });
    EXPECT_EQ(count, 31);
  });
  EXPECT_EQ(count, 31);
}

TEST(TaskGroup, ChildStartsASiblingWithALambda) {
  log_t log;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&log, &tg]() -> aw::task<> {
        log.push_back("first");
        tg.start_soon([&log]() -> aw::task<> {
          co_await aw::sleep(1ms);
          log.push_back("second");
        });
        co_return;
      });
      co_return;
    });
    log.push_back("after");
  });
  EXPECT_EQ(log, (log_t{"first", "second", "after"}));
}

// ---------------------------------------------------------------------------------------
// Misuse

TEST(TaskGroup, StartSoonBeforeEnteringIsALogicError) {
  aw::task_group tg;
  EXPECT_THROW(tg.start_soon([]() -> aw::task<> { co_return; }), std::logic_error);
}

TEST(TaskGroup, StartSoonAfterTheBlockIsALogicError) {
  aw::task_group tg;
  bool threw = false;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> { co_return; });
    try {
      tg.start_soon([]() -> aw::task<> { co_return; });
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  EXPECT_TRUE(threw);
  EXPECT_THROW(tg.start_soon([]() -> aw::task<> { co_return; }), std::logic_error);  // and outside the loop
}

// trio's "Nursery is closed to new arrivals": once the block has exited and the last child
// has finished, the group takes no more children. Here a task outside the group tries in
// the turn between the last child finishing and the host's exit resuming (the event wakes
// it first); a child accepted then would run after the block, in a group that is gone.
TEST(TaskGroup, ClosedToNewArrivalsOnceTheBlockAndItsChildrenAreDone) {
  log_t log;
  std::string refusal;
  aw::task_group tg;
  run_virtual([&]() -> aw::task<> {
    aw::event last_child_ending;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& outer) -> aw::task<> {
      outer.start_soon([&]() -> aw::task<> {
        co_await last_child_ending.wait();
        try {
          tg.start_soon([&]() -> aw::task<> {
            log.push_back("late child");
            co_return;
          });
        } catch (const std::logic_error& e) {
          refusal = e.what();
        }
      });
      co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
        g.start_soon([&]() -> aw::task<> {
          co_await aw::sleep(1ms);
          last_child_ending.set();
        });
        co_return;
      });
      log.push_back("block exited");
    });
  });
  EXPECT_EQ(log, (log_t{"block exited"}));
  EXPECT_NE(refusal.find("closed to new arrivals"), std::string::npos) << refusal;
}

// The same with a temporary group: the late child would use the destroyed group (ASan).
TEST(TaskGroup, ATemporaryGroupIsClosedToNewArrivalsToo) {
  int refused = 0, late = 0;
  run_virtual([&]() -> aw::task<> {
    aw::event last_child_ending;
    aw::task_group* group = nullptr;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& outer) -> aw::task<> {
      outer.start_soon([&]() -> aw::task<> {
        co_await last_child_ending.wait();
        auto late_child = [&]() -> aw::task<> {
          co_await aw::yield();
          ++late;
        };
        try {
          group->start_soon(late_child);
        } catch (const std::logic_error&) {
          ++refused;
        }
        try {
          co_await group->start([&](aw::task_status<>& status) -> aw::task<> {
            status.started();
            co_await aw::yield();
            ++late;
          });
        } catch (const std::logic_error&) {
          ++refused;
        }
      });
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
        group = &g;
        g.start_soon([&]() -> aw::task<> {
          co_await aw::sleep(1ms);
          last_child_ending.set();
        });
        co_return;
      });
    });
  });
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(late, 0);
}

// cancel() after the block exited, when the task that entered the group is gone, does
// nothing harmful (as cancel_scope::cancel() after its exit).
TEST(TaskGroup, CancelAfterTheBlockExitedIsHarmless) {
  aw::task_group tg;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& outer) -> aw::task<> {
      outer.start_soon([&]() -> aw::task<> {  // enters tg, then ends: its task is freed
        co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
          g.start_soon([]() -> aw::task<> { co_await aw::sleep(1ms); });
          co_return;
        });
      });
      co_return;
    });
    tg.cancel();
    co_await aw::sleep(1ms);
  });
  tg.cancel();
  EXPECT_TRUE(tg.cancel_called());
}

// aw::enter and exit_stack::enter_context refuse a group at compile time (their exits run
// after the locals the children may use are gone): tests/compile_fail/*enter_task_group.cpp.
static_assert(!aw::enter_allowed<aw::task_group>);
static_assert(aw::enter_allowed<aw::cancel_scope>);

TEST(TaskGroup, EnteringTwiceIsALogicError) {
  aw::task_group tg;
  bool second_body_ran = false;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> { co_return; });
    co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
      second_body_ran = true;
      co_return;
    });
  });
  EXPECT_FALSE(second_body_ran);
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), std::logic_error);

  // Entering a group inside its own block: the block fails with the logic_error.
  aw::task_group nested;
  bool inner_body_ran = false;
  caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(nested, [&](aw::task_group&) -> aw::task<> {
      co_await aw::async_with(nested, [&](aw::task_group&) -> aw::task<> {
        inner_body_ran = true;
        co_return;
      });
    });
  });
  EXPECT_FALSE(inner_body_ran);
  auto g = group_of(caught);
  EXPECT_EQ(g.exceptions().size(), 1u);
  EXPECT_TRUE(g.contains<std::logic_error>());

  // A used group moved into a block is still a used group.
  aw::task_group used;
  bool moved_body_ran = false;
  caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(used, [&](aw::task_group&) -> aw::task<> { co_return; });
    co_await aw::async_with(std::move(used), [&](aw::task_group&) -> aw::task<> {
      moved_body_ran = true;
      co_return;
    });
  });
  EXPECT_FALSE(moved_body_ran);
  ASSERT_TRUE(caught);
  EXPECT_THROW(std::rethrow_exception(caught), std::logic_error);
}

// ---------------------------------------------------------------------------------------
// Many children

TEST(TaskGroup, TenThousandChildren) {
  constexpr int n = 10'000;
  int finished = 0;
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < n; ++i)
        tg.start_soon([&finished]() -> aw::task<> {
          co_await aw::yield();
          co_await aw::sleep(1ms);
          ++finished;
        });
      co_return;
    });
    EXPECT_EQ(aw::loop::current().pending_timers(), 0u);
  });
  EXPECT_EQ(finished, n);
}

TEST(TaskGroup, TenThousandChildrenOneFails) {
  constexpr int n = 10'000;
  int cancelled = 0;
  int started = 0;
  auto caught = run_virtual_catching([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < n; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          ++started;
          try {
            co_await aw::yield();
            if (i == n / 2) throw test_error("the one");
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            ++cancelled;
            throw;
          }
        });
      co_await aw::sleep(1h);
    });
  });
  auto g = group_of(caught);
  EXPECT_EQ(shape(g), "[the one]");
  EXPECT_EQ(started, n);
  EXPECT_EQ(cancelled, n - 1);
}

// ---------------------------------------------------------------------------------------
// Racy paths, repeated: the same outcome (or one of the allowed ones) every time

constexpr int race_iterations = 200;

TEST(TaskGroup, RaceTwoChildrenFailInTheSameTurn) {
  int one = 0, two = 0;
  for (int iter = 0; iter < race_iterations; ++iter) {
    int bystander_cancelled = 0;
    auto caught = run_virtual_catching([&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        auto d = aw::now() + 1ms;
        for (const char* m : {"x", "y"})
          tg.start_soon([d, m]() -> aw::task<> {
            co_await aw::sleep_until(d);  // both wake in the same turn
            throw test_error(m);
          });
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            ++bystander_cancelled;
            throw;
          }
        });
        co_await aw::sleep(1h);
      });
    });
    auto g = group_of(caught);
    // The second may fail too, or be cancelled first: one or two entries, never none,
    // never aw::cancelled.
    ASSERT_GE(g.exceptions().size(), 1u) << "iteration " << iter;
    ASSERT_LE(g.exceptions().size(), 2u) << "iteration " << iter;
    ASSERT_FALSE(g.contains<aw::cancelled>()) << "iteration " << iter;
    auto [errors, others] = g.split<test_error>();
    ASSERT_FALSE(others) << shape(g);
    ASSERT_EQ(bystander_cancelled, 1) << "iteration " << iter;
    (g.exceptions().size() == 1 ? one : two) += 1;
  }
  RecordProperty("one_error", one);
  RecordProperty("two_errors", two);
}

TEST(TaskGroup, RaceChildrenFailImmediatelyInTheSameTurn) {
  for (int iter = 0; iter < race_iterations; ++iter) {
    auto caught = run_virtual_catching([&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (const char* m : {"x", "y"})
          tg.start_soon([m]() -> aw::task<> {
            throw test_error(m);
            co_return;
          });
        co_await aw::sleep(1h);
      });
    });
    ASSERT_EQ(shape(group_of(caught)), "[x, y]") << "iteration " << iter;
  }
}

TEST(TaskGroup, RaceChildFailsAsAnOuterDeadlineCancelsTheHost) {
  int failures = 0, timeouts = 0;
  for (int iter = 0; iter < race_iterations; ++iter) {
    bool child_cancelled = false;
    std::optional<bool> completed;
    auto caught = run_catching([&]() -> aw::task<> {
      completed = co_await aw::move_on_after(2ms, [&]() -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&, iter]() -> aw::task<> {
            // Wake around the deadline: before it, at it, or after it.
            auto d = co_await aw::current_deadline();
            if (d == aw::clock::time_point::min()) d = aw::now();  // the deadline passed before this child ran
            try {
              co_await aw::sleep_until(d + std::chrono::microseconds((iter % 5 - 2) * 400));
            } catch (const aw::cancelled&) {
              child_cancelled = true;
              throw;
            }
            throw test_error("child");
          });
          co_await aw::sleep(1h);
        });
      });
    });
    if (caught) {
      // The child failed first: its error, and nothing else, comes out of move_on_after.
      ++failures;
      ASSERT_EQ(shape(group_of(caught)), "[child]") << "iteration " << iter;
      ASSERT_FALSE(completed.has_value()) << "iteration " << iter;
      ASSERT_FALSE(child_cancelled) << "iteration " << iter;
    } else {
      // The deadline came first: the child was cancelled and the timeout is reported.
      ++timeouts;
      ASSERT_TRUE(completed.has_value()) << "iteration " << iter;
      ASSERT_FALSE(*completed) << "iteration " << iter;
      ASSERT_TRUE(child_cancelled) << "iteration " << iter;
    }
  }
  EXPECT_EQ(failures + timeouts, race_iterations);
  RecordProperty("failures", failures);
  RecordProperty("timeouts", timeouts);
}

TEST(TaskGroup, RaceChildFailsEvenWhenCancelledAsAnOuterDeadlinePasses) {
  // The child turns its cancellation into an error: the error always wins over the
  // deadline, and aw::cancelled never shows in the group.
  for (int iter = 0; iter < race_iterations; ++iter) {
    std::optional<bool> completed;
    auto caught = run_virtual_catching([&]() -> aw::task<> {
      completed = co_await aw::move_on_after(2ms, [&]() -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([iter]() -> aw::task<> {
            auto d = co_await aw::current_deadline();
            // min(): the deadline passed before this child first ran (a loaded machine).
            if (d == aw::clock::time_point::min()) d = aw::now();
            bool was_cancelled = false;
            try {
              co_await aw::sleep_until(d + std::chrono::microseconds((iter % 5 - 2) * 400));
            } catch (const aw::cancelled&) {
              was_cancelled = true;
            }
            throw test_error(was_cancelled ? "child (cancelled)" : "child");
          });
          co_await aw::sleep(1h);
        });
      });
    });
    ASSERT_TRUE(caught) << "iteration " << iter;
    auto g = group_of(caught);
    ASSERT_EQ(g.exceptions().size(), 1u) << "iteration " << iter << ": " << shape(g);
    ASSERT_TRUE(g.contains<test_error>()) << "iteration " << iter;
    ASSERT_FALSE(completed.has_value());
  }
}

TEST(TaskGroup, RaceChildFinishesAsCancelIsCalled) {
  int finished = 0, cancelled = 0;
  for (int iter = 0; iter < race_iterations; ++iter) {
    bool done = false, child_cancelled = false, after = false;
    run_virtual([&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        auto d = aw::now() + 1ms;
        tg.start_soon([&, d, iter]() -> aw::task<> {
          try {
            co_await aw::sleep_until(d + std::chrono::microseconds((iter % 5 - 2) * 50));
          } catch (const aw::cancelled&) {
            child_cancelled = true;
            throw;
          }
          done = true;
        });
        co_await aw::sleep_until(d);
        for (int k = 0; k < iter % 3; ++k) co_await aw::yield();
        tg.cancel();
      });
      after = true;
    });
    ASSERT_TRUE(after) << "iteration " << iter;
    ASSERT_NE(done, child_cancelled) << "iteration " << iter;  // exactly one of the two
    finished += done;
    cancelled += child_cancelled;
  }
  EXPECT_EQ(finished + cancelled, race_iterations);
  RecordProperty("finished", finished);
  RecordProperty("cancelled", cancelled);
}

TEST(TaskGroup, RaceChildCancelsTheGroupAsASiblingFails) {
  int failures = 0;
  for (int iter = 0; iter < race_iterations; ++iter) {
    auto caught = run_virtual_catching([&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        auto d = aw::now() + 1ms;
        tg.start_soon([d, &tg]() -> aw::task<> {
          co_await aw::sleep_until(d);
          tg.cancel();
        });
        tg.start_soon([d, iter]() -> aw::task<> {
          co_await aw::sleep_until(d + std::chrono::microseconds((iter % 3 - 1) * 50));
          throw test_error("boom");
        });
        co_await aw::sleep(1h);
      });
    });
    // Either the failure came first (a group of it) or the cancel did (no error).
    if (caught) {
      ASSERT_EQ(shape(group_of(caught)), "[boom]") << "iteration " << iter;
      ++failures;
    }
  }
  RecordProperty("failures", failures);
}

// ---------------------------------------------------------------------------------------
// Exits inside children run to completion

TEST(TaskGroup, ChildExitRunsToCompletionWhenTheGroupIsCancelled) {
  log_t log;
  recorder a("A", log, {.sleep_in_exit = true});
  run_virtual([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(a, [&](recorder&) -> aw::task<> {
          log.push_back("child body");
          co_await aw::sleep(1h);
        });
        log.push_back("not reached");
      });
      co_await aw::sleep(2ms);
      log.push_back("cancel");
      tg.cancel();
    });
    log.push_back("group left");
  });
  EXPECT_EQ(log, (log_t{"enter A", "child body", "cancel", "exit A(aw::cancelled)", "exit A finished", "group left"}));
  EXPECT_EQ(a.exits, 1);
}

TEST(TaskGroup, ChildExitRunsToCompletionUnderAnOuterDeadline) {
  log_t log;
  plain_recorder a("A", log, {.sleep_in_exit = true});
  plain_recorder b("B", log, {.sleep_in_exit = true});
  std::optional<bool> completed;
  run_virtual([&]() -> aw::task<> {
    completed = co_await aw::move_on_after(3ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(a, b, [&](plain_recorder&, plain_recorder&) -> aw::task<> { co_await aw::sleep(1h); });
        });
        co_return;
      });
    });
    log.push_back("after");
  });
  ASSERT_TRUE(completed.has_value());
  EXPECT_FALSE(*completed);
  EXPECT_EQ(log,
            (log_t{"enter A", "enter B", "exit B(aw::cancelled)", "exit B finished", "exit A(aw::cancelled)", "exit A finished", "after"}));
}

}  // namespace
