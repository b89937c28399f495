// aw::files::os: aiofiles.os (stat, rename, remove, mkdir, scandir, ...) on io_uring
// operations where the kernel has them, on worker threads where it does not.
#include <aw/files/os.hpp>

#include "sys.hpp"
#include "worker.hpp"

#include <aw/from_thread.hpp>
#include <aw/wait_fd.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <string_view>
#include <utility>

namespace aw::files::os {

bool dir_entry::is_file() const noexcept { return type == DT_REG; }
bool dir_entry::is_dir() const noexcept { return type == DT_DIR; }
bool dir_entry::is_symlink() const noexcept { return type == DT_LNK; }

task<stat_result> stat(path p, bool follow_symlinks) {
  stat_result st;
  int r = co_await detail::stat(-1, p.c_str(), follow_symlinks, st);
  if (r < 0) raise_os_error(-r, "stat", p);
  co_return st;
}

task<stat_result> lstat(path p) { co_return co_await os::stat(std::move(p), false); }

namespace {

// The stat, or nothing where the path does not lead to a file.
task<int> try_stat(const path& p, stat_result& st) {
  int r = co_await detail::stat(-1, p.c_str(), true, st);
  if (r < 0 && r != -ENOENT && r != -ENOTDIR) raise_os_error(-r, "stat", p);
  co_return r;
}

}  // namespace

task<bool> exists(path p) {
  stat_result st;
  co_return co_await try_stat(p, st) == 0;
}
task<bool> is_file(path p) {
  stat_result st;
  co_return co_await try_stat(p, st) == 0 && st.is_file();
}
task<bool> is_dir(path p) {
  stat_result st;
  co_return co_await try_stat(p, st) == 0 && st.is_dir();
}
task<bool> is_symlink(path p) {
  stat_result st;
  int r = co_await detail::stat(-1, p.c_str(), false, st);
  if (r < 0 && r != -ENOENT && r != -ENOTDIR) raise_os_error(-r, "lstat", p);
  co_return r == 0 && st.is_symlink();
}

task<std::int64_t> getsize(path p) {
  stat_result st;
  int r = co_await detail::stat(-1, p.c_str(), true, st);
  if (r < 0) raise_os_error(-r, "getsize", p);
  co_return st.size;
}

task<bool> access(path p, int mode, bool follow_symlinks) {
  const char* s = p.c_str();
  int flags = follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
  co_return co_await detail::run_blocking([=] { return ::faccessat(AT_FDCWD, s, mode, flags) == 0; });
}

task<> chmod(path p, unsigned mode) {
  const char* s = p.c_str();
  int r = co_await detail::run_blocking([=] { return ::fchmodat(AT_FDCWD, s, static_cast<mode_t>(mode & 07777), 0) == 0 ? 0 : -errno; });
  if (r < 0) raise_os_error(-r, "chmod", p);
}

task<statvfs_result> statvfs(path p) {
  struct ::statvfs v{};
  const char* s = p.c_str();
  int r = co_await detail::run_blocking([=, &v] { return ::statvfs(s, &v) == 0 ? 0 : -errno; });
  if (r < 0) raise_os_error(-r, "statvfs", p);
  statvfs_result out;
  out.bsize = v.f_bsize;
  out.frsize = v.f_frsize;
  out.blocks = v.f_blocks;
  out.bfree = v.f_bfree;
  out.bavail = v.f_bavail;
  out.files = v.f_files;
  out.ffree = v.f_ffree;
  out.favail = v.f_favail;
  out.flag = v.f_flag;
  out.namemax = v.f_namemax;
  out.fsid = v.f_fsid;
  co_return out;
}

task<std::int64_t> sendfile(int out_fd, int in_fd, std::optional<std::int64_t> offset, std::size_t count) {
  off_t off = offset.value_or(0);
  const bool at = offset.has_value();
  for (;;) {
    long n = co_await detail::run_blocking([=, &off]() -> long {
      ssize_t k = ::sendfile(out_fd, in_fd, at ? &off : nullptr, count);
      return k < 0 ? -errno : k;
    });
    if (n >= 0) co_return n;
    if (n == -EINTR) continue;
    if (n != -EAGAIN) raise_os_error(static_cast<int>(-n), "sendfile", {});
    co_await aw::wait_writable(out_fd);
  }
}

task<> remove(path p) {
  int r = co_await detail::unlinkat(p.c_str(), 0);
  if (r < 0) raise_os_error(-r, "remove", p);
}
task<> unlink(path p) { co_await os::remove(std::move(p)); }

task<> rename(path from, path to) {
  int r = co_await detail::renameat(from.c_str(), to.c_str(), 0);
  if (r < 0) raise_os_error(-r, "rename", from, to);
}
task<> replace(path from, path to) { co_await os::rename(std::move(from), std::move(to)); }

task<> mkdir(path p, unsigned mode) {
  int r = co_await detail::mkdirat(p.c_str(), mode);
  if (r < 0) raise_os_error(-r, "mkdir", p);
}

task<> makedirs(path p, unsigned mode, bool exist_ok) {
  path partial;
  path full = p.lexically_normal();
  if (!full.has_filename() && full.has_parent_path()) full = full.parent_path();  // "a/b/" is "a/b"
  std::size_t count = static_cast<std::size_t>(std::distance(full.begin(), full.end()));
  std::size_t i = 0;
  for (const path& part : full) {
    partial /= part;
    ++i;
    if (part.empty() || part == "/" || part == "." || part == "..") continue;
    int r = co_await detail::mkdirat(partial.c_str(), mode);
    if (r == 0) continue;
    if (r == -EEXIST) {
      stat_result st;
      bool dir = co_await try_stat(partial, st) == 0 && st.is_dir();
      if (i < count ? dir : dir && exist_ok) continue;
    }
    raise_os_error(-r, "makedirs", partial);
  }
}

task<> rmdir(path p) {
  int r = co_await detail::unlinkat(p.c_str(), AT_REMOVEDIR);
  if (r < 0) raise_os_error(-r, "rmdir", p);
}

task<> link(path existing, path new_link) {
  int r = co_await detail::linkat(existing.c_str(), new_link.c_str());
  if (r < 0) raise_os_error(-r, "link", existing, new_link);
}

task<> symlink(path target, path link) {
  int r = co_await detail::symlinkat(target.c_str(), link.c_str());
  if (r < 0) raise_os_error(-r, "symlink", target, link);
}

task<path> readlink(path p) {
  std::string target;
  int r = co_await detail::run_blocking([&]() -> int {
    std::string buf(256, '\0');
    for (;;) {
      ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
      if (n < 0) return -errno;
      if (static_cast<std::size_t>(n) < buf.size()) {
        buf.resize(static_cast<std::size_t>(n));
        target = std::move(buf);
        return 0;
      }
      buf.resize(buf.size() * 2);
    }
  });
  if (r < 0) raise_os_error(-r, "readlink", p);
  co_return path(std::move(target));
}

task<stat_result> dir_entry::stat(bool follow_symlinks) const { co_return co_await os::stat(path, follow_symlinks); }

namespace {

constexpr std::size_t scandir_batch = 128;

// Appends up to `max` entries of d to out (on a worker); the type of an entry the file
// system gives as DT_UNKNOWN comes from lstat. Gives 0, 1 at the end, or -errno.
int read_entries(DIR* d, const path& dir, std::vector<dir_entry>& out, std::size_t max) {
  for (std::size_t limit = out.size() + max; out.size() < limit;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (!e) return errno ? -errno : 1;
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    dir_entry entry;
    entry.name = name;
    entry.path = dir / entry.name;
    entry.type = e->d_type;
    entry.ino = e->d_ino;
    if (entry.type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) entry.type = IFTODT(st.st_mode);
    }
    out.push_back(std::move(entry));
  }
  return 0;
}

}  // namespace

scandir_iterator::scandir_iterator(path p) : dir_(std::move(p)) {}

scandir_iterator::scandir_iterator(scandir_iterator&& o) noexcept
    : dir_(std::move(o.dir_)),
      d_(std::exchange(o.d_, nullptr)),
      done_(o.done_),
      batch_(std::move(o.batch_)),
      next_(o.next_),
      enter_check_(std::move(o.enter_check_)) {}

scandir_iterator::~scandir_iterator() { close(); }

void scandir_iterator::close() noexcept {
  // closedir is close(2) and a free: no wait, and not a cancellation point.
  if (d_) ::closedir(std::exchange(d_, nullptr));
  done_ = true;
  batch_.clear();
  next_ = 0;
}

task<> scandir_iterator::open() {
  DIR* d = nullptr;
  int r = co_await detail::run_blocking([&]() -> int {
    d = ::opendir(dir_.c_str());
    return d ? 0 : -errno;
  });
  if (r < 0) raise_os_error(-r, "scandir", dir_);
  d_ = d;
}

task<scandir_iterator&> scandir_iterator::aenter() {
  enter_check_.entered();
  co_await open();
  co_return *this;
}

task<> scandir_iterator::aexit(std::exception_ptr) {
  close();
  co_return;
}

task<std::optional<dir_entry>> scandir_iterator::next() {
  enter_check_.entered();
  if (next_ == batch_.size() && !done_) {
    if (!d_) co_await open();
    batch_.clear();
    next_ = 0;
    DIR* d = d_;
    int r = co_await detail::run_blocking([&] { return read_entries(d, dir_, batch_, scandir_batch); });
    if (r < 0) raise_os_error(-r, "scandir", dir_);
    if (r == 1) done_ = true;
  }
  if (next_ == batch_.size()) co_return std::nullopt;
  co_return std::optional<dir_entry>(std::move(batch_[next_++]));
}

task<std::vector<dir_entry>> scandir_iterator::all(path p) {
  scandir_iterator it(std::move(p));
  co_await it.open();
  std::vector<dir_entry> entries;
  int r = co_await detail::run_blocking([&] { return read_entries(it.d_, it.dir_, entries, SIZE_MAX); });
  if (r < 0) raise_os_error(-r, "scandir", it.dir_);
  it.enter_check_.entered();
  co_return entries;
}

task<std::vector<std::string>> listdir(path p) {
  std::vector<std::string> names;
  for (dir_entry& e : co_await scandir(std::move(p))) names.push_back(std::move(e.name));
  co_return names;
}

namespace {

// Closes a descriptor when the copy leaves, on every path.
struct fd_closer {
  int fd = -1;
  explicit fd_closer(int f) : fd(f) {}
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
  ~fd_closer() {
    if (fd >= 0) detail::close(fd);
  }
};

// A cancellation is seen between two steps: at 2 to 6 GB/s, within a few milliseconds.
constexpr std::size_t copy_step = std::size_t{16} << 20;

// The in-kernel part of a copy, as cp does it: the source advised as read in order, then
// copy_file_range(2) in steps. All the steps run in one job on a worker: a return to the
// loop between steps would wake two threads each time, and on a busy machine each wake-up
// waits for a core. Between steps the worker checks whether the caller was cancelled and
// stops there (aw::cancelled, rethrown in the caller). Gives the bytes copied, or -errno;
// `copied` counts the bytes copied before a failure.
long copy_in_kernel(int in, int out, std::int64_t& copied) {
  ::posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (;;) {
    aw::from_thread::check_cancelled();
    ssize_t k = ::copy_file_range(in, nullptr, out, nullptr, copy_step, 0);
    if (k < 0) return -errno;
    if (k == 0) return copied;
    copied += k;
  }
}

}  // namespace

task<std::int64_t> copy(path from, path to) {
  int in = co_await detail::openat(AT_FDCWD, from.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (in < 0) raise_os_error(-in, "copy", from, to);
  fd_closer in_guard(in);
  stat_result st;
  int r = co_await detail::stat(in, "", true, st);
  if (r < 0) raise_os_error(-r, "copy", from, to);
  if (st.is_dir()) raise_os_error(EISDIR, "copy", from, to);
  int out = co_await detail::openat(AT_FDCWD, to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.mode & 07777);
  if (out < 0) raise_os_error(-out, "copy", from, to);
  fd_closer out_guard(out);
  std::int64_t total = 0;
  long n = co_await detail::run_blocking([in, out, &total] { return copy_in_kernel(in, out, total); });
  if (n < 0 && n != -EXDEV && n != -ENOSYS && n != -EINVAL && n != -EOPNOTSUPP) raise_os_error(static_cast<int>(-n), "copy", from, to);
  if (n < 0) {
    // Not between these file systems (or not these files): through a buffer, from where
    // the kernel stopped; each read and write is a cancellation point.
    auto buffer = std::make_unique_for_overwrite<char[]>(1 << 20);
    for (;;) {
      n = co_await detail::read(in, buffer.get(), 1 << 20, total, false);
      if (n < 0) raise_os_error(static_cast<int>(-n), "copy", from, to);
      if (n == 0) break;
      for (long done = 0; done < n;) {
        long w = co_await detail::write(out, buffer.get() + done, static_cast<std::size_t>(n - done), total + done, false);
        if (w <= 0) raise_os_error(w < 0 ? static_cast<int>(-w) : EIO, "copy", from, to);
        done += w;
      }
      total += n;
    }
  }
  // Permission bits: the umask narrowed them at creation (shutil.copy sets them exactly).
  if (::fchmod(out, st.mode & 07777) != 0) raise_os_error(errno, "copy (chmod)", to);
  int c = detail::close(std::exchange(out_guard.fd, -1));
  if (c < 0) raise_os_error(-c, "copy (close)", to);
  co_return total;
}

}  // namespace aw::files::os
