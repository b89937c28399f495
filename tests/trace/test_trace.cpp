// The trace export (aw/trace.hpp): each test runs a program with a trace on, then has
// check_trace.py (python3's json) parse the file, check the structure every trace must have
// (every track named, slices nested, every begin with its end, flows with both ends) and the
// expectations of the test. Without python3 the tests are skipped.
#include <aw/aw.hpp>
#include <aw/uring_op.hpp>

#include "trace_check.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace aw_trace_test {

struct named_manager {
  aw::task<> aenter() { co_return; }
  aw::task<> aexit(std::exception_ptr) { co_return; }
};

struct failing_exit {
  aw::task<> aenter() { co_return; }
  aw::task<> aexit(std::exception_ptr) {
    co_await aw::sleep(0ms);
    throw std::runtime_error("exit broke");
  }
};

aw::task<> sleeper_child(aw::event& go) {
  co_await aw::sleep(2ms);
  go.set();
}

aw::task<> waiter_child(aw::event& go, aw::lock& lk) {
  co_await go.wait();
  co_await aw::async_with(lk, [&](aw::lock&) -> aw::task<> { co_await aw::sleep(1ms); });
}

aw::task<> structured_program() {
  aw::event go;
  aw::lock lk;
  co_await aw::async_with(named_manager{}, [&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(sleeper_child, std::ref(go));
      tg.start_soon(waiter_child, std::ref(go), std::ref(lk));
      co_await aw::sleep(1ms);
    });
  });
}

// Tracks per task named after their coroutine, the children under the task that started
// them; managers nested as the code nests them, steps inside; each wait kind named.
TEST(Trace, TasksManagersAndWaitsNestAsTheCodeDoes) {
  AW_NEED_PYTHON();
  std::string path = temp_path("structure");
  aw::run(structured_program, aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"task=structured_program", "task=sleeper_child", "task=waiter_child", "parent=sleeper_child>structured_program",
                           "parent=waiter_child>structured_program", "manager=named_manager", "manager=aw::task_group", "manager=aw::lock",
                           "nested=named_manager>aw::task_group", "nested=aw::task_group>step", "nested=aw::lock>sleep",
                           "nested=aw::task_group>task group join", "wait=sleep", "wait=event"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// A wait interrupted by a cancellation is marked so, with an instant at the interruption
// and one naming the scope that was cancelled. (The 24 h sleep would hang the test otherwise.)
TEST(Trace, ACancelledWaitShowsItsCancellation) {
  AW_NEED_PYTHON();
  std::string path = temp_path("cancel");
  aw::run(
      []() -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([]() -> aw::task<> { co_await aw::sleep(24h); });
          co_await aw::sleep(1ms);
          tg.cancel();
        });
      },
      aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"wait=sleep (cancelled)", "instant=cancelled: sleep", "instant=cancel: cancel scope"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// An exception out of aw::run still leaves a complete file: the exit's exception is on its
// manager, and the spans still open are closed at the end.
TEST(Trace, AFailingProgramsTraceIsWellFormed) {
  AW_NEED_PYTHON();
  std::string path = temp_path("failing");
  EXPECT_THROW(aw::run(
                   []() -> aw::task<> {
                     co_await aw::async_with(named_manager{}, [&]() -> aw::task<> {
                       co_await aw::async_with(failing_exit{}, [&]() -> aw::task<> {
                         co_await aw::sleep(1ms);
                         throw std::logic_error("body broke");
                       });
                     });
                   },
                   aw::loop_options{.trace = path.c_str()}),
               std::runtime_error);
  EXPECT_TRUE(check(path, {"manager=failing_exit", "exception=body broke", "exception=exit broke", "nested=named_manager>failing_exit"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// The ring holds at most its bound while a million records go through it; the file says how
// many were dropped and holds no more than the bound allows.
TEST(Trace, TheRingsBoundHoldsUnderAMillionEvents) {
  AW_NEED_PYTHON();
  std::string path = temp_path("ring");
  aw::trace_counts during{};
  aw::run(
      [&]() -> aw::task<> {
        for (int i = 0; i < 400000; ++i) co_await aw::yield();  // 3 records each: step, wait, step end
        during = aw::trace_report_counts();
      },
      aw::loop_options{.trace = path.c_str(), .trace_ring_events = 1000});
  EXPECT_GE(during.recorded, 1000000u);
  EXPECT_EQ(during.capacity, 1000u);
  EXPECT_LE(during.held, 1000u);
  EXPECT_EQ(during.dropped, during.recorded - during.held);
  EXPECT_TRUE(check(path, {"dropped>=999000", "events<=1100", "wait=yield"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// File descriptors and io_uring operations are waits of their own kinds.
TEST(Trace, FdAndUringWaitsAreNamed) {
  AW_NEED_PYTHON();
  std::string path = temp_path("fd");
  bool uring = false;
  aw::run(
      [&]() -> aw::task<> {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> { co_await aw::wait_readable(fds[0]); });
          co_await aw::sleep(1ms);
          char c = 'x';
          if (::write(fds[1], &c, 1) != 1) throw std::runtime_error("write");
        });
        if (aw::loop::current().uring()) {
          uring = true;
          co_await aw::uring_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
        }
        ::close(fds[0]);
        ::close(fds[1]);
      },
      aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"wait=fd readable"}));
  if (uring) {
    EXPECT_TRUE(check(path, {"wait=io_uring"}));
  }
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// to_thread's job runs on a worker's track, with arrows from the task to the worker and back.
TEST(Trace, WorkerThreadsHaveTracksAndFlows) {
  AW_NEED_PYTHON();
  std::string path = temp_path("worker");
  aw::run([]() -> aw::task<> { co_await aw::to_thread([] { std::this_thread::sleep_for(1ms); }); },
          aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"wait=to_thread", "workers=1", "flows=2"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// A manager exited and the next one entered in the same step (no wait between them) end and
// begin in that order: the first closes before the second opens.
TEST(Trace, ManagersInARowInOneStepDoNotOverlap) {
  AW_NEED_PYTHON();
  std::string path = temp_path("in_a_row");
  aw::run(
      []() -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [](aw::task_group&) -> aw::task<> { co_await aw::sleep(1ms); });
        co_await aw::async_with(named_manager{}, []() -> aw::task<> { co_await aw::sleep(1ms); });
      },
      aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"manager=aw::task_group", "manager=named_manager"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// A module's wait (detail::trace_span, the hook aw::http, aw::pg and aw::mongo use) is a
// span named by its label on the track of the task that made it, around the core waits
// inside it; a job handed to a worker inside one is named after it; one a cancellation
// interrupted is marked so; one ended from another task closes where its task next runs.
aw::task<> module_caller() {
  {
    aw::detail::trace_span span("Test call", [] { return std::string("Test call fetch a.b"); });
    co_await aw::sleep(1ms);
    co_await aw::to_thread([] { std::this_thread::sleep_for(1ms); });
  }
  (void)co_await aw::move_on_after(2ms, []() -> aw::task<> {
    aw::detail::trace_span span("Test call", [] { return std::string("Test call stuck"); });
    co_await aw::sleep(24h);
  });
  aw::event done;
  aw::detail::trace_span span;
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
    auto label = [] { return std::string("Test call ended elsewhere"); };
    span.begin("Test call", label);
    tg.start_soon([&]() -> aw::task<> {
      co_await aw::sleep(1ms);
      span.end(false);
      done.set();
    });
    co_await done.wait();
  });
}

TEST(Trace, ModuleWaitsAreNamedSpansInTheirTask) {
  AW_NEED_PYTHON();
  std::string path = temp_path("module");
  aw::run(module_caller, aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(check(path, {"intask=module_caller>Test call fetch a.b", "kind=Test call>Test call fetch a.b",
                           "nested=Test call fetch a.b>sleep", "nested=Test call fetch a.b>to_thread", "worker=Test call fetch a.b",
                           "flows=2", "intask=module_caller>Test call stuck (cancelled)", "nested=Test call stuck>sleep (cancelled)",
                           "intask=module_caller>Test call ended elsewhere", "nested=Test call ended elsewhere>event",
                           "nested=aw::task_group>Test call ended elsewhere"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// Off, the label is never built.
TEST(Trace, AModuleWaitsLabelIsOnlyBuiltWhenTracing) {
  bool built = false;
  aw::run([&]() -> aw::task<> {
    aw::detail::trace_span span("Test call", [&] {
      built = true;
      return std::string("x");
    });
    co_await aw::sleep(0ms);
  });
  EXPECT_FALSE(built);
}

// Every loop of run_on_threads is a process of its own in the one file (aw::set_trace).
// Their flow arrows are their own: the ids, global in the file, differ between loops.
TEST(Trace, SeveralLoopsAreSeveralProcesses) {
  AW_NEED_PYTHON();
  std::string path = temp_path("loops");
  aw::set_trace(path);
  aw::run_on_threads(2, [](std::size_t) -> aw::task<> {
    co_await aw::sleep(1ms);
    co_await aw::to_thread([] {});
  });
  aw::set_trace("");
  EXPECT_TRUE(check(path, {"loops=2", "wait=sleep", "flows=4"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// AW_TRACE turns it on for the loops started after it is set.
TEST(Trace, TheEnvironmentTurnsItOn) {
  AW_NEED_PYTHON();
  std::string path = temp_path("env");
  ::setenv("AW_TRACE", path.c_str(), 1);
  aw::run([]() -> aw::task<> { co_await aw::sleep(0ms); });
  ::unsetenv("AW_TRACE");
  aw::set_trace("");
  EXPECT_FALSE(aw::trace_enabled());
  EXPECT_TRUE(check(path, {"wait=yield", "task="}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

// Off, nothing is recorded and no file appears.
TEST(Trace, OffRecordsNothing) {
  std::string path = temp_path("off");
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
  aw::trace_counts during{1, 1, 1, 1};
  aw::run([&]() -> aw::task<> {
    co_await aw::sleep(0ms);
    during = aw::trace_report_counts();
  });
  EXPECT_EQ(during.recorded, 0u);
  EXPECT_EQ(during.capacity, 0u);
  std::ifstream f(path);
  EXPECT_FALSE(f.good());
}

}  // namespace aw_trace_test
