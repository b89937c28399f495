// Event hooks (event_hooks.hpp) against nginx and the scripted server: request start and end,
// connections created and reused, timings, retries, exceptions from hooks, cancellation, and
// the debug mode's lines.
#include <aw/aw.hpp>
#include <aw/http.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"

using namespace std::chrono_literals;

namespace aw_http_test {
namespace {

// Every event as one line, in order.
struct recorder {
  std::vector<std::string> events;
  std::vector<http::request_end> ends_timings;  // with `url`, `method` and `response` not kept
  http::event_hooks hooks() {
    http::event_hooks h;
    h.on_request_start([this](const http::request_start& e) {
      events.push_back("start " + std::string(e.method) + " " + std::string(e.url) + " #" + std::to_string(e.attempt));
    });
    h.on_connection_created([this](const http::connection_event& e) {
      events.push_back("created " + std::string(e.ip) + ":" + std::to_string(e.port));
      EXPECT_GT(e.timings.connect.count(), 0);
    });
    h.on_connection_reused([this](const http::connection_event& e) {
      events.push_back("reused " + std::string(e.ip) + ":" + std::to_string(e.port));
      EXPECT_EQ(e.timings.connect.count(), 0);
    });
    h.on_request_end([this](const http::request_end& e) {
      std::string what;
      if (e.response) {
        what = std::to_string(e.response->status());
      } else {
        try {
          std::rethrow_exception(e.error);
        } catch (const aw::cancelled&) {
          what = "cancelled";
        } catch (const http::connect_error&) {
          what = "connect_error";
        } catch (const std::exception& x) {
          what = x.what();
        }
      }
      events.push_back("end " + std::string(e.url) + " #" + std::to_string(e.attempt) + " " + what);
      http::request_end kept;
      kept.timings = e.timings;
      ends_timings.push_back(kept);
    });
    return h;
  }
};

TEST(HttpHooks, StartEndAndConnectionsOfRequestsWithTimings) {
  recorder rec;
  http::session_options o{.hooks = rec.hooks()};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response a = co_await s.get(nginx + "/small");
    EXPECT_EQ(a.status(), 200);
    http::response b = co_await s.get(nginx + "/small");  // on the pooled connection
    EXPECT_EQ(b.status(), 200);
  });
  const std::string url = nginx + "/small";
  std::vector<std::string> want{"start GET " + url + " #1", "created 127.0.0.1:18080", "end " + url + " #1 200",
                                "start GET " + url + " #1", "reused 127.0.0.1:18080",  "end " + url + " #1 200"};
  EXPECT_EQ(rec.events, want);
  ASSERT_EQ(rec.ends_timings.size(), 2u);
  const http::timings& first = rec.ends_timings[0].timings;
  EXPECT_GT(first.connect.count(), 0);
  EXPECT_GE(first.pretransfer, first.connect);
  EXPECT_GE(first.first_byte, first.pretransfer);
  EXPECT_GE(first.total, first.first_byte);
  EXPECT_EQ(rec.ends_timings[1].timings.connect.count(), 0);
  EXPECT_GT(rec.ends_timings[1].timings.first_byte.count(), 0);
}

TEST(HttpHooks, AStreamedRequestEndsAtItsHeaders) {
  recorder rec;
  http::session_options o{.hooks = rec.hooks()};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(scripted + "/chunked?n=3"), [&](http::response& r) -> aw::task<> {
      EXPECT_EQ(rec.events.size(), 3u);  // start, created, end: before the body is read
      auto lines = r.lines();
      int n = 0;
      while (co_await lines.next()) ++n;
      EXPECT_EQ(n, 3);
    });
  });
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[2], "end " + scripted + "/chunked?n=3 #1 200");
}

TEST(HttpHooks, ResponseHookRaisingForStatusPropagates) {
  http::event_hooks hooks;
  hooks.on_request_end([](const http::request_end& e) {
    if (e.response) e.response->raise_for_status();
  });
  http::session_options o{.hooks = hooks};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    int caught = 0;
    try {
      co_await s.get(scripted + "/status/404");
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 404);
      EXPECT_EQ(e.body_excerpt(), "status 404");  // awaited: the body was read
      ++caught;
    }
    try {
      co_await aw::async_with(s.get(scripted + "/status/503"), [](http::response&) -> aw::task<> {
        ADD_FAILURE() << "entered despite the hook";
        co_return;
      });
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 503);
      ++caught;
    }
    EXPECT_EQ(caught, 2);
    http::response ok = co_await s.get(scripted + "/status/200");  // the session goes on
    EXPECT_EQ(ok.status(), 200);
  });
}

TEST(HttpHooks, AnErrorEndsTheRequestWithoutAConnection) {
  recorder rec;
  http::session_options o{.hooks = rec.hooks()};
  const std::string url = refused_url() + "/x";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> { EXPECT_THROW(co_await s.get(url), http::connect_error); });
  std::vector<std::string> want{"start GET " + url + " #1", "end " + url + " #1 connect_error"};
  EXPECT_EQ(rec.events, want);
}

TEST(HttpHooks, EachRetryIsARequest) {
  recorder rec;
  const std::string key = unique_tag("hooks-retry");
  http::session_options o{.retry = {.attempts = 3, .backoff = 1ms}, .hooks = rec.hooks()};
  const std::string url = scripted + "/flaky?key=" + key + "&fails=2";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(url);
    EXPECT_EQ(r.status(), 200);
  });
  // Whether a retried attempt's connection is kept depends on whether its short body had
  // arrived with its headers: a new one or the pooled one, but one per attempt.
  for (std::string& e : rec.events)
    if (e == "created 127.0.0.1:18081" || e == "reused 127.0.0.1:18081") e = "connection";
  std::vector<std::string> want{"start GET " + url + " #1", "connection", "end " + url + " #1 503",
                                "start GET " + url + " #2", "connection", "end " + url + " #2 503",
                                "start GET " + url + " #3", "connection", "end " + url + " #3 200"};
  EXPECT_EQ(rec.events, want);
}

TEST(HttpHooks, AStartHookThrowingSendsNothing) {
  const std::string key = unique_tag("hooks-start");
  http::event_hooks hooks;
  hooks.on_request_start([](const http::request_start& e) {
    if (std::string_view(e.url).find("/flaky") != std::string_view::npos) throw std::invalid_argument("refused by a hook");
  });
  int ends = 0;
  hooks.on_request_end([&](const http::request_end&) { ++ends; });
  http::session_options o{.hooks = hooks};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(scripted + "/flaky?key=" + key + "&fails=0"), std::invalid_argument);
    EXPECT_EQ(ends, 0);  // no start, no end
    nlohmann::json j = co_await (co_await s.get(scripted + "/attempts?key=" + key)).json();
    EXPECT_EQ(j["attempts"], 0);
  });
}

TEST(HttpHooks, AnEndHookThrowingStopsTheRetries) {
  const std::string key = unique_tag("hooks-end");
  http::event_hooks hooks;
  hooks.on_request_end([](const http::request_end& e) {
    if (e.response && e.response->status() == 503) throw std::runtime_error("hook says no");
  });
  http::session_options o{.retry = {.attempts = 3, .backoff = 1ms}, .hooks = hooks};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(scripted + "/flaky?key=" + key + "&fails=2"), std::runtime_error);
    nlohmann::json j = co_await (co_await s.get(scripted + "/attempts?key=" + key)).json();
    EXPECT_EQ(j["attempts"], 1);
  });
}

TEST(HttpHooks, ACancelledRequestEndsWithTheCancellation) {
  recorder rec;
  http::session_options o{.hooks = rec.hooks()};
  const std::string url = scripted + "/slow-headers";
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    bool done = false;
    (void)co_await aw::move_on_after(50ms, [&]() -> aw::task<> {
      co_await s.get(url);
      done = true;
    });
    EXPECT_FALSE(done);
  });
  ASSERT_FALSE(rec.events.empty());
  EXPECT_EQ(rec.events.front(), "start GET " + url + " #1");
  EXPECT_EQ(rec.events.back(), "end " + url + " #1 cancelled");
}

TEST(HttpHooks, DebugModeLogsEachRequest) {
  aw::set_debug(true);
  testing::internal::CaptureStderr();
  const std::string refused = refused_url();
  with_session([&](http::session& s) -> aw::task<> {
    co_await s.get("http://user:secret@127.0.0.1:18080/small");
    co_await s.get("http://127.0.0.1:18080/small");
    try {
      co_await s.get(refused);
    } catch (const http::connect_error&) {
    }
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(false);
  EXPECT_NE(err.find("aw: HTTP start GET http://user:***@127.0.0.1:18080/small\n"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: HTTP end GET http://user:***@127.0.0.1:18080/small: 200 after "), std::string::npos) << err;
  EXPECT_NE(err.find("ms (new connection; dns "), std::string::npos) << err;
  EXPECT_NE(err.find("ms (connection reused; dns "), std::string::npos) << err;
  EXPECT_EQ(err.find("secret"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: HTTP end GET " + refused + " after "), std::string::npos) << err;
  EXPECT_NE(err.find(" with aw::http::connect_error: "), std::string::npos) << err;
}

TEST(HttpHooks, NoHooksNoDebugNothingIsCalled) {
  // Hooks of another session are not this one's; an empty event_hooks is none.
  http::event_hooks unused;
  EXPECT_TRUE(unused.empty());
  unused.on_request_start(nullptr);  // an empty function is not added
  EXPECT_TRUE(unused.empty());
  http::session_options o{.hooks = unused};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/small");
    EXPECT_EQ(r.status(), 200);
  });
}

}  // namespace
}  // namespace aw_http_test
