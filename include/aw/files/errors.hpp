// The errors of aw::files: Python's OSError family, carrying errno and the path(s).
//
//   try {
//     co_await aw::async_with(aw::files::open("missing.txt"), [](aw::files::file& f) -> aw::task<> { ... });
//   } catch (const aw::files::file_not_found_error& e) {
//     std::printf("%s: %s\n", e.path().c_str(), e.strerror().c_str());   // errno is e.code().value()
//   }
//
// Every failed system call raises os_error, or the subclass that Python raises for its
// errno (FileNotFoundError for ENOENT, FileExistsError for EEXIST, PermissionError for
// EACCES/EPERM, IsADirectoryError, NotADirectoryError). A full disk is os_error with
// ENOSPC. Using a file after close raises closed_file_error (Python's ValueError).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace aw::files {

class os_error : public std::system_error {
 public:
  // `operation` names the call ("open", "read", "rename", ...); `path2` is the second path
  // of a two-path call (rename, link, copy), empty otherwise.
  os_error(int err, std::string operation, std::filesystem::path path, std::filesystem::path path2 = {});

  int error_number() const noexcept { return code().value(); }  // Python's e.errno
  std::string strerror() const { return code().message(); }
  const std::filesystem::path& path() const noexcept { return path_; }    // e.filename
  const std::filesystem::path& path2() const noexcept { return path2_; }  // e.filename2
  const std::string& operation() const noexcept { return operation_; }

 private:
  std::string operation_;
  std::filesystem::path path_, path2_;
};

class file_not_found_error : public os_error {
 public:
  using os_error::os_error;
};
class file_exists_error : public os_error {
 public:
  using os_error::os_error;
};
class permission_error : public os_error {
 public:
  using os_error::os_error;
};
class is_a_directory_error : public os_error {
 public:
  using os_error::os_error;
};
class not_a_directory_error : public os_error {
 public:
  using os_error::os_error;
};

// An operation on a file that was closed (or never opened).
class closed_file_error : public std::logic_error {
 public:
  closed_file_error() : std::logic_error("I/O operation on closed file") {}
};

// Throws the os_error subclass for errno `err`.
[[noreturn]] void raise_os_error(int err, std::string operation, const std::filesystem::path& path,
                                 const std::filesystem::path& path2 = {});

}  // namespace aw::files
