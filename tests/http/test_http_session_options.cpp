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

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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

// ---------------------------------------------------------------------------------------
// auth: nginx checks Basic against an htpasswd made by its fixture, and a Bearer token; the
// scripted server checks Digest answers.

const std::string user = "aw-user";
const std::string password = "s3cret:with colon";  // a ':' is allowed in a Basic password

TEST(HttpAuth, BasicAgainstNginxsHtpasswd) {
  with_session({.auth = http::auth::basic(user, password)}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/private/secret.txt");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), "the secret\n");
    http::request_options wrong{.auth = http::auth::basic(user, "not it")};
    http::response denied = co_await s.get(nginx + "/private/secret.txt", std::move(wrong));
    EXPECT_EQ(denied.status(), 401);
    http::request_options none{.auth = http::auth::none()};
    http::response anonymous = co_await s.get(nginx + "/private/secret.txt", std::move(none));
    EXPECT_EQ(anonymous.status(), 401);
    // The session's again, on the same (spare) handles.
    http::response again = co_await s.get(nginx + "/private/secret.txt");
    EXPECT_EQ(again.status(), 200);
    // Sent with the first request: the echo server never asks for it.
    auto j = co_await echo(s, scripted + "/echo");
    EXPECT_EQ(j["headers"]["authorization"], "Basic YXctdXNlcjpzM2NyZXQ6d2l0aCBjb2xvbg==");  // base64("aw-user:s3cret:with colon")
  });
  with_session([](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/private/secret.txt");  // no auth
    EXPECT_EQ(r.status(), 401);
    http::request_options o{.auth = http::auth::basic(user, password)};
    http::response ok = co_await s.get(nginx + "/private/secret.txt", std::move(o));
    EXPECT_EQ(ok.status(), 200);
    // A request without auth after one with it sends none (the handle is reused).
    auto j = co_await echo(s, scripted + "/echo");
    EXPECT_FALSE(j["headers"].contains("authorization"));
  });
}

TEST(HttpAuth, BearerAgainstNginx) {
  with_session({.auth = http::auth::bearer("aw-token")}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/bearer");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), "bearer ok");
    http::request_options wrong{.auth = http::auth::bearer("stolen")};
    http::response denied = co_await s.get(nginx + "/bearer", std::move(wrong));
    EXPECT_EQ(denied.status(), 401);
    auto j = co_await echo(s, scripted + "/echo");
    EXPECT_EQ(j["headers"]["authorization"], "Bearer aw-token");
    // An Authorization header of the request wins over auth.
    http::request_options own{.headers = {{"Authorization", "Bearer mine"}}};
    http::response mine = co_await s.get(scripted + "/echo", std::move(own));
    EXPECT_EQ((co_await mine.json())["headers"]["authorization"], "Bearer mine");
  });
}

TEST(HttpAuth, DigestAnswersTheChallengeOfTheScriptedServer) {
  with_session({.auth = http::auth::digest("dee", "pa55")}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(scripted + "/digest-auth/dee/pa55?x=1");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ((co_await r.json())["user"], "dee");
    http::request_options post{.body = http::body::text("some data")};
    http::response posted = co_await s.post(scripted + "/digest-auth/dee/pa55", std::move(post));
    EXPECT_EQ(posted.status(), 200);
    http::request_options wrong{.auth = http::auth::digest("dee", "guess")};
    http::response denied = co_await s.get(scripted + "/digest-auth/dee/pa55", std::move(wrong));
    EXPECT_EQ(denied.status(), 401);
    http::request_options basic{.auth = http::auth::basic("dee", "pa55")};  // not what the server asks for
    http::response refused = co_await s.get(scripted + "/digest-auth/dee/pa55", std::move(basic));
    EXPECT_EQ(refused.status(), 401);
  });
  // With raise_for_status, a refused login is a status_error.
  http::session_options o{.raise_for_status = true, .auth = http::auth::digest("dee", "wrong")};
  with_session(std::move(o), [](http::session& s) -> aw::task<> {
    try {
      co_await s.get(scripted + "/digest-auth/dee/pa55");
      ADD_FAILURE() << "no status_error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 401);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Cookies: libcurl's cookie engine on the session's share.

std::string cookie_header(const nlohmann::json& echoed) {
  return echoed["headers"].contains("cookie") ? echoed["headers"]["cookie"].get<std::string>() : std::string("(none)");
}

// The Cookie header as a set: libcurl orders cookies of the same path as it likes.
std::set<std::string> cookie_set(const nlohmann::json& echoed) {
  std::set<std::string> out;
  std::string h = echoed["headers"].contains("cookie") ? echoed["headers"]["cookie"].get<std::string>() : "";
  for (std::size_t start = 0; start < h.size();) {
    std::size_t end = h.find("; ", start);
    if (end == std::string::npos) end = h.size();
    out.insert(h.substr(start, end - start));
    start = end + 2;
  }
  return out;
}
using names = std::set<std::string>;

std::string set_cookie_url(const std::vector<std::string>& cookies) {
  std::string url = scripted + "/set-cookie?";
  for (const std::string& c : cookies) url += "c=" + http::url_encode(c) + "&";
  return url;
}

TEST(HttpCookies, TheJarKeepsWhatServersSetAndReadsBack) {
  with_session([](http::session& s) -> aw::task<> {
    EXPECT_TRUE(s.cookies().empty());
    // Named before the co_await: g++ 12 miscompiles a braced temporary inside one.
    std::string url = set_cookie_url({"a=1; Path=/", "b=2; Path=/echo; HttpOnly", "gone=x; Max-Age=0", "c=3; Path=/other",
                                      "e=5; Expires=Wed, 01 Jan 2098 00:00:00 GMT"});
    co_await s.get(url);
    {
      names got = cookie_set(co_await echo(s, scripted + "/echo"));
      EXPECT_EQ(got, (names{"a=1", "b=2", "e=5"}));
    }
    std::vector<http::cookie> jar = s.cookies();
    EXPECT_EQ(jar.size(), 4u);
    std::map<std::string, http::cookie> by_name;
    for (auto& c : jar) by_name[c.name] = c;
    EXPECT_EQ(by_name["a"].domain, "127.0.0.1");
    EXPECT_FALSE(by_name["a"].include_subdomains);
    EXPECT_EQ(by_name["a"].path, "/");
    EXPECT_EQ(by_name["a"].value, "1");
    EXPECT_EQ(by_name["a"].expires, 0);
    EXPECT_FALSE(by_name["a"].http_only);
    EXPECT_TRUE(by_name["b"].http_only);
    EXPECT_EQ(by_name["b"].path, "/echo");
    EXPECT_EQ(by_name["c"].path, "/other");
    EXPECT_EQ(by_name["e"].expires, 4039372800);
    EXPECT_FALSE(by_name.contains("gone"));
    s.clear_cookies();
    EXPECT_TRUE(s.cookies().empty());
    EXPECT_EQ(cookie_header(co_await echo(s, scripted + "/echo")), "(none)");
  });
}

TEST(HttpCookies, SeededPerRequestAndOff) {
  http::session_options o{.cookies = {{"seed", "s1"}}};
  with_session(std::move(o), [](http::session& s) -> aw::task<> {
    EXPECT_EQ(cookie_header(co_await echo(s, scripted + "/echo")), "seed=s1");  // for every host
    EXPECT_EQ(cookie_header(co_await echo(s, "http://localhost:18081/echo")), "seed=s1");
    s.update_cookies({{"here", "h"}}, scripted + "/anything");  // for 127.0.0.1 only
    s.update_cookies({{"there", "t"}}, "http://example.org/");
    {
      names got = cookie_set(co_await echo(s, scripted + "/echo"));
      EXPECT_EQ(got, (names{"here=h", "seed=s1"}));
    }
    EXPECT_EQ(cookie_header(co_await echo(s, "http://localhost:18081/echo")), "seed=s1");
    std::size_t every_host = 0;
    for (const http::cookie& c : s.cookies()) every_host += c.domain.empty();
    EXPECT_EQ(every_host, 1u);
    // A request's own cookies go after the jar's, for that request only.
    http::request_options ro{.cookies = {{"req", "r"}, {"two", "2"}}};
    http::response r = co_await s.get(scripted + "/echo", std::move(ro));
    EXPECT_EQ(cookie_header(co_await r.json()), "here=h; seed=s1; req=r; two=2");
    {
      names got = cookie_set(co_await echo(s, scripted + "/echo"));
      EXPECT_EQ(got, (names{"here=h", "seed=s1"}));
    }
    EXPECT_EQ(s.cookies().size(), 3u);
    // A request's cookie replaces a session-wide one of its name.
    http::request_options over{.cookies = {{"seed", "mine"}}};
    http::response ov = co_await s.get(scripted + "/echo", std::move(over));
    EXPECT_EQ(cookie_header(co_await ov.json()), "here=h; seed=mine");
    http::request_options bad{.cookies = {{"a;b", "1"}}};
    EXPECT_THROW(co_await s.get(scripted + "/echo", std::move(bad)), http::error);
    EXPECT_THROW(s.update_cookies({{"", "x"}}), std::invalid_argument);
    EXPECT_THROW(s.update_cookies({{"x", "a\nb"}}), std::invalid_argument);
  });
  // aiohttp's DummyCookieJar: nothing kept, seeding does nothing, a request's own are sent.
  http::session_options off{.cookie_jar = false, .cookies = {{"seed", "s1"}}};
  with_session(std::move(off), [](http::session& s) -> aw::task<> {
    co_await s.get(scripted + "/set-cookie");
    s.update_cookies({{"here", "h"}});
    EXPECT_TRUE(s.cookies().empty());
    EXPECT_EQ(cookie_header(co_await echo(s, scripted + "/echo")), "(none)");
    http::request_options ro{.cookies = {{"req", "r"}}};
    http::response r = co_await s.get(scripted + "/echo", std::move(ro));
    EXPECT_EQ(cookie_header(co_await r.json()), "req=r");
  });
}

TEST(HttpCookies, SavedAndLoadedInCurlsFormat) {
  const std::string file = scratch + "/" + unique_tag("cookies") + ".txt";
  aw::run([&]() -> aw::task<> {
    http::session s;
    EXPECT_THROW((void)s.cookies(), std::logic_error);  // before the session is entered
    co_await aw::async_with(s, [&](http::session& s) -> aw::task<> {
      std::string url = set_cookie_url({"a=1; Path=/", "h=2; HttpOnly", "e=5; Expires=Wed, 01 Jan 2098 00:00:00 GMT"});
      co_await s.get(url);
      co_return;
    });
    // Readable and savable after the block.
    EXPECT_EQ(s.cookies().size(), 3u);
    s.save_cookies(file);
    EXPECT_THROW(s.save_cookies(scratch + "/no-such-dir/cookies.txt"), std::system_error);
  });
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(text.str().starts_with("# Netscape HTTP Cookie File\n")) << text.str();
  EXPECT_NE(text.str().find("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\th\t2\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("127.0.0.1\tFALSE\t/\tFALSE\t4039372800\te\t5\n"), std::string::npos) << text.str();
  // Loaded by another session, which sends them back.
  with_session([&](http::session& s) -> aw::task<> {
    s.load_cookies(file);
    EXPECT_EQ(s.cookies().size(), 3u);
    {
      names got = cookie_set(co_await echo(s, scripted + "/echo"));
      EXPECT_EQ(got, (names{"a=1", "h=2", "e=5"}));
    }
    EXPECT_THROW(s.load_cookies(scratch + "/no-such-file"), std::system_error);
  });
  // The curl program reads our file and writes one we read.
  const std::string from_curl = scratch + "/" + unique_tag("curl-cookies") + ".txt";
  std::string cmd = "curl -s -o /dev/null -b '" + file + "' -c '" + from_curl + "' '" + set_cookie_url({"fromcurl=yes; Path=/"}) + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  with_session([&](http::session& s) -> aw::task<> {
    s.load_cookies(from_curl);
    {
      names got = cookie_set(co_await echo(s, scripted + "/echo"));
      EXPECT_EQ(got, (names{"fromcurl=yes", "a=1", "h=2", "e=5"}));
    }
  });
}

// ---------------------------------------------------------------------------------------
// Retries: the scripted server's /flaky fails a given number of times, then succeeds.

aw::task<int> attempts_of(http::session& s, const std::string& key) {
  auto j = co_await echo(s, scripted + "/attempts?key=" + key);
  co_return j["attempts"].get<int>();
}

std::string flaky(const std::string& key, int fails, const std::string& more = "") {
  return scripted + "/flaky?key=" + key + "&fails=" + std::to_string(fails) + more;
}

TEST(HttpRetry, OffByDefault) {
  with_session([](http::session& s) -> aw::task<> {
    std::string key = unique_tag("off");
    http::response r = co_await s.get(flaky(key, 1));
    EXPECT_EQ(r.status(), 503);
    EXPECT_EQ(co_await attempts_of(s, key), 1);
  });
}

TEST(HttpRetry, RetriesTheStatusesWithExponentialBackoff) {
  with_session({.retry = {.attempts = 3, .backoff = 20ms}}, [](http::session& s) -> aw::task<> {
    std::string key = unique_tag("backoff");
    auto start = aw::now();
    http::response r = co_await s.get(flaky(key, 2));
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ((co_await r.json())["attempts"], 3);
    EXPECT_GE(aw::now() - start, 60ms);  // 20 ms, then 40
    // 502 and 504 too; HEAD, PUT (its body sent again) and DELETE are retried as GET is.
    for (std::string status : {"502", "504"}) {
      std::string k = unique_tag("status");
      http::response again = co_await s.get(flaky(k, 1, "&status=" + status));
      EXPECT_EQ(again.status(), 200) << status;
    }
    std::string put_key = unique_tag("put");
    http::request_options put{.body = http::body::text("again")};
    http::response p = co_await s.put(flaky(put_key, 2), std::move(put));
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(co_await attempts_of(s, put_key), 3);
    std::string del_key = unique_tag("delete");
    http::response d = co_await s.delete_(flaky(del_key, 1));
    EXPECT_EQ(d.status(), 200);
    // Entered (streamed): retried before the block sees the response.
    std::string entered_key = unique_tag("entered");
    co_await aw::async_with(s.get(flaky(entered_key, 1)), [](http::response& resp) -> aw::task<> {
      EXPECT_EQ(resp.status(), 200);
      EXPECT_EQ((co_await resp.json())["attempts"], 2);
    });
  });
}

TEST(HttpRetry, WhatIsNotRetried) {
  with_session({.retry = {.attempts = 3, .backoff = 1ms}}, [](http::session& s) -> aw::task<> {
    std::string post_key = unique_tag("post");
    http::response p = co_await s.post(flaky(post_key, 1));  // not idempotent
    EXPECT_EQ(p.status(), 503);
    EXPECT_EQ(co_await attempts_of(s, post_key), 1);
    std::string patch_key = unique_tag("patch");
    http::response pa = co_await s.patch(flaky(patch_key, 1));
    EXPECT_EQ(pa.status(), 503);
    std::string other = unique_tag("500");
    http::response e = co_await s.get(flaky(other, 1, "&status=500"));  // not in statuses
    EXPECT_EQ(e.status(), 500);
    EXPECT_EQ(co_await attempts_of(s, other), 1);
    // A request's policy replaces the session's.
    std::string none_key = unique_tag("none");
    http::request_options none{.retry = http::retry{}};
    http::response n = co_await s.get(flaky(none_key, 1), std::move(none));
    EXPECT_EQ(n.status(), 503);
    // A streamed body is read once: not retried.
    std::string stream_key = unique_tag("stream");
    bool given = false;
    http::request_options streamed{.body = http::body::stream(aw::byte_source([&given](std::span<char> buf) -> aw::task<std::size_t> {
                                     if (given) co_return 0;
                                     given = true;
                                     buf[0] = 'x';
                                     co_return 1;
                                   }))};
    http::response st = co_await s.put(flaky(stream_key, 1), std::move(streamed));
    EXPECT_EQ(st.status(), 503);
    EXPECT_EQ(co_await attempts_of(s, stream_key), 1);
  });
}

TEST(HttpRetry, WhenTheAttemptsAreSpentTheLastOutcomeStands) {
  with_session({.retry = {.attempts = 2, .backoff = 1ms}}, [](http::session& s) -> aw::task<> {
    std::string key = unique_tag("spent");
    http::response r = co_await s.get(flaky(key, 10));
    EXPECT_EQ(r.status(), 503);
    EXPECT_EQ(co_await r.text(), "try again");
    EXPECT_EQ(co_await attempts_of(s, key), 3);
    // Connect errors: retried, then raised.
    auto start = aw::now();
    EXPECT_THROW(co_await s.get(refused_url()), http::connect_error);
    EXPECT_GE(aw::now() - start, 3ms);  // 1 ms, then 2
  });
  with_session({.raise_for_status = true, .retry = {.attempts = 1, .backoff = 1ms}}, [](http::session& s) -> aw::task<> {
    std::string key = unique_tag("raise");
    EXPECT_THROW(co_await s.get(flaky(key, 10)), http::status_error);
    EXPECT_EQ(co_await attempts_of(s, key), 2);
  });
}

TEST(HttpRetry, RetryAfterReplacesTheBackoffWithinMaxBackoff) {
  // A backoff of a day would hang these tests: Retry-After decides.
  with_session({.retry = {.attempts = 1, .backoff = 24h}}, [](http::session& s) -> aw::task<> {
    auto start = aw::now();
    http::response r = co_await s.get(flaky(unique_tag("ra"), 1, "&retry_after=1"));
    EXPECT_EQ(r.status(), 200);
    EXPECT_GE(aw::now() - start, 1s);
    // An HTTP date in the past: at once.
    http::response d = co_await s.get(flaky(unique_tag("date"), 1, "&retry_after=" + http::url_encode("Wed, 21 Oct 2015 07:28:00 GMT")));
    EXPECT_EQ(d.status(), 200);
  });
  // max_backoff caps Retry-After (an hour here) and the backoff.
  with_session({.retry = {.attempts = 2, .backoff = 24h, .max_backoff = 5ms}}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(flaky(unique_tag("cap"), 2, "&retry_after=3600"));
    EXPECT_EQ(r.status(), 200);
  });
}

TEST(HttpRetry, AConnectErrorIsRetriedUntilTheServerListens) {
  // The port refuses the first attempt; a thread starts listening on it and answers once.
  int port = free_port();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  std::thread server([port, &ready] {
    char go;
    (void)::read(ready[0], &go, 1);  // after the first attempt was refused
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
      ::close(fd);
      return;
    }
    int c = ::accept(fd, nullptr, nullptr);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nlistens";
    (void)::write(c, reply, sizeof reply - 1);
    ::close(c);
    ::close(fd);
  });
  with_session({.retry = {.attempts = 8, .backoff = 50ms}}, [&](http::session& s) -> aw::task<> {
    // The first attempt, alone, is refused.
    http::request_options once{.retry = http::retry{}};
    EXPECT_THROW(co_await s.get("http://127.0.0.1:" + std::to_string(port) + "/", std::move(once)), http::connect_error);
    (void)::write(ready[1], "g", 1);
    http::response r = co_await s.get("http://127.0.0.1:" + std::to_string(port) + "/");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.body(), "listens");
  });
  server.join();
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(HttpRetry, CancellingDuringTheBackoffWaitEndsTheRequest) {
  // A backoff of a day: the test ends only because the cancel scope ends the wait.
  with_session({.retry = {.attempts = 1, .backoff = 24h}}, [](http::session& s) -> aw::task<> {
    std::string key = unique_tag("cancel");
    auto got = co_await aw::move_on_after(200ms, [&]() -> aw::task<int> {
      http::response r = co_await s.get(flaky(key, 1));
      co_return r.status();
    });
    EXPECT_FALSE(got.has_value());
    EXPECT_EQ(co_await attempts_of(s, key), 1);
    // Entered, and after a connect error.
    bool ran = false;
    auto entered = co_await aw::move_on_after(200ms, [&]() -> aw::task<> {
      co_await aw::async_with(s.get(flaky(unique_tag("cancel-enter"), 1)), [&](http::response&) -> aw::task<> {
        ran = true;
        co_return;
      });
    });
    EXPECT_FALSE(entered);
    EXPECT_FALSE(ran);
    auto refused = co_await aw::move_on_after(200ms, [&]() -> aw::task<> { co_await s.get(refused_url()); });
    EXPECT_FALSE(refused);
    // The session goes on.
    http::response after = co_await s.get(nginx + "/small");
    EXPECT_EQ(after.status(), 200);
  });
}

}  // namespace
