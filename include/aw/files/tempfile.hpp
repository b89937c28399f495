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
#pragma once

#include <aw/files/file.hpp>
#include <aw/task.hpp>

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace aw::files
