// buffered_byte_stream: receive_exactly and receive_until across chunk boundaries, their
// errors, what stays buffered after an error or a cancellation, the pass-through of
// send/send_eof/aclose, and the stream types it takes (a reference, an owned stream, an
// aw::byte_source).
#include "net_test.hpp"

#include <aw/async_with.hpp>
#include <aw/byte_source.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/buffered.hpp>
#include <aw/net/errors.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;
using aw::net::buffered_byte_stream;
using aw::net::tcp_stream;
using aw::net::unix_stream;

static_assert(std::is_same_v<decltype(buffered_byte_stream(std::declval<tcp_stream&>())), buffered_byte_stream<tcp_stream&>>);
static_assert(std::is_same_v<decltype(buffered_byte_stream(std::declval<tcp_stream>())), buffered_byte_stream<tcp_stream>>);
static_assert(aw::async_byte_receiver<buffered_byte_stream<tcp_stream&>> && aw::async_byte_sender<buffered_byte_stream<tcp_stream&>>);
static_assert(aw::async_context_manager<buffered_byte_stream<tcp_stream>>);

// A source that gives its chunks one per call, then the end: the boundaries are the test's.
aw::byte_source chunks(std::vector<std::string> parts) {
  return aw::byte_source([parts = std::move(parts), i = std::size_t{0}](std::span<char> buf) mutable -> aw::task<std::size_t> {
    if (i == parts.size()) co_return std::size_t{0};
    std::string& p = parts[i];
    std::size_t n = std::min(buf.size(), p.size());
    std::copy_n(p.data(), n, buf.data());
    p.erase(0, n);
    if (p.empty()) ++i;
    co_return n;
  });
}

TEST(NetBuffered, ReceiveExactlyAcrossChunks) {
  aw::run([&]() -> aw::task<> {
    aw::byte_source src = chunks({"ab", "cd", "efg"});
    buffered_byte_stream in(src);
    EXPECT_EQ(co_await in.receive_exactly(5), "abcde");
    EXPECT_EQ(in.buffer(), "fg");
    EXPECT_EQ(co_await in.receive_exactly(0), "");
    EXPECT_EQ(co_await in.receive(1), "f");
    EXPECT_EQ(co_await in.receive(), "g");
    EXPECT_THROW(co_await in.receive(), aw::end_of_stream);
  });
}

TEST(NetBuffered, IncompleteReadKeepsWhatCame) {
  aw::run([&]() -> aw::task<> {
    aw::byte_source src = chunks({"abc"});
    buffered_byte_stream in(src);
    EXPECT_THROW(co_await in.receive_exactly(5), aw::net::incomplete_read);
    EXPECT_EQ(in.buffer(), "abc");
    char buf[8];
    EXPECT_EQ(co_await in.receive_into(buf), 3u);
    EXPECT_EQ(co_await in.receive_into(buf), 0u);
  });
}

TEST(NetBuffered, ReceiveUntilFindsADelimiterSplitAcrossChunks) {
  aw::run([&]() -> aw::task<> {
    aw::byte_source src = chunks({"GET / HTTP/1.1\r", "\nHost: x\r\n\r", "\nbody"});
    buffered_byte_stream in(src);
    EXPECT_EQ(co_await in.receive_until("\r\n", 100), "GET / HTTP/1.1");
    EXPECT_EQ(co_await in.receive_until("\r\n", 100), "Host: x");
    EXPECT_EQ(co_await in.receive_until("\r\n", 100), "");
    EXPECT_EQ(co_await in.receive_exactly(4), "body");
    EXPECT_THROW(co_await in.receive_until("\r\n", 100), aw::net::incomplete_read);
  });
}

TEST(NetBuffered, ReceiveUntilLimitIsExact) {
  aw::run([&]() -> aw::task<> {
    {
      aw::byte_source src = chunks({"12345", "|rest"});
      buffered_byte_stream in(src);
      EXPECT_EQ(co_await in.receive_until("|", 5), "12345");  // exactly max_bytes before it
      EXPECT_EQ(in.buffer(), "rest");
    }
    {
      aw::byte_source src = chunks({"123456|"});  // one chunk: found, but beyond the limit
      buffered_byte_stream in(src);
      EXPECT_THROW(co_await in.receive_until("|", 5), aw::net::delimiter_not_found);
      EXPECT_EQ(in.buffer(), "123456|");  // left for the caller
    }
    {
      aw::byte_source src = chunks({"12", "34", "56", "78|"});  // not found within 5: stops reading
      buffered_byte_stream in(src);
      EXPECT_THROW(co_await in.receive_until("||", 5), aw::net::delimiter_not_found);
      EXPECT_EQ(in.buffer(), "12345678|");
      EXPECT_THROW(co_await in.receive_until("", 5), std::invalid_argument);
    }
  });
}

TEST(NetBuffered, FeedDataComesFirst) {
  aw::run([&]() -> aw::task<> {
    aw::byte_source src = chunks({"stream"});
    buffered_byte_stream in(src);
    in.feed_data("fed ");
    EXPECT_EQ(co_await in.receive_exactly(10), "fed stream");
  });
}

TEST(NetBuffered, CancelledReadsLoseNothing) {
  auto [a, b] = net_test::tcp_pair();
  aw::run([&]() -> aw::task<> {
    buffered_byte_stream in(b);
    co_await a.send("1234");
    bool done = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await in.receive_exactly(10); });
    EXPECT_FALSE(done);
    EXPECT_EQ(in.buffer(), "1234");
    done = co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await in.receive_until("\n", 100); });
    EXPECT_FALSE(done);
    co_await a.send("567890\nnext");
    EXPECT_EQ(co_await in.receive_exactly(10), "1234567890");
    EXPECT_EQ(co_await in.receive_until("next", 100), "\n");
  });
}

TEST(NetBuffered, LargeExactReadOverASocket) {
  const std::string big = net_test::pattern(std::size_t{3} << 20, 7);
  auto [a, b] = net_test::unix_pair();
  aw::run([&]() -> aw::task<> {
    buffered_byte_stream in(b);
    std::string got;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await a.send(big); });
      got = co_await in.receive_exactly(big.size());
    });
    EXPECT_TRUE(got == big);
  });
}

TEST(NetBuffered, OwnsAStreamPassesSendsAndClosesIt) {
  auto [a, b] = net_test::tcp_pair();
  const int fd = b.fd();
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(buffered_byte_stream(std::move(b)), [&](buffered_byte_stream<tcp_stream>& in) -> aw::task<> {
      co_await in.send("request\n");
      EXPECT_EQ(co_await a.receive(), "request\n");
      co_await a.send("reply\n");
      EXPECT_EQ(co_await in.receive_until("\n", 64), "reply");
      co_await in.send_eof();
      EXPECT_THROW(co_await a.receive(), aw::end_of_stream);
    });
    EXPECT_FALSE(net_test::is_open_fd(fd));
  });
}

}  // namespace
