// aw::net::buffered_byte_stream: reading a byte stream by length or up to a delimiter
// (anyio's BufferedByteReceiveStream and BufferedByteStream), over any stream with
// `task<size_t> receive_into(std::span<char>)`: tcp_stream, unix_stream, tls_stream,
// aw::byte_source.
//
//   aw::net::buffered_byte_stream in(stream);                    // refers to `stream` (an lvalue)
//   std::string status = co_await in.receive_until("\r\n", 8192);  // the line, without "\r\n"
//   std::string header = co_await in.receive_exactly(16);        // exactly 16 bytes
//   co_await in.send("OK\r\n");                                  // sends go to the stream as they are
//
// - Built from an lvalue it refers to the stream (which must outlive it); from an rvalue it
//   owns it: buffered_byte_stream<tcp_stream> b(co_await connect_tcp(...)).
// - receive_exactly(n) gives n bytes; aw::net::incomplete_read when the stream ends first.
// - receive_until(delimiter, max_bytes) gives the bytes before the delimiter and consumes
//   the delimiter; the delimiter must begin within the first max_bytes bytes, else
//   aw::net::delimiter_not_found (whatever the chunks the data came in); incomplete_read
//   when the stream ends first.
// - receive(max) and receive_into(buf) give buffered bytes first, then read the stream
//   directly (receive raises aw::end_of_stream at the end, receive_into gives 0: it is an
//   aw::byte_source too).
// - Nothing read is ever lost: bytes a failed or cancelled call had read stay in the buffer
//   (buffer()) for the next call. Each call that has to read is a cancellation point (the
//   stream's receive_into); one that the buffer answers does not wait.
// - send, send_eof (when the stream has them) pass through; aclose() and the exit of
//   `async with` close the stream, as anyio's do, whether owned or referred to.
#pragma once

#include <aw/context.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/task.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstring>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace aw::net {

template <class Stream>
class buffered_byte_stream {
  using stream_t = std::remove_reference_t<Stream>;

 public:
  // The size of a read into the buffer, and what receive() asks for by default.
  static constexpr std::size_t chunk_size = 65536;

  // Refers to the stream (Stream is a reference) or takes it (Stream is a value).
  explicit buffered_byte_stream(Stream&& s) : stream_(std::forward<Stream>(s)) {}
  buffered_byte_stream(buffered_byte_stream&&) = default;
  buffered_byte_stream(const buffered_byte_stream&) = delete;
  buffered_byte_stream& operator=(const buffered_byte_stream&) = delete;

  stream_t& stream() noexcept { return stream_; }
  // The bytes read from the stream and not yet given out.
  std::string_view buffer() const noexcept { return {store_.data() + head_, tail_ - head_}; }
  // Appends bytes to the buffer: the next calls give them before anything from the stream.
  void feed_data(std::string_view data) {
    reserve(data.size());
    std::memcpy(store_.data() + tail_, data.data(), data.size());
    tail_ += data.size();
  }

  // Up to `max` bytes (at least 1): buffered ones, or what the stream has; end_of_stream at
  // the end.
  task<std::string> receive(std::size_t max = chunk_size) {
    if (max == 0) throw std::invalid_argument("aw::net::buffered_byte_stream::receive: max must be at least 1");
    if (head_ != tail_) co_return take(std::min(max, tail_ - head_));
    std::string out(max, '\0');
    std::size_t n = co_await stream_.receive_into(out);
    if (n == 0) throw end_of_stream("aw::net::buffered_byte_stream: end of stream");
    out.resize(n);
    co_return out;
  }

  // Fills a prefix of `buf`: buffered bytes, or what the stream has; 0 at the end.
  task<std::size_t> receive_into(std::span<char> buf) {
    if (head_ != tail_) {
      std::size_t n = std::min(buf.size(), tail_ - head_);
      std::memcpy(buf.data(), store_.data() + head_, n);
      head_ += n;
      co_return n;
    }
    co_return co_await stream_.receive_into(buf);
  }

  // Exactly `n` bytes; incomplete_read when the stream ends first.
  task<std::string> receive_exactly(std::size_t n) {
    while (tail_ - head_ < n) {
      // Named, not awaited inside the if: g++ 12 miscompiles `if (co_await f() == 0) throw ...;`
      // (the coroutine never resumes; doc/toolchain.md).
      std::size_t got = co_await fill(n - (tail_ - head_));
      if (got == 0)
        throw incomplete_read("aw::net::buffered_byte_stream::receive_exactly: the stream ended after " + std::to_string(tail_ - head_) +
                              " of " + std::to_string(n) + " bytes");
    }
    co_return take(n);
  }

  // The bytes before `delimiter` (which is consumed), at most max_bytes of them.
  task<std::string> receive_until(std::string_view delimiter, std::size_t max_bytes) {
    if (delimiter.empty()) throw std::invalid_argument("aw::net::buffered_byte_stream::receive_until: empty delimiter");
    std::size_t searched = 0;  // no delimiter begins before this offset
    for (;;) {
      std::string_view data = buffer();
      std::size_t at = data.find(delimiter, searched);
      if (at != std::string_view::npos && at <= max_bytes) {
        std::string line = take(at);
        head_ += delimiter.size();
        co_return line;
      }
      if (at != std::string_view::npos || data.size() >= max_bytes + delimiter.size())
        throw delimiter_not_found("aw::net::buffered_byte_stream::receive_until: the delimiter was not found within " +
                                  std::to_string(max_bytes) + " bytes");
      searched = data.size() >= delimiter.size() ? data.size() - delimiter.size() + 1 : 0;
      std::size_t got = co_await fill(1);
      if (got == 0) throw incomplete_read("aw::net::buffered_byte_stream::receive_until: the stream ended before the delimiter");
    }
  }

  task<> send(std::string_view data)
    requires requires(stream_t& s) { s.send(std::string_view{}); }
  {
    co_await stream_.send(data);
  }
  task<> send_eof()
    requires requires(stream_t& s) { s.send_eof(); }
  {
    co_await stream_.send_eof();
  }

  task<> aclose() {
    if constexpr (requires(stream_t& s) { s.aclose(); }) co_await stream_.aclose();
  }
  aw::detail::ready<buffered_byte_stream&> aenter() noexcept { return {*this}; }
  task<> aexit(std::exception_ptr) { co_await aclose(); }

 private:
  // Makes room for `n` more bytes after tail_.
  void reserve(std::size_t n) {
    if (store_.size() - tail_ >= n) return;
    if (head_ > 0) {  // move the unread bytes to the front first
      std::memmove(store_.data(), store_.data() + head_, tail_ - head_);
      tail_ -= head_;
      head_ = 0;
    }
    if (store_.size() - tail_ < n) store_.resize(std::max(tail_ + n, 2 * store_.size()));
  }
  // Reads once from the stream into the buffer, with room for at least `want` bytes (and a
  // chunk's worth, so that small reads do not each cost a call): the count, 0 at the end.
  task<std::size_t> fill(std::size_t want) {
    if (head_ == tail_) head_ = tail_ = 0;
    reserve(std::max(want, chunk_size));
    std::size_t n = co_await stream_.receive_into(std::span<char>(store_.data() + tail_, store_.size() - tail_));
    tail_ += n;
    co_return n;
  }
  std::string take(std::size_t n) {
    std::string out(store_.data() + head_, n);
    head_ += n;
    return out;
  }

  Stream stream_;
  std::string store_;  // [head_, tail_) is the buffered data; the rest is room
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

template <class S>
buffered_byte_stream(S&&) -> buffered_byte_stream<S>;

}  // namespace aw::net
