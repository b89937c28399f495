// asyncwith: everything in core. `#include <aw/aw.hpp>` and link aw::aw.
#pragma once

#include <aw/async_with.hpp>
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
#include <aw/run.hpp>
#include <aw/semaphore.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>
#include <aw/thread_pool.hpp>
#include <aw/to_thread.hpp>
#include <aw/wait_fd.hpp>
