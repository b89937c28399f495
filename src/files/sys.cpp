// The system calls under aw::files: each an io_uring operation when the running kernel
// supports it (probed once), else the blocking call on a worker thread.
#include "sys.hpp"

#include "worker.hpp"

#include <aw/loop.hpp>
#include <aw/uring_op.hpp>
#include <aw/wait_fd.hpp>

#include <liburing.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cerrno>
#include <climits>

namespace aw::files::detail {
namespace {

// What the running kernel's io_uring supports, asked once: the kernel does not change.
struct probe {
  bool ops[IORING_OP_LAST] = {};
  explicit probe(io_uring* ring) {
    if (io_uring_probe* p = io_uring_get_probe_ring(ring)) {
      for (int op = 0; op < IORING_OP_LAST; ++op) ops[op] = io_uring_opcode_supported(p, op);
      io_uring_free_probe(p);
    }
  }
};

// The ring when the loop has one and the kernel supports `op`, else null.
io_uring* ring_for(int op) {
  io_uring* ring = loop::current().uring();
  if (!ring) return nullptr;
  static const probe supported(ring);
  return supported.ops[op] ? ring : nullptr;
}

int result(long r) { return r < 0 ? -errno : static_cast<int>(r); }

// One read or write moves at most this much: the kernel's own limit (MAX_RW_COUNT) is a
// little under 2 GiB, and cqe->res is an int.
constexpr std::size_t max_io = std::size_t{1} << 30;

std::chrono::system_clock::time_point to_time(const struct statx_timestamp& t) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec)));
}

void fill(const struct statx& x, stat_result& out) {
  out.mode = x.stx_mode;
  out.ino = x.stx_ino;
  out.dev = makedev(x.stx_dev_major, x.stx_dev_minor);
  out.nlink = x.stx_nlink;
  out.uid = x.stx_uid;
  out.gid = x.stx_gid;
  out.size = static_cast<std::int64_t>(x.stx_size);
  out.blocks = x.stx_blocks;
  out.atime = to_time(x.stx_atime);
  out.mtime = to_time(x.stx_mtime);
  out.ctime = to_time(x.stx_ctime);
}

}  // namespace

bool have_ring() { return loop::current().uring() != nullptr; }

task<int> openat(int dirfd, const char* path, int flags, mode_t mode) {
  if (ring_for(IORING_OP_OPENAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_openat(sqe, dirfd, path, flags, mode); });
  co_return co_await run_blocking([=] { return result(::openat(dirfd, path, flags, mode)); });
}

int close(int fd) noexcept {
  // Inline, not an io_uring operation: closing a descriptor of a local file does not block,
  // and a close must not be a cancellation point (raising aw::cancelled would leak it).
  return ::close(fd) == 0 ? 0 : -errno;
}

task<long> read(int fd, void* buf, std::size_t n, std::int64_t off, bool nonblocking) {
  if (n > max_io) n = max_io;
  if (ring_for(IORING_OP_READ))
    co_return co_await aw::uring_op(
        [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(n), off < 0 ? ~0ULL : static_cast<__u64>(off)); });
  if (nonblocking) {
    for (;;) {
      ssize_t r = off < 0 ? ::read(fd, buf, n) : ::pread(fd, buf, n, off);
      if (r >= 0) co_return r;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) co_return -errno;
      co_await wait_readable(fd);
    }
  }
  co_return co_await run_blocking([=]() -> long {
    ssize_t r = off < 0 ? ::read(fd, buf, n) : ::pread(fd, buf, n, off);
    return r < 0 ? -errno : r;
  });
}

task<long> write(int fd, const void* buf, std::size_t n, std::int64_t off, bool nonblocking) {
  if (n > max_io) n = max_io;
  if (ring_for(IORING_OP_WRITE))
    co_return co_await aw::uring_op(
        [&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(n), off < 0 ? ~0ULL : static_cast<__u64>(off)); });
  if (nonblocking) {
    for (;;) {
      ssize_t r = off < 0 ? ::write(fd, buf, n) : ::pwrite(fd, buf, n, off);
      if (r >= 0) co_return r;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) co_return -errno;
      co_await wait_writable(fd);
    }
  }
  co_return co_await run_blocking([=]() -> long {
    ssize_t r = off < 0 ? ::write(fd, buf, n) : ::pwrite(fd, buf, n, off);
    return r < 0 ? -errno : r;
  });
}

task<int> fsync(int fd, bool datasync) {
  if (ring_for(IORING_OP_FSYNC))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0); });
  co_return co_await run_blocking([=] { return result(datasync ? ::fdatasync(fd) : ::fsync(fd)); });
}

task<int> ftruncate(int fd, std::int64_t size) {
  // IORING_OP_FTRUNCATE (kernel 6.9) has no prep function in liburing 2.3: a worker.
  co_return co_await run_blocking([=] { return result(::ftruncate(fd, static_cast<off_t>(size))); });
}

task<int> stat(int fd, const char* path, bool follow_symlinks, stat_result& out) {
  struct statx x{};
  int flags = (follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW) | (fd >= 0 && !*path ? AT_EMPTY_PATH : 0);
  int dirfd = fd >= 0 ? fd : AT_FDCWD;
  int r;
  if (ring_for(IORING_OP_STATX))
    r = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_statx(sqe, dirfd, path, flags, STATX_BASIC_STATS, &x); });
  else
    r = co_await run_blocking([=, &x] { return result(::statx(dirfd, path, flags, STATX_BASIC_STATS, &x)); });
  if (r == 0) fill(x, out);
  co_return r;
}

task<int> renameat(const char* from, const char* to, unsigned flags) {
  if (ring_for(IORING_OP_RENAMEAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_renameat(sqe, AT_FDCWD, from, AT_FDCWD, to, flags); });
  co_return co_await run_blocking([=] { return result(::renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)); });
}

task<int> unlinkat(const char* path, int flags) {
  if (ring_for(IORING_OP_UNLINKAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_unlinkat(sqe, AT_FDCWD, path, flags); });
  co_return co_await run_blocking([=] { return result(::unlinkat(AT_FDCWD, path, flags)); });
}

task<int> mkdirat(const char* path, mode_t mode) {
  if (ring_for(IORING_OP_MKDIRAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_mkdirat(sqe, AT_FDCWD, path, mode); });
  co_return co_await run_blocking([=] { return result(::mkdirat(AT_FDCWD, path, mode)); });
}

task<int> linkat(const char* from, const char* to) {
  if (ring_for(IORING_OP_LINKAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_linkat(sqe, AT_FDCWD, from, AT_FDCWD, to, 0); });
  co_return co_await run_blocking([=] { return result(::linkat(AT_FDCWD, from, AT_FDCWD, to, 0)); });
}

task<int> symlinkat(const char* target, const char* link) {
  if (ring_for(IORING_OP_SYMLINKAT))
    co_return co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_symlinkat(sqe, target, AT_FDCWD, link); });
  co_return co_await run_blocking([=] { return result(::symlinkat(target, AT_FDCWD, link)); });
}

}  // namespace aw::files::detail
