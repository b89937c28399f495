// One io_uring operation, awaited: how resource modules (aw::files) reach the kernel on the
// io_uring backend without a thread.
//
//   if (aw::loop::current().uring()) {
//     int n = co_await aw::uring_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buf, len, offset); });
//     if (n < 0) throw std::system_error(-n, std::generic_category(), "read");
//   }
//
// `prep` fills the submission entry (it must not throw, and must not set user_data); the
// result is io_uring's cqe->res: a count, or -errno. The loop submits the entry before it
// next waits, together with every other entry prepared in the same turn.
//
// Cancellation follows trio's rule for every wait: either the operation happened and its
// result is returned, or aw::cancelled is raised and it did not happen. A scope cancelled
// while the operation is in flight asks the kernel to cancel it (IORING_OP_ASYNC_CANCEL)
// and then waits for its completion: if the kernel cancelled it, aw::cancelled; if it had
// already completed (a read that found its data in the page cache), its result. The
// awaiting frame, and so every buffer the operation uses, stays alive until the kernel has
// reported the end: a cancelled operation never writes into memory its owner has left.
// CAUTION: as with aw::wait_readable, never destroy the awaiting frame while it waits
// (structured code cannot: its owner awaits it).
// On the epoll backend there is no ring: check loop::uring() first; awaiting a uring_op
// there raises std::logic_error.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <liburing.h>

#include <cerrno>
#include <concepts>
#include <coroutine>
#include <stdexcept>
#include <utility>

namespace aw {
namespace detail {

template <class Prep>
class [[nodiscard("co_await it: without co_await nothing is submitted")]] uring_op_awaiter : io_op, cancellable {
 public:
  explicit uring_op_awaiter(Prep prep) noexcept(std::is_nothrow_move_constructible_v<Prep>) : prep_(std::move(prep)) {}
  uring_op_awaiter(const uring_op_awaiter&) = delete;
  uring_op_awaiter& operator=(const uring_op_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    ctx_ = context_of(h);
    if (ctx_ && ctx_->cancelled()) {  // a cancellation point: raise without submitting
      cancel_requested_ = true;
      result_ = -ECANCELED;
      return false;
    }
    loop_ = &loop::current();
    io_uring_sqe* sqe = loop_->uring_sqe();
    if (!sqe) throw std::logic_error("aw::uring_op: the loop runs on the epoll backend (check aw::loop::uring() first)");
    prep_(sqe);
    io_uring_sqe_set_data(sqe, static_cast<io_op*>(this));
    loop_->note_submitted();
    waiter_ = h;
    complete = [](io_op* op, int result) {
      auto* self = static_cast<uring_op_awaiter*>(op);
      if (self->ctx_ && self->ctx_->waiting == self) self->ctx_->waiting = nullptr;
      self->result_ = result;
      self->loop_->schedule(self->waiter_);
    };
    interrupt = [](cancellable* c) noexcept {
      auto* self = static_cast<uring_op_awaiter*>(c);
      self->cancel_requested_ = true;
      self->loop_->cancel_uring_op(*self);  // the completion still arrives, with -ECANCELED or the result
    };
    if (ctx_) ctx_->waiting = this;
    if (trace_on) [[unlikely]]
      trace_wait(ctx_, h, detail::trace_kind::uring, nullptr);
    return true;
  }
  int await_resume() const {
    // -EINTR, or the kernel-internal -ERESTARTSYS (512) that io_uring passes through: an
    // operation running on io_uring's own worker (openat of a FIFO) interrupted by the cancel.
    constexpr int erestartsys = 512;
    if (cancel_requested_ && (result_ == -ECANCELED || result_ == -EINTR || result_ == -erestartsys)) throw cancelled{};
    return result_;
  }

 private:
  Prep prep_;
  loop* loop_ = nullptr;
  task_context* ctx_ = nullptr;
  std::coroutine_handle<> waiter_;
  int result_ = 0;
  bool cancel_requested_ = false;
};

}  // namespace detail

template <class Prep>
  requires std::invocable<Prep&, io_uring_sqe*>
detail::uring_op_awaiter<Prep> uring_op(Prep prep) {
  return detail::uring_op_awaiter<Prep>(std::move(prep));
}

}  // namespace aw
