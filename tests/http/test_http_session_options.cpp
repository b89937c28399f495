// aw::http session options users of aiohttp and httpx reach for: base_url joined as httpx
// joins, raise_for_status, auth, the cookie jar, retries. Against the fixtures' servers.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include "common.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

using namespace std::chrono_literals;
namespace http = aw::http;

namespace {

using namespace aw_http_test;

aw::task<nlohmann::json> echo(http::session& s, std::string url) {
  http::response r = co_await s.get(url);
  co_return co_await r.json();
}

// ---------------------------------------------------------------------------------------
// base_url

TEST(HttpBaseUrl, RelativeUrlsAreAppendedToTheBasePathAsHttpxDoes) {
  // With and without the base's trailing slash, the same joins.
  for (std::string base : {scripted + "/echo/v1", scripted + "/echo/v1/"}) {
    with_session({.base_url = base}, [base](http::session& s) -> aw::task<> {
      auto j = co_await echo(s, "/users");  // a leading '/' does not replace the base's path
      EXPECT_EQ(j["path"], "/echo/v1/users") << base;
      j = co_await echo(s, "users");
      EXPECT_EQ(j["path"], "/echo/v1/users") << base;
      j = co_await echo(s, "//users/7");
      EXPECT_EQ(j["path"], "/echo/v1/users/7") << base;
      j = co_await echo(s, "users?page=2");
      EXPECT_EQ(j["path"], "/echo/v1/users") << base;
      EXPECT_EQ(j["query"], "page=2") << base;
      j = co_await echo(s, "");
      EXPECT_EQ(j["path"], "/echo/v1/") << base;
      http::request_options o{.params = {{"q", "a b"}}};
      http::response r = co_await s.get("items", std::move(o));
      EXPECT_EQ(r.url(), scripted + "/echo/v1/items?q=a%20b") << base;
      // A URL with a scheme is taken as it is.
      http::response abs = co_await s.get(nginx + "/small");
      EXPECT_EQ(abs.status(), 200);
      EXPECT_EQ(abs.url(), nginx + "/small");
    });
  }
}

TEST(HttpBaseUrl, AnInvalidBaseRaisesWhereARelativeRequestIsAwaited) {
  for (std::string base : {std::string("ftp://127.0.0.1/"), scripted + "/echo?x=1", scripted + "/echo#top", std::string("no scheme")}) {
    with_session({.base_url = base}, [base](http::session& s) -> aw::task<> {
      EXPECT_THROW(co_await s.get("users"), http::invalid_url) << base;
      http::response abs = co_await s.get(nginx + "/small");  // absolute URLs do not use it
      EXPECT_EQ(abs.status(), 200) << base;
    });
  }
  with_session([](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get("users"), http::invalid_url);  // relative without a base
  });
}

// ---------------------------------------------------------------------------------------
// raise_for_status

TEST(HttpRaiseForStatus, TheSessionOptionRaisesForEveryResponseOf400AndUp) {
  with_session({.raise_for_status = true}, [](http::session& s) -> aw::task<> {
    try {
      co_await s.get(scripted + "/status/503");
      ADD_FAILURE() << "no status_error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 503);
      EXPECT_EQ(e.url(), scripted + "/status/503");
      EXPECT_EQ(e.body_excerpt(), "status 503");  // the body was read whole
    }
    // Entered: raised at the headers, the block never runs.
    bool ran = false;
    try {
      co_await aw::async_with(s.get(scripted + "/status/404"), [&](http::response&) -> aw::task<> {
        ran = true;
        co_return;
      });
      ADD_FAILURE() << "no status_error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 404);
    }
    EXPECT_FALSE(ran);
    // Below 400: no error, redirects included.
    http::response ok = co_await s.get(scripted + "/redirect/1");
    EXPECT_EQ(ok.status(), 200);
    http::request_options keep{.follow_redirects = false};
    http::response moved = co_await s.get(scripted + "/redirect/1", std::move(keep));
    EXPECT_EQ(moved.status(), 302);
    // A request's option replaces the session's.
    http::request_options off{.raise_for_status = false};
    http::response nf = co_await s.get(scripted + "/status/404", std::move(off));
    EXPECT_EQ(nf.status(), 404);
    EXPECT_EQ(co_await nf.text(), "status 404");
    // The session is still usable after the errors.
    http::response after = co_await s.get(nginx + "/small");
    EXPECT_EQ(after.status(), 200);
  });
  with_session([](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(scripted + "/status/500");  // off by default
    EXPECT_EQ(r.status(), 500);
    http::request_options on{.raise_for_status = true};
    EXPECT_THROW(co_await s.get(scripted + "/status/500", std::move(on)), http::status_error);
  });
}

}  // namespace
