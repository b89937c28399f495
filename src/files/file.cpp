// aw::files::file: the buffered file of aiofiles.open (reads, writes, seeks, lines), its
// opening and its close on the block's exit.
#include <aw/files/file.hpp>

#include "sys.hpp"
#include "text.hpp"

#include <aw/detail/cancellation.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace aw::files {
namespace {

std::string invalid_mode(std::string_view mode) { return "invalid mode: '" + std::string(mode) + "'"; }

}  // namespace

// One call at a time per file: the buffer and the position belong to that call.
class file::busy_guard {
 public:
  explicit busy_guard(file& f) : f_(f) {
    if (f.busy_) throw std::logic_error("aw::files::file: another operation on this file is in progress");
    f.busy_ = true;
  }
  busy_guard(const busy_guard&) = delete;
  busy_guard& operator=(const busy_guard&) = delete;
  ~busy_guard() { f_.busy_ = false; }

 private:
  file& f_;
};

file::file(std::filesystem::path path, std::string_view mode, open_options options)
    : path_(std::move(path)), mode_(mode), options_(options) {
  int kind = 0, plus = 0, b = 0, t = 0;
  char primary = 0;
  for (char c : mode) {
    switch (c) {
      case 'r':
      case 'w':
      case 'a':
      case 'x':
        ++kind;
        primary = c;
        break;
      case '+':
        ++plus;
        break;
      case 'b':
        ++b;
        break;
      case 't':
        ++t;
        break;
      default:
        throw std::invalid_argument(invalid_mode(mode));
    }
  }
  if (kind != 1 || plus > 1 || b > 1 || t > 1) throw std::invalid_argument(invalid_mode(mode));
  if (b && t) throw std::invalid_argument("can't have text and binary mode at once");
  binary_ = b != 0;
  if (binary_) {
    // Python: "binary mode doesn't take a newline argument" (the defaults pass).
    if (options.newline != std::string_view()) throw std::invalid_argument("binary mode doesn't take a newline argument");
    if (options.errors != "strict") throw std::invalid_argument("binary mode doesn't take an errors argument");
  } else {
    newline_ = options.newline ? detail::parse_newline(*options.newline) : detail::newline_mode::universal;
    errors_ = detail::parse_errors(options.errors);
  }
  readable_ = primary == 'r' || plus;
  writable_ = primary != 'r' || plus;
  append_ = primary == 'a';
  flags_ = (readable_ && writable_ ? O_RDWR : writable_ ? O_WRONLY : O_RDONLY) | O_CLOEXEC;
  if (primary == 'w') flags_ |= O_CREAT | O_TRUNC;
  if (primary == 'a') flags_ |= O_CREAT | O_APPEND;
  if (primary == 'x') flags_ |= O_CREAT | O_EXCL;
}

file::file(file&& o) noexcept
    : path_(std::move(o.path_)),
      mode_(std::move(o.mode_)),
      options_(o.options_),
      flags_(o.flags_),
      fd_(std::exchange(o.fd_, -1)),
      readable_(o.readable_),
      writable_(o.writable_),
      append_(o.append_),
      binary_(o.binary_),
      seekable_(o.seekable_),
      nonblocking_(o.nonblocking_),
      busy_(o.busy_),
      newline_(o.newline_),
      errors_(o.errors_),
      pos_(o.pos_),
      size_hint_(o.size_hint_),
      buf_(std::move(o.buf_)),
      bufcap_(std::exchange(o.bufcap_, 0)),
      rstart_(o.rstart_),
      rend_(o.rend_),
      wlen_(o.wlen_),
      enter_check_(std::move(o.enter_check_)) {}

file::~file() {
  if (fd_ >= 0) detail::close(fd_);
}

void file::check_open() const {
  if (fd_ < 0) throw closed_file_error();
}
void file::check_readable() const {
  check_open();
  if (!readable_) throw os_error(EBADF, "read (file not open for reading)", path_);
}
void file::check_writable() const {
  check_open();
  if (!writable_) throw os_error(EBADF, "write (file not open for writing)", path_);
}

void file::reserve(std::size_t n) {
  if (bufcap_ >= n) return;
  auto bigger = std::make_unique_for_overwrite<char[]>(n);
  if (rend_ > rstart_) std::memcpy(bigger.get(), buf_.get() + rstart_, rend_ - rstart_);
  if (wlen_) std::memcpy(bigger.get(), buf_.get(), wlen_);
  rend_ -= rstart_;
  rstart_ = 0;
  buf_ = std::move(bigger);
  bufcap_ = n;
}

std::size_t file::read_capacity() const noexcept { return options_.buffer_size ? options_.buffer_size : 4096; }

void file::drop_read_buffer() noexcept { rstart_ = rend_ = 0; }

void file::unread(std::string_view consumed, std::int64_t pos0) {
  // A read that raised (aw::cancelled, an I/O error) consumes nothing. A seekable file just
  // reads again from pos0; a stream cannot, so the bytes go back in front of the buffer.
  pos_ = pos0;
  if (seekable_) {
    drop_read_buffer();
    return;
  }
  std::string rest(consumed);
  rest.append(buf_.get() + rstart_, rend_ - rstart_);
  drop_read_buffer();
  reserve(rest.size());
  std::memcpy(buf_.get(), rest.data(), rest.size());
  rend_ = rest.size();
}

task<file&> file::aenter() {
  enter_check_.entered();
  if (fd_ >= 0) throw std::logic_error("aw::files::file: entered twice");
  std::string p = path_.string();
  int fd = co_await detail::openat(AT_FDCWD, p.c_str(), flags_, options_.permissions);
  if (fd < 0) raise_os_error(-fd, "open", path_);
  fd_ = fd;
  // fstat inline, not statx through the ring: io_uring always hands statx to a worker
  // thread, and the inode of an open descriptor is in memory, so this never blocks.
  struct ::stat st;
  int r = ::fstat(fd_, &st) == 0 ? 0 : -errno;
  if (r == 0 && S_ISDIR(st.st_mode)) r = -EISDIR;  // open(2) lets O_RDONLY open a directory; Python does not
  if (r < 0) {
    detail::close(std::exchange(fd_, -1));
    raise_os_error(-r, "open", path_);
  }
  seekable_ = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  size_hint_ = st.st_size;
  pos_ = append_ ? st.st_size : 0;
  if (!seekable_ && !detail::have_ring()) {
    // epoll waits for streams (pipes, FIFOs, terminals) instead of blocking a worker.
    int fl = ::fcntl(fd_, F_GETFL);
    if (fl >= 0 && ::fcntl(fd_, F_SETFL, fl | O_NONBLOCK) == 0) nonblocking_ = true;
  }
  co_return *this;
}

task<> file::aexit(std::exception_ptr) { co_await close(); }

task<> file::close() {
  if (fd_ < 0) co_return;
  std::exception_ptr failure;
  if (wlen_) {
    busy_guard busy(*this);
    // Shielded, as an exit is: the buffer holds writes that were accepted, and closing
    // would drop whatever a cancellation left unwritten.
    aw::detail::shield_guard shield(co_await aw::detail::current_context{});
    try {
      co_await flush_buffer();
    } catch (...) {
      failure = std::current_exception();
    }
  }
  wlen_ = 0;
  drop_read_buffer();
  int r = detail::close(std::exchange(fd_, -1));
  if (failure) std::rethrow_exception(failure);
  if (r < 0 && r != -EINTR) raise_os_error(-r, "close", path_);
}

task<std::size_t> file::raw_read(char* p, std::size_t n, std::int64_t at) {
  for (;;) {
    long r = co_await detail::read(fd_, p, n, io_offset(at), nonblocking_);
    if (r >= 0) co_return static_cast<std::size_t>(r);
    if (r != -EINTR && r != -EAGAIN) raise_os_error(static_cast<int>(-r), "read", path_);
  }
}

task<std::size_t> file::raw_write(const char* p, std::size_t n, std::int64_t at) {
  for (;;) {
    long r = co_await detail::write(fd_, p, n, io_offset(at), nonblocking_);
    if (r > 0) co_return static_cast<std::size_t>(r);
    if (r == 0) raise_os_error(EIO, "write (no progress)", path_);
    if (r != -EINTR && r != -EAGAIN) raise_os_error(static_cast<int>(-r), "write", path_);
  }
}

task<> file::flush_buffer() {
  std::size_t done = 0;
  std::int64_t at = pos_ - static_cast<std::int64_t>(wlen_);
  try {
    while (done < wlen_) done += co_await raw_write(buf_.get() + done, wlen_ - done, at + static_cast<std::int64_t>(done));
  } catch (...) {
    // What did not reach the file stays buffered, in order, for the next flush.
    std::memmove(buf_.get(), buf_.get() + done, wlen_ - done);
    wlen_ -= done;
    throw;
  }
  wlen_ = 0;
  if (pos_ > size_hint_) size_hint_ = pos_;
}

task<bool> file::fill() {
  if (wlen_) co_await flush_buffer();
  // At least one byte of room after what is buffered: text mode refills while the buffer
  // still holds the start of a character, or a "\r" whose meaning the next byte decides.
  reserve(std::max(read_capacity(), buffered() + 1));
  if (rstart_ == rend_) rstart_ = rend_ = 0;
  if (rstart_ > 0 && (rend_ == bufcap_ || buffered() <= 8)) {  // compact
    std::memmove(buf_.get(), buf_.get() + rstart_, rend_ - rstart_);
    rend_ -= rstart_;
    rstart_ = 0;
  }
  std::size_t got = co_await raw_read(buf_.get() + rend_, bufcap_ - rend_, pos_ + static_cast<std::int64_t>(rend_ - rstart_));
  rend_ += got;
  co_return got != 0;
}

task<> file::read_some(std::string& out, std::size_t n) {
  const bool to_end = n == std::string::npos;
  std::size_t want = n;
  const std::size_t cap = read_capacity();
  while (want > 0) {
    if (std::size_t have = buffered()) {
      std::size_t take = std::min(want, have);
      out.append(buf_.get() + rstart_, take);
      rstart_ += take;
      pos_ += static_cast<std::int64_t>(take);
      if (!to_end) want -= take;
      continue;
    }
    if (wlen_) co_await flush_buffer();
    if (want >= cap) {
      // Large reads go straight into the result. Reading to the end sizes the read by the
      // size seen at open, plus one byte to see EOF in the same read.
      std::size_t chunk = want;
      if (to_end)
        chunk = seekable_ && size_hint_ > pos_ ? static_cast<std::size_t>(size_hint_ - pos_) + 1 : std::max<std::size_t>(cap, out.size());
      std::size_t old = out.size();
      out.resize(old + chunk);
      std::size_t got = 0;
      try {
        got = co_await raw_read(out.data() + old, chunk, pos_);
      } catch (...) {
        out.resize(old);
        throw;
      }
      out.resize(old + got);
      pos_ += static_cast<std::int64_t>(got);
      if (!to_end) want -= got;
      if (got == 0) break;
      // A short read of a regular file at or past the size seen so far is its end.
      if (got < chunk && seekable_ && pos_ >= size_hint_) break;
    } else if (!co_await fill()) {
      break;
    }
  }
  if (pos_ > size_hint_) size_hint_ = pos_;
}

bool file::decode_step(std::string& out, std::size_t max_chars, bool line, std::string* raw, bool eof, std::size_t& chars,
                       bool& need_more) {
  const char* p = buf_.get() + rstart_;
  detail::decode_result r = detail::text_codec{newline_, errors_}.decode(p, buffered(), eof, max_chars - chars, line, out, pos_, path_);
  if (raw) raw->append(p, r.consumed);
  rstart_ += r.consumed;
  pos_ += static_cast<std::int64_t>(r.consumed);
  chars += r.chars;
  need_more = r.need_more;
  return r.line_end || chars >= max_chars;
}

task<std::string> file::read(std::size_t n) {
  check_readable();
  busy_guard busy(*this);
  std::string out;
  std::int64_t pos0 = pos_;
  if (binary_) {
    try {
      if (n != std::string::npos) out.reserve(std::min<std::size_t>(n, 1 << 20));
      co_await read_some(out, n);
    } catch (...) {
      unread(out, pos0);
      throw;
    }
    co_return out;
  }
  // Text: the bytes consumed, kept on a stream to be put back if the read raises.
  std::string raw;
  try {
    if (n == std::string::npos) {
      // To EOF: the bytes in bulk (straight into one string), then one validation pass.
      co_await read_some(raw, n);
      out = detail::text_codec{newline_, errors_}.decode_all(raw, pos0, path_);
    } else {
      std::string* keep = seekable_ ? nullptr : &raw;
      std::size_t chars = 0;
      bool eof = false, need_more = false;
      while (chars < n) {
        if (need_more || buffered() == 0) {
          if (eof) break;
          if (!co_await fill()) {
            eof = true;
            if (buffered() == 0) break;
          }
        }
        if (decode_step(out, n, false, keep, eof, chars, need_more)) break;
      }
      if (pos_ > size_hint_) size_hint_ = pos_;
    }
  } catch (...) {
    unread(raw, pos0);
    throw;
  }
  co_return out;
}

task<std::string> file::read() { co_return co_await read(std::string::npos); }

task<std::size_t> file::read_into(std::span<char> dest) {
  check_readable();
  busy_guard busy(*this);
  std::size_t done = 0;
  std::int64_t pos0 = pos_;
  try {
    const std::size_t cap = read_capacity();
    while (done < dest.size()) {
      if (std::size_t have = buffered()) {
        std::size_t take = std::min(dest.size() - done, have);
        std::memcpy(dest.data() + done, buf_.get() + rstart_, take);
        rstart_ += take;
        pos_ += static_cast<std::int64_t>(take);
        done += take;
        continue;
      }
      if (wlen_) co_await flush_buffer();
      if (dest.size() - done >= cap) {
        std::size_t chunk = dest.size() - done;
        std::size_t got = co_await raw_read(dest.data() + done, chunk, pos_);
        pos_ += static_cast<std::int64_t>(got);
        done += got;
        if (got == 0 || (got < chunk && seekable_ && pos_ >= size_hint_)) break;
      } else if (!co_await fill()) {
        break;
      }
    }
  } catch (...) {
    unread(std::string_view(dest.data(), done), pos0);
    throw;
  }
  if (pos_ > size_hint_) size_hint_ = pos_;
  co_return done;
}

task<std::string> file::readline(std::size_t limit) {
  check_readable();
  busy_guard busy(*this);
  std::string line;
  std::int64_t pos0 = pos_;
  if (!binary_) {
    std::string raw;  // on a stream: the bytes consumed, put back if the read raises
    try {
      std::string* keep = seekable_ ? nullptr : &raw;
      std::size_t chars = 0;
      bool eof = false, need_more = false;
      while (chars < limit) {
        if (need_more || buffered() == 0) {
          if (eof) break;
          if (!co_await fill()) {
            eof = true;
            if (buffered() == 0) break;
          }
        }
        if (chars == 0 && !need_more) {
          // The common line, inline: no call into the codec, one pass over its bytes.
          const char* p = buf_.get() + rstart_;
          if (std::size_t len = detail::text_codec{newline_, errors_}.ascii_line(p, buffered()); len && len <= limit) {
            line.assign(p, len);
            rstart_ += len;
            pos_ += static_cast<std::int64_t>(len);
            break;
          }
        }
        if (decode_step(line, limit, true, keep, eof, chars, need_more)) break;
      }
    } catch (...) {
      unread(raw, pos0);
      throw;
    }
    co_return line;
  }
  try {
    while (line.size() < limit) {
      if (buffered() == 0 && !co_await fill()) break;
      const char* start = buf_.get() + rstart_;
      std::size_t n = std::min(buffered(), limit - line.size());
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', n));
      std::size_t take = nl ? static_cast<std::size_t>(nl - start) + 1 : n;
      line.append(start, take);
      rstart_ += take;
      pos_ += static_cast<std::int64_t>(take);
      if (nl) break;
    }
  } catch (...) {
    unread(line, pos0);
    throw;
  }
  co_return line;
}

task<std::vector<std::string>> file::readlines() { return detail::read_lines(*this); }

task<std::optional<std::string>> line_iterator::next() {
  std::string line = co_await f_->readline();
  if (line.empty()) co_return std::nullopt;
  co_return std::optional<std::string>(std::move(line));
}

task<std::size_t> file::write(std::string_view data) {
  check_writable();
  std::size_t result = data.size();
  std::string encoded;  // text mode, when data had to change (newline translation, replacement)
  if (!binary_) data = detail::text_codec{newline_, errors_}.encode(data, encoded, result, path_);
  busy_guard busy(*this);
  drop_read_buffer();  // it ran ahead of pos_, and the write makes it stale
  const std::size_t cap = options_.buffer_size;
  if (cap && wlen_ + data.size() <= cap) {  // served by the buffer: no kernel call, no cancellation point
    reserve(cap);
    std::memcpy(buf_.get() + wlen_, data.data(), data.size());
    wlen_ += data.size();
    pos_ += static_cast<std::int64_t>(data.size());
    co_return result;
  }
  if (wlen_) {
    try {
      co_await flush_buffer();
    } catch (const cancelled&) {
      throw write_cancelled(0);
    }
  }
  if (cap && data.size() < cap) {
    reserve(cap);
    std::memcpy(buf_.get(), data.data(), data.size());
    wlen_ = data.size();
    pos_ += static_cast<std::int64_t>(data.size());
    co_return result;
  }
  std::size_t done = 0;
  try {
    while (done < data.size()) {
      std::size_t n = co_await raw_write(data.data() + done, data.size() - done, pos_);
      done += n;
      pos_ += static_cast<std::int64_t>(n);
    }
  } catch (const cancelled&) {
    if (pos_ > size_hint_) size_hint_ = pos_;
    throw write_cancelled(done);
  }
  if (pos_ > size_hint_) size_hint_ = pos_;
  co_return result;
}

std::int64_t file::tell() const {
  check_open();
  return pos_;
}

task<std::int64_t> file::seek(std::int64_t offset, whence from) {
  check_open();
  busy_guard busy(*this);
  if (!seekable_) raise_os_error(ESPIPE, "seek", path_);
  if (wlen_) co_await flush_buffer();
  std::int64_t base = 0;
  if (from == whence::cur) {
    base = pos_;
  } else if (from == whence::end) {
    stat_result st;
    int r = co_await detail::stat(fd_, "", true, st);
    if (r < 0) raise_os_error(-r, "seek", path_);
    base = st.size;
    size_hint_ = st.size;
  }
  std::int64_t target = base + offset;
  if (target < 0) raise_os_error(EINVAL, "seek (negative position)", path_);
  // Keep the read buffer when the target lies inside it.
  std::int64_t buf_start = pos_ - static_cast<std::int64_t>(rstart_);
  if (rend_ > 0 && target >= buf_start && target <= buf_start + static_cast<std::int64_t>(rend_))
    rstart_ = static_cast<std::size_t>(target - buf_start);
  else
    drop_read_buffer();
  pos_ = target;
  co_return pos_;
}

task<> file::flush() {
  check_open();
  busy_guard busy(*this);
  if (wlen_) co_await flush_buffer();
}

task<> file::sync(bool data_only) {
  check_open();
  busy_guard busy(*this);
  if (wlen_) co_await flush_buffer();
  int r = co_await detail::fsync(fd_, data_only);
  if (r < 0) raise_os_error(-r, data_only ? "fdatasync" : "fsync", path_);
}

task<std::int64_t> file::truncate(std::optional<std::int64_t> size) {
  check_writable();
  busy_guard busy(*this);
  if (wlen_) co_await flush_buffer();
  drop_read_buffer();
  std::int64_t to = size.value_or(pos_);
  int r = co_await detail::ftruncate(fd_, to);
  if (r < 0) raise_os_error(-r, "truncate", path_);
  size_hint_ = to;
  co_return to;
}

task<stat_result> file::stat() {
  check_open();
  busy_guard busy(*this);
  if (wlen_) co_await flush_buffer();
  stat_result st;
  int r = co_await detail::stat(fd_, "", true, st);
  if (r < 0) raise_os_error(-r, "stat", path_);
  co_return st;
}

}  // namespace aw::files
