// Blocking system calls on worker threads: the epoll backend's path for regular files
// (which epoll cannot wait for), and calls io_uring has no operation for (getdents,
// copy_file_range, readlink, ftruncate before liburing 2.6).
//
// A thin adapter over aw::to_thread (anyio's to_thread.run_sync, default limiter of 40
// threads per loop), kept so the module names its one rule in one place: never abandon a
// call. A call in a cancelled scope raises aw::cancelled without running; once a worker
// runs it, the caller waits for it, cancelled or not, because the call reads and writes
// the caller's buffers (the lambdas capture them by reference): abandoning it could write
// into memory whose owner has gone. A cancellation that arrives meanwhile is raised by
// the next wait.
#pragma once

#include <aw/to_thread.hpp>

#include <utility>

namespace aw::files::detail {

// co_await run_blocking([=] { return ::fsync(fd) ? -errno : 0; }): the call on a worker.
template <class F>
auto run_blocking(F fn) {
  return aw::to_thread(std::move(fn));  // abandon_on_cancel stays false: see above
}

}  // namespace aw::files::detail
