// asyncwith: everything in core, and the headers of the modules linked with it.
// `#include <aw/aw.hpp>` and link aw::aw (every module that was built; pkg-config's
// asyncwith gives the same): each module's users get AW_HAVE_<MODULE>=1 (CMake: from the
// aw::<module> target; pkg-config: in the Cflags), which brings its headers in here.
#pragma once

#include <aw/async_with.hpp>
#include <aw/blocking_portal.hpp>
#include <aw/byte_source.hpp>
#include <aw/byte_stream.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/capacity_limiter.hpp>
#include <aw/condition.hpp>
#include <aw/context.hpp>
#include <aw/context_manager.hpp>
#include <aw/debug.hpp>
#include <aw/enter.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/exceptions.hpp>
#include <aw/exit_stack.hpp>
#include <aw/from_thread.hpp>
#include <aw/lock.hpp>
#include <aw/loop.hpp>
#include <aw/memory_channel.hpp>
#include <aw/process.hpp>
#include <aw/redact.hpp>
#include <aw/run.hpp>
#include <aw/run_on_threads.hpp>
#include <aw/semaphore.hpp>
#include <aw/signal_receiver.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/thread_pool.hpp>
#include <aw/to_thread.hpp>
#include <aw/trace.hpp>
#include <aw/wait_fd.hpp>

#ifdef AW_HAVE_FILES
#include <aw/files.hpp>
#endif
#ifdef AW_HAVE_HTTP
#include <aw/http.hpp>
#endif
#ifdef AW_HAVE_MONGO
#include <aw/mongo.hpp>
#endif
#ifdef AW_HAVE_NET
#include <aw/net.hpp>
#endif
#ifdef AW_HAVE_PG
#include <aw/pg.hpp>
#endif
