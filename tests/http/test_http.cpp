// aw::http against real servers: nginx (static files, keep-alive, gzip, TLS + HTTP/2) and the
// scripted server (tests/fixtures/http_server/server.py) for slow, broken and odd responses.
// The servers are started by the ctest fixture http_servers.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/debug.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include "../common/tricky_credentials.hpp"
#include "common.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = aw::http;

namespace {

using namespace aw_http_test;

// A TCP listener whose accept queue is full: connecting to it hangs (the SYN is dropped).
class hanging_listener {
 public:
  hanging_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {  // fill the queue
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
    }
  }
  ~hanging_listener() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// nginx's access log: "<connection> <connection_requests> <request line> <status>".
std::vector<std::pair<long, long>> nginx_connections_for(const std::string& tag) {
  std::vector<std::pair<long, long>> out;
  std::ifstream log(scratch + "/nginx/logs/access.log");
  std::string line;
  while (std::getline(log, line)) {
    if (line.find(tag) == std::string::npos) continue;
    std::istringstream in(line);
    long conn = 0, n = 0;
    in >> conn >> n;
    out.emplace_back(conn, n);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Basics: GET, read whole or streamed.

TEST(Http, GetReadsTheWholeResponse) {
  with_session([](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/small");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.reason(), "OK");
    EXPECT_EQ(r.version(), "HTTP/1.1");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.url(), nginx + "/small");
    EXPECT_EQ(r.headers().get("content-length"), "100");
    EXPECT_EQ(r.headers().get("CONTENT-LENGTH"), "100");
    EXPECT_EQ(r.body(), std::string(100, 'a'));
    EXPECT_EQ(co_await r.bytes(), std::string(100, 'a'));
    EXPECT_EQ(co_await r.text(), std::string(100, 'a'));  // the body stays readable
    EXPECT_TRUE(r.history().empty());
  });
}

TEST(Http, AsyncWithGivesTheResponseAtItsHeadersAndStreamsChunks) {
  with_session([](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(nginx + "/1mib"), [](http::response& r) -> aw::task<> {
      EXPECT_EQ(r.status(), 200);
      std::size_t total = 0, pieces = 0;
      bool all_b = true;
      auto chunks = r.chunks(10000);
      while (auto c = co_await chunks.next()) {
        EXPECT_LE(c->size(), 10000u);
        total += c->size();
        ++pieces;
        all_b = all_b && c->find_first_not_of('b') == std::string_view::npos;
      }
      EXPECT_EQ(total, 1048576u);
      EXPECT_GE(pieces, 105u);
      EXPECT_TRUE(all_b);
    });
  });
}

TEST(Http, ReceiveBufferSizesAllReadWholeBodies) {
  // The session's SO_RCVBUF: the default (4 MiB), a small one and the kernel's autotuning
  // (0) each read 1 MiB bodies whole, over several connections at once.
  for (std::size_t size : {std::size_t{4} << 20, std::size_t{16} << 10, std::size_t{0}}) {
    http::session_options o;
    o.receive_buffer = size;
    with_session(o, [size](http::session& s) -> aw::task<> {
      std::vector<std::size_t> got(4, 0);
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 4; ++i)
          tg.start_soon([&, i]() -> aw::task<> {
            http::response r = co_await s.get(nginx + "/1mib");
            EXPECT_EQ(r.status(), 200);
            EXPECT_EQ(r.body().find_first_not_of('b'), std::string::npos) << "receive_buffer " << size;
            got[i] = r.body().size();
          });
        co_return;
      });
      for (std::size_t n : got) EXPECT_EQ(n, 1048576u) << "receive_buffer " << size;
    });
  }
}

TEST(Http, StreamingDoesNotBufferTheWholeBody) {
  with_session([](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(scripted + "/large?size=16777216"), [](http::response& r) -> aw::task<> {
      auto chunks = r.chunks(1 << 20);
      std::size_t total = (co_await chunks.next())->size();
      co_await aw::sleep(100ms);  // a slow reader: the transfer pauses instead of buffering on
      EXPECT_LE(r.body().size(), 1u << 20);
      while (auto c = co_await chunks.next()) {
        EXPECT_LE(r.body().size(), 1u << 20);
        total += c->size();
      }
      EXPECT_EQ(total, 16u << 20);
    });
  });
}

TEST(Http, LinesOfAChunkedBody) {
  with_session([](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(scripted + "/chunked?n=50"), [](http::response& r) -> aw::task<> {
      EXPECT_EQ(r.headers().get("transfer-encoding"), "chunked");
      auto lines = r.lines();
      int i = 0;
      while (auto line = co_await lines.next()) {
        EXPECT_EQ(*line, "line " + std::to_string(i));
        ++i;
      }
      EXPECT_EQ(i, 50);
    });
  });
}

TEST(Http, BytesInsideTheBlockReadsTheRest) {
  with_session([](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(nginx + "/1mib"), [](http::response& r) -> aw::task<> {
      auto chunks = r.chunks(100);
      auto first = co_await chunks.next();
      EXPECT_EQ(first->size(), 100u);
      std::string rest = co_await r.bytes();
      EXPECT_EQ(rest.size(), 1048576u - 100u);
    });
  });
}

TEST(Http, GzipIsDecoded) {
  with_session([](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx + "/hello.txt");
    EXPECT_EQ(r.headers().get("content-encoding"), "gzip");
    std::string text = co_await r.text();
    EXPECT_TRUE(text.starts_with("hello from nginx, line 1\n"));
    EXPECT_TRUE(text.ends_with("hello from nginx, line 200\n"));
  });
}

// ---------------------------------------------------------------------------------------
// Methods, bodies, query parameters, headers.

TEST(Http, EveryMethod) {
  with_session({.base_url = scripted}, [](http::session& s) -> aw::task<> {
    EXPECT_EQ((co_await (co_await s.get("/echo")).json())["method"], "GET");
    EXPECT_EQ((co_await (co_await s.post("/echo")).json())["method"], "POST");
    EXPECT_EQ((co_await (co_await s.put("/echo")).json())["method"], "PUT");
    EXPECT_EQ((co_await (co_await s.patch("/echo")).json())["method"], "PATCH");
    EXPECT_EQ((co_await (co_await s.delete_("/echo")).json())["method"], "DELETE");
    EXPECT_EQ((co_await (co_await s.options("/echo")).json())["method"], "OPTIONS");
    EXPECT_EQ((co_await (co_await s.request("PROPFIND", "/echo")).json())["method"], "PROPFIND");
    http::response head = co_await s.head("/echo");
    EXPECT_EQ(head.status(), 200);
    EXPECT_TRUE(head.body().empty());
    EXPECT_TRUE(head.headers().contains("content-length"));
  });
}

TEST(Http, Bodies) {
  with_session({.base_url = scripted}, [](http::session& s) -> aw::task<> {
    std::string binary("a\0b\xff", 4);
    http::request_options o;
    o.body = http::body::bytes(binary);
    auto j = co_await (co_await s.post("/echo", std::move(o))).json();
    EXPECT_EQ(j["headers"]["content-type"], "application/octet-stream");
    EXPECT_EQ(j["headers"]["content-length"], "4");
    EXPECT_EQ(j["body"].get<std::string>(), std::string("a\0b\xc3\xbf", 5));  // latin-1 decoded, re-encoded as UTF-8

    o = {};
    o.body = http::body::text("héllo");
    j = co_await (co_await s.put("/echo", std::move(o))).json();
    EXPECT_EQ(j["headers"]["content-type"], "text/plain; charset=utf-8");
    EXPECT_EQ(j["headers"]["content-length"], "6");

    o = {};
    o.body = http::body::json({{"name", "x"}, {"n", 3}});
    j = co_await (co_await s.patch("/echo", std::move(o))).json();
    EXPECT_EQ(j["headers"]["content-type"], "application/json");
    EXPECT_EQ(nlohmann::json::parse(j["body"].get<std::string>()), (nlohmann::json{{"name", "x"}, {"n", 3}}));

    o = {};
    o.body = http::body::form({{"a b", "c&d=e"}, {"x", "ü+"}});
    j = co_await (co_await s.post("/echo", std::move(o))).json();
    EXPECT_EQ(j["headers"]["content-type"], "application/x-www-form-urlencoded");
    EXPECT_EQ(j["body"], "a+b=c%26d%3De&x=%C3%BC%2B");

    o = {};  // a header of the request replaces the body's Content-Type
    o.body = http::body::text("{}");
    o.headers.add("Content-Type", "application/merge-patch+json");
    j = co_await (co_await s.patch("/echo", std::move(o))).json();
    EXPECT_EQ(j["headers"]["content-type"], "application/merge-patch+json");

    j = co_await (co_await s.put("/echo")).json();  // no body: an empty one, no Content-Type
    EXPECT_EQ(j["headers"]["content-length"], "0");
    EXPECT_FALSE(j["headers"].contains("content-type"));
    EXPECT_FALSE(j["headers"].contains("expect"));

    o = {};  // large: no Expect: 100-continue round trip
    o.body = http::body::bytes(std::string(3 << 20, 'z'));
    j = co_await (co_await s.post("/echo", std::move(o))).json();
    EXPECT_EQ(j["body"].get<std::string>().size(), 3u << 20);
  });
}

TEST(Http, MultipartBodies) {
  with_session({.base_url = scripted}, [](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = http::body::multipart({{.name = "field", .data = "value"},
                                    {.name = "upload", .data = std::string("bin\0ary\r\n--x", 13), .filename = "a \"b\".bin"},
                                    {.name = "doc", .data = "{}", .filename = "d.json", .content_type = "application/json"}});
    http::response r = co_await s.post("/multipart", std::move(o));
    auto parts = co_await r.json();
    EXPECT_EQ(parts.size(), 3u);
    if (parts.size() != 3u) co_return;
    EXPECT_EQ(parts[0]["name"], "field");
    EXPECT_EQ(parts[0]["data"], "value");
    EXPECT_TRUE(parts[0]["filename"].is_null());
    EXPECT_EQ(parts[1]["name"], "upload");
    EXPECT_EQ(parts[1]["filename"], "a %22b%22.bin");
    EXPECT_EQ(parts[1]["content_type"], "application/octet-stream");
    EXPECT_EQ(parts[1]["data"].get<std::string>(), std::string("bin\0ary\r\n--x", 13));
    EXPECT_EQ(parts[2]["content_type"], "application/json");
    EXPECT_EQ(parts[2]["data"], "{}");
  });
}

TEST(Http, QueryParametersAreEncoded) {
  with_session({.base_url = scripted}, [](http::session& s) -> aw::task<> {
    // An lvalue: g++ 12 miscompiles aggregate temporaries inside co_await (see the README).
    http::request_options o{.params = {{"q", "a b&c=d"}, {"ü", "/?#"}, {"q", "2"}}};
    auto j = co_await (co_await s.get("/echo?keep=1", std::move(o))).json();
    std::string q = j["query"];
    std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
    EXPECT_EQ(q, "keep=1&q=a%20b%26c%3dd&%c3%bc=%2f%3f%23&q=2");  // libcurl writes the hex digits in lower case
    EXPECT_EQ(j["args"]["q"], (nlohmann::json{"a b&c=d", "2"}));
    EXPECT_EQ(j["args"]["ü"], "/?#");
  });
}

TEST(Http, EachRequestGetsItsOwnUrlOnAReusedTransfer) {
  // Requests one after another reuse the session's one spare transfer, which keeps the parse of
  // its last URL for a request of the same URL: query parameters and other URLs must not leak
  // from one request into the next.
  with_session([](http::session& s) -> aw::task<> {
    const std::string a = scripted + "/echo?x=1", b = scripted + "/echo?x=2";
    const http::query none, y2 = {{"y", "2"}};
    auto query = [&](const std::string& url, const http::query& params) -> aw::task<std::string> {
      http::request_options o;  // an lvalue: see the README's known compiler bugs
      o.params = params;
      http::response r = co_await s.get(url, std::move(o));
      auto j = co_await r.json();
      std::string q = j["query"];
      EXPECT_EQ(r.url(), scripted + "/echo?" + q);
      EXPECT_FALSE(j["headers"].contains("expect"));  // no Expect: header without a body
      co_return q;
    };
    EXPECT_EQ(co_await query(a, none), "x=1");
    EXPECT_EQ(co_await query(a, none), "x=1");
    EXPECT_EQ(co_await query(a, y2), "x=1&y=2");
    EXPECT_EQ(co_await query(a, none), "x=1");
    EXPECT_EQ(co_await query(b, none), "x=2");
    EXPECT_EQ(co_await query(a, none), "x=1");
    EXPECT_THROW(co_await s.get("http://exa mple/"), http::invalid_url);
    EXPECT_EQ(co_await query(a, none), "x=1");
    for (int i = 0; i < 2; ++i) {  // libcurl keeps a followed URL apart; the second reuses the parse
      http::response redirected = co_await s.get(scripted + "/redirect/0");
      EXPECT_EQ(redirected.url(), scripted + "/echo");
      EXPECT_EQ(redirected.history().size(), 1u);
      if (!redirected.history().empty()) {
        EXPECT_EQ(redirected.history()[0].url, scripted + "/redirect/0");
      }
    }
    EXPECT_EQ(co_await query(a, none), "x=1");
    EXPECT_EQ(co_await query(b, none), "x=2");
  });
}

TEST(Http, HeadersSessionDefaultsAndRequestOverrides) {
  http::session_options o{.base_url = scripted + "/echo/", .headers = {{"X-Session", "s"}, {"X-Both", "session"}}};
  o.user_agent = "aw-test-agent";
  with_session(std::move(o), [](http::session& s) -> aw::task<> {
    http::request_options ro;
    ro.headers = {{"x-both", "request"}, {"X-Multi", "1"}, {"X-Multi", "2"}, {"X-Empty", ""}};
    http::response r = co_await s.get("sub", std::move(ro));
    auto j = co_await r.json();
    EXPECT_EQ(j["path"], "/echo/sub");  // resolved against base_url
    EXPECT_EQ(j["headers"]["x-session"], "s");
    EXPECT_EQ(j["headers"]["x-both"], "request");
    EXPECT_EQ(j["headers"]["user-agent"], "aw-test-agent");
    EXPECT_EQ(j["headers"]["x-empty"], "");
    int multi = 0;
    for (auto& kv : j["header_list"]) multi += kv[0] == "x-multi";
    EXPECT_EQ(multi, 2);
    EXPECT_EQ(r.headers().get("content-type"), "application/json");
    EXPECT_EQ(r.headers().get("Server").value_or("").substr(0, 7), "aw-test");
  });
}

TEST(Http, PlainRequestsShareTheSessionsHeadersUnchanged) {
  // Requests without headers, body or proxy of their own send the session's header list, built
  // once: what other requests add (their headers, a body's Content-Type) must not stay in it.
  http::session_options so{.headers = {{"X-Session", "s"}}};
  with_session(std::move(so), [](http::session& s) -> aw::task<> {
    auto plain = [&]() -> aw::task<> {
      auto j = co_await (co_await s.get(scripted + "/echo")).json();
      EXPECT_EQ(j["headers"]["x-session"], "s");
      EXPECT_EQ(j["headers"]["user-agent"], http::session_options().user_agent);
      // Every coding libcurl decodes (our header line, libcurl's list).
      EXPECT_NE(j["headers"].value("accept-encoding", "").find("gzip"), std::string::npos);
      for (const char* h : {"x-request", "content-type", "expect"}) EXPECT_FALSE(j["headers"].contains(h)) << h;
    };
    co_await plain();
    http::request_options own;
    own.headers = {{"X-Request", "r"}, {"Accept-Encoding", "identity"}};
    auto j = co_await (co_await s.get(scripted + "/echo", std::move(own))).json();
    EXPECT_EQ(j["headers"]["x-request"], "r");
    EXPECT_EQ(j["headers"]["x-session"], "s");
    int codings = 0;  // the request's own Accept-Encoding only
    for (auto& kv : j["header_list"]) codings += kv[0] == "accept-encoding";
    EXPECT_EQ(codings, 1);
    EXPECT_EQ(j["headers"]["accept-encoding"], "identity");
    co_await plain();
    http::request_options post;
    post.body = http::body::text(std::string(4096, 'x'));
    j = co_await (co_await s.post(scripted + "/echo", std::move(post))).json();
    EXPECT_EQ(j["headers"]["content-type"], "text/plain; charset=utf-8");
    EXPECT_FALSE(j["headers"].contains("expect"));  // no 100-continue round trip
    EXPECT_EQ(j["body"].get<std::string>().size(), 4096u);
    co_await plain();
  });
  // An invalid session header fails every request, not only the one that builds the list.
  http::session_options bad{.headers = {{"X-Bad", "a\r\nInjected: 1"}}};
  with_session(std::move(bad), [](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(scripted + "/echo"), http::error);
    EXPECT_THROW(co_await s.get(scripted + "/echo"), http::error);
  });
}

TEST(Http, InvalidHeaderAndMethodAreRejected) {
  with_session([](http::session& s) -> aw::task<> {
    http::request_options o;
    o.headers = {{"X-Bad", "a\r\nInjected: 1"}};
    EXPECT_THROW(co_await s.get(scripted + "/echo", std::move(o)), http::error);
    EXPECT_THROW(co_await s.request("GET /x HTTP/1.1\r\n", scripted + "/echo"), http::error);
  });
}

// ---------------------------------------------------------------------------------------
// Redirects.

TEST(Http, RedirectsAreFollowedWithHistory) {
  with_session([](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(scripted + "/redirect/3");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.url(), scripted + "/echo");
    EXPECT_EQ(r.history().size(), 4u);
    if (r.history().size() != 4u) co_return;
    EXPECT_EQ(r.history()[0].status, 302);
    EXPECT_EQ(r.history()[0].url, scripted + "/redirect/3");
    EXPECT_EQ(r.history()[0].headers.get("location"), "/redirect/2");
    EXPECT_EQ(r.history()[3].url, scripted + "/redirect/0");
    EXPECT_EQ((co_await r.json())["path"], "/echo");
  });
}

TEST(Http, RedirectsOffGivesThe3xx) {
  with_session({.follow_redirects = false}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(scripted + "/redirect/1");
    EXPECT_EQ(r.status(), 302);
    EXPECT_EQ(r.headers().get("location"), "/redirect/0");
    EXPECT_EQ(co_await r.text(), "moved");
    http::request_options follow{.follow_redirects = true};
    http::response followed = co_await s.get(scripted + "/redirect/1", std::move(follow));
    EXPECT_EQ(followed.status(), 200);
  });
}

TEST(Http, RedirectLoopRaisesTooManyRedirects) {
  with_session({.max_redirects = 5}, [](http::session& s) -> aw::task<> {
    try {
      co_await s.get(scripted + "/redirect-loop");
      ADD_FAILURE() << "no error";
    } catch (const http::too_many_redirects& e) {
      EXPECT_EQ(e.url(), scripted + "/redirect-loop");
    }
  });
}

TEST(Http, SeeOtherTurnsAPostIntoAGet) {
  with_session([](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = http::body::text("payload");
    http::response r = co_await s.post(scripted + "/redirect-303", std::move(o));
    auto j = co_await r.json();
    EXPECT_EQ(j["method"], "GET");
    EXPECT_EQ(j["body"], "");
    EXPECT_EQ(r.history().at(0).status, 303);
  });
}

// ---------------------------------------------------------------------------------------
// Errors.

TEST(Http, RaiseForStatus) {
  with_session([](http::session& s) -> aw::task<> {
    http::response ok = co_await s.get(scripted + "/status/204");
    EXPECT_NO_THROW(ok.raise_for_status());
    http::response r = co_await s.get(scripted + "/status/404");
    EXPECT_FALSE(r.ok());
    try {
      r.raise_for_status();
      ADD_FAILURE() << "no error";
    } catch (const http::status_error& e) {
      EXPECT_EQ(e.status(), 404);
      EXPECT_EQ(e.url(), scripted + "/status/404");
      EXPECT_EQ(e.body_excerpt(), "status 404");
      EXPECT_NE(std::string(e.what()).find("404"), std::string::npos);
    }
    http::response big = co_await s.get(scripted + "/status/500");
    EXPECT_THROW(big.raise_for_status(), http::status_error);
  });
}

TEST(Http, InvalidUrls) {
  with_session([](http::session& s) -> aw::task<> {
    for (std::string url : {"not a url", "ftp://127.0.0.1/", "http://exa mple/", "http://[::1/"}) {
      EXPECT_THROW(co_await s.get(url), http::invalid_url) << url;
    }
    // Also in the block form: raised where the request is entered.
    EXPECT_THROW(co_await aw::async_with(s.get("gopher://x/"), [](http::response&) -> aw::task<> { co_return; }), http::invalid_url);
  });
}

TEST(Http, ConnectionRefused) {
  with_session([](http::session& s) -> aw::task<> {
    try {
      co_await s.get("http://user:secret@127.0.0.1:" + std::to_string(free_port()) + "/x");
      ADD_FAILURE() << "no error";
    } catch (const http::connect_error& e) {
      EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();  // passwords are redacted
      EXPECT_EQ(e.url().find("secret"), std::string::npos);
    }
  });
}

// Every tricky URL and connection string of the shared table, requested: whatever fails
// (a bad URL, another scheme, a refused port, an unknown host), neither the message nor
// the error's url() holds the password.
TEST(Http, NoPasswordInAnyRequestError) {
  with_session({.timeout = {.connect = 20s}}, [](http::session& s) -> aw::task<> {
    for (const auto& e : aw_test::tricky_credentials_table()) {
      try {
        co_await s.get(std::string(e.text));
        ADD_FAILURE() << "no error for " << e.text;
      } catch (const http::error& err) {
        EXPECT_TRUE(aw_test::holds_no_secret(err.what(), e)) << err.what();
        EXPECT_TRUE(aw_test::holds_no_secret(err.url(), e)) << err.url();
      }
    }
  });
}

TEST(Http, DnsFailure) {
  with_session({.timeout = {.connect = 20s}},
               [](http::session& s) -> aw::task<> { EXPECT_THROW(co_await s.get("http://no-such-host.invalid/"), http::dns_error); });
}

TEST(Http, DisconnectMidBodyIsAProtocolError) {
  with_session([](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(scripted + "/disconnect"), http::protocol_error);
    // Streamed: what arrived is given first, then the error.
    co_await aw::async_with(s.get(scripted + "/disconnect"), [](http::response& r) -> aw::task<> {
      auto chunks = r.chunks();
      std::string got;
      try {
        while (auto c = co_await chunks.next()) got += *c;
        ADD_FAILURE() << "no error";
      } catch (const http::protocol_error&) {
      }
      EXPECT_EQ(got, "0123456789");
    });
  });
}

TEST(Http, MalformedResponsesNeverCrash) {
  with_session([](http::session& s) -> aw::task<> {
    EXPECT_THROW(co_await s.get(scripted + "/malformed-status"), http::protocol_error);
    EXPECT_THROW(co_await s.get(scripted + "/malformed-header"), http::protocol_error);  // a field without a colon
    try {
      co_await s.get(scripted + "/bad-length");
    } catch (const http::error&) {
    }
    http::response j = co_await s.get(scripted + "/status/200");
    EXPECT_THROW(co_await j.json(), http::protocol_error);
  });
}

// ---------------------------------------------------------------------------------------
// TLS and HTTP/2.

TEST(Http, TlsWithTheTestCaAndHttp2) {
  with_session({.ca_file = scratch + "/nginx/ca.pem"}, [](http::session& s) -> aw::task<> {
    http::response r = co_await s.get(nginx_tls + "/small");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.version(), "HTTP/2");
    EXPECT_EQ(r.body(), std::string(100, 'a'));
  });
}

TEST(Http, TlsVerificationIsOnByDefault) {
  with_session([](http::session& s) -> aw::task<> {
    try {
      co_await s.get(nginx_tls + "/small");
      ADD_FAILURE() << "no error";
    } catch (const http::tls_error& e) {
      EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
    }
  });
  with_session({.verify = false}, [](http::session& s) -> aw::task<> { EXPECT_EQ((co_await s.get(nginx_tls + "/small")).status(), 200); });
}

TEST(Http, Http2MultiplexesConcurrentRequests) {
  with_session({.ca_file = scratch + "/nginx/ca.pem"}, [](http::session& s) -> aw::task<> {
    std::string tag = unique_tag("h2");
    int ok = 0;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 50; ++i)
        tg.start_soon([&]() -> aw::task<> {
          http::response r = co_await s.get(nginx_tls + "/small?" + tag);
          ok += r.status() == 200 && r.version() == "HTTP/2";
        });
      co_return;
    });
    EXPECT_EQ(ok, 50);
    std::map<long, int> conns;
    for (auto [c, n] : nginx_connections_for(tag)) ++conns[c];
    EXPECT_LE(conns.size(), 2u);  // one connection (two if the first request raced the handshake)
  });
}

// ---------------------------------------------------------------------------------------
// Timeouts: each phase raises timeout_error naming it.

http::timeout_phase phase_of(std::function<aw::task<>()> f) {
  http::timeout_phase p{};
  bool raised = false;
  aw::run([&]() -> aw::task<> {
    try {
      co_await f();
    } catch (const http::timeout_error& e) {
      p = e.phase();
      raised = true;
    }
  });
  EXPECT_TRUE(raised);
  return p;
}

TEST(Http, ConnectTimeout) {
  hanging_listener hang;
  EXPECT_EQ(phase_of([&]() -> aw::task<> {
              http::session_options o{.timeout = {.connect = 100ms}};
              co_await aw::async_with(http::session(std::move(o)), [&](http::session& s) -> aw::task<> { co_await s.get(hang.url()); });
            }),
            http::timeout_phase::connect);
}

TEST(Http, ReadTimeoutWaitingForHeaders) {
  EXPECT_EQ(phase_of([&]() -> aw::task<> {
              http::session_options o{.timeout = {.read = 100ms}};
              co_await aw::async_with(http::session(std::move(o)),
                                      [&](http::session& s) -> aw::task<> { co_await s.get(scripted + "/slow-headers"); });
            }),
            http::timeout_phase::read);
}

TEST(Http, ReadTimeoutInTheBody) {
  EXPECT_EQ(phase_of([&]() -> aw::task<> {
              co_await aw::async_with(http::session(), [&](http::session& s) -> aw::task<> {
                http::request_options o;
                o.timeout = http::timeouts{.read = 100ms};
                co_await aw::async_with(s.get(scripted + "/stall-body", std::move(o)), [](http::response& r) -> aw::task<> {
                  EXPECT_EQ(r.status(), 200);
                  auto chunks = r.chunks();
                  auto first = co_await chunks.next();
                  EXPECT_EQ(*first, "12345");
                  co_await chunks.next();
                });
              });
            }),
            http::timeout_phase::read);
}

TEST(Http, TotalTimeout) {
  EXPECT_EQ(phase_of([&]() -> aw::task<> {
              http::session_options o{.timeout = {.total = 150ms}};
              co_await aw::async_with(http::session(std::move(o)),
                                      [&](http::session& s) -> aw::task<> { http::response r = co_await s.get(scripted + "/stall-body"); });
            }),
            http::timeout_phase::total);
}

// ---------------------------------------------------------------------------------------
// Cancellation at every wait: connect, headers, body. The session stays usable.

void cancelled_in(std::function<aw::task<>(http::session&)> wait) {
  with_session([&](http::session& s) -> aw::task<> {
    bool finished = false;
    aw::cancel_scope scope;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          co_await wait(s);
          finished = true;
        });
      });
      co_await aw::sleep(50ms);
      scope.cancel();
    });
    EXPECT_FALSE(finished);
    EXPECT_TRUE(scope.cancel_called());
    EXPECT_EQ((co_await s.get(nginx + "/small")).status(), 200);
  });
}

TEST(Http, CancelWhileConnecting) {
  hanging_listener hang;
  cancelled_in([&](http::session& s) -> aw::task<> { co_await s.get(hang.url()); });
}

TEST(Http, CancelWhileWaitingForHeaders) {
  cancelled_in([&](http::session& s) -> aw::task<> { co_await s.get(scripted + "/slow-headers"); });
  cancelled_in([&](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(scripted + "/slow-headers"), [](http::response&) -> aw::task<> { co_return; });
  });
}

TEST(Http, CancelWhileReadingTheBody) {
  cancelled_in([&](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(scripted + "/stall-body"), [](http::response& r) -> aw::task<> {
      auto chunks = r.chunks();
      co_await chunks.next();
      co_await chunks.next();
    });
  });
  cancelled_in([&](http::session& s) -> aw::task<> { co_await s.get(scripted + "/stall-body"); });
}

TEST(Http, MoveOnAfterAroundARequest) {
  with_session([](http::session& s) -> aw::task<> {
    bool done = false;
    co_await aw::move_on_after(50ms, [&]() -> aw::task<> {
      co_await s.get(scripted + "/slow-headers");
      done = true;
    });
    EXPECT_FALSE(done);
  });
}

TEST(Http, AWaitInACancelledScopeRaisesAtOnce) {
  with_session([](http::session& s) -> aw::task<> {
    aw::cancel_scope scope;
    bool raised = false;
    co_await aw::async_with(scope, [&](aw::cancel_scope& sc) -> aw::task<> {
      sc.cancel();
      try {
        co_await s.get(nginx + "/small");
      } catch (const aw::cancelled&) {
        raised = true;
        throw;
      }
    });
    EXPECT_TRUE(raised);
  });
}

// ---------------------------------------------------------------------------------------
// Connections: reuse, release, limits, many at once.

TEST(Http, KeepAliveReusesOneConnection) {
  std::string tag = unique_tag("reuse");
  with_session([&](http::session& s) -> aw::task<> {
    for (int i = 0; i < 10; ++i) EXPECT_EQ((co_await s.get(nginx + "/small?" + tag)).status(), 200);
    // A response read in full inside a block, too.
    co_await aw::async_with(s.get(nginx + "/small?" + tag), [](http::response& r) -> aw::task<> { co_await r.bytes(); });
  });
  auto seen = nginx_connections_for(tag);
  ASSERT_EQ(seen.size(), 11u);
  for (auto [c, n] : seen) EXPECT_EQ(c, seen[0].first);
  EXPECT_EQ(seen.back().second - seen.front().second, 10);
}

TEST(Http, LeavingEarlyClosesAnIncompleteResponsesConnection) {
  std::string tag = unique_tag("early");
  with_session([&](http::session& s) -> aw::task<> {
    co_await aw::async_with(s.get(nginx + "/1mib?" + tag), [](http::response& r) -> aw::task<> {
      auto chunks = r.chunks(1000);
      co_await chunks.next();  // then leave with most of the body unread
    });
    co_await aw::async_with(s.get(nginx + "/small?" + tag), [](http::response&) -> aw::task<> { co_return; });
    co_await s.get(nginx + "/small?" + tag);
    // An endless body: leaving must not wait for its end.
    co_await aw::async_with(s.get(scripted + "/infinite"), [](http::response& r) -> aw::task<> {
      auto lines = r.lines();
      EXPECT_EQ(*co_await lines.next(), "line 0");
    });
    // An exception leaving the block releases it too.
    EXPECT_THROW(
        co_await aw::async_with(s.get(scripted + "/infinite"), [](http::response&) -> aw::task<> { throw std::runtime_error("boom"); }),
        std::runtime_error);
  });
  auto seen = nginx_connections_for(tag);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NE(seen[0].first, seen[1].first);  // the half-read response's connection was closed
  EXPECT_EQ(seen[1].first, seen[2].first);  // a complete response's connection is reused (small: complete at its headers)
}

TEST(Http, LimitPerHostQueuesOnOneConnection) {
  with_session({.limit_per_host = 1}, [](http::session& s) -> aw::task<> {
    std::vector<long> ids;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 5; ++i)
        tg.start_soon([&]() -> aw::task<> {
          auto j = co_await (co_await s.get(scripted + "/connection-id")).json();
          ids.push_back(j["id"].get<long>());
        });
      co_return;
    });
    EXPECT_EQ(ids.size(), 5u);
    for (long id : ids) EXPECT_EQ(id, ids[0]);
  });
}

TEST(Http, AThousandConcurrentRequests) {
  with_session([](http::session& s) -> aw::task<> {
    int ok = 0;
    std::size_t bytes = 0;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 1000; ++i)
        tg.start_soon([&]() -> aw::task<> {
          http::response r = co_await s.get(nginx + "/small");
          ok += r.status() == 200;
          bytes += r.body().size();
        });
      co_return;
    });
    EXPECT_EQ(ok, 1000);
    EXPECT_EQ(bytes, 100000u);
  });
}

// ---------------------------------------------------------------------------------------
// Cookies (the jar, on by default; more in test_http_session_options.cpp), session lifetime
// and misuse.

TEST(Http, CookiesAreKeptUnlessTheJarIsOff) {
  with_session({.cookie_jar = false}, [](http::session& s) -> aw::task<> {
    co_await s.get(scripted + "/set-cookie");
    auto j = co_await (co_await s.get(scripted + "/echo")).json();
    EXPECT_FALSE(j["headers"].contains("cookie"));
  });
  with_session([](http::session& s) -> aw::task<> {
    co_await s.get(scripted + "/set-cookie");
    auto j = co_await (co_await s.get(scripted + "/echo")).json();
    EXPECT_EQ(j["headers"]["cookie"], "flavour=oatmeal");
  });
}

// AW_DEBUG: a session or a request made and never entered (nor, for a request, awaited) is
// reported when it is dropped; one awaited or entered is not.
TEST(Http, TheDebugModeReportsSessionsAndRequestsNeverEntered) {
  bool was = aw::debug_enabled();
  aw::set_debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([]() -> aw::task<> {
    {
      http::session forgotten;
    }
    co_await aw::async_with(http::session(), [](http::session& s) -> aw::task<> {
      {
        auto forgotten = s.get(nginx + "/small");
      }
      http::response whole = co_await s.get(nginx + "/small");
      EXPECT_EQ(whole.status(), 200);
      co_await aw::async_with(s.get(nginx + "/small"), [](http::response& r) -> aw::task<> {
        EXPECT_EQ(r.status(), 200);
        co_return;
      });
    });
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(was);
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered + 2);
  EXPECT_NE(err.find("aw: manager aw::http::session was created but never entered\n"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: manager aw::http::request was created but never entered\n"), std::string::npos) << err;
}

TEST(Http, RequestsOutsideTheSessionBlockAreAnError) {
  http::session s;
  EXPECT_THROW((void)s.get(nginx), std::logic_error);
}

TEST(Http, AResponseThatOutlivesItsSessionIsUnusable) {
  aw::run([]() -> aw::task<> {
    http::response kept;
    std::optional<http::request> unawaited;
    co_await aw::async_with(http::session(), [&](http::session& s) -> aw::task<> {
      kept = co_await s.get(nginx + "/small");
      unawaited.emplace(s.get(nginx + "/small"));
    });
    EXPECT_EQ(kept.status(), 200);  // what was read stays readable
    EXPECT_EQ(kept.body().size(), 100u);
    EXPECT_THROW(co_await std::move(*unawaited), http::error);
  });
}

TEST(Http, AnUnawaitedRequestSendsNothing) {
  std::string tag = unique_tag("unawaited");
  with_session([&](http::session& s) -> aw::task<> {
    {
      auto r = s.get(nginx + "/small?" + tag);
    }
    co_return;
  });
  EXPECT_TRUE(nginx_connections_for(tag).empty());
}

TEST(Http, BothBackendsDriveTheSockets) {
  // The suite runs under AW_BACKEND=io_uring and epoll; this names the one in use.
  aw::run([]() -> aw::task<> {
    RecordProperty("backend", aw::loop::current().backend_name());
    co_return;
  });
}
}  // namespace
