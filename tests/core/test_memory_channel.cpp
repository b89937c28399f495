// aw::memory_channel as anyio 4 documents its memory object streams ("Streams": memory
// object streams, cloning, closing, end of stream, broken resource).
//
// - items arrive in order; send waits while the buffer is full (0: rendezvous), receive
//   while it is empty; the nowait forms raise aw::would_block instead;
// - waiting senders and waiting receivers are served first come, first served;
// - closing: every sender closed gives end of stream once the buffer is drained; every
//   receiver closed makes send raise aw::broken_resource_error; a closed half raises
//   aw::closed_resource_error; clones count as separate references; halves are async
//   context managers whose exit closes them, and their destructors close them;
// - cancellation: a cancelled send never delivers; a cancelled receive never loses an item,
//   even when the item was handed over just before the cancellation (repeated many times);
// - a million items through a channel of capacity 64.
//
// Time assertions are lower bounds only, never performance thresholds.
#include "protocol_helpers.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/memory_channel.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace aw_test;

aw::task<> yield_n(int n) {
  for (int i = 0; i < n; ++i) co_await aw::yield();
}

// Runs `body` inside `scope`; logs "<name> cancelled" when aw::cancelled leaves the body.
template <class Body>
aw::task<> in_scope(aw::cancel_scope& scope, log_t& log, std::string name, Body body) {
  co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
    try {
      co_await body();
    } catch (const aw::cancelled&) {
      log.push_back(name + " cancelled");
      throw;
    }
  });
}

static_assert(std::is_base_of_v<std::runtime_error, aw::end_of_stream>);
static_assert(std::is_base_of_v<std::runtime_error, aw::broken_resource_error>);
static_assert(std::is_base_of_v<std::runtime_error, aw::closed_resource_error>);
static_assert(std::is_base_of_v<std::runtime_error, aw::would_block>);
static_assert(aw::async_context_manager<aw::send_channel<int>>);
static_assert(aw::async_context_manager<aw::receive_channel<int>>);
static_assert(std::is_same_v<aw::resource_t<aw::send_channel<int>>, aw::send_channel<int>&>);
static_assert(std::is_same_v<aw::resource_t<aw::receive_channel<int>>, aw::receive_channel<int>&>);
static_assert(!std::is_copy_constructible_v<aw::send_channel<int>>);
static_assert(std::is_move_constructible_v<aw::receive_channel<int>>);

TEST(MemoryChannel, BuffersInOrderUpToItsCapacity) {
  auto [tx, rx] = aw::memory_channel<std::string>(2);
  tx.send_nowait("a");
  std::string b = "b";
  tx.send_nowait(b);
  std::string c = "c";
  EXPECT_THROW(tx.send_nowait(std::move(c)), aw::would_block);
  EXPECT_EQ(c, "c");  // not moved from when it could not be sent
  auto st = tx.statistics();
  EXPECT_EQ(st.current_buffer_used, 2u);
  EXPECT_EQ(st.max_buffer_size, 2u);
  EXPECT_EQ(st.open_send_streams, 1u);
  EXPECT_EQ(st.open_receive_streams, 1u);
  EXPECT_EQ(rx.receive_nowait(), "a");
  EXPECT_EQ(rx.receive_nowait(), "b");
  EXPECT_THROW(rx.receive_nowait(), aw::would_block);
}

TEST(MemoryChannel, SendAndReceiveWaitAndKeepTheOrder) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(1);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        for (int i = 0; i < 4; ++i) {
          co_await tx.send(i);
          log.push_back("sent " + std::to_string(i));
        }
      });
      co_await aw::sleep(2ms);
      EXPECT_EQ(rx.statistics().tasks_waiting_send, 1u);  // 0 buffered, 1 waits
      for (int i = 0; i < 4; ++i) {
        int v = co_await rx.receive();
        log.push_back("got " + std::to_string(v));
      }
    });
  });
  // 0 is buffered, 1 waits; receiving 0 moves 1 into the buffer and wakes its sender; the
  // receiver then waits, so 2 goes straight to it and 3 into the buffer.
  EXPECT_EQ(log, (log_t{"sent 0", "got 0", "got 1", "sent 1", "sent 2", "sent 3", "got 2", "got 3"}));
}

TEST(MemoryChannel, CapacityZeroIsARendezvous) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>();  // anyio's default max_buffer_size=0
    EXPECT_THROW(tx.send_nowait(1), aw::would_block);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        log.push_back("sending");
        co_await tx.send(7);
        log.push_back("sent");
      });
      co_await aw::sleep(2ms);
      log.push_back("receiving");
      EXPECT_EQ(co_await rx.receive(), 7);
      log.push_back("received");
    });
  });
  EXPECT_EQ(log, (log_t{"sending", "receiving", "received", "sent"}));
}

TEST(MemoryChannel, UnboundedNeverWaits) {
  auto [tx, rx] = aw::memory_channel<int>(aw::unbounded_capacity);
  for (int i = 0; i < 100000; ++i) tx.send_nowait(i);
  EXPECT_EQ(rx.statistics().current_buffer_used, 100000u);
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(rx.receive_nowait(), i);
}

TEST(MemoryChannel, MoveOnlyItems) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<std::unique_ptr<int>>(1);
    co_await tx.send(std::make_unique<int>(5));
    auto p = co_await rx.receive();
    EXPECT_EQ(*p, 5);
  });
}

TEST(MemoryChannel, AMillionItemsThroughCapacity64) {
  constexpr std::int64_t n = 1'000'000;
  std::int64_t received = 0, sum = 0;
  bool in_order = true;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<std::int64_t>(64);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(tx, [&](aw::send_channel<std::int64_t>& out) -> aw::task<> {
          for (std::int64_t i = 0; i < n; ++i) co_await out.send(i);
        });
      });
      tg.start_soon([&]() -> aw::task<> {
        while (auto item = co_await rx.next()) {
          if (*item != received) in_order = false;
          sum += *item;
          ++received;
        }
      });
      co_return;
    });
  });
  EXPECT_EQ(received, n);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

TEST(MemoryChannel, EndOfStreamOnceEveryClonedSenderIsClosed) {
  std::vector<int> got;
  bool ended = false;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int k = 0; k < 3; ++k)
        tg.start_soon(
            [k](aw::send_channel<int> out) -> aw::task<> {
              co_await aw::async_with(out, [&](aw::send_channel<int>& o) -> aw::task<> {
                co_await aw::sleep(std::chrono::milliseconds(k));
                co_await o.send(k * 10);
                co_await o.send(k * 10 + 1);
              });
              EXPECT_TRUE(out.closed());
            },
            tx.clone());
      EXPECT_EQ(tx.statistics().open_send_streams, 4u);
      tx.close();  // the original: the clones still keep the stream open
      tx.close();  // idempotent
      EXPECT_THROW(tx.clone(), aw::closed_resource_error);
      while (auto item = co_await rx.next()) got.push_back(*item);
      // After the end, every receive says so again.
      try {
        co_await rx.receive();
      } catch (const aw::end_of_stream&) {
        ended = true;
      }
      EXPECT_FALSE(co_await rx.next());
      EXPECT_THROW(rx.receive_nowait(), aw::end_of_stream);
    });
  });
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 10, 11, 20, 21}));
  EXPECT_TRUE(ended);
}

TEST(MemoryChannel, ReceiversDrainTheBufferBeforeTheEnd) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(4);
    co_await tx.send(1);
    co_await tx.send(2);
    tx.close();
    EXPECT_THROW(tx.send_nowait(3), aw::closed_resource_error);
    EXPECT_EQ(co_await rx.receive(), 1);
    EXPECT_EQ(co_await rx.next(), std::optional<int>(2));
    EXPECT_EQ(co_await rx.next(), std::nullopt);
  });
}

TEST(MemoryChannel, WaitingReceiversGetEndOfStreamWhenTheLastSenderCloses) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    auto rx2 = rx.clone();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await rx.receive();
        } catch (const aw::end_of_stream&) {
          log.push_back("end of stream");
        }
      });
      tg.start_soon([&]() -> aw::task<> {
        auto item = co_await rx2.next();
        log.push_back(item ? "item" : "nullopt");
      });
      co_await yield_n(2);
      EXPECT_EQ(rx.statistics().tasks_waiting_receive, 2u);
      tx.close();
    });
  });
  EXPECT_EQ(log, (log_t{"end of stream", "nullopt"}));
}

TEST(MemoryChannel, SendAfterEveryReceiverClosedIsABrokenResource) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(4);
    auto rx2 = rx.clone();
    tx.send_nowait(1);
    rx.close();
    tx.send_nowait(2);  // rx2 is still open
    rx2.close();
    EXPECT_EQ(tx.statistics().current_buffer_used, 0u);  // the buffer is dropped
    EXPECT_THROW(tx.send_nowait(3), aw::broken_resource_error);
    bool broken = false;
    try {
      co_await tx.send(4);
    } catch (const aw::broken_resource_error&) {
      broken = true;
    }
    EXPECT_TRUE(broken);
    EXPECT_THROW(rx.receive_nowait(), aw::closed_resource_error);
  });
}

TEST(MemoryChannel, WaitingSendersGetBrokenResourceWhenTheLastReceiverCloses) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 2; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await tx.send(1);
            log.push_back("sent");
          } catch (const aw::broken_resource_error&) {
            log.push_back("broken");
          }
        });
      co_await yield_n(2);
      {
        auto gone = std::move(rx);  // its destructor closes it
      }
    });
  });
  EXPECT_EQ(log, (log_t{"broken", "broken"}));
}

TEST(MemoryChannel, AClosedHalfRaisesClosedResource) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(1);
    auto tx2 = tx.clone();
    tx.close();
    EXPECT_TRUE(tx.closed());
    EXPECT_FALSE(tx2.closed());
    int caught = 0;
    try {
      co_await tx.send(1);
    } catch (const aw::closed_resource_error&) {
      ++caught;
    }
    rx.close();
    try {
      co_await rx.receive();
    } catch (const aw::closed_resource_error&) {
      ++caught;
    }
    try {
      (void)co_await rx.next();
    } catch (const aw::closed_resource_error&) {
      ++caught;
    }
    EXPECT_EQ(caught, 3);
    EXPECT_THROW(rx.clone(), aw::closed_resource_error);
    aw::receive_channel<int> none;  // refers to no channel
    EXPECT_THROW(none.receive_nowait(), aw::closed_resource_error);
  });
}

TEST(MemoryChannel, ClosingAHalfWakesItsOwnWaitersWithClosedResource) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    auto rx2 = rx.clone();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await rx.receive();
        } catch (const aw::closed_resource_error&) {
          log.push_back("rx closed");
        }
      });
      tg.start_soon([&]() -> aw::task<> { log.push_back("rx2 got " + std::to_string(co_await rx2.receive())); });
      co_await yield_n(2);
      rx.close();  // only rx's waiter is woken
      co_await yield_n(2);
      tx.send_nowait(5);
    });
  });
  EXPECT_EQ(log, (log_t{"rx closed", "rx2 got 5"}));
}

TEST(MemoryChannel, HalvesAreAsyncContextManagersThatClose) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(1);
    co_await aw::async_with(tx, rx, [&](aw::send_channel<int>& out, aw::receive_channel<int>& in) -> aw::task<> {
      EXPECT_EQ(&out, &tx);
      EXPECT_EQ(&in, &rx);
      co_await out.send(3);
      EXPECT_EQ(co_await in.receive(), 3);
    });
    EXPECT_TRUE(tx.closed());
    EXPECT_TRUE(rx.closed());
  });
}

TEST(MemoryChannel, WaitingSendersAreServedInOrder) {
  std::vector<int> got;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 5; ++i) tg.start_soon([&tx, i]() -> aw::task<> { co_await tx.send(i); });
      co_await yield_n(2);
      EXPECT_EQ(tx.statistics().tasks_waiting_send, 5u);
      for (int i = 0; i < 5; ++i) got.push_back(co_await rx.receive());
    });
  });
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(MemoryChannel, WaitingReceiversAreServedInOrder) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 4; ++i)
        tg.start_soon([&rx, &log, i]() -> aw::task<> {
          int v = co_await rx.receive();
          log.push_back(std::to_string(i) + " got " + std::to_string(v));
        });
      co_await yield_n(2);
      for (int v = 10; v < 14; ++v) co_await tx.send(v);
    });
  });
  EXPECT_EQ(log, (log_t{"0 got 10", "1 got 11", "2 got 12", "3 got 13"}));
}

TEST(MemoryChannel, SendCancelledByADeadlineNeverDelivers) {
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    auto t0 = aw::now();
    bool completed = co_await aw::move_on_after(3ms, [&]() -> aw::task<> { co_await tx.send(1); });
    EXPECT_FALSE(completed);
    EXPECT_GE(aw::now() - t0, 3ms);
    EXPECT_EQ(tx.statistics().tasks_waiting_send, 0u);
    EXPECT_THROW(rx.receive_nowait(), aw::would_block);  // no trace of it
    EXPECT_THROW(tx.send_nowait(2), aw::would_block);
  });
}

TEST(MemoryChannel, SendsCancelledByATaskGroupNeverDeliver) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(1);
    tx.send_nowait(0);  // fills the buffer
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 1; i < 4; ++i)
        tg.start_soon([&tx, &log, i]() -> aw::task<> {
          try {
            co_await tx.send(i);
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      tg.cancel();
    });
    EXPECT_EQ(rx.receive_nowait(), 0);
    EXPECT_THROW(rx.receive_nowait(), aw::would_block);
    EXPECT_EQ(tx.statistics().tasks_waiting_send, 0u);
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled", "cancelled"}));
}

TEST(MemoryChannel, ReceivesCancelledByADeadlineAndByATaskGroup) {
  log_t log;
  aw::run([&]() -> aw::task<> {
    auto [tx, rx] = aw::memory_channel<int>(0);
    bool completed = co_await aw::move_on_after(2ms, [&]() -> aw::task<> { co_await rx.receive(); });
    EXPECT_FALSE(completed);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 2; ++i)
        tg.start_soon([&]() -> aw::task<> {
          try {
            (void)co_await rx.next();
          } catch (const aw::cancelled&) {
            log.push_back("cancelled");
            throw;
          }
        });
      co_await yield_n(2);
      tg.cancel();
    });
    EXPECT_EQ(rx.statistics().tasks_waiting_receive, 0u);
    EXPECT_THROW(tx.send_nowait(1), aw::would_block);  // nobody is left waiting
  });
  EXPECT_EQ(log, (log_t{"cancelled", "cancelled"}));
}

TEST(MemoryChannel, ASendWhoseItemWasTakenCompletesEvenIfCancelledBeforeResuming) {
  for (int round = 0; round < 100; ++round) {
    log_t log;
    aw::run([&]() -> aw::task<> {
      auto [tx, rx] = aw::memory_channel<int>(0);
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "sender", [&]() -> aw::task<> {
            co_await tx.send(9);
            log.push_back("sent");
            co_await aw::yield();  // the next wait raises
            log.push_back("not reached");
          });
        });
        co_await yield_n(2);
        EXPECT_EQ(rx.receive_nowait(), 9);
        scope.cancel();
      });
    });
    ASSERT_EQ(log, (log_t{"sent", "sender cancelled"})) << "round " << round;
  }
}

// An item handed to a receiver that is cancelled before it resumes goes to the next waiting
// receiver.
TEST(MemoryChannel, RaceItemHandedToACancelledReceiverGoesToTheNextReceiver) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    aw::run([&]() -> aw::task<> {
      auto [tx, rx] = aw::memory_channel<int>(0);
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "first",
                            [&]() -> aw::task<> { log.push_back("first got " + std::to_string(co_await rx.receive())); });
        });
        co_await aw::yield();
        tg.start_soon([&]() -> aw::task<> { log.push_back("second got " + std::to_string(co_await rx.receive())); });
        co_await yield_n(2);
        tx.send_nowait(1);  // handed to the first receiver...
        scope.cancel();     // ...which is cancelled before it resumes
      });
    });
    ASSERT_EQ(log, (log_t{"first cancelled", "second got 1"})) << "round " << round;
  }
}

// With no other receiver, the item goes back to the front of the buffer, ahead of later ones.
TEST(MemoryChannel, RaceItemHandedToACancelledReceiverGoesBackToTheFront) {
  for (int round = 0; round < 200; ++round) {
    log_t log;
    std::vector<int> rest;
    aw::run([&]() -> aw::task<> {
      auto [tx, rx] = aw::memory_channel<int>(2);
      aw::cancel_scope scope;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await in_scope(scope, log, "receiver", [&]() -> aw::task<> { log.push_back("got " + std::to_string(co_await rx.receive())); });
        });
        co_await yield_n(2);
        tx.send_nowait(1);  // to the waiting receiver
        tx.send_nowait(2);  // buffered
        tx.send_nowait(3);  // buffered
        scope.cancel();
      });
      EXPECT_EQ(rx.statistics().current_buffer_used, 3u);  // one over capacity until received
      tx.close();
      while (auto item = co_await rx.next()) rest.push_back(*item);
    });
    ASSERT_EQ(log, (log_t{"receiver cancelled"})) << "round " << round;
    ASSERT_EQ(rest, (std::vector<int>{1, 2, 3})) << "round " << round;
  }
}

}  // namespace
