// aw::http on the trace timeline (aw/trace.hpp): each transfer is a span "HTTP transfer
// <method> <url>" on the track of the task that made the request, from its start to its
// end; one a cancellation interrupted is marked cancelled.
#include <aw/aw.hpp>
#include <aw/http.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../trace/trace_check.hpp"
#include "common.hpp"

using namespace std::chrono_literals;

namespace aw_http_test {
namespace {

aw::task<> http_traced_requests(http::session& s) {
  http::response r = co_await s.get(nginx + "/small");
  EXPECT_EQ(r.status(), 200);
  bool done = false;
  (void)co_await aw::move_on_after(50ms, [&]() -> aw::task<> {
    co_await s.get(scripted + "/slow-headers");
    done = true;
  });
  EXPECT_FALSE(done);
}

TEST(HttpTrace, ATransferIsANamedSpanInItsTask) {
  AW_NEED_PYTHON();
  std::string path = aw_trace_test::temp_path("http");
  aw::run(
      []() -> aw::task<> {
        co_await aw::async_with(http::session(), [](http::session& s) -> aw::task<> {
          co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
            tg.start_soon(http_traced_requests, std::ref(s));
            co_return;
          });
        });
      },
      aw::loop_options{.trace = path.c_str()});
  const std::string small = "HTTP transfer GET " + nginx + "/small";
  const std::string in_task = "intask=http_traced_requests>" + small;
  const std::string kind = "kind=HTTP transfer>" + small;
  const std::string nested = "nested=" + small + ">HTTP response";
  const std::string cancelled = "intask=http_traced_requests>HTTP transfer GET " + scripted + "/slow-headers (cancelled)";
  const std::string cancelled_wait = "nested=HTTP transfer GET " + scripted + "/slow-headers>HTTP response (cancelled)";
  EXPECT_TRUE(aw_trace_test::check(path, {in_task.c_str(), kind.c_str(), nested.c_str(), cancelled.c_str(), cancelled_wait.c_str()}));
  if (!std::getenv("AW_TRACE_KEEP")) std::remove(path.c_str());
}

}  // namespace
}  // namespace aw_http_test
