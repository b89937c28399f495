// io_uring backend: fd waits are IORING_OP_POLL_ADD; modules submit their own operations
// through loop::uring(). Every SQE's user_data is an io_op* (0 marks the loop's own
// cancel requests, whose completions carry nothing to deliver). A multishot operation stays
// pending until its completion without IORING_CQE_F_MORE.
#include "backend.hpp"

#include <liburing.h>

#include <poll.h>
#include <cerrno>
#include <system_error>

namespace aw::detail {
namespace {

class uring_backend final : public backend {
 public:
  explicit uring_backend(loop& l) : loop_(l) {}
  ~uring_backend() override {
    if (ok_) io_uring_queue_exit(&ring_);
  }

  bool init() {
    io_uring_params p{};
    p.flags = IORING_SETUP_SUBMIT_ALL;
    int r = io_uring_queue_init_params(256, &ring_, &p);
    if (r == -EINVAL) {
      p = {};
      r = io_uring_queue_init_params(256, &ring_, &p);
    }
    ok_ = r == 0;
    return ok_;
  }

  const char* name() const noexcept override { return "io_uring"; }
  ::io_uring* uring() noexcept override { return &ring_; }

  void watch_wakeup(int fd) override {
    wake_fd_ = fd;
    arm_wakeup();
  }

  void start_fd_wait(fd_wait& w) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, w.fd, w.events);
    io_uring_sqe_set_data(sqe, static_cast<io_op*>(&w));
  }

  void cancel_fd_wait(fd_wait& w) noexcept override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_remove(sqe, reinterpret_cast<__u64>(static_cast<io_op*>(&w)));
    io_uring_sqe_set_data64(sqe, 0);
  }

  void cancel_uring_op(io_op& op) noexcept override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(&op), 0);
    io_uring_sqe_set_data64(sqe, 0);
  }

  std::size_t poll(const timespec* timeout) override {
    io_uring_cqe* cqe = nullptr;
    if (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0) {
      if (io_uring_sq_ready(&ring_)) submit();
    } else {
      __kernel_timespec ts{};
      if (timeout) ts = {timeout->tv_sec, timeout->tv_nsec};
      int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout ? &ts : nullptr, nullptr);
      if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw std::system_error(-r, std::generic_category(), "io_uring_submit_and_wait_timeout");
    }
    return reap();
  }

  io_uring_sqe* get_sqe() noexcept override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {  // the submission queue is full: hand it to the kernel and retry
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

 private:
  // user_data 1 marks the wake-up poll (no io_op lives at address 1).
  static constexpr __u64 wakeup_tag = 1;
  void arm_wakeup() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, wake_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, wakeup_tag);
  }

  void submit() {
    int r = io_uring_submit(&ring_);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) throw std::system_error(-r, std::generic_category(), "io_uring_submit");
  }

  std::size_t reap() {
    std::size_t delivered = 0;
    for (;;) {
      // Copy a batch out and advance the ring before delivering, so a completion handler
      // that submits more work never sees a half-consumed queue.
      io_uring_cqe* cqes[64];
      unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64);
      if (n == 0) return delivered;
      struct entry {
        __u64 data;
        int res;
        unsigned flags;
      } batch[64];
      for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
      io_uring_cq_advance(&ring_, n);
      for (unsigned i = 0; i < n; ++i) {
        if (batch[i].data == 0) continue;  // a cancel request's own completion
        if (batch[i].data == wakeup_tag) {
          if (!(batch[i].flags & IORING_CQE_F_MORE)) arm_wakeup();  // the multishot poll ended: renew it
          woken(loop_);
          continue;
        }
        completed(loop_, reinterpret_cast<io_op*>(batch[i].data), batch[i].res, batch[i].flags, (batch[i].flags & IORING_CQE_F_MORE) != 0);
        ++delivered;
      }
    }
  }

  loop& loop_;
  io_uring ring_{};
  int wake_fd_ = -1;
  bool ok_ = false;
};

}  // namespace

std::unique_ptr<backend> make_uring_backend(loop& l) {
  auto b = std::make_unique<uring_backend>(l);
  if (!b->init()) return nullptr;
  return b;
}

}  // namespace aw::detail
