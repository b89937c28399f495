// aw::task_group::start and aw::task_status: anyio's `value = await tg.start(fn)` with
// `task_status.started(value)` in the child (trio's nursery.start).
//
// - start() returns once the child called started(), with its value; the child goes on
//   running as a child of the group, which waits for it;
// - before started() the child runs in the caller's scopes: a failure is raised out of
//   start() (the group and its other children are not affected), cancelling the caller
//   cancels it, and returning without started() is std::logic_error;
// - after started() it belongs to the group: the caller's scopes no longer reach it, the
//   group's cancellation does, including in scopes the child entered before started();
// - started() twice is std::logic_error; start() outside the block is std::logic_error.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exception_group.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A "server": reports its port, then serves until cancelled.
aw::task<> serve(int port, std::vector<std::string>& log, aw::task_status<int>& status) {
  log.push_back("binding");
  co_await aw::sleep(1ms);
  status.started(port);
  log.push_back("serving");
  try {
    co_await aw::sleep(1h);
  } catch (const aw::cancelled&) {
    log.push_back("stopped");
    throw;
  }
}

TEST(TaskGroupStart, ReturnsTheStartedValueAndTheChildGoesOn) {
  std::vector<std::string> log;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      int port = co_await g.start(serve, 8080, std::ref(log));
      log.push_back("started on " + std::to_string(port));
      co_await aw::sleep(2ms);
      log.push_back("cancelling");
      g.cancel();
    });
  });
  // started() does not suspend the child (trio): it runs on to its next wait before the
  // caller resumes.
  EXPECT_EQ(log, (std::vector<std::string>{"binding", "serving", "started on 8080", "cancelling", "stopped"}));
}

TEST(TaskGroupStart, VoidStatusAndAnExplicitType) {
  int seen = 0;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      co_await g.start([&](aw::task_status<>& st) -> aw::task<> {
        st.started();
        ++seen;
        co_return;
      });
      // A generic callable names its type through start<T>.
      std::string s = co_await g.start<std::string>([](auto& st) -> aw::task<> {
        st.started("hello");
        co_return;
      });
      EXPECT_EQ(s, "hello");
    });
  });
  EXPECT_EQ(seen, 1);
}

TEST(TaskGroupStart, AMoveOnlyValue) {
  int v = aw::run([]() -> aw::task<int> {
    int r = 0;
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      std::unique_ptr<int> p = co_await g.start([](aw::task_status<std::unique_ptr<int>>& st) -> aw::task<> {
        st.started(std::make_unique<int>(42));
        co_return;
      });
      r = *p;
    });
    co_return r;
  });
  EXPECT_EQ(v, 42);
}

TEST(TaskGroupStart, AFailureBeforeStartedIsRaisedByStartNotByTheGroup) {
  bool sibling_finished = false;
  std::string caught;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      g.start_soon([&]() -> aw::task<> {
        co_await aw::sleep(5ms);
        sibling_finished = true;
      });
      std::exception_ptr e;
      try {
        co_await g.start([](aw::task_status<int>&) -> aw::task<> {
          co_await aw::sleep(1ms);
          throw std::runtime_error("bind failed");
        });
      } catch (const std::runtime_error& x) {
        caught = x.what();
      }
    });
  });
  EXPECT_EQ(caught, "bind failed");
  EXPECT_TRUE(sibling_finished) << "the group was cancelled by a failure that belonged to start()";
}

TEST(TaskGroupStart, ReturningWithoutStartedIsALogicError) {
  std::string what;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      try {
        co_await g.start([](aw::task_status<int>&) -> aw::task<> { co_return; });
      } catch (const std::logic_error& e) {
        what = e.what();
      }
    });
  });
  EXPECT_NE(what.find("without calling started()"), std::string::npos) << what;
}

TEST(TaskGroupStart, StartedTwiceFailsTheChild) {
  std::exception_ptr e;
  aw::run([&]() -> aw::task<> {
    try {
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
        co_await g.start([](aw::task_status<>& st) -> aw::task<> {
          st.started();
          st.started();
          co_return;
        });
      });
    } catch (...) {
      e = std::current_exception();
    }
  });
  ASSERT_TRUE(e);
  try {
    std::rethrow_exception(e);
  } catch (const aw::exception_group& g) {
    ASSERT_EQ(g.exceptions().size(), 1u);
    EXPECT_THROW(std::rethrow_exception(g.exceptions()[0]), std::logic_error);
  }
}

// The caller's timeout runs out before started(): the child is cancelled with it, and
// start() raises aw::cancelled, which the caller's scope swallows.
TEST(TaskGroupStart, CancellingTheCallerBeforeStartedCancelsTheChild) {
  bool child_cancelled = false, timed_out = false;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      timed_out = !co_await aw::move_on_after(5ms, [&]() -> aw::task<> {
        co_await g.start([&](aw::task_status<>& st) -> aw::task<> {
          try {
            co_await aw::sleep(1h);
          } catch (const aw::cancelled&) {
            child_cancelled = true;
            throw;
          }
          st.started();
        });
        ADD_FAILURE() << "start() returned";
      });
    });
  });
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(child_cancelled);
}

// After started() the caller's scope no longer reaches the child: it runs on after the
// caller's timeout, until the group is cancelled.
TEST(TaskGroupStart, AfterStartedTheCallersScopeNoLongerReachesTheChild) {
  std::vector<std::string> log;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      aw::event done;
      co_await aw::move_on_after(20ms, [&]() -> aw::task<> {
        co_await g.start([&](aw::task_status<>& st) -> aw::task<> {
          st.started();
          co_await aw::sleep(60ms);  // outlives the caller's 20 ms scope
          log.push_back("child ran to its end");
          done.set();
        });
        co_await aw::sleep(1h);
      });
      log.push_back("caller timed out");
      co_await done.wait();
    });
  });
  EXPECT_EQ(log, (std::vector<std::string>{"caller timed out", "child ran to its end"}));
}

// started() called from inside a scope the child entered: that scope moves into the group
// with the child, so cancelling the group reaches it.
TEST(TaskGroupStart, ScopesEnteredBeforeStartedMoveWithTheChild) {
  bool child_cancelled = false;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
      co_await aw::move_on_after(1h, [&]() -> aw::task<> {  // the caller's scope, ended before the cancel
        co_await g.start([&](aw::task_status<>& st) -> aw::task<> {
          aw::cancel_scope inner;
          co_await aw::async_with(inner, [&](aw::cancel_scope&) -> aw::task<> {
            st.started();
            try {
              co_await aw::sleep(1h);
            } catch (const aw::cancelled&) {
              child_cancelled = true;
              throw;
            }
          });
        });
      });
      co_await aw::sleep(1ms);
      g.cancel();
    });
  });
  EXPECT_TRUE(child_cancelled);
}

TEST(TaskGroupStart, AFailureAfterStartedIsTheGroups) {
  std::exception_ptr e;
  aw::run([&]() -> aw::task<> {
    try {
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
        co_await g.start([](aw::task_status<>& st) -> aw::task<> {
          st.started();
          co_await aw::sleep(1ms);
          throw std::runtime_error("crashed while serving");
        });
        co_await aw::sleep(1h);  // cancelled by the child's failure
      });
    } catch (...) {
      e = std::current_exception();
    }
  });
  ASSERT_TRUE(e);
  try {
    std::rethrow_exception(e);
  } catch (const aw::exception_group& g) {
    ASSERT_EQ(g.exceptions().size(), 1u);
    EXPECT_THROW(std::rethrow_exception(g.exceptions()[0]), std::runtime_error);
  }
}

TEST(TaskGroupStart, StartOutsideTheBlockIsALogicError) {
  std::string what;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    try {
      co_await tg.start([](aw::task_status<>& st) -> aw::task<> {
        st.started();
        co_return;
      });
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  EXPECT_NE(what.find("not active"), std::string::npos) << what;
}

// Many starts, some failing before started and some after, racing the group's cancel:
// the group always ends, every child is accounted for, nothing leaks (ASan).
TEST(TaskGroupStart, ManyStartsRacingCancellation) {
  for (int round = 0; round < 50; ++round) {
    int started = 0, failed_early = 0;
    aw::run([&]() -> aw::task<> {
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group& g) -> aw::task<> {
        for (int i = 0; i < 40; ++i) {
          try {
            int v = co_await g.start([i, round](aw::task_status<int>& st) -> aw::task<> {
              if ((i + round) % 3 == 0) throw std::runtime_error("early");
              st.started(i);
              co_await aw::sleep(1h);
            });
            if (v == i) ++started;
          } catch (const std::runtime_error&) {
            ++failed_early;
          }
        }
        if (round % 2) co_await aw::yield();
        g.cancel();
      });
    });
    EXPECT_EQ(started + failed_early, 40);
  }
}

// ---------------------------------------------------------------------------------------
// trio's test_nursery_start, part by part (trio's _core/_tests/test_run.py). trio's
// TASK_STATUS_IGNORED (calling the task function directly) has no counterpart here, and
// trio's exact times under its autojump clock become lower bounds.

// sleep_then_start: sleeps, reports how long it slept, sleeps as long again.
aw::task<> sleep_then_start(std::chrono::milliseconds d, aw::task_status<std::chrono::milliseconds>& status) {
  co_await aw::sleep(d);
  status.started(d);
  co_await aw::sleep(d);
}

// Basic happy path: start() waits for started() and passes the value back; the group then
// waits for the child.
TEST(TrioNurseryStart, StartWaitsForStartedThenTheGroupWaitsForTheChild) {
  for (auto d : {1ms, 2ms}) {
    aw::clock::time_point t0{}, after_start{};
    std::chrono::milliseconds got{};
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
        t0 = aw::now();
        got = co_await nursery.start(sleep_then_start, d);
        after_start = aw::now();
      });
      EXPECT_GE(aw::now() - t0, 2 * d);
    });
    EXPECT_EQ(got, d);
    EXPECT_GE(after_start - t0, d);
  }
}

// Calling started() twice: the second call raises in the child.
TEST(TrioNurseryStart, StartedTwiceRaisesInTheChild) {
  bool raised = false;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      co_await nursery.start([&](aw::task_status<>& status) -> aw::task<> {
        status.started();
        try {
          status.started();
        } catch (const std::logic_error&) {
          raised = true;
        }
        co_return;
      });
    });
  });
  EXPECT_TRUE(raised);
}

// The child crashes before calling started(): the error comes out of start().
TEST(TrioNurseryStart, ACrashBeforeStartedComesOutOfStart) {
  bool raised = false;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      try {
        co_await nursery.start([](aw::task_status<>&) -> aw::task<> { throw std::out_of_range("oops"); });
      } catch (const std::out_of_range&) {
        raised = true;
      }
    });
  });
  EXPECT_TRUE(raised);
}

// The child returns cleanly before calling started(): start() raises a logic_error.
TEST(TrioNurseryStart, ReturningBeforeStartedIsAnError) {
  std::string message;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      try {
        co_await nursery.start([](aw::task_status<>&) -> aw::task<> { co_return; });
      } catch (const std::logic_error& e) {
        message = e.what();
      }
    });
  });
  EXPECT_NE(message.find("without calling started()"), std::string::npos) << message;
}

// If the call to start() is cancelled, then the call to started() does nothing: the child
// keeps running under start(). The value it passed is ignored; start() raises
// aw::cancelled (the child's next wait raises it).
TEST(TrioNurseryStart, StartInACancelledScopeRaisesCancelled) {
  bool raised = false, returned = false;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      aw::cancel_scope cs;
      co_await aw::async_with(cs, [&](aw::cancel_scope& s) -> aw::task<> {
        s.cancel();
        try {
          std::string v = co_await nursery.start([](aw::task_status<std::string>& status) -> aw::task<> {
            status.started("hi");
            co_await aw::yield();  // trio's checkpoint()
          });
          returned = true;
          EXPECT_NE(v, "hi");
        } catch (const aw::cancelled&) {
          raised = true;
        }
      });
    });
  });
  EXPECT_TRUE(raised);
  EXPECT_FALSE(returned) << "start() returned the value of a started() made in a cancelled scope";
}

// But if the child waits for nothing and returns, start() does not raise: the child
// completed successfully.
TEST(TrioNurseryStart, StartInACancelledScopeOfAChildThatNeverWaits) {
  bool returned = false, caught = true;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      aw::cancel_scope cs;
      co_await aw::async_with(cs, [&](aw::cancel_scope& s) -> aw::task<> {
        s.cancel();
        int v = co_await nursery.start([](aw::task_status<int>& status) -> aw::task<> {
          status.started(7);
          co_return;
        });
        returned = v == 7;
      });
      caught = cs.cancelled_caught();
    });
  });
  EXPECT_TRUE(returned);
  EXPECT_FALSE(caught);
}

// And since starting in a cancelled scope makes started() a no-op, a failure of the child
// after started() still comes out of start().
TEST(TrioNurseryStart, InACancelledScopeAFailureAfterStartedComesOutOfStart) {
  bool raised = false;
  std::exception_ptr group_error;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
        aw::cancel_scope cs;
        co_await aw::async_with(cs, [&](aw::cancel_scope& s) -> aw::task<> {
          s.cancel();
          try {
            co_await nursery.start([](aw::task_status<>& status) -> aw::task<> {
              status.started();
              throw std::out_of_range("whoopsiedaisy");
            });
          } catch (const std::out_of_range&) {
            raised = true;
          }
        });
      });
    } catch (...) {
      group_error = std::current_exception();
    }
  });
  EXPECT_TRUE(raised);
  EXPECT_FALSE(group_error) << "the failure went to the group, not to start()";
}

// Trying to start in a closed group raises at once: the child never runs.
TEST(TrioNurseryStart, StartInAClosedGroupRaisesAtOnce) {
  bool raised = false, ran = false;
  aw::run([&]() -> aw::task<> {
    aw::task_group closed;
    co_await aw::async_with(closed, [&](aw::task_group&) -> aw::task<> { co_return; });
    try {
      co_await closed.start([&](aw::task_status<>& status) -> aw::task<> {
        ran = true;
        status.started();
        co_return;
      });
    } catch (const std::logic_error&) {
      raised = true;
    }
  });
  EXPECT_TRUE(raised);
  EXPECT_FALSE(ran);
}

// ---------------------------------------------------------------------------------------
// trio's test_nursery_start_with_cancelled_nursery: a child moved into a cancelled group by
// started() is cancelled there, with the children it started, even those already asleep.

// Not testing task_status: a convenient way to get a group to start things into.
aw::task<> setup_group(aw::task_status<aw::task_group*>& status) {
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& group) -> aw::task<> {
    status.started(&group);
    co_await aw::sleep(24h);
  });
}

// Calls started() while its children are asleep, so that moving sleeping tasks into a
// cancelled scope must wake them.
aw::task<> sleeping_children(std::function<void()> fn, aw::task_status<>& status) {
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& group) -> aw::task<> {
    group.start_soon([]() -> aw::task<> { co_await aw::sleep(24h); });
    group.start_soon([]() -> aw::task<> { co_await aw::sleep(24h); });
    for (int i = 0; i < 3; ++i) co_await aw::yield();  // trio's wait_all_tasks_blocked()
    fn();
    status.started();
  });
}

// The target group is cancelled just before started(). Without the cancellation reaching
// the moved children, this test sleeps for a day.
TEST(TrioNurseryStartWithCancelledNursery, CancelledJustBeforeStarted) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      aw::task_group* target = co_await nursery.start(setup_group);
      co_await target->start(sleeping_children, [target] { target->cancel(); });
    });
  });
}

TEST(TrioNurseryStartWithCancelledNursery, CancelledJustAfterStarted) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      aw::task_group* target = co_await nursery.start(setup_group);
      co_await target->start(sleeping_children, [] {});
      target->cancel();
    });
  });
}

// The same with the children in a cancel scope the child entered before started(), and
// the child itself asleep in a group of its own that is nested one level deeper.
TEST(TrioNurseryStartWithCancelledNursery, SleepersNestedDeeperAreWokenToo) {
  int cancelled = 0;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& nursery) -> aw::task<> {
      aw::task_group* target = co_await nursery.start(setup_group);
      co_await target->start([&](aw::task_status<>& status) -> aw::task<> {
        co_await aw::async_with(aw::cancel_scope{}, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& outer) -> aw::task<> {
            outer.start_soon([&]() -> aw::task<> {
              co_await aw::async_with(aw::task_group{}, [&](aw::task_group& inner) -> aw::task<> {
                inner.start_soon([&]() -> aw::task<> {
                  try {
                    co_await aw::sleep(24h);
                  } catch (const aw::cancelled&) {
                    ++cancelled;
                    throw;
                  }
                });
                try {
                  co_await aw::sleep(24h);
                } catch (const aw::cancelled&) {
                  ++cancelled;
                  throw;
                }
              });
            });
            for (int i = 0; i < 4; ++i) co_await aw::yield();
            target->cancel();
            status.started();
          });
        });
      });
    });
  });
  EXPECT_EQ(cancelled, 2);
}

}  // namespace
