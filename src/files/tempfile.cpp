// aw::files' temporary files and directories (aiofiles.tempfile): created with random
// names, removed on the block's exit.
#include <aw/files/tempfile.hpp>

#include <aw/files/os.hpp>

#include "sys.hpp"
#include "worker.hpp"

#include <fcntl.h>
#include <cerrno>
#include <cstdlib>
#include <random>
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
