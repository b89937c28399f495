// aw::files::os: aiofiles.os, the os functions as awaitables.
//
//   co_await aw::files::os::makedirs("out/logs", 0755, /*exist_ok=*/true);
//   std::int64_t n = co_await aw::files::os::copy("big.bin", "out/big.bin");
//   for (const auto& e : co_await aw::files::os::scandir("out")) std::puts(e.name.c_str());
//   // async for entry in os.scandir(p): one batch of entries at a time
//   co_await aw::async_with(aw::files::os::scandir("out"), [](aw::files::os::scandir_iterator& it) -> aw::task<> {
//     while (auto e = co_await it.next()) if (e->is_file()) total += (co_await e->stat()).size;
//   });
//
// On the io_uring backend stat, rename, remove, mkdir, link and symlink are io_uring
// operations; listdir, scandir, readlink, access, chmod, statvfs and sendfile (which io_uring
// has no operation for), and the in-kernel copy (copy_file_range(2)) run on worker threads. Failures raise the
// aw::files::os_error family with errno and the path(s). Each call is a cancellation
// point before it starts; a copy is one also between its 16 MiB steps (a cancelled copy
// leaves the destination holding a prefix of the source).
#pragma once

#include <aw/files/errors.hpp>
#include <aw/files/stat.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

namespace aw::files::os {

using std::filesystem::path;

task<stat_result> stat(path p, bool follow_symlinks = true);
task<stat_result> lstat(path p);
// os.path.exists / isfile / isdir: false where stat fails with ENOENT or ENOTDIR.
task<bool> exists(path p);
task<bool> is_file(path p);
task<bool> is_dir(path p);
// os.path.islink: false where lstat fails with ENOENT or ENOTDIR.
task<bool> is_symlink(path p);
// os.path.getsize: the size in bytes (of the file a symlink leads to).
task<std::int64_t> getsize(path p);
// os.access: whether this process may use p as `mode` says (F_OK, or R_OK | W_OK | X_OK
// from <unistd.h>), by its real ids. As Python's, false on any failure, a missing path
// included: it never raises an os_error.
task<bool> access(path p, int mode, bool follow_symlinks = true);
// os.chmod: sets the permission bits (07777) of p, or of the file a symlink leads to.
task<> chmod(path p, unsigned mode);

// os.statvfs_result: the file system holding a path (statvfs(3)).
struct statvfs_result {
  std::uint64_t bsize = 0;    // f_bsize: the preferred block size
  std::uint64_t frsize = 0;   // f_frsize: the unit of blocks, bfree and bavail
  std::uint64_t blocks = 0;   // f_blocks: size of the file system, in frsize units
  std::uint64_t bfree = 0;    // f_bfree: free blocks
  std::uint64_t bavail = 0;   // f_bavail: free blocks for unprivileged users
  std::uint64_t files = 0;    // f_files: inodes
  std::uint64_t ffree = 0;    // f_ffree: free inodes
  std::uint64_t favail = 0;   // f_favail: free inodes for unprivileged users
  std::uint64_t flag = 0;     // f_flag: ST_RDONLY, ST_NOSUID, ...
  std::uint64_t namemax = 0;  // f_namemax: the longest file name
  std::uint64_t fsid = 0;     // f_fsid
};
task<statvfs_result> statvfs(path p);

// os.sendfile(out_fd, in_fd, offset, count): up to `count` bytes of in_fd (a file), from
// `offset` (its file position, which it then advances, when empty), to out_fd (a file, a
// pipe or a socket), in the kernel; gives the bytes sent, 0 at the end of in_fd. A short
// count is not an error, as in Python. Where out_fd is non-blocking and full (a socket of
// aw::net, a pipe), it waits until out_fd is writable (Python raises BlockingIOError):
// that wait is a cancellation point, as the call is before it starts. Failures raise
// os_error with the errno and an empty path.
task<std::int64_t> sendfile(int out_fd, int in_fd, std::optional<std::int64_t> offset, std::size_t count);

task<> remove(path p);  // os.remove / os.unlink: a file, not a directory
task<> unlink(path p);
task<> rename(path from, path to);  // replaces `to` where it exists, as os.rename on POSIX
task<> replace(path from, path to);
task<> mkdir(path p, unsigned mode = 0777);
task<> makedirs(path p, unsigned mode = 0777, bool exist_ok = false);
task<> rmdir(path p);
task<> link(path existing, path new_link);
task<> symlink(path target, path link);
task<path> readlink(path p);

// os.DirEntry. is_file(), is_dir() and is_symlink() say what the entry itself is, from the
// directory (no system call; where the file system does not say, the scan asks lstat):
// unlike Python's, is_file() and is_dir() do not follow a symlink, which is is_symlink()
// only. stat() follows it by default, as Python's; each call is a stat (Python caches it).
struct dir_entry {
  std::string name;            // as os.DirEntry.name
  std::filesystem::path path;  // the directory joined with the name
  unsigned char type = 0;      // DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN only where lstat failed)
  std::uint64_t ino = 0;       // os.DirEntry.inode()
  bool is_file() const noexcept;
  bool is_dir() const noexcept;
  bool is_symlink() const noexcept;
  task<stat_result> stat(bool follow_symlinks = true) const;
};

// os.scandir as an async iterator and an async context manager (`with os.scandir(p) as it`):
// entering opens the directory (file_not_found_error, not_a_directory_error, ...), next()
// gives the entries one by one, without "." and "..", in the order the file system gives,
// then std::nullopt; leaving (or close(), or the destructor) closes it. next() reads 128
// entries at a time on a worker: that read is a cancellation point (a cancelled next()
// loses no entry), an entry already read is given at once. next() opens the directory
// when it was not entered. Awaiting scandir(p) itself gives every entry in a vector.
// One task at a time per iterator.
class [[nodiscard(
    "enter it (co_await aw::async_with(aw::files::os::scandir(p), body)) or co_await it for a vector: nothing is read until "
    "then")]] scandir_iterator {
 public:
  explicit scandir_iterator(path p);
  scandir_iterator(scandir_iterator&& o) noexcept;
  scandir_iterator& operator=(scandir_iterator&&) = delete;
  ~scandir_iterator();

  task<scandir_iterator&> aenter();
  task<> aexit(std::exception_ptr);
  task<std::optional<dir_entry>> next();
  void close() noexcept;
  const path& dir() const noexcept { return dir_; }

  // co_await scandir(p): every entry.
  class all_awaiter;
  all_awaiter operator co_await() &&;

 private:
  task<> open();
  static task<std::vector<dir_entry>> all(path p);

  path dir_;
  DIR* d_ = nullptr;
  bool done_ = false;
  std::vector<dir_entry> batch_;
  std::size_t next_ = 0;
  aw::detail::enter_check<scandir_iterator> enter_check_;
};

class [[nodiscard("co_await it")]] scandir_iterator::all_awaiter {
 public:
  explicit all_awaiter(task<std::vector<dir_entry>> t) : t_(std::move(t)), a_(std::move(t_).operator co_await()) {}
  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    return a_.await_suspend(h);
  }
  std::vector<dir_entry> await_resume() { return a_.await_resume(); }

 private:
  task<std::vector<dir_entry>> t_;  // owns the frame a_ runs
  task<std::vector<dir_entry>>::awaiter a_;
};

inline scandir_iterator::all_awaiter scandir_iterator::operator co_await() && {
  enter_check_.entered();
  return all_awaiter(all(dir_));
}

inline scandir_iterator scandir(path p = ".") { return scandir_iterator(std::move(p)); }
task<std::vector<std::string>> listdir(path p = ".");

// Copies the contents and the permission bits of `from` to `to` (shutil.copy), in the
// kernel (copy_file_range, as cp), or through a buffer where the kernel cannot copy between
// the two (another file system: EXDEV); gives the number of bytes copied.
task<std::int64_t> copy(path from, path to);

}  // namespace aw::files::os
