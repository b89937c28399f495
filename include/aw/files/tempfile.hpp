// aiofiles.tempfile: temporary files and directories, removed on exit.
//
//   co_await aw::async_with(aw::files::named_temporary_file(), [](aw::files::file& f) -> aw::task<> {
//     co_await f.write("scratch");
//     std::printf("%s\n", f.name().c_str());      // gone after the block
//   });
//   co_await aw::async_with(aw::files::temporary_directory(), [](const std::filesystem::path& dir) -> aw::task<> { ... });
//
// The directory is `dir` when given, else $TMPDIR, else /tmp. tempfile() has no name
// (O_TMPFILE: nothing to remove, nothing left behind even by a crash); named_temporary_file()
// is created with O_EXCL under a random name and removed on exit unless delete_on_exit is
// false; temporary_directory() is removed with everything in it. Removal runs on every
// path out of the block, after the file was flushed and closed; a flush failure is
// still raised.
//
// spooled_temporary_file(max_size) is tempfile.SpooledTemporaryFile: the data stays in
// memory until a write takes it past max_size bytes (0: never by size), or until
// rollover() or fileno(); then it moves to a tempfile() (in `dir`), at the same position,
// and the file goes on there. Binary modes only ("w+b", the default, "wb", "ab+", ...):
// std::invalid_argument for a text mode. In memory nothing is a cancellation point; a
// rollover is one (each of its writes), and one that fails or is cancelled leaves the data
// in memory, as it was: a write that rolled over then raises the error (or
// write_cancelled with all of its bytes written, to memory).
#pragma once

#include <aw/files/file.hpp>
#include <aw/task.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw::files {

struct temp_options {
  std::filesystem::path dir;  // empty: $TMPDIR or /tmp
  std::string prefix = "tmp";
  std::string suffix;
  bool delete_on_exit = true;  // named_temporary_file only (Python's delete=)
  open_options file;           // buffering and permissions of the file
  temp_options() {}            // a constructor: g++ 12 miscompiles aggregate temporaries in co_await
};

// The manager of a temporary file; its resource is the open file.
class [[nodiscard(
    "enter it: co_await aw::async_with(aw::files::tempfile(), body) or aw::enter(...); nothing is created until then")]] temporary_file {
 public:
  temporary_file(bool named, std::string_view mode, temp_options options);
  temporary_file(temporary_file&&) = default;
  task<file&> aenter();
  task<> aexit(std::exception_ptr e);

 private:
  bool named_;
  std::string mode_;
  temp_options options_;
  std::optional<file> file_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<temporary_file> enter_check_;
};

// aiofiles.tempfile.TemporaryFile(mode="w+b").
inline temporary_file tempfile(std::string_view mode = "w+b", temp_options options = {}) {
  return temporary_file(false, mode, std::move(options));
}
// aiofiles.tempfile.NamedTemporaryFile(mode="w+b").
inline temporary_file named_temporary_file(std::string_view mode = "w+b", temp_options options = {}) {
  return temporary_file(true, mode, std::move(options));
}

// The manager of a temporary directory; its resource is the directory's path.
class [[nodiscard(
    "enter it: co_await aw::async_with(aw::files::temporary_directory(), body) or aw::enter(...); nothing is created until "
    "then")]] temporary_directory_manager {
 public:
  explicit temporary_directory_manager(temp_options options) : options_(std::move(options)) {}
  task<const std::filesystem::path&> aenter();
  task<> aexit(std::exception_ptr e);

 private:
  temp_options options_;
  std::filesystem::path path_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<temporary_directory_manager> enter_check_;
};

// aiofiles.tempfile.TemporaryDirectory().
inline temporary_directory_manager temporary_directory(temp_options options = {}) {
  return temporary_directory_manager(std::move(options));
}

// The file of spooled_temporary_file: in memory, then (rolled()) a temporary file.
class spooled_file {
 public:
  spooled_file(std::size_t max_size, std::string mode, temp_options options);

  task<std::string> read(std::size_t n = std::string::npos);
  task<std::string> readline(std::size_t limit = std::string::npos);
  task<std::vector<std::string>> readlines();
  // Writes all of data at the position (at the end in "a" mode); gives data.size(). Rolls
  // over when the data grows past max_size.
  task<std::size_t> write(std::string_view data);
  task<std::int64_t> seek(std::int64_t offset, whence from = whence::set);
  std::int64_t tell() const;
  // Cuts or extends (with zeros) to `size`, default the position; rolls over past max_size
  // (Python 3.11's rule).
  task<std::int64_t> truncate(std::optional<std::int64_t> size = std::nullopt);
  task<> flush();
  // Moves the data to a temporary file now (nothing when rolled already).
  task<> rollover();
  // The descriptor of the temporary file, rolling over first (Python's fileno()).
  task<int> fileno();

  bool rolled() const noexcept { return file_ != nullptr; }
  std::size_t max_size() const noexcept { return max_size_; }
  const std::string& mode() const noexcept { return mode_; }
  // The temporary file once rolled(), else null.
  file* rolled_file() noexcept { return file_; }

 private:
  friend class spooled_temporary_file_manager;
  task<> close(std::exception_ptr e);

  std::size_t max_size_;
  std::string mode_;
  temp_options options_;
  bool append_ = false, readable_ = false, writable_ = false;
  std::string data_;  // in memory
  std::int64_t pos_ = 0;
  std::optional<temporary_file> temp_;
  file* file_ = nullptr;
};

// The manager of a spooled temporary file; its resource is the spooled_file. Leaving
// closes the temporary file when it rolled over (flushing it: a failure is raised).
class [[nodiscard(
    "enter it: co_await aw::async_with(aw::files::spooled_temporary_file(max_size), body) or "
    "aw::enter(...)")]] spooled_temporary_file_manager {
 public:
  spooled_temporary_file_manager(std::size_t max_size, std::string_view mode, temp_options options);
  spooled_temporary_file_manager(spooled_temporary_file_manager&&) = default;
  task<spooled_file&> aenter();
  task<> aexit(std::exception_ptr e);

 private:
  std::optional<spooled_file> file_;
  std::size_t max_size_;
  std::string mode_;
  temp_options options_;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<spooled_temporary_file_manager> enter_check_;
};

// tempfile.SpooledTemporaryFile(max_size=0, mode="w+b").
inline spooled_temporary_file_manager spooled_temporary_file(std::size_t max_size = 0, std::string_view mode = "w+b",
                                                             temp_options options = {}) {
  return spooled_temporary_file_manager(max_size, mode, std::move(options));
}

}  // namespace aw::files
