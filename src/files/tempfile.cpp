// aw::files' temporary files and directories (aiofiles.tempfile): created with random
// names, removed on the block's exit.
#include <aw/files/tempfile.hpp>

#include <aw/files/os.hpp>

#include "sys.hpp"
#include "text.hpp"
#include "worker.hpp"

#include <fcntl.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace aw::files {
namespace {

std::filesystem::path temp_dir(const temp_options& o) {
  if (!o.dir.empty()) return o.dir;
  const char* t = std::getenv("TMPDIR");
  return t && *t ? std::filesystem::path(t) : std::filesystem::path("/tmp");
}

std::string random_name(const temp_options& o) {
  static constexpr char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string name = o.prefix;
  for (int i = 0; i < 8; ++i) name += chars[rng() % (sizeof chars - 1)];
  return name + o.suffix;
}

}  // namespace

temporary_file::temporary_file(bool named, std::string_view mode, temp_options options)
    : named_(named), mode_(mode), options_(std::move(options)) {
  file check(options_.dir, mode_, options_.file);  // Python's mode errors, before entering
  check.enter_check_.entered();                    // a probe, not a manager anyone made
}

task<file&> temporary_file::aenter() {
  enter_check_.entered();
  std::filesystem::path dir = temp_dir(options_);
  if (!named_) {
    file_.emplace(dir, mode_, options_.file);
    int access = file_->flags_ & (O_RDONLY | O_WRONLY | O_RDWR);
    file_->flags_ = O_TMPFILE | O_CLOEXEC | (access == O_RDONLY ? O_RDWR : access);
    try {
      co_return co_await file_->aenter();
    } catch (const os_error& e) {
      if (e.error_number() != EOPNOTSUPP && e.error_number() != EISDIR) throw;
    }
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    named_ = true;
    options_.delete_on_exit = true;
  }
  for (int attempt = 0;; ++attempt) {
    file_.emplace(dir / random_name(options_), mode_, options_.file);
    int access = file_->flags_ & (O_RDONLY | O_WRONLY | O_RDWR);
    file_->flags_ = O_CREAT | O_EXCL | O_CLOEXEC | (access == O_RDONLY ? O_RDWR : access);
    if (file_->append_) file_->flags_ |= O_APPEND;
    bool taken = false;
    try {
      co_await file_->aenter();
    } catch (const file_exists_error&) {
      if (attempt == 100) throw;
      taken = true;
    }
    if (!taken) break;
  }
  co_return *file_;
}

task<> temporary_file::aexit(std::exception_ptr) {
  std::exception_ptr failure;
  try {
    co_await file_->close();
  } catch (...) {
    failure = std::current_exception();
  }
  if (named_ && options_.delete_on_exit) {
    int r = co_await detail::unlinkat(file_->name().c_str(), 0);
    if (r < 0 && r != -ENOENT && !failure) raise_os_error(-r, "remove", file_->name());
  }
  if (failure) std::rethrow_exception(failure);
}

task<const std::filesystem::path&> temporary_directory_manager::aenter() {
  enter_check_.entered();
  std::filesystem::path dir = temp_dir(options_);
  for (int attempt = 0;; ++attempt) {
    path_ = dir / random_name(options_);
    int r = co_await detail::mkdirat(path_.c_str(), 0700);
    if (r == 0) break;
    if (r != -EEXIST || attempt == 100) raise_os_error(-r, "mkdir", path_);
  }
  co_return path_;
}

task<> temporary_directory_manager::aexit(std::exception_ptr) {
  std::error_code ec;
  co_await detail::run_blocking([&] {
    std::filesystem::remove_all(path_, ec);
    return 0;
  });
  if (ec) throw os_error(ec.value(), "remove temporary directory", path_);
}

}  // namespace aw::files

namespace aw::files {

spooled_file::spooled_file(std::size_t max_size, std::string mode, temp_options options)
    : max_size_(max_size), mode_(std::move(mode)), options_(std::move(options)) {
  file check(options_.dir, mode_, options_.file);  // Python's mode errors
  check.enter_check_.entered();
  if (!check.binary()) throw std::invalid_argument("aw::files::spooled_temporary_file: binary modes only ('w+b', 'wb', ...)");
  append_ = mode_.find('a') != std::string::npos;
  readable_ = check.readable();
  writable_ = check.writable();
}

task<> spooled_file::rollover() {
  if (file_) co_return;
  temp_.emplace(false, mode_, options_);  // entered in place: an entered file does not move
  std::exception_ptr failure;
  file* opened = nullptr;
  try {
    file& f = co_await temp_->aenter();
    opened = &f;
    // The data, then the position: the file continues where the memory left off.
    co_await f.write(data_);
    co_await f.seek(pos_);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // The data stays in memory, as it was; a file that was opened is closed (and gone).
    if (opened) {
      try {
        co_await temp_->aexit(failure);
      } catch (...) {
      }
    }
    temp_.reset();
    std::rethrow_exception(failure);
  }
  file_ = opened;
  data_.clear();
  data_.shrink_to_fit();
  pos_ = 0;
}

task<std::string> spooled_file::read(std::size_t n) {
  if (file_) co_return co_await file_->read(n);
  if (!readable_) throw std::logic_error("aw::files::spooled_file: not readable");  // io.UnsupportedOperation
  std::size_t at = std::min(static_cast<std::size_t>(pos_), data_.size());
  std::string out = data_.substr(at, n);
  pos_ = static_cast<std::int64_t>(at + out.size());
  co_return out;
}

task<std::string> spooled_file::readline(std::size_t limit) {
  if (file_) co_return co_await file_->readline(limit);
  if (!readable_) throw std::logic_error("aw::files::spooled_file: not readable");
  std::size_t at = std::min(static_cast<std::size_t>(pos_), data_.size());
  std::size_t nl = data_.find('\n', at);
  std::size_t len = nl == std::string::npos ? data_.size() - at : nl + 1 - at;
  std::string out = data_.substr(at, std::min(len, limit));
  pos_ = static_cast<std::int64_t>(at + out.size());
  co_return out;
}

task<std::vector<std::string>> spooled_file::readlines() { return detail::read_lines(*this); }

task<std::size_t> spooled_file::write(std::string_view data) {
  if (file_) co_return co_await file_->write(data);
  if (!writable_) throw std::logic_error("aw::files::spooled_file: not writable");
  std::size_t at = append_ ? data_.size() : static_cast<std::size_t>(pos_);
  if (at > data_.size()) data_.resize(at, '\0');  // a seek past the end leaves zeros, as a file
  data_.replace(at, std::min(data.size(), data_.size() - at), data);
  pos_ = static_cast<std::int64_t>(at + data.size());
  if (max_size_ && data_.size() > max_size_) {
    try {
      co_await rollover();
    } catch (const cancelled&) {
      throw write_cancelled(data.size());  // every byte is in memory
    }
  }
  co_return data.size();
}

task<std::int64_t> spooled_file::seek(std::int64_t offset, whence from) {
  if (file_) co_return co_await file_->seek(offset, from);
  std::int64_t base = from == whence::set ? 0 : from == whence::cur ? pos_ : static_cast<std::int64_t>(data_.size());
  if (base + offset < 0) raise_os_error(EINVAL, "seek (negative position)", {});
  pos_ = base + offset;
  co_return pos_;
}

std::int64_t spooled_file::tell() const { return file_ ? file_->tell() : pos_; }

task<std::int64_t> spooled_file::truncate(std::optional<std::int64_t> size) {
  if (file_) co_return co_await file_->truncate(size);
  if (!writable_) throw std::logic_error("aw::files::spooled_file: not writable");
  std::int64_t to = size.value_or(pos_);
  if (to < 0) raise_os_error(EINVAL, "truncate", {});
  if (max_size_ && static_cast<std::size_t>(to) > max_size_) {
    co_await rollover();
    co_return co_await file_->truncate(to);
  }
  data_.resize(static_cast<std::size_t>(to), '\0');
  co_return to;
}

task<> spooled_file::flush() {
  if (file_) co_await file_->flush();
}

task<int> spooled_file::fileno() {
  co_await rollover();
  co_return file_->fileno();
}

task<> spooled_file::close(std::exception_ptr e) {
  if (!temp_) co_return;
  file_ = nullptr;
  co_await temp_->aexit(e);
}

spooled_temporary_file_manager::spooled_temporary_file_manager(std::size_t max_size, std::string_view mode, temp_options options)
    : max_size_(max_size), mode_(mode), options_(std::move(options)) {
  spooled_file check(max_size_, mode_, options_);  // the mode's errors, before entering
}

task<spooled_file&> spooled_temporary_file_manager::aenter() {
  enter_check_.entered();
  file_.emplace(max_size_, mode_, options_);
  co_return *file_;
}

task<> spooled_temporary_file_manager::aexit(std::exception_ptr e) { co_await file_->close(e); }

}  // namespace aw::files
