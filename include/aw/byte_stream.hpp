// aw::byte_stream: an async stream of bytes over a non-blocking file descriptor (a pipe, a
// socket, a terminal): what a child process's stdin, stdout and stderr are (anyio's
// ByteReceiveStream and ByteSendStream, asyncio's StreamReader/StreamWriter over a pipe).
//
//   aw::byte_stream out(fd);                        // adopts fd: makes it non-blocking, closes it
//   while (true) {
//     std::string chunk = co_await out.receive();   // up to 64 KiB; empty: end of stream
//     if (chunk.empty()) break;
//     consume(chunk);
//   }
//   std::string rest = co_await out.read_all();     // or: everything up to the end
//   co_await in.send("hello\n");                    // all of it, waiting while the pipe is full
//   in.close();                                     // the reader sees end of stream
//
// - End of stream is an empty result, as os.read and StreamReader.read give b"" (anyio
//   raises EndOfStream instead; a loop on `chunk.empty()` reads as well in C++).
// - receive() gives what is there as soon as there is something; send() writes every byte
//   before it returns. Each wait is a cancellation point (aw::wait_readable/wait_writable):
//   a cancelled receive loses nothing; a cancelled send may have written a prefix (as in
//   anyio, the stream's state is then unknown to the reader; close it).
// - Writing to a pipe whose reader is gone raises std::system_error(EPIPE) (Python's
//   BrokenPipeError); SIGPIPE is held back for that write, not delivered to the process.
// - Errors are std::system_error with the errno and the operation; using a closed stream is
//   std::system_error(EBADF). One receiver and one sender at a time; do not close a stream
//   while another task waits on it.
// - It is an async context manager: leaving `async with` closes it.
#pragma once

#include <aw/context.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace aw {

class byte_stream {
 public:
  // The size receive() asks for by default (a pipe's buffer is 64 KiB on Linux).
  static constexpr std::size_t default_receive_size = 65536;

  byte_stream() noexcept = default;  // closed
  // Adopts `fd` (closes it when closed or destroyed) and makes it non-blocking.
  explicit byte_stream(int fd);
  byte_stream(byte_stream&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  byte_stream& operator=(byte_stream&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  byte_stream(const byte_stream&) = delete;
  byte_stream& operator=(const byte_stream&) = delete;
  ~byte_stream() { close(); }

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  // Gives up the descriptor without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Reads what is there into `buf`, waiting until something is: the count, 0 at end of
  // stream (or for an empty `buf`). No copy beyond the kernel's.
  task<std::size_t> receive_into(std::span<char> buf);
  // Up to `max` bytes, waiting until there are some; empty at end of stream.
  task<std::string> receive(std::size_t max = default_receive_size);
  // Everything up to the end of stream.
  task<std::string> read_all();
  // Writes all of `data` (which must stay alive until the send completes).
  task<> send(std::string_view data);

  // Closes the descriptor (idempotent). The peer sees end of stream once every other copy
  // of the descriptor (a child's) is closed too.
  void close() noexcept;
  std::suspend_never aclose() noexcept {
    close();
    return {};
  }

  // The async context manager: `async with stream` closes it on the way out.
  detail::ready<byte_stream&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }

 private:
  int fd_ = -1;
};

}  // namespace aw
