// Cursors: async iteration across many batches, find's options, early exit, cancellation.
#include "mongo_test.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/debug.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace aw::mongo;
using namespace std::chrono_literals;
using mongo_test::fresh;
using mongo_test::numbers;
using mongo_test::with_client;

namespace {

// Cursor `id` on `collection` is gone from the server: getMore fails with CursorNotFound.
aw::task<> expect_killed(client& c, std::int64_t id, const char* collection) {
  try {
    co_await c["aw_test"].command(doc("getMore", static_cast<long long>(id), "collection", collection));
    ADD_FAILURE() << "getMore on a killed cursor succeeded";
  } catch (const command_error& e) {
    EXPECT_EQ(e.code(), 43) << e.what();
  }
}

// AW_DEBUG: a client, cursor or session made and never entered is reported when dropped.
TEST(MongoCursor, TheDebugModeReportsManagersNeverEntered) {
  bool was = aw::debug_enabled();
  aw::set_debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> {
    {
      client forgotten(mongo_test::uri());
    }
    client c(mongo_test::uri());
    co_await aw::async_with(c, [](client& cl) -> aw::task<> {
      auto coll = co_await fresh(cl, "debug_never_entered");
      {
        auto forgotten = coll.find();
      }
      {
        auto forgotten = cl.start_session();
      }
      co_await aw::async_with(coll.find(), [](cursor& cur) -> aw::task<> { EXPECT_FALSE(co_await cur.next()); });
      co_await aw::async_with(cl.start_session(), [](session& s) -> aw::task<> {
        co_await aw::async_with(s.start_transaction(), [](transaction&) -> aw::task<> { co_return; });
      });
    });
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(was);
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered + 3);
  EXPECT_NE(err.find("aw: manager aw::mongo::client was created but never entered\n"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: manager aw::mongo::cursor was created but never entered\n"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: manager aw::mongo::session was created but never entered\n"), std::string::npos) << err;
}

TEST(MongoCursor, ManyBatchesInOrder) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "batches", 250);
    int expect = 0;
    auto cur = coll.find({}, find_options().sort(doc("i", 1)).batch_size(7));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      while (auto d = co_await cu.next()) EXPECT_EQ(d->get<std::int32_t>("i"), expect++);
      EXPECT_EQ(cu.id(), 0);  // exhausted: the server closed it
      EXPECT_EQ(co_await cu.next(), std::nullopt);
    });
    EXPECT_EQ(expect, 250);
  });
}

TEST(MongoCursor, FindOptions) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "find_options", 30);
    auto cur = coll.find(doc("i", doc("$lt", 10)), find_options().sort(doc("i", -1)).skip(2).limit(3).projection(doc("_id", 0)));
    auto docs = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(docs.size(), 3u);
    EXPECT_EQ(docs[0], (doc("i", 7)));
    EXPECT_EQ(docs[2], (doc("i", 5)));
  });
}

TEST(MongoCursor, LeavingEarlyKillsTheServerCursor) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "early_exit", 100);
    std::int64_t id = 0;
    auto cur = coll.find({}, find_options().batch_size(10));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      for (int k = 0; k < 15; ++k) EXPECT_TRUE(co_await cu.next());
      id = cu.id();
    });
    EXPECT_NE(id, 0);  // it was open on the server when the block was left
    // The server no longer knows it: getMore fails (CursorNotFound).
    co_await expect_killed(c, id, "early_exit");
  });
}

TEST(MongoCursor, ExceptionInTheBodyClosesTheCursor) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "body_throws", 50);
    auto cur = coll.find({}, find_options().batch_size(5));
    std::int64_t id = 0;
    EXPECT_THROW(co_await aw::async_with(cur,
                                         [&](cursor& cu) -> aw::task<> {
                                           co_await cu.next();
                                           id = cu.id();
                                           throw std::runtime_error("boom");
                                         }),
                 std::runtime_error);
    EXPECT_NE(id, 0);
    EXPECT_THROW(co_await c["aw_test"].command(doc("getMore", static_cast<long long>(id), "collection", "body_throws")), command_error);
  });
}

TEST(MongoCursor, CancellingNextLosesNoDocument) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "cancel_next", 60);
    std::vector<int> seen;
    auto cur = coll.find({}, find_options().sort(doc("i", 1)).batch_size(8));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      for (int round = 0; round < 5; ++round) {
        // Cancelled at its first wait: the fetch job may or may not run meanwhile.
        co_await aw::move_on_after(0s, [&]() -> aw::task<> {
          if (auto d = co_await cu.next()) seen.push_back(d->get<std::int32_t>("i"));
        });
        if (auto d = co_await cu.next()) seen.push_back(d->get<std::int32_t>("i"));
      }
      while (auto d = co_await cu.next()) seen.push_back(d->get<std::int32_t>("i"));
    });
    CO_ASSERT_EQ(seen.size(), 60u);
    for (int i = 0; i < 60; ++i) EXPECT_EQ(seen[i], i);
  });
}

TEST(MongoCursor, AggregateAcrossManyBatches) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "aggregate_batches", 40);
    auto cur = coll.aggregate(arr(doc("$match", doc("i", doc("$gte", 5))), doc("$sort", doc("i", 1))), aggregate_options().batch_size(4));
    int expect = 5;
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      while (auto d = co_await cu.next()) EXPECT_EQ(d->get<std::int32_t>("i"), expect++);
    });
    EXPECT_EQ(expect, 40);
  });
}

TEST(MongoCursor, CancelledBodyKillsTheServerCursor) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "cancelled_body", 50);
    std::int64_t id = 0;
    int seen = 0;
    aw::cancel_scope scope;
    co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
      auto cur = coll.find({}, find_options().batch_size(5));
      co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
        for (;;) {
          if (!co_await cu.next()) break;
          if (++seen == 7) {
            id = cu.id();
            // The first next() that has to wait raises aw::cancelled (documents already
            // fetched are handed out without waiting); the exit still closes the cursor.
            s.cancel();
          }
        }
      });
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_GE(seen, 7);
    EXPECT_LT(seen, 50);
    CO_ASSERT_TRUE(id != 0);
    co_await expect_killed(c, id, "cancelled_body");
  });
}

// maxPoolSize=3 with 2 workers leaves one connection for cursors and sessions: a second
// cursor waits for it, and that wait is a cancellation point that gives nothing away.
TEST(MongoCursor, WaitingForAConnectionIsCancellable) {
  aw::run([]() -> aw::task<> {
    client c(std::string(mongo_test::uri()) + "&maxPoolSize=3", client_options().max_workers(2));
    co_await aw::async_with(c, [](client& cl) -> aw::task<> {
      auto coll = co_await numbers(cl, "lease_wait", 10);
      bool second_entered = false;
      aw::cancel_scope waiter;
      auto first = coll.find({}, find_options().batch_size(2));
      co_await aw::async_with(first, [&](cursor& cu) -> aw::task<> {
        EXPECT_TRUE(co_await cu.next());
        // Cancelled before it could wait.
        auto r = co_await aw::move_on_after(0s, [&]() -> aw::task<> {
          auto other = coll.find();
          co_await aw::async_with(other, [](cursor&) -> aw::task<> { co_return; });
        });
        EXPECT_FALSE(r);  // move_on_after of a task<>: false when cancelled
        // Cancelled while it waits: the one connection is the first cursor's.
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(waiter, [&](aw::cancel_scope&) -> aw::task<> {
              auto second = coll.find();
              co_await aw::async_with(second, [&](cursor&) -> aw::task<> {
                second_entered = true;
                co_return;
              });
            });
          });
          co_await aw::sleep(20ms);  // lets the child reach its wait (it cannot get further)
          EXPECT_FALSE(second_entered);
          waiter.cancel();
        });
        EXPECT_TRUE(waiter.cancelled_caught());
        EXPECT_FALSE(second_entered);
        // Plain calls do not need the connection: they go on meanwhile.
        EXPECT_EQ(co_await coll.count_documents(), 10);
        int rest = 0;
        while (co_await cu.next()) ++rest;
        EXPECT_EQ(rest, 9);
      });
      // The connection came back and no waiter kept a claim on it: cursors and sessions,
      // one after the other, get it.
      for (int k = 0; k < 3; ++k) {
        auto cur = coll.find();
        auto all = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
        EXPECT_EQ(all.size(), 10u);
        auto s = cl.start_session();
        co_await aw::async_with(
            s, [&](session& sess) -> aw::task<> { EXPECT_EQ(co_await coll.count_documents({}, count_options().session(sess)), 10); });
      }
    });
  });
}

// Without a batch size a trip to a worker goes on across the server's batches (CongoDB sends
// 101 documents per batch) up to 4 MiB: 350 small documents come back in the first trip,
// after which the server has nothing left (cursor id 0).
TEST(MongoCursor, WithoutABatchSizeOneTripBringsASmallResult) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "one_trip", 350);
    int expect = 0;
    auto cur = coll.find({}, find_options().sort(doc("i", 1)));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      auto first = co_await cu.next();
      CO_ASSERT_TRUE(first.has_value());
      EXPECT_EQ(first->get<std::int32_t>("i"), expect++);
      EXPECT_EQ(cu.id(), 0);  // the first trip exhausted the server's cursor
      while (auto d = co_await cu.next()) EXPECT_EQ(d->get<std::int32_t>("i"), expect++);
    });
    EXPECT_EQ(expect, 350);
  });
}

// A cancelled fetch of a whole trip leaves what its job fetched for the next next().
TEST(MongoCursor, CancellingAOneTripFetchLosesNoDocument) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "cancel_one_trip", 300);
    std::vector<int> seen;
    auto cur = coll.find({}, find_options().sort(doc("i", 1)));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      auto r = co_await aw::move_on_after(0s, [&]() -> aw::task<> {
        if (auto d = co_await cu.next()) seen.push_back(d->get<std::int32_t>("i"));
      });
      EXPECT_FALSE(r);  // cancelled at its wait
      EXPECT_TRUE(seen.empty());
      while (auto d = co_await cu.next()) seen.push_back(d->get<std::int32_t>("i"));
    });
    CO_ASSERT_EQ(seen.size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(seen[i], i);
  });
}

// More than a trip's 4 MiB: 450 documents of 16 KiB (7 MiB) take two trips; the first stops
// inside the server's third batch, so the server cursor is still open after it, and leaving
// then kills it.
TEST(MongoCursor, TripsStopAtTheirByteBudget) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "byte_budget");
    const std::string pad(16 * 1024, 'x');
    std::vector<document> docs;
    for (int i = 0; i < 450; ++i) docs.push_back(doc("i", i, "pad", pad));
    co_await coll.insert_many(std::move(docs));
    // All of them, in order, across the trips.
    auto all = coll.find({}, find_options().sort(doc("i", 1)));
    auto got = co_await aw::async_with(all, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(got.size(), 450u);
    for (int i = 0; i < 450; ++i) {
      EXPECT_EQ(got[i].get<std::int32_t>("i"), i);
      EXPECT_EQ(got[i].get<std::string_view>("pad").size(), pad.size());
    }
    // Leaving after the first document.
    std::int64_t id = 0;
    auto cur = coll.find({}, find_options().sort(doc("i", 1)));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      EXPECT_TRUE(co_await cu.next());
      id = cu.id();
    });
    CO_ASSERT_TRUE(id != 0);
    co_await expect_killed(c, id, "byte_budget");
  });
}

// to_vector() after next(): the rest, across batches, nothing given twice.
TEST(MongoCursor, ToVectorGivesTheRest) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "to_vector_rest", 40);
    auto cur = coll.find({}, find_options().sort(doc("i", 1)).batch_size(6));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      for (int i = 0; i < 9; ++i) {
        auto d = co_await cu.next();
        CO_ASSERT_TRUE(d.has_value());
        EXPECT_EQ(d->get<std::int32_t>("i"), i);
      }
      auto rest = co_await cu.to_vector();
      CO_ASSERT_EQ(rest.size(), 31u);
      for (int i = 0; i < 31; ++i) EXPECT_EQ(rest[i].get<std::int32_t>("i"), i + 9);
      EXPECT_TRUE((co_await cu.to_vector()).empty());
    });
  });
}

// Calls move their options in; options that were moved from still work (as no options).
TEST(MongoCursor, MovedFromOptionsAreNoOptions) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "moved_options", 3);
    document all;
    auto o = find_options().sort(doc("i", -1)).limit(1);
    auto used = co_await coll.find_one(all, std::move(o));
    CO_ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->get<std::int32_t>("i"), 2);
    auto again = co_await coll.find_one(all, std::move(o));  // NOLINT(bugprone-use-after-move): the point
    EXPECT_TRUE(again.has_value());
    auto cur = coll.find(all, std::move(o));  // NOLINT(bugprone-use-after-move)
    auto docs = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
    EXPECT_EQ(docs.size(), 3u);
    auto w = write_options();
    co_await coll.insert_one(doc("i", 3), std::move(w));
    co_await coll.insert_one(doc("i", 4), std::move(w));  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(co_await coll.count_documents(), 5);
  });
}

TEST(MongoCursor, MisuseIsReported) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await numbers(c, "misuse", 3);
    auto cur = coll.find();
    EXPECT_THROW(co_await cur.next(), closed_error);  // not entered
    co_await aw::async_with(cur, [](cursor&) -> aw::task<> { co_return; });
    EXPECT_THROW(co_await cur.next(), closed_error);  // left
    EXPECT_THROW(co_await aw::async_with(cur, [](cursor&) -> aw::task<> { co_return; }), closed_error);
  });
}

}  // namespace
