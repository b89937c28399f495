// Misuse: a task group entered with aw::enter. The exits of aw::enter run after the task's
// local variables are destroyed, and the group's exit waits for children that may use them.
// expect: aw::enter: this manager's exit waits for tasks .* enter it with aw::async_with
#include <aw/enter.hpp>
#include <aw/task_group.hpp>

aw::task<> misuse() {
  int hits = 0;
  auto& tg = co_await aw::enter(aw::task_group{});
  tg.start_soon([&]() -> aw::task<> {
    ++hits;
    co_return;
  });
}
