// The mock transport (mock_transport.hpp): requests answered by a function, no server. The
// response is the network's type; the session's options reach the request the handler sees;
// the handler's exception and the cancellation of its wait reach the caller.
#include <aw/aw.hpp>
#include <aw/http.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"

using namespace std::chrono_literals;

namespace aw_http_test {
namespace {

struct handler_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Answers with what it was asked, as JSON, the way the scripted server's /echo does.
aw::task<http::mock_response> echo(const http::mock_request& r) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [k, v] : r.headers) headers[k] = v;
  nlohmann::json j{{"method", r.method}, {"url", r.url}, {"headers", headers}, {"body", r.body}};
  co_return http::mock_response{.status = 200, .headers = {{"Content-Type", "application/json"}}, .body = j.dump()};
}

TEST(HttpMock, TheResponseIsTheNetworksType) {
  http::session_options o{.transport = http::mock_transport([](const http::mock_request& r) -> aw::task<http::mock_response> {
                            co_await aw::sleep(1ms);  // a handler that waits
                            if (r.url.ends_with("/lines")) co_return http::mock_response{.body = "one\r\ntwo\nthree"};
                            co_return http::mock_response{
                                .status = 201, .headers = {{"Content-Type", "application/json"}, {"X-Tag", "a"}}, .body = R"({"id": 7})"};
                          })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.post("http://api.test/items");
    EXPECT_EQ(r.status(), 201);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.url(), "http://api.test/items");
    EXPECT_EQ(r.version(), "HTTP/1.1");
    EXPECT_EQ(r.headers().get("x-tag"), "a");
    EXPECT_EQ(r.body(), R"({"id": 7})");
    nlohmann::json j = co_await r.json();
    EXPECT_EQ(j["id"], 7);
    r.raise_for_status();

    std::vector<std::string> lines;
    co_await aw::async_with(s.get("http://api.test/lines"), [&](http::response& resp) -> aw::task<> {
      auto reader = resp.lines();
      while (auto line = co_await reader.next()) lines.emplace_back(*line);
    });
    EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three"}));

    std::string chunked;
    co_await aw::async_with(s.get("http://api.test/lines"), [&](http::response& resp) -> aw::task<> {
      auto chunks = resp.chunks(4);
      while (auto c = co_await chunks.next()) {
        EXPECT_LE(c->size(), 4u);
        chunked += *c;
      }
    });
    EXPECT_EQ(chunked, "one\r\ntwo\nthree");
  });
}

TEST(HttpMock, APlainFunctionIsAHandler) {
  int calls = 0;
  http::session_options o{.transport = http::mock_transport([&](const http::mock_request& r) {
                            ++calls;
                            return http::mock_response{.status = r.method == "HEAD" ? 204 : 200, .body = "plain"};
                          })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get("http://a.test/");
    EXPECT_EQ(co_await r.text(), "plain");
    http::response h = co_await s.head("http://a.test/");
    EXPECT_EQ(h.status(), 204);
    EXPECT_EQ(h.body(), "");
  });
  EXPECT_EQ(calls, 2);
}

TEST(HttpMock, TheHandlerSeesTheRequestTheNetworkWouldGet) {
  http::session_options o{.base_url = "https://api.test/v1",
                          .headers = {{"X-Session", "s"}, {"X-Both", "session"}},
                          .auth = http::auth::basic("user", "pass"),
                          .cookies = {{"sid", "42"}},
                          .transport = http::mock_transport(echo)};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::request_options ro{
        .params = {{"q", "a b"}}, .headers = {{"X-Both", "request"}}, .body = http::body::json({{"k", 1}}), .cookies = {{"lang", "en"}}};
    nlohmann::json j = co_await (co_await s.post("/items", std::move(ro))).json();
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["url"], "https://api.test/v1/items?q=a%20b");
    EXPECT_EQ(j["headers"]["X-Session"], "s");
    EXPECT_EQ(j["headers"]["X-Both"], "request");
    EXPECT_EQ(j["headers"]["Content-Type"], "application/json");
    EXPECT_EQ(j["headers"]["Authorization"], "Basic dXNlcjpwYXNz");
    EXPECT_EQ(j["headers"]["Cookie"], "sid=42; lang=en");
    EXPECT_EQ(j["headers"]["User-Agent"], "asyncwith-http/0.1");
    EXPECT_EQ(j["headers"]["Accept-Encoding"], "gzip, deflate");
    EXPECT_EQ(j["body"], R"({"k":1})");

    http::request_options bearer{.auth = http::auth::bearer("tok")};
    nlohmann::json b = co_await (co_await s.get("https://other.test/x", std::move(bearer))).json();
    EXPECT_EQ(b["url"], "https://other.test/x");
    EXPECT_EQ(b["headers"]["Authorization"], "Bearer tok");
    EXPECT_FALSE(b["headers"].contains("Content-Type"));

    http::request_options digest{.auth = http::auth::digest("user", "pass")};
    nlohmann::json d = co_await (co_await s.get("/d", std::move(digest))).json();
    EXPECT_FALSE(d["headers"].contains("Authorization"));  // no challenge to answer
  });
}

TEST(HttpMock, AStreamedBodyIsReadWholeForTheHandler) {
  http::session_options o{.transport = http::mock_transport(echo)};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    int left = 3;
    http::request_options ro{.body = http::body::stream(aw::byte_source([&left](std::span<char> buf) -> aw::task<std::size_t> {
                               if (left-- == 0 || buf.empty()) co_return 0;
                               co_await aw::sleep(1ms);
                               buf[0] = 'x';
                               co_return 1;
                             }))};
    nlohmann::json j = co_await (co_await s.put("http://a.test/up", std::move(ro))).json();
    EXPECT_EQ(j["body"], "xxx");
  });
}

TEST(HttpMock, RaiseForStatusAndMaxBodySizeApply) {
  http::session_options o{.raise_for_status = true, .max_body_size = 8, .transport = http::mock_transport([](const http::mock_request& r) {
                                                                          if (r.url.ends_with("/big"))
                                                                            return http::mock_response{.body = std::string(100, 'x')};
                                                                          return http::mock_response{.status = 404, .body = "not here"};
                                                                        })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    try {
      co_await s.get("http://a.test/missing");
      ADD_FAILURE() << "no status_error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 404);
      EXPECT_EQ(e.body_excerpt(), "not here");
      EXPECT_EQ(e.url(), "http://a.test/missing");
    }
    EXPECT_THROW(co_await s.get("http://a.test/big"), http::body_too_large);
    http::request_options off{.raise_for_status = false};
    http::response r = co_await s.get("http://a.test/missing", std::move(off));
    EXPECT_EQ(r.status(), 404);
    EXPECT_THROW(r.raise_for_status(), http::status_error);
  });
}

TEST(HttpMock, RedirectsAndRetriesAreNotApplied) {
  int calls = 0;
  http::session_options o{.retry = {.attempts = 3, .backoff = 1ms}, .transport = http::mock_transport([&](const http::mock_request&) {
                                                                      ++calls;
                                                                      return http::mock_response{.status = 302,
                                                                                                 .headers = {{"Location", "/elsewhere"}}};
                                                                    })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    http::response r = co_await s.get("http://a.test/");
    EXPECT_EQ(r.status(), 302);
    EXPECT_TRUE(r.history().empty());
  });
  EXPECT_EQ(calls, 1);
}

TEST(HttpMock, TheHandlersExceptionPropagates) {
  http::session_options o{.transport = http::mock_transport([](const http::mock_request& r) -> aw::task<http::mock_response> {
                            co_await aw::sleep(1ms);
                            throw handler_failed("no route to " + r.url);
                          })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    try {
      co_await s.get("http://a.test/x");
      ADD_FAILURE() << "no exception";
    } catch (const handler_failed& e) {
      EXPECT_STREQ(e.what(), "no route to http://a.test/x");
    }
    EXPECT_THROW(co_await aw::async_with(s.get("http://a.test/y"), [](http::response&) -> aw::task<> { co_return; }), handler_failed);
  });
}

TEST(HttpMock, CancellingTheRequestCancelsTheHandlersWait) {
  bool handler_cancelled = false;
  http::session_options o{.transport = http::mock_transport([&](const http::mock_request&) -> aw::task<http::mock_response> {
                            try {
                              co_await aw::sleep(24h);
                            } catch (const aw::cancelled&) {
                              handler_cancelled = true;
                              throw;
                            }
                            co_return http::mock_response{};
                          })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    // Awaited, by a timeout.
    bool done = false;
    (void)co_await aw::move_on_after(10ms, [&]() -> aw::task<> {
      co_await s.get("http://a.test/slow");
      done = true;
    });
    EXPECT_FALSE(done);
    EXPECT_TRUE(handler_cancelled);
    // Entered, by a scope cancelled from another task.
    handler_cancelled = false;
    aw::cancel_scope scope;  // outlives the group, whose child leaves it after the body ends
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          co_await aw::async_with(s.get("http://a.test/slow"), [&](http::response&) -> aw::task<> {
            done = true;
            co_return;
          });
        });
      });
      co_await aw::sleep(1ms);
      scope.cancel();
    });
    EXPECT_FALSE(done);
    EXPECT_TRUE(handler_cancelled);
  });
}

TEST(HttpMock, HooksAndTheDebugModeSeeMockRequests) {
  std::vector<std::string> events;
  http::event_hooks hooks;
  hooks.on_request_start([&](const http::request_start& e) { events.push_back("start " + std::string(e.url)); });
  hooks.on_connection_created([&](const http::connection_event&) { events.push_back("created"); });
  hooks.on_connection_reused([&](const http::connection_event&) { events.push_back("reused"); });
  hooks.on_request_end([&](const http::request_end& e) {
    events.push_back("end " + std::to_string(e.response ? e.response->status() : -1));
    EXPECT_EQ(e.timings.connect.count(), 0);
    if (e.response) e.response->raise_for_status();
  });
  http::session_options o{.hooks = hooks, .transport = http::mock_transport([](const http::mock_request& r) {
                                            return http::mock_response{.status = r.url.ends_with("/bad") ? 500 : 200};
                                          })};
  aw::set_debug(true);
  testing::internal::CaptureStderr();
  with_session(std::move(o), [&](http::session& s) -> aw::task<> {
    co_await s.get("http://a.test/ok");
    EXPECT_THROW(co_await s.get("http://a.test/bad"), http::status_error);
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(false);
  EXPECT_EQ(events, (std::vector<std::string>{"start http://a.test/ok", "end 200", "start http://a.test/bad", "end 500"}));
  EXPECT_NE(err.find("aw: HTTP end GET http://a.test/ok: 200 after "), std::string::npos) << err;
}

TEST(HttpMock, ABadStatusFromTheHandlerIsAProtocolError) {
  http::session_options o{.transport = http::mock_transport([](const http::mock_request&) { return http::mock_response{.status = 42}; })};
  with_session(std::move(o), [&](http::session& s) -> aw::task<> { EXPECT_THROW(co_await s.get("http://a.test/"), http::protocol_error); });
}

}  // namespace
}  // namespace aw_http_test
