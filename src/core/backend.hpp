// The loop's view of the kernel: what io_uring and epoll both provide. Internal to core.
#pragma once

#include <aw/loop.hpp>

#include <ctime>

namespace aw::detail {

class backend {
 public:
  virtual ~backend() = default;
  virtual const char* name() const noexcept = 0;
  virtual void start_fd_wait(fd_wait& w) = 0;
  virtual void cancel_fd_wait(fd_wait& w) noexcept = 0;
  // Delivers the completions that are ready; waits up to `timeout` (null: no limit) when
  // none is. Returns the number delivered.
  virtual std::size_t poll(const timespec* timeout) = 0;
  virtual ::io_uring* uring() noexcept { return nullptr; }
  virtual ::io_uring_sqe* get_sqe() noexcept { return nullptr; }
  // Watches the loop's wake-up eventfd for as long as the backend lives; readiness calls
  // woken(loop). Not an operation: it never keeps a deadlocked loop waiting.
  virtual void watch_wakeup(int fd) = 0;
  virtual void cancel_uring_op(io_op&) noexcept {}

 protected:
  static void woken(loop& l) { l.on_wakeup(); }
  // `more`: a multishot operation's completion that is not its last (IORING_CQE_F_MORE).
  static void completed(loop& l, io_op* op, int result, std::uint32_t flags = 0, bool more = false) {
    if (!more) l.note_completed();
    op->cqe_flags = flags;
    op->complete(op, result);
  }
};

std::unique_ptr<backend> make_uring_backend(loop& l);  // null when the kernel refuses io_uring
std::unique_ptr<backend> make_epoll_backend(loop& l);

}  // namespace aw::detail
