// aw::byte_source and aw::byte_sink: any async stream of bytes, as one type a module can
// take without knowing where the bytes come from or go (anyio's ByteReceiveStream and
// ByteSendStream as parameters). An HTTP request body, a COPY into PostgreSQL or out of it,
// and a multipart file part read from an aw::files::file, an aw::byte_stream (a pipe, a
// child process), or a coroutine of your own:
//
//   co_await conn.copy_to_table("t", aw::byte_source(f));           // f: an open aw::files::file
//   aw::http::request_options o;                                    // a named options object: g++ 12
//   o.body = aw::byte_source(child_stdout);                         // (README, "Known compiler bugs")
//   co_await session.post(url, o);
//   aw::byte_source gen([left = 3](std::span<char> buf) mutable -> aw::task<std::size_t> {
//     if (left-- == 0 || buf.empty()) co_return 0;                    // 0: end of stream
//     buf[0] = 'x';
//     co_return 1;                                                    // bytes put in buf
//   });
//   co_await conn.copy_from_query("select ...", aw::byte_sink(out));  // out: a file open for writing
//
// A source is anything with `task<size_t> receive_into(std::span<char>)` (aw::byte_stream)
// or `task<size_t> read_into(std::span<char>)` (aw::files::file): it fills a prefix of the
// buffer and gives the count, 0 at end of stream. A sink is anything with `task<>
// send(std::string_view)` (aw::byte_stream) or `task<size_t> write(std::string_view)`
// (aw::files::file) that takes every byte before it returns. Either can also be built
// from a callable with that shape.
// A file passed as a source or sink is read or written as its mode says: open it "rb" or
// "wb" for bytes as they are (text mode validates UTF-8 and may translate newlines).
//
// Built from an object, a source or sink refers to it: the object must outlive every call
// (it is not copied, as Python passes the file object itself). Built from a callable, it
// owns a copy of the callable. A source or sink is used by one task at a time, and it
// is cheap to move.
//
// The callable is called, never awaited from inside a coroutine lambda of ours, so the
// closure-temporary bug of g++ 12 (README, "Known compiler bugs") cannot reach it: the
// callable lives in the byte_source for as long as the task it returned runs.
#pragma once

#include <aw/task.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace aw {

// An object that fills a buffer: aw::byte_stream's receive_into, aw::files::file's read_into.
template <class S>
concept async_byte_receiver = requires(S& s, std::span<char> buf) {
  { s.receive_into(buf) } -> std::same_as<task<std::size_t>>;
} || requires(S& s, std::span<char> buf) {
  { s.read_into(buf) } -> std::same_as<task<std::size_t>>;
};

// An object that takes bytes: aw::byte_stream's send, aw::files::file's write.
template <class S>
concept async_byte_sender = requires(S& s, std::string_view data) {
  { s.send(data) } -> std::same_as<task<>>;
} || requires(S& s, std::string_view data) {
  { s.write(data) } -> std::same_as<task<std::size_t>>;
};

class byte_source {
 public:
  using function = std::function<task<std::size_t>(std::span<char>)>;

  byte_source() = default;  // empty: receive_into raises std::bad_function_call
  // Refers to `s` (not copied).
  template <async_byte_receiver S>
    requires(!std::same_as<std::remove_cvref_t<S>, byte_source>)
  explicit byte_source(S& s) : fn_(bind(s)) {}
  // Owns `fn`, called as fn(buffer) -> task<size_t>.
  template <class F>
    requires(!async_byte_receiver<std::remove_cvref_t<F>> && !std::same_as<std::remove_cvref_t<F>, byte_source> &&
             std::is_invocable_r_v<task<std::size_t>, F&, std::span<char>>)
  explicit byte_source(F fn) : fn_(std::move(fn)) {}

  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

  // Fills a prefix of `buf`: the count, 0 at end of stream. `buf` must stay alive until
  // the task completes.
  task<std::size_t> receive_into(std::span<char> buf) { return fn_(buf); }

 private:
  template <class S>
  static function bind(S& s) {
    if constexpr (requires { s.receive_into(std::span<char>{}); }) {
      return [p = &s](std::span<char> buf) { return p->receive_into(buf); };
    } else {
      return [p = &s](std::span<char> buf) { return p->read_into(buf); };
    }
  }

  function fn_;
};

class byte_sink {
 public:
  using function = std::function<task<>(std::string_view)>;

  byte_sink() = default;  // empty: send raises std::bad_function_call
  // Refers to `s` (not copied).
  template <async_byte_sender S>
    requires(!std::same_as<std::remove_cvref_t<S>, byte_sink>)
  explicit byte_sink(S& s) : fn_(bind(s)) {}
  // Owns `fn`, called as fn(data) -> task<>; it must take every byte before it completes.
  template <class F>
    requires(!async_byte_sender<std::remove_cvref_t<F>> && !std::same_as<std::remove_cvref_t<F>, byte_sink> &&
             std::is_invocable_r_v<task<>, F&, std::string_view>)
  explicit byte_sink(F fn) : fn_(std::move(fn)) {}

  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

  // Hands every byte of `data` on; `data` must stay alive until the task completes.
  task<> send(std::string_view data) { return fn_(data); }

 private:
  template <class S>
  static task<> write_all(S* s, std::string_view data) {
    co_await s->write(data);  // aw::files::file::write takes every byte (short writes retried)
  }
  template <class S>
  static function bind(S& s) {
    if constexpr (requires { s.send(std::string_view{}); }) {
      return [p = &s](std::string_view data) { return p->send(data); };
    } else {
      return [p = &s](std::string_view data) { return write_all(p, data); };
    }
  }

  function fn_;
};

}  // namespace aw
