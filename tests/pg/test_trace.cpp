// aw::pg on the trace timeline (aw/trace.hpp): a statement is a span "PostgreSQL query
// <its start>" on the track of the task that runs it, around the socket waits it makes;
// one a cancellation interrupted is marked cancelled.
#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../trace/trace_check.hpp"
#include "pg_test.hpp"

using namespace std::chrono_literals;

namespace {

aw::task<> pg_traced_queries(aw::pg::connection& c) {
  EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT   1 +\n  1"), 2);
  // Cancelled on the client by the deadline (the server's sleep would hang the test).
  auto r = co_await aw::move_on_after(50ms, [&]() { return c.fetchval<std::int32_t>("SELECT 1 FROM pg_sleep(60)"); });
  EXPECT_FALSE(r.has_value());
}

TEST(PgTrace, AStatementIsANamedSpanInItsTask) {
  AW_NEED_PYTHON();
  std::string path = aw_trace_test::temp_path("pg");
  aw::run(
      []() -> aw::task<> {
        co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [](aw::pg::connection& c) -> aw::task<> {
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
            tg.start_soon(pg_traced_queries, std::ref(c));
            co_return;
          });
        });
      },
      aw::loop_options{.trace = path.c_str()});
  EXPECT_TRUE(
      aw_trace_test::check(path, {"intask=pg_traced_queries>PostgreSQL query SELECT 1 + 1",
                                  "kind=PostgreSQL query>PostgreSQL query SELECT 1 + 1", "nested=PostgreSQL query SELECT 1 + 1>fd readable",
                                  "intask=pg_traced_queries>PostgreSQL query SELECT 1 FROM pg_sleep(60) (cancelled)",
                                  "nested=PostgreSQL query SELECT 1 FROM pg_sleep(60)>fd readable (cancelled)"}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

}  // namespace
