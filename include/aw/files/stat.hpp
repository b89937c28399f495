// aw::files::stat_result: what file.stat() and aw::files::os::stat() give (os.stat_result).
//
//   auto st = co_await f.stat();
//   if (st.is_file()) std::printf("%lld bytes\n", static_cast<long long>(st.size));
//
// Filled from statx(2) (an io_uring operation on the io_uring backend).
#pragma once

#include <chrono>
#include <cstdint>

#include <sys/stat.h>

namespace aw::files {

struct stat_result {
  std::uint32_t mode = 0;  // st_mode: type and permission bits
  std::uint64_t ino = 0;
  std::uint64_t dev = 0;
  std::uint64_t nlink = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t size = 0;
  std::uint64_t blocks = 0;  // 512-byte blocks allocated (smaller than size for a sparse file)
  std::chrono::system_clock::time_point atime, mtime, ctime;

  bool is_file() const noexcept { return S_ISREG(mode); }
  bool is_dir() const noexcept { return S_ISDIR(mode); }
  bool is_symlink() const noexcept { return S_ISLNK(mode); }
  bool is_fifo() const noexcept { return S_ISFIFO(mode); }
};

}  // namespace aw::files
