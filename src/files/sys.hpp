// The system calls of aw::files, each one awaitable on either backend: an io_uring
// operation where the loop has a ring and the kernel knows the operation, else the call
// on a worker thread (worker.hpp). Pipes and other streams on the epoll backend are
// non-blocking and wait with aw::wait_readable/wait_writable instead, so that waiting for
// a pipe stays cancellable. Each returns the kernel's result: a count or 0, or -errno.
// Every one is a cancellation point by trio's rule: it happened and gives its result, or
// it raises aw::cancelled and did not happen.
#pragma once

#include <aw/files/stat.hpp>
#include <aw/task.hpp>

#include <fcntl.h>
#include <sys/types.h>
#include <cstddef>
#include <cstdint>

struct statx;

namespace aw::files::detail {

bool have_ring();

task<int> openat(int dirfd, const char* path, int flags, mode_t mode);
int close(int fd) noexcept;  // inline; not a cancellation point
// off < 0: at the file position (streams).
task<long> read(int fd, void* buf, std::size_t n, std::int64_t off, bool nonblocking);
task<long> write(int fd, const void* buf, std::size_t n, std::int64_t off, bool nonblocking);
task<int> fsync(int fd, bool datasync);
task<int> ftruncate(int fd, std::int64_t size);
// fd >= 0 and an empty path: the open file; else the path (relative to AT_FDCWD).
task<int> stat(int fd, const char* path, bool follow_symlinks, stat_result& out);
task<int> renameat(const char* from, const char* to, unsigned flags);
task<int> unlinkat(const char* path, int flags);
task<int> mkdirat(const char* path, mode_t mode);
task<int> linkat(const char* from, const char* to);
task<int> symlinkat(const char* target, const char* link);

}  // namespace aw::files::detail
