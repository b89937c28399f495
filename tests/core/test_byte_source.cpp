// aw::byte_source and aw::byte_sink: over an aw::byte_stream (a real pipe), over objects
// with read_into/write (the aw::files::file shape), and over callables.
#include <aw/aw.hpp>
#include <aw/byte_source.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace {

std::pair<aw::byte_stream, aw::byte_stream> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {aw::byte_stream(p[0]), aw::byte_stream(p[1])};
}

// Everything a source gives, read through small buffers so several calls are needed.
aw::task<std::string> drain(aw::byte_source& src, std::size_t chunk) {
  std::string out;
  std::string buf(chunk, '\0');
  while (std::size_t n = co_await src.receive_into(std::span<char>(buf))) out.append(buf, 0, n);
  co_return out;
}

// The shape of aw::files::file: read_into and write, over a string.
struct string_file {
  std::string data;
  std::size_t pos = 0;
  int writes = 0;
  aw::task<std::size_t> read_into(std::span<char> buf) {
    std::size_t n = std::min(buf.size(), data.size() - pos);
    std::memcpy(buf.data(), data.data() + pos, n);
    pos += n;
    co_return n;
  }
  aw::task<std::size_t> write(std::string_view d) {
    data.append(d);
    ++writes;
    co_return d.size();
  }
};

static_assert(aw::async_byte_receiver<aw::byte_stream> && aw::async_byte_sender<aw::byte_stream>);
static_assert(aw::async_byte_receiver<string_file> && aw::async_byte_sender<string_file>);
static_assert(!aw::async_byte_receiver<int> && !aw::async_byte_sender<std::string>);
// Sources refer to objects: an rvalue stream has nothing to refer to.
static_assert(!std::is_constructible_v<aw::byte_source, aw::byte_stream&&>);
static_assert(std::is_constructible_v<aw::byte_source, aw::byte_stream&>);

TEST(ByteSource, ReadsAPipeThroughAByteStreamToTheEnd) {
  std::string got = aw::run([]() -> aw::task<std::string> {
    auto [r, w] = make_pipe();
    aw::byte_source src(r);
    std::string sent(100000, 'x');
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + i % 26);
    std::string out;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(
          [](aw::byte_stream& w, const std::string& s) -> aw::task<> {
            co_await w.send(s);
            w.close();
          },
          std::ref(w), std::cref(sent));
      out = co_await drain(src, 4096);
    });
    EXPECT_EQ(out, sent);
    co_return out;
  });
  EXPECT_EQ(got.size(), 100000u);
}

TEST(ByteSource, ReadsAnObjectWithReadInto) {
  string_file f{"hello, world", 0, 0};
  std::string got = aw::run([&]() -> aw::task<std::string> {
    aw::byte_source src(f);
    co_return co_await drain(src, 5);
  });
  EXPECT_EQ(got, "hello, world");
  EXPECT_EQ(f.pos, f.data.size());
}

TEST(ByteSource, OwnsACallableAndItsState) {
  std::string got = aw::run([]() -> aw::task<std::string> {
    aw::byte_source src([n = 0](std::span<char> buf) mutable -> aw::task<std::size_t> {
      if (n == 3) co_return 0;
      buf[0] = static_cast<char>('0' + n++);
      co_return 1;
    });
    aw::byte_source moved = std::move(src);
    co_return co_await drain(moved, 8);
  });
  EXPECT_EQ(got, "012");
}

TEST(ByteSource, AnEmptySourceRaises) {
  aw::byte_source src;
  EXPECT_FALSE(src);
  EXPECT_THROW(aw::run([&]() -> aw::task<> {
                 char c;
                 co_await src.receive_into(std::span<char>(&c, 1));
               }),
               std::bad_function_call);
}

TEST(ByteSink, WritesAPipeThroughAByteStream) {
  std::string got = aw::run([]() -> aw::task<std::string> {
    auto [r, w] = make_pipe();
    aw::byte_sink sink(w);
    std::string out;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon(
          [](aw::byte_sink& s, aw::byte_stream& w) -> aw::task<> {
            co_await s.send("abc");
            co_await s.send(std::string(200000, 'z'));  // more than the pipe holds: waits for the reader
            w.close();
          },
          std::ref(sink), std::ref(w));
      out = co_await r.read_all();
    });
    co_return out;
  });
  EXPECT_EQ(got.size(), 200003u);
  EXPECT_EQ(got.substr(0, 4), "abcz");
}

TEST(ByteSink, WritesAnObjectWithWrite) {
  string_file f;
  aw::run([&]() -> aw::task<> {
    aw::byte_sink sink(f);
    co_await sink.send("one ");
    co_await sink.send("two");
  });
  EXPECT_EQ(f.data, "one two");
  EXPECT_EQ(f.writes, 2);
}

TEST(ByteSink, OwnsACallable) {
  std::string out;
  aw::run([&]() -> aw::task<> {
    aw::byte_sink sink([&out](std::string_view d) -> aw::task<> {
      out.append(d);
      co_return;
    });
    co_await sink.send("x");
    co_await sink.send("y");
  });
  EXPECT_EQ(out, "xy");
}

TEST(ByteSource, ACancelledReceiveLosesNothing) {
  std::string got = aw::run([]() -> aw::task<std::string> {
    auto [r, w] = make_pipe();
    aw::byte_source src(r);
    char buf[16];
    auto none = co_await aw::move_on_after(std::chrono::milliseconds(10),
                                           [&]() -> aw::task<std::size_t> { co_return co_await src.receive_into(std::span<char>(buf)); });
    EXPECT_FALSE(none.has_value());
    co_await w.send("late");
    w.close();
    co_return co_await drain(src, 16);
  });
  EXPECT_EQ(got, "late");
}

}  // namespace
