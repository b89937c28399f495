// Streamed request bodies (body::stream, an aw::byte_source, multipart with streamed parts)
// against the scripted server, which hashes what arrives (/upload-hash) or parses it
// (/multipart): large bodies, chunked and Content-Length framing, a pipe as the source,
// errors from the source, length mismatches, cancellation and timeouts while the source
// reads, and a 307 that would need the body again.
#include <aw/async_with.hpp>
#include <aw/byte_source.hpp>
#include <aw/byte_stream.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/http.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>
#include <zlib.h>

#include "common.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using namespace aw_http_test;

// Byte i of the generated bodies: not periodic at any buffer size we use.
char pattern(std::uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

std::uint32_t crc_of_pattern(std::uint64_t n) {
  std::vector<char> buf(1 << 20);
  uLong crc = crc32(0, nullptr, 0);
  for (std::uint64_t off = 0; off < n; off += buf.size()) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - off));
    for (std::size_t j = 0; j < k; ++j) buf[j] = pattern(off + j);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(k));
  }
  return static_cast<std::uint32_t>(crc);
}

// A callable source of `total` pattern bytes; it counts its calls and the largest buffer it
// was handed, and every 16th read waits a turn of the loop (a source that really is async).
struct generated {
  std::uint64_t total;
  std::uint64_t pos = 0;
  int* calls = nullptr;
  std::size_t* largest = nullptr;

  aw::task<std::size_t> operator()(std::span<char> buf) { return fill(this, buf); }
  static aw::task<std::size_t> fill(generated* g, std::span<char> buf) {
    if (g->calls && (++*g->calls % 16) == 0) co_await aw::sleep(0ms);
    if (g->largest) *g->largest = std::max(*g->largest, buf.size());
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), g->total - g->pos));
    for (std::size_t j = 0; j < n; ++j) buf[j] = pattern(g->pos + j);
    g->pos += n;
    co_return n;
  }
};

// A source giving `text`, a byte at a time.
aw::byte_source text_source(std::string text) {
  return aw::byte_source([text = std::move(text), pos = std::size_t{0}](std::span<char> buf) mutable -> aw::task<std::size_t> {
    if (pos == text.size() || buf.empty()) co_return 0;
    buf[0] = text[pos++];
    co_return 1;
  });
}

std::pair<aw::byte_stream, aw::byte_stream> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {aw::byte_stream(p[0]), aw::byte_stream(p[1])};
}

std::uint32_t crc_field(const nlohmann::json& j) { return j["crc32"].get<std::uint32_t>(); }

TEST(HttpUpload, FiftyMiBOfUnknownLengthGoChunked) {
  const std::uint64_t size = 50ull << 20;
  int calls = 0;
  std::size_t largest = 0;
  with_session([&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = http::body::stream(aw::byte_source(generated{size, 0, &calls, &largest}));
    http::response r = co_await s.post(scripted + "/upload-hash", std::move(o));
    auto j = co_await r.json();
    EXPECT_EQ(j["length"], size);
    EXPECT_EQ(crc_field(j), crc_of_pattern(size));
    EXPECT_EQ(j["chunked"], true);
    EXPECT_TRUE(j["content_length"].is_null());
  });
  // Read a chunk at a time, never the whole body.
  EXPECT_LE(largest, 64u * 1024);
  EXPECT_GE(calls, static_cast<int>(size / (64 * 1024)));
}

TEST(HttpUpload, KnownLengthGoesWithContentLength) {
  const std::uint64_t size = (3ull << 20) + 17;
  with_session({.base_url = scripted}, [&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = http::body::stream(aw::byte_source(generated{size}), "application/x-test", size);
    http::response r = co_await s.put("/upload-hash", std::move(o));
    auto j = co_await r.json();
    EXPECT_EQ(j["length"], size);
    EXPECT_EQ(crc_field(j), crc_of_pattern(size));
    EXPECT_EQ(j["chunked"], false);
    EXPECT_EQ(j["content_length"], std::to_string(size));

    // The method, the Content-Type, and an empty stream.
    o = {};
    o.body = http::body::stream(text_source("hello"), "application/x-test", 5);
    auto e = co_await (co_await s.patch("/echo", std::move(o))).json();
    EXPECT_EQ(e["method"], "PATCH");
    EXPECT_EQ(e["headers"]["content-type"], "application/x-test");
    EXPECT_EQ(e["headers"]["content-length"], "5");
    EXPECT_EQ(e["body"], "hello");
    o = {};
    o.body = http::body::stream(aw::byte_source(generated{0}));
    e = co_await (co_await s.post("/echo", std::move(o))).json();
    EXPECT_EQ(e["body"], "");
    EXPECT_EQ(e["headers"]["transfer-encoding"], "chunked");
  });
}

TEST(HttpUpload, ConcurrentUploadsEachPumpTheirOwnSource) {
  const std::uint64_t size = 2u << 20;
  const std::uint32_t crc = crc_of_pattern(size);
  with_session([&](http::session& s) -> aw::task<> {
    int ok = 0;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 8; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          http::request_options o;
          o.body = http::body::stream(aw::byte_source(generated{size}), "application/octet-stream",
                                      i % 2 ? std::optional<std::uint64_t>(size) : std::nullopt);
          auto j = co_await (co_await s.post(scripted + "/upload-hash", std::move(o))).json();
          ok += j["length"] == size && crc_field(j) == crc && j["chunked"] == (i % 2 == 0);
        });
      co_return;
    });
    EXPECT_EQ(ok, 8);
  });
}

TEST(HttpUpload, APipeIsASource) {
  const std::size_t size = 1 << 20;
  with_session([&](http::session& s) -> aw::task<> {
    auto [reader, writer] = make_pipe();
    nlohmann::json j;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {  // the other end, written piece by piece
        std::string piece;
        for (std::size_t off = 0; off < size; off += piece.size()) {
          piece.clear();
          for (std::size_t k = 0; k < 10000 && off + k < size; ++k) piece += pattern(off + k);
          co_await writer.send(piece);
        }
        writer.close();
      });
      http::request_options o;
      o.body = aw::byte_source(reader);  // an aw::byte_source is a stream body of unknown length
      j = co_await (co_await s.post(scripted + "/upload-hash", std::move(o))).json();
    });
    EXPECT_EQ(j["length"], size);
    EXPECT_EQ(crc_field(j), crc_of_pattern(size));
    EXPECT_EQ(j["chunked"], true);
  });
}

TEST(HttpUpload, TheSourcesExceptionAbortsTheRequest) {
  with_session({.base_url = scripted}, [&](http::session& s) -> aw::task<> {
    // After 1 MiB was sent.
    std::uint64_t pos = 0;
    http::request_options o;
    o.body = aw::byte_source([&pos](std::span<char> buf) -> aw::task<std::size_t> {
      if (pos >= (1u << 20)) throw std::runtime_error("the disk is on fire");
      pos += buf.size();
      co_return buf.size();
    });
    try {
      co_await s.post("/upload-hash", std::move(o));
      ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "the disk is on fire");
    }
    // At once, in the block form.
    o = {};
    o.body = aw::byte_source([](std::span<char>) -> aw::task<std::size_t> { throw std::invalid_argument("no such file"); });
    EXPECT_THROW(co_await aw::async_with(s.post("/upload-hash", std::move(o)), [](http::response&) -> aw::task<> { co_return; }),
                 std::invalid_argument);
    EXPECT_EQ((co_await s.get("/status/200")).status(), 200);  // the session is fine
  });
}

TEST(HttpUpload, ASourceThatDisagreesWithItsContentLengthFails) {
  with_session({.base_url = scripted}, [&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = http::body::stream(aw::byte_source(generated{1000}), "application/octet-stream", 2000);
    try {
      co_await s.post("/upload-hash", std::move(o));
      ADD_FAILURE() << "no error";
    } catch (const http::error& e) {
      EXPECT_NE(std::string(e.what()).find("ended after 1000 bytes"), std::string::npos) << e.what();
      EXPECT_EQ(e.url(), scripted + "/upload-hash");
    }
    o = {};
    o.body = http::body::stream(aw::byte_source(generated{3000}), "application/octet-stream", 2000);
    try {
      co_await s.post("/upload-hash", std::move(o));
      ADD_FAILURE() << "no error";
    } catch (const http::error& e) {
      EXPECT_NE(std::string(e.what()).find("more bytes than its content_length 2000"), std::string::npos) << e.what();
    }
    EXPECT_EQ((co_await s.get("/status/200")).status(), 200);
  });
}

TEST(HttpUpload, AnEmptySourceIsRejected) { EXPECT_THROW(http::body::stream(aw::byte_source()), std::invalid_argument); }

// A source that gives `first` bytes, then waits forever in an aw::sleep (a stalled pipe, a
// slow disk); `live` counts its reads in progress, so the test sees none is left behind.
struct stalling {
  std::size_t first;
  int* live;
  std::size_t given = 0;
  aw::task<std::size_t> operator()(std::span<char> buf) { return read(this, buf); }
  static aw::task<std::size_t> read(stalling* s, std::span<char> buf) {
    struct guard {
      int* n;
      ~guard() { --*n; }
    } g{s->live};
    ++*s->live;
    if (s->given >= s->first) co_await aw::sleep(1h);
    std::size_t n = std::min(buf.size(), s->first - s->given);
    std::fill_n(buf.data(), n, 'q');
    s->given += n;
    co_return n;
  }
};

// Cancels `wait` after 100 ms; the session must stay usable.
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
      co_await aw::sleep(100ms);
      scope.cancel();
    });
    EXPECT_FALSE(finished);
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ((co_await s.get(scripted + "/status/200")).status(), 200);
  });
}

TEST(HttpUpload, CancelWhileTheSourceReads) {
  int live = 0;
  cancelled_in([&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = aw::byte_source(stalling{1 << 20, &live});
    co_await s.post(scripted + "/upload-hash", std::move(o));
  });
  EXPECT_EQ(live, 0);
  cancelled_in([&](http::session& s) -> aw::task<> {  // entered: the source reads while the headers are awaited
    http::request_options o;
    o.body = aw::byte_source(stalling{1 << 20, &live});
    co_await aw::async_with(s.put(scripted + "/upload-hash", std::move(o)), [](http::response&) -> aw::task<> { co_return; });
  });
  EXPECT_EQ(live, 0);
}

TEST(HttpUpload, CancelWhileWaitingAfterTheUpload) {
  cancelled_in([&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = aw::byte_source(generated{100000});
    co_await s.post(scripted + "/slow-headers", std::move(o));
  });
}

TEST(HttpUpload, ATimeoutEndsAStalledSourcesRead) {
  int live = 0;
  with_session({.timeout = {.total = 300ms}}, [&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = aw::byte_source(stalling{100000, &live});
    try {
      co_await s.post(scripted + "/upload-hash", std::move(o));
      ADD_FAILURE() << "no error";
    } catch (const http::timeout_error& e) {
      EXPECT_EQ(e.phase(), http::timeout_phase::total);
    }
    EXPECT_EQ(live, 0);
  });
}

TEST(HttpUpload, MultipartWithStreamedParts) {
  const std::size_t size = 300000;
  std::string expected;
  for (std::size_t i = 0; i < size; ++i) expected += static_cast<char>('a' + i % 26);
  auto letters = [](std::size_t n) {
    return aw::byte_source([n, pos = std::size_t{0}](std::span<char> buf) mutable -> aw::task<std::size_t> {
      std::size_t k = std::min(buf.size(), n - pos);
      for (std::size_t j = 0; j < k; ++j) buf[j] = static_cast<char>('a' + (pos + j) % 26);
      pos += k;
      co_return k;
    });
  };
  with_session({.base_url = scripted}, [&](http::session& s) -> aw::task<> {
    std::vector<http::part> parts;
    parts.push_back({.name = "field", .data = "value"});
    parts.push_back({.name = "upload", .filename = "data.bin", .content_type = "application/x-test", .source = letters(size)});
    parts.push_back({.name = "second", .filename = "b.txt", .source = letters(10)});
    http::request_options o;
    o.body = http::body::multipart(std::move(parts));
    EXPECT_FALSE(o.body.content_length().has_value());  // a streamed part without a size
    auto got = co_await (co_await s.post("/multipart", std::move(o))).json();
    EXPECT_EQ(got.size(), 3u);
    if (got.size() != 3u) co_return;
    EXPECT_EQ(got[0]["name"], "field");
    EXPECT_EQ(got[0]["data"], "value");
    EXPECT_EQ(got[1]["name"], "upload");
    EXPECT_EQ(got[1]["filename"], "data.bin");
    EXPECT_EQ(got[1]["content_type"], "application/x-test");
    EXPECT_EQ(got[1]["data"].get<std::string>(), expected);
    EXPECT_EQ(got[2]["filename"], "b.txt");
    EXPECT_EQ(got[2]["content_type"], "application/octet-stream");
    EXPECT_EQ(got[2]["data"], "abcdefghij");

    // With every streamed part's size known, the body has a Content-Length.
    parts.clear();
    parts.push_back({.name = "upload", .filename = "data.bin", .source = letters(size), .size = size});
    parts.push_back({.name = "field", .data = "value"});
    o = {};
    o.body = http::body::multipart(std::move(parts));
    std::optional<std::uint64_t> length = o.body.content_length();
    EXPECT_TRUE(length.has_value());
    auto j = co_await (co_await s.post("/upload-hash", std::move(o))).json();
    EXPECT_EQ(j["chunked"], false);
    EXPECT_EQ(j["content_length"], std::to_string(length.value_or(0)));
    EXPECT_EQ(j["length"], length.value_or(0));
  });
}

TEST(HttpUpload, AStreamedBodyIsNotSentTwice) {
  with_session({.base_url = scripted}, [&](http::session& s) -> aw::task<> {
    // 307 keeps the method and the body: it would have to be read again.
    http::request_options o;
    o.body = aw::byte_source(generated{100000});
    try {
      co_await s.post("/redirect-307", std::move(o));
      ADD_FAILURE() << "no error";
    } catch (const http::error& e) {
      EXPECT_NE(std::string(e.what()).find("read once"), std::string::npos) << e.what();
    }
    // 303 turns the POST into a GET without a body: nothing to send again.
    o = {};
    o.body = aw::byte_source(generated{100000});
    http::response r = co_await s.post("/redirect-303", std::move(o));
    auto j = co_await r.json();
    EXPECT_EQ(j["method"], "GET");
    EXPECT_EQ(j["body"], "");
  });
}

TEST(HttpUpload, StreamedOverHttp2) {
  // nginx answers a POST to a static file with 405 after reading the body; the upload itself
  // is what is tested: it completes over one HTTP/2 stream, without chunked framing.
  with_session({.ca_file = scratch + "/nginx/ca.pem"}, [&](http::session& s) -> aw::task<> {
    http::request_options o;
    o.body = aw::byte_source(generated{1 << 20});
    http::response r = co_await s.post(nginx_tls + "/small", std::move(o));
    EXPECT_EQ(r.version(), "HTTP/2");
    EXPECT_EQ(r.status(), 405);
  });
}

}  // namespace
