// Misuse: a task group's child must be a callable returning aw::task<T>.
// expect: aw::task_group::start_soon: the callable must return aw::task<T>
#include <aw/task_group.hpp>

int not_a_task(int x) { return x; }

void misuse(aw::task_group& tg) { tg.start_soon(not_a_task, 1); }
