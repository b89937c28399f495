// Leases (a connection held by a cursor or a GridFS stream) given back by a worker: the job
// a left block abandoned ends on its worker and gives its lease back from there. A relay in
// front of the server (relay.hpp) holds that job's message, so the job still runs when the
// block is left, whatever the timing. maxPoolSize=3 with 2 workers leaves one lease.
#include "mongo_test.hpp"
#include "relay.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/event.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>
#include <aw/to_thread.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace aw::mongo;
using namespace std::chrono_literals;
using mongo_test::numbers;
using mongo_test::relay;

namespace {

// In its own task: a cursor on `coll` whose block is cancelled while its getMore is held on
// the relay, so that the fetch job still runs on its worker when the block is left and the
// cursor's lease is orphaned. The caller releases the relay.
aw::task<> orphan_a_cursor(relay& r, collection& coll, aw::cancel_scope& scope) {
  co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
    auto cur = coll.find({}, find_options().batch_size(2));
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      EXPECT_TRUE(co_await cu.next());
      EXPECT_TRUE(co_await cu.next());
      r.hold_next(coll.name());
      co_await cu.next();  // its getMore is held: cancelled while its job waits on the worker
      ADD_FAILURE() << "a fetch held on the relay completed";
    });
  });
  EXPECT_TRUE(scope.cancelled_caught());
}

// Whether the relay holds a message, waiting for it off the loop (20 s at most).
aw::task<bool> held(relay& r) {
  co_return co_await aw::to_thread([&r] { return r.wait_held(20s); });
}

// Opens a cursor, orphans its lease (orphan_a_cursor) once a second cursor waits for the
// one lease, and gives the number of documents the second one read (0: it never got it).
aw::task<std::size_t> wait_for_an_orphaned_lease(relay& r, collection& coll) {
  aw::cancel_scope first;
  bool waiting = false;
  std::size_t got = 0;
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
    tg.start_soon([&]() -> aw::task<> {
      co_await orphan_a_cursor(r, coll, first);
      r.release();
    });
    EXPECT_TRUE(co_await held(r));
    tg.start_soon([&]() -> aw::task<> {
      waiting = true;  // nothing yields from here to its wait for the lease
      auto cur = coll.find();
      got = co_await aw::async_with(cur, [](cursor& cu) -> aw::task<std::size_t> { co_return (co_await cu.to_vector()).size(); });
    });
    co_await aw::yield();
    EXPECT_TRUE(waiting);
    EXPECT_EQ(got, 0u);  // the first cursor holds the lease
    first.cancel();
  });
  co_return got;
}

// A task waiting for the one lease when an orphaned cursor's job gives it back from its
// worker gets it. The fail_after only turns a wait that never ends into a failure.
TEST(MongoLeases, AWaiterGetsTheLeaseAnOrphanedCursorGivesBack) {
  relay r;
  aw::run([&]() -> aw::task<> {
    client c(r.uri("maxPoolSize=3"), client_options().max_workers(2));
    co_await aw::async_with(c, [&](client& cl) -> aw::task<> {
      auto coll = co_await numbers(cl, "orphaned_cursor", 10);
      std::size_t got = 0;
      try {
        got = co_await aw::fail_after(30s, [&] { return wait_for_an_orphaned_lease(r, coll); });
      } catch (const aw::timeout_error&) {
        ADD_FAILURE() << "the task waiting for a lease never got the one the orphaned cursor's job gave back";
      }
      EXPECT_EQ(got, 10u);
    });
  });
}

// Cancels a scope from another thread if finish() is not called in time: bounds a wait
// without a timer on the loop (a timer would keep the loop from finding a deadlock). Made
// outside the loop, so that a cancellation posted as the wait ends outlives the loop.
class watchdog : aw::posted_call {
 public:
  watchdog() {
    run = [](aw::posted_call* c) {
      auto* self = static_cast<watchdog*>(c);
      if (!self->finished_) self->scope_->cancel();  // on the loop, as finish(): not gone yet
    };
  }
  ~watchdog() { finish(); }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  // On the loop: cancels `scope` after `limit` unless finish() was called before.
  void start(aw::cancel_scope& scope, std::chrono::seconds limit) {
    scope_ = &scope;
    thread_ = std::thread([this, limit, &home = aw::loop::current()] {
      std::unique_lock g(m_);
      if (!cv_.wait_for(g, limit, [&] { return done_; })) home.call_soon_threadsafe(*this);  // the loop still runs
    });
  }
  // On the loop, before `scope` goes.
  void finish() {
    finished_ = true;
    {
      std::lock_guard g(m_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  aw::cancel_scope* scope_ = nullptr;
  bool finished_ = false;  // the loop's
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// The same with nothing else for the loop to wait for (no timer): while the job runs the
// loop waits for its worker, it does not take the waiting task for a deadlock.
TEST(MongoLeases, AWaiterForAnOrphanedLeaseIsNoDeadlock) {
  relay r;
  watchdog dog;
  try {
    aw::run([&]() -> aw::task<> {
      client c(r.uri("maxPoolSize=3"), client_options().max_workers(2));
      co_await aw::async_with(c, [&](client& cl) -> aw::task<> {
        auto coll = co_await numbers(cl, "orphaned_no_deadlock", 10);
        aw::cancel_scope bound;
        std::size_t got = 0;
        co_await aw::async_with(bound, [&](aw::cancel_scope&) -> aw::task<> {
          dog.start(bound, 30s);
          got = co_await wait_for_an_orphaned_lease(r, coll);
        });
        dog.finish();
        EXPECT_FALSE(bound.cancelled_caught()) << "the task waiting for a lease never got the one the orphaned cursor's job gave back";
        EXPECT_EQ(got, 10u);
      });
    });
  } catch (const aw::deadlock_error& e) {
    ADD_FAILURE() << e.what();
  }
}

// The same with a GridFS download stream whose read is held, and a second stream waiting.
TEST(MongoLeases, AWaiterGetsTheLeaseAnOrphanedDownloadStreamGivesBack) {
  relay r;
  aw::run([&]() -> aw::task<> {
    client c(r.uri("maxPoolSize=3"), client_options().max_workers(2));
    co_await aw::async_with(c, [&](client& cl) -> aw::task<> {
      gridfs_bucket b(cl["aw_test"], gridfs_bucket_options().bucket_name("orphaned_stream").chunk_size_bytes(4));
      co_await b.drop();
      const std::string data = "abcdefghijklmnopqrstuvwxyz0123456789";
      auto up = b.open_upload_stream("f");
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> { co_await s.write(data); });
      aw::cancel_scope first;
      bool waiting = false;
      std::string got;
      try {
        co_await aw::fail_after(30s, [&]() -> aw::task<> {
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
            tg.start_soon([&]() -> aw::task<> {
              co_await aw::async_with(first, [&](aw::cancel_scope&) -> aw::task<> {
                auto down = b.open_download_stream(up.file_id());
                co_await aw::async_with(down, [&](gridfs_download_stream& s) -> aw::task<> {
                  r.hold_next("orphaned_stream.chunks");
                  co_await s.read(4);  // its find on the chunks is held
                  ADD_FAILURE() << "a read held on the relay completed";
                });
              });
              EXPECT_TRUE(first.cancelled_caught());
              r.release();
            });
            EXPECT_TRUE(co_await held(r));
            tg.start_soon([&]() -> aw::task<> {
              waiting = true;  // nothing yields from here to its wait for the lease
              auto down = b.open_download_stream(up.file_id());
              got = co_await aw::async_with(down, [](gridfs_download_stream& s) { return s.read(); });
            });
            co_await aw::yield();
            EXPECT_TRUE(waiting);
            EXPECT_TRUE(got.empty());  // the first stream holds the lease
            first.cancel();
          });
        });
      } catch (const aw::timeout_error&) {
        ADD_FAILURE() << "the task waiting for a lease never got the one the orphaned stream's job gave back";
      }
      EXPECT_EQ(got, data);
    });
  });
}

// A client left while an orphaned cursor's job still runs: the job gives its lease back
// while the client closes (released during the close, or just before it), and the close
// still ends with every connection closed, the lease's too.
TEST(MongoLeases, AClientClosesWhileAnOrphanedLeaseIsGivenBack) {
  for (const bool during_close : {true, false}) {
    relay r;
    aw::run([&]() -> aw::task<> {
      aw::event leaving;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        if (during_close) {
          tg.start_soon([&]() -> aw::task<> {
            co_await leaving.wait();
            r.release();  // runs once the client's exit waits for its workers
          });
        }
        client c(r.uri("maxPoolSize=3"), client_options().max_workers(2).close_timeout(30s));
        co_await aw::async_with(c, [&](client& cl) -> aw::task<> {
          auto coll = co_await numbers(cl, during_close ? "closing_orphan" : "closing_orphan_released", 10);
          aw::cancel_scope first;
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& inner) -> aw::task<> {
            inner.start_soon([&]() -> aw::task<> { co_await orphan_a_cursor(r, coll, first); });
            EXPECT_TRUE(co_await held(r));
            first.cancel();
          });
          if (!during_close) r.release();
          leaving.set();
        });
      });
    });
    // The pool was destroyed once the job had given the lease back: nothing is left open.
    EXPECT_TRUE(r.wait_all_closed(20s)) << (during_close ? "released during the close" : "released before the close");
  }
}

}  // namespace
