// aw::mongo on the trace timeline (aw/trace.hpp): a call is a span "Mongo call <what>
// <db.coll>" on the track of the task that makes it; the job runs on the client's worker
// thread's track under the same name, with flow arrows there and back (as aw::to_thread's
// jobs); one a cancellation interrupted is marked cancelled.
#include <aw/aw.hpp>
#include <aw/mongo.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../trace/trace_check.hpp"
#include "mongo_test.hpp"

namespace {

using aw::mongo::document;

aw::task<> mongo_traced_call(aw::mongo::collection& coll) {
  auto found = co_await coll.find_one(document().append("name", "Ada"));
  EXPECT_FALSE(found.has_value());
}

aw::task<> mongo_cancelled_call(aw::mongo::collection& coll) { (void)co_await coll.count_documents(document()); }

TEST(MongoTrace, ACallIsANamedSpanWithItsWorkerJob) {
  AW_NEED_PYTHON();
  std::string path = aw_trace_test::temp_path("mongo");
  aw::run(
      []() -> aw::task<> {
        aw::mongo::client c(mongo_test::uri());
        co_await aw::async_with(c, [&](aw::mongo::client& cl) -> aw::task<> {
          aw::mongo::collection coll = co_await mongo_test::fresh(cl, "trace");
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
            tg.start_soon(mongo_traced_call, std::ref(coll));
            co_return;
          });
          // Cancelled while its job is on a worker: the child suspends in the call first (it
          // runs before this task's yield ends), and the completion cannot reach the loop
          // between the two steps.
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
            tg.start_soon(mongo_cancelled_call, std::ref(coll));
            co_await aw::sleep(std::chrono::milliseconds(0));
            tg.cancel();
          });
        });
      },
      aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(aw_trace_test::check(
      path, {"intask=mongo_traced_call>Mongo call find_one in aw_test.trace", "kind=Mongo call>Mongo call find_one in aw_test.trace",
             "nested=Mongo call find_one in aw_test.trace>to_thread", "worker=Mongo call find_one in aw_test.trace", "workers=1", "flows=2",
             "intask=mongo_cancelled_call>Mongo call count_documents on aw_test.trace (cancelled)"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

}  // namespace
