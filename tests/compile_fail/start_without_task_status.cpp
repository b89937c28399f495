// Misuse: tg.start(fn) calls fn(args..., aw::task_status<T>&); a callable without that last
// parameter cannot report that it started.
// expect: aw::task_group::start: fn cannot be called as fn\(args..., aw::task_status<T>&\)
#include <aw/task_group.hpp>

aw::task<> no_status(int) { co_return; }

aw::task<> misuse(aw::task_group& tg) { co_await tg.start(no_status, 1); }
