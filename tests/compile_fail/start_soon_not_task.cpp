// Misuse: a task group's child must be a callable returning aw::task<T> or another awaitable.
// expect: aw::task_group::start_soon: the callable must return aw::task<T> or another awaitable
#include <aw/task_group.hpp>

int not_a_task(int x) { return x; }

void misuse(aw::task_group& tg) { tg.start_soon(not_a_task, 1); }
