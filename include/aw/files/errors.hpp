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
//
// Text mode is UTF-8, strict by default: bytes read that are not UTF-8 raise
// unicode_decode_error, a string written that is not raises unicode_encode_error (Python's
// UnicodeDecodeError and UnicodeEncodeError with errors="strict"; both derive from
// unicode_error, a std::runtime_error, where Python's derive from ValueError).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

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

// Text that is not UTF-8. bytes() is the offending sequence (the "maximal subpart" of the
// Unicode standard: 1 to 3 bytes, what Python reports as object[start:end]), reason() Python's
// words: "invalid start byte", "invalid continuation byte", "unexpected end of data".
class unicode_error : public std::runtime_error {
 public:
  unicode_error(std::string message, std::int64_t position, std::string bytes, std::string reason, std::filesystem::path path)
      : std::runtime_error(std::move(message)),
        position_(position),
        bytes_(std::move(bytes)),
        reason_(std::move(reason)),
        path_(std::move(path)) {}
  // decode: the file offset of the first bad byte (on a pipe, the bytes read before it);
  // encode: its index in the string given to write().
  std::int64_t position() const noexcept { return position_; }
  const std::string& bytes() const noexcept { return bytes_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::int64_t position_;
  std::string bytes_, reason_;
  std::filesystem::path path_;
};
// A text-mode read met bytes that are not UTF-8 (errors="strict"). The read consumed nothing.
class unicode_decode_error : public unicode_error {
 public:
  using unicode_error::unicode_error;
};
// A text-mode write was given a string that is not UTF-8 (errors="strict"). Nothing was written.
class unicode_encode_error : public unicode_error {
 public:
  using unicode_error::unicode_error;
};

// Throws the os_error subclass for errno `err`.
[[noreturn]] void raise_os_error(int err, std::string operation, const std::filesystem::path& path,
                                 const std::filesystem::path& path2 = {});

}  // namespace aw::files
