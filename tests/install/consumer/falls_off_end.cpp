// A task-group block that only calls start_soon: declared `-> aw::task<>` but with neither
// co_await nor co_return, the lambda is no coroutine and falls off the end of a function
// returning a task. run.sh builds this to see the package make that an error.
#include <aw/aw.hpp>

aw::task<> child() { co_return; }

aw::task<> parent() {
  co_await aw::async_with(aw::task_group{}, [](aw::task_group& tg) -> aw::task<> { tg.start_soon(child); });
}
