// aw::files::os: aiofiles.os, the os functions as awaitables.
//
//   co_await aw::files::os::makedirs("out/logs", 0755, /*exist_ok=*/true);
//   std::int64_t n = co_await aw::files::os::copy("big.bin", "out/big.bin");
//   for (const auto& e : co_await aw::files::os::scandir("out")) std::puts(e.name.c_str());
//
// On the io_uring backend stat, rename, remove, mkdir, link and symlink are io_uring
// operations; listdir, scandir and readlink (which io_uring has no operation for), and the
// in-kernel copy (copy_file_range(2)) run on worker threads. Failures raise the
// aw::files::os_error family with errno and the path(s). Each call is a cancellation
// point before it starts; a copy is one also between its 16 MiB steps (a cancelled copy
// leaves the destination holding a prefix of the source).
#pragma once

#include <aw/files/errors.hpp>
#include <aw/files/stat.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace aw::files::os {

using std::filesystem::path;

task<stat_result> stat(path p, bool follow_symlinks = true);
task<stat_result> lstat(path p);
// os.path.exists / isfile / isdir: false where stat fails with ENOENT or ENOTDIR.
task<bool> exists(path p);
task<bool> is_file(path p);
task<bool> is_dir(path p);

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

struct dir_entry {
  std::string name;            // as os.DirEntry.name
  std::filesystem::path path;  // the directory joined with the name
  unsigned char type = 0;      // DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN where the file system does not say)
  bool is_file() const noexcept;
  bool is_dir() const noexcept;
  bool is_symlink() const noexcept;
};
// The entries of a directory, without "." and "..", in the order the file system gives.
task<std::vector<dir_entry>> scandir(path p = ".");
task<std::vector<std::string>> listdir(path p = ".");

// Copies the contents and the permission bits of `from` to `to` (shutil.copy), in the
// kernel (copy_file_range, as cp), or through a buffer where the kernel cannot copy between
// the two (another file system: EXDEV); gives the number of bytes copied.
task<std::int64_t> copy(path from, path to);

}  // namespace aw::files::os
