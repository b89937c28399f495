// The errors of aw::files: Python's OSError family, carrying errno and the path(s).
//
//   try {
//     co_await aw::async_with(aw::files::open("missing.txt"), [](aw::files::file& f) -> aw::task<> { ... });
//   } catch (const aw::files::file_not_found_error& e) {
//     std::printf("%s: %s\n", e.path().c_str(), e.strerror().c_str());   // errno is e.code().value()
//   }
//
// aw::files::error is the root of every error the module raises, a std::system_error whose
// code() is the errno (so a handler can catch the whole module, or one errno):
// - Every failed system call raises os_error, or the subclass that Python raises for its
//   errno (FileNotFoundError for ENOENT, FileExistsError for EEXIST, PermissionError for
//   EACCES/EPERM, IsADirectoryError, NotADirectoryError). A full disk is os_error with
//   ENOSPC.
// - Using a file after close raises closed_file_error (Python's ValueError; EBADF).
// - Text mode is UTF-8, strict by default: bytes read that are not UTF-8 raise
//   unicode_decode_error, a string written that is not raises unicode_encode_error (Python's
//   UnicodeDecodeError and UnicodeEncodeError with errors="strict"; both derive from
//   unicode_error, EILSEQ, where Python's derive from ValueError). Their what() is Python's
//   message, word for word.
// Misuse (two operations at once on one file, a block entered twice) raises std::logic_error
// and bad arguments std::invalid_argument, as the standard library does (Python's TypeError
// and ValueError): those are bugs to fix, not conditions to handle.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace aw::files {

class error : public std::system_error {
 public:
  error(std::error_code code, const std::string& message) : std::system_error(code), what_(message) {}
  // The message alone: std::system_error would append code().message() to it.
  const char* what() const noexcept override { return what_.what(); }

 private:
  std::runtime_error what_;  // a string whose copies cannot throw, as exceptions need
};

class os_error : public error {
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
class closed_file_error : public error {
 public:
  closed_file_error() : error(std::make_error_code(std::errc::bad_file_descriptor), "I/O operation on closed file") {}
};

// Text that is not UTF-8. bytes() is the offending sequence (the "maximal subpart" of the
// Unicode standard: 1 to 3 bytes, what Python reports as object[start:end]), reason() Python's
// words: "invalid start byte", "invalid continuation byte", "unexpected end of data".
class unicode_error : public error {
 public:
  unicode_error(const std::string& message, std::int64_t position, std::string bytes, std::string reason, std::filesystem::path path)
      : error(std::make_error_code(std::errc::illegal_byte_sequence), message),
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
