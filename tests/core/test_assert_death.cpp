// AW_ASSERT (aw/detail/assert.hpp) fires on the misuse it guards: each test breaks a rule
// that the headers state and expects the process to abort with the rule's message. Built
// only where assertions are on (Debug, or AW_SANITIZE); elsewhere the checks compile away.
#include <gtest/gtest.h>
#include <aw/detail/assert.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/event.hpp>
#include <aw/exit_stack.hpp>
#include <aw/memory_channel.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <exception>
#include <utility>

#if AW_ASSERTIONS_ON

namespace {

// A death test forks; "threadsafe" re-runs the binary for the child instead, so thread
// pools that earlier tests started cannot leave a child with locks held by missing threads.
class AssertDeath : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(AssertDeath, AssertionNamesItsPlaceConditionAndMessage) {
  EXPECT_DEATH(AW_ASSERT(1 + 1 == 3, "arithmetic holds"), "test_assert_death\\.cpp:[0-9]+: .*1 \\+ 1 == 3: arithmetic holds");
}

TEST_F(AssertDeath, MovingAChannelHalfWhileATaskWaitsOnItAborts) {
  EXPECT_DEATH(aw::run([]() -> aw::task<> {
                 auto [tx, rx] = aw::memory_channel<int>(0);
                 co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
                   tg.start_soon([&]() -> aw::task<> { (void)co_await rx.receive(); });
                   co_await aw::yield();  // the child waits in receive() on rx
                   aw::receive_channel<int> moved = std::move(rx);
                   co_await tx.send(1);
                 });
               }),
               "do not move a receive_channel while a task waits on it");
}

struct gated_manager {
  aw::event* gate;
  aw::task<> aenter() { co_await gate->wait(); }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

TEST_F(AssertDeath, MovingAnEnteringAwaiterAfterItWasAwaitedAborts) {
  EXPECT_DEATH(aw::run([]() -> aw::task<> {
                 aw::exit_stack stack;
                 aw::event gate;
                 auto entering = stack.enter_context(gated_manager{&gate});
                 co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
                   tg.start_soon([&]() -> aw::task<> { co_await entering; });
                   co_await aw::yield();  // the child waits in the manager's aenter
                   auto moved = std::move(entering);
                   gate.set();
                 });
                 co_await stack.aclose();
               }),
               "can be moved until it is awaited, not after");
}

struct node : aw::detail::intrusive_list_item<node> {};

TEST_F(AssertDeath, LinkingAnElementTwiceAborts) {
  EXPECT_DEATH(
      {
        node n;
        aw::detail::intrusive_list<node> a;
        aw::detail::intrusive_list<node> b;
        a.push_back(n);
        b.push_back(n);
      },
      "an element is in one intrusive list at a time");
}

}  // namespace

#endif
