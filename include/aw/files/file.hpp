// aw::files::open: aiofiles.open, an async context manager giving a buffered file.
//
//   // async with aiofiles.open("file.txt") as f: contents = await f.read()
//   co_await aw::async_with(aw::files::open("file.txt"), [](aw::files::file& f) -> aw::task<> {
//     std::string contents = co_await f.read();
//   });
//   // or, for the rest of the task:  auto& f = co_await aw::enter(aw::files::open("out.txt", "w"));
//   // open("log.txt", newline=None, errors="replace"): universal newlines, U+FFFD for bad bytes
//   auto log = aw::files::open("log.txt", "r", {.newline = std::nullopt, .errors = "replace"});
//
// Modes are Python's: "r", "w", "a", "x", each with "+" (read and write) and "b" or "t".
// C++ has no separate text type: both modes read and write std::string. Binary mode reads
// and writes bytes as they are; read(n) gives n bytes. Opening fails with an
// aw::files::os_error carrying errno and the path: file_not_found_error, permission_error,
// file_exists_error ("x"), is_a_directory_error.
//
// Text mode is Python's open(encoding="utf-8"), with its newline= and errors= in open_options:
//  - newline defaults to "" (line endings read and written as they are; readline() ends a
//    line at "\n", "\r" or "\r\n"), not Python's None. newline = std::nullopt turns on
//    universal newlines: "\r\n" and "\r" read as "\n" (the platform's separator is "\n",
//    so writes are not translated). newline = "\n", "\r" or "\r\n": only that ending ends
//    a line, it is read as it is, and a written "\n" becomes it.
//  - errors: "strict" (the default: bytes read that are not UTF-8 raise
//    unicode_decode_error with the position, the bytes and the path, and the read consumes
//    nothing; a string written that is not UTF-8 raises unicode_encode_error and writes
//    nothing), "replace" (U+FFFD for each bad sequence read, "?" written, as Python) or
//    "surrogateescape" (each bad byte b read as the code point U+DC00+b, in the 3 bytes
//    ED B2..B3 xx that UTF-8 proper forbids; written, those give b back: any bytes survive
//    the round trip, as Python's os.fsdecode/fsencode).
// read(n) and readline(limit) count characters (code points), not bytes, and the
// translated "\r\n" as one; write() gives the number of characters written. tell() and
// seek() are byte offsets (Python's are opaque cookies): seeking into the middle of a
// character makes the next read meet bytes that are not UTF-8. read_into() reads bytes,
// undecoded, in both modes. On a pipe, a final "\r" (newline None, "" or "\r\n") or
// part of a character waits for the next byte or EOF before it is returned, as in Python.
//
// Buffered like Python's io: reads fill a buffer of options.buffer_size bytes (64 KiB);
// writes collect there and reach the kernel when it is full, on flush(), sync(), seek(),
// a read, and on exit. Large reads and writes bypass the buffer. Short reads and writes
// are retried; EOF is an empty string. Exit flushes and closes; a failure while flushing
// (ENOSPC on a full disk, EIO) is raised from the exit, never swallowed (an exception of
// the body stays reachable through aw::exception_context). Data written and flushed
// before the body failed is in the file.
//
// On the io_uring backend open, read, write, sync and stat are io_uring operations (no
// thread); on the epoll backend they run on worker threads, and pipes and FIFOs wait with
// epoll. truncate runs on a worker on both (liburing 2.3 has no ftruncate); close is the
// plain system call. One operation at a time per file: a second call while one is in
// flight raises std::logic_error (use one file per task, or a lock).
//
// Cancellation: every call that reaches the kernel is a cancellation point; a call the
// buffer serves completely is not.
//  - A cancelled read consumes nothing: tell() is where it was, and the next read gives
//    the same bytes (so does a text read that raised unicode_decode_error; on a pipe the
//    bytes it took are put back).
//  - A cancelled write raises aw::files::write_cancelled (an aw::cancelled): written()
//    bytes of the data (text mode: of the data as encoded, after newline translation)
//    reached the file, the rest did not and is not buffered; tell() is after the written
//    part. Bytes buffered by earlier writes stay buffered (the exit's flush writes them).
//  - io_uring cancels an operation in the kernel where it can (a read from a FIFO that
//    waits for data); a regular file's read or write completes and counts. On worker
//    threads a started call is waited for, never abandoned, so no buffer is written after
//    its owner has gone.
#pragma once

#include <aw/exceptions.hpp>
#include <aw/files/errors.hpp>
#include <aw/files/stat.hpp>
#include <aw/task.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace aw::files {

struct open_options {
  std::size_t buffer_size = 64 * 1024;  // 0: unbuffered, every write goes to the kernel
  unsigned permissions = 0666;          // of a created file, before the umask
  // Text mode: Python's newline= ("", std::nullopt, "\n", "\r", "\r\n"); see above. The
  // default is "" (Python's is None). Binary mode takes only the default.
  std::optional<std::string_view> newline = "";
  // Text mode: Python's errors=, "strict", "replace" or "surrogateescape". Binary mode
  // takes only the default.
  std::string_view errors = "strict";
};
// `open(p, "r", {.newline = std::nullopt})` inside a co_await is safe from g++ 12's aggregate
// temporary bug (README, "Known compiler bugs") only while no member needs a destructor.
static_assert(std::is_trivially_destructible_v<open_options>, "open_options must stay trivial (g++ 12)");

namespace detail {
enum class newline_mode : unsigned char { universal, any, lf, cr, crlf };  // None, "", "\n", "\r", "\r\n"
enum class error_mode : unsigned char { strict, replace, surrogateescape };
}  // namespace detail

enum class whence { set = SEEK_SET, cur = SEEK_CUR, end = SEEK_END };  // os.SEEK_SET, ...

// A write interrupted by cancellation: written() bytes of its data reached the file.
class write_cancelled : public cancelled {
 public:
  explicit write_cancelled(std::size_t written) noexcept : written_(written) {}
  std::size_t written() const noexcept { return written_; }
  const char* what() const noexcept override { return "aw::files::write_cancelled"; }

 private:
  std::size_t written_;
};

class file;

// `async for line in f`: while (auto line = co_await lines.next()) use(*line);
class line_iterator {
 public:
  explicit line_iterator(file& f) noexcept : f_(&f) {}
  task<std::optional<std::string>> next();

 private:
  file* f_;
};

// The file: its own async context manager (aenter opens it, aexit flushes and closes).
// Move-only, and moved only before it is entered (async_with and enter keep it in place).
class [[nodiscard(
    "enter it: co_await aw::async_with(aw::files::open(...), body) or aw::enter(aw::files::open(...)); nothing is opened until "
    "then")]] file {
 public:
  // Checks the mode (std::invalid_argument, with Python's message); opens nothing yet.
  file(std::filesystem::path path, std::string_view mode = "r", open_options options = {});
  file(file&& other) noexcept;
  file& operator=(file&&) = delete;
  file(const file&) = delete;
  // A file still open here (its exit never ran) is closed without flushing.
  ~file();

  task<file&> aenter();
  task<> aexit(std::exception_ptr e);

  // Up to n bytes (text mode: characters); fewer only at EOF; "" at EOF.
  task<std::string> read(std::size_t n);
  // Everything up to EOF.
  task<std::string> read();
  // Python's readinto: up to buf.size() bytes into buf, fewer only at EOF; 0 at EOF.
  task<std::size_t> read_into(std::span<char> buf);
  // One line with its ending (none on the last line without one); "" at EOF. `limit`
  // bounds its length as Python's readline(size) (text mode: in characters). Binary mode
  // and text mode with newline "\n" end lines at "\n" only; see above for the others.
  task<std::string> readline(std::size_t limit = std::string::npos);
  task<std::vector<std::string>> readlines();
  line_iterator lines() noexcept { return line_iterator(*this); }

  // Writes all of `data` (into the buffer or the file); gives data.size() (text mode: the
  // characters in it).
  task<std::size_t> write(std::string_view data);
  template <class Range>
  task<> writelines(const Range& lines) {
    for (const auto& line : lines) co_await write(std::string_view(line));
  }

  // Moves the position (flushing buffered writes first); gives the new position.
  task<std::int64_t> seek(std::int64_t offset, whence from = whence::set);
  std::int64_t tell() const;  // on a pipe or FIFO: the bytes read or written so far
  // Hands buffered writes to the kernel.
  task<> flush();
  // flush(), then fsync(2) (data_only: fdatasync): the data survives a power cut.
  task<> sync(bool data_only = false);
  // Python's truncate: cuts (or extends with zeros) the file to `size`, default the
  // current position; the position does not move. Gives the new size.
  task<std::int64_t> truncate(std::optional<std::int64_t> size = std::nullopt);
  task<stat_result> stat();
  // Flushes (shielded from cancellation: accepted writes are not dropped) and closes; a
  // second close does nothing. The flush's failure is raised after the descriptor was closed.
  task<> close();

  bool closed() const noexcept { return fd_ < 0; }
  int fileno() const noexcept { return fd_; }
  const std::filesystem::path& name() const noexcept { return path_; }
  const std::string& mode() const noexcept { return mode_; }
  bool readable() const noexcept { return readable_; }
  bool writable() const noexcept { return writable_; }
  bool seekable() const noexcept { return seekable_; }
  bool binary() const noexcept { return binary_; }

 private:
  friend class temporary_file;  // opens with O_TMPFILE
  friend class spooled_file;    // checks a mode with a probe
  class busy_guard;
  void check_open() const;
  void check_readable() const;
  void check_writable() const;
  // Writes the write buffer; a failure or cancellation leaves the unwritten rest buffered.
  task<> flush_buffer();
  // Reads more into the read buffer (after what it holds); false at EOF.
  task<bool> fill();
  // Text mode: decodes from the read buffer into out, up to `max_chars` characters more
  // (counted in `chars`), stopping after a line ending when `line`; raw (on a stream) gets
  // the bytes consumed. True when done; need_more: fill() before the next step.
  bool decode_step(std::string& out, std::size_t max_chars, bool line, std::string* raw, bool eof, std::size_t& chars, bool& need_more);
  // Appends up to n bytes to out (n = npos: to EOF), fewer only at EOF.
  task<> read_some(std::string& out, std::size_t n);
  // One kernel read (at `at`, or at the file position of a stream); one kernel write, > 0.
  task<std::size_t> raw_read(char* p, std::size_t n, std::int64_t at);
  task<std::size_t> raw_write(const char* p, std::size_t n, std::int64_t at);
  void unread(std::string_view consumed, std::int64_t pos0);
  void reserve(std::size_t n);
  std::size_t read_capacity() const noexcept;
  std::size_t buffered() const noexcept { return rend_ - rstart_; }
  void drop_read_buffer() noexcept;
  std::int64_t io_offset(std::int64_t at) const noexcept { return seekable_ ? at : -1; }

  std::filesystem::path path_;
  std::string mode_;
  open_options options_;
  int flags_ = 0;
  int fd_ = -1;
  bool readable_ = false, writable_ = false, append_ = false, binary_ = false;
  bool seekable_ = true, nonblocking_ = false, busy_ = false;
  detail::newline_mode newline_ = detail::newline_mode::any;
  detail::error_mode errors_ = detail::error_mode::strict;
  std::int64_t pos_ = 0;         // the logical position (tell())
  std::int64_t size_hint_ = -1;  // the size seen at open (read() sizes its result by it)
  // Read buffer: buf_[rstart_, rend_) are the file's bytes at pos_ onwards.
  // Write buffer: buf_[0, wlen_) go to the file at pos_ - wlen_. Never both at once.
  std::unique_ptr<char[]> buf_;
  std::size_t bufcap_ = 0;
  std::size_t rstart_ = 0, rend_ = 0, wlen_ = 0;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<file> enter_check_;
};

// aiofiles.open(path, mode): the manager to pass to aw::async_with or aw::enter.
inline file open(std::filesystem::path path, std::string_view mode = "r", open_options options = {}) {
  return file(std::move(path), mode, options);
}

}  // namespace aw::files
