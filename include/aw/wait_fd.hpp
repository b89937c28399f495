// Waiting for a file descriptor: how libraries that own their sockets (libpq, libcurl)
// are driven by the loop, as asyncio's loop.add_reader/add_writer.
//
//   int fd = PQsocket(pgconn);
//   co_await aw::wait_readable(fd);   // then PQconsumeInput(pgconn)
//
// The wait is one-shot and returns the poll events seen (POLLIN, POLLOUT, POLLERR,
// POLLHUP); an error or a hang-up counts as ready so the next read or write reports it.
// An invalid fd raises std::system_error (EBADF). Several tasks may wait on one fd;
// readiness wakes them all. The wait is a cancellation point: in a cancelled scope it
// raises aw::cancelled, and cancelling its scope removes it from the kernel.
// CAUTION: the wait is registered with the kernel from the awaiting frame; never destroy
// that frame while it waits (structured code cannot: its owner awaits it).
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <poll.h>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <string>
#include <system_error>

namespace aw {
namespace detail {

class [[nodiscard("co_await it: without co_await nothing waits")]] fd_wait_awaiter : fd_wait, cancellable {
 public:
  fd_wait_awaiter(int fd, std::uint32_t events) noexcept {
    this->fd = fd;
    this->events = events;
  }
  fd_wait_awaiter(const fd_wait_awaiter&) = delete;
  fd_wait_awaiter& operator=(const fd_wait_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    ctx_ = context_of(h);
    if (ctx_ && ctx_->cancelled()) {  // a cancellation point: raise without waiting
      result_ = -ECANCELED;
      return false;
    }
    loop_ = &loop::current();
    waiter_ = h;
    complete = [](io_op* op, int result) {
      auto* self = static_cast<fd_wait_awaiter*>(op);
      if (self->ctx_ && self->ctx_->waiting == self) self->ctx_->waiting = nullptr;
      self->result_ = result;
      self->loop_->schedule(self->waiter_);
    };
    interrupt = [](cancellable* c) noexcept {
      auto* self = static_cast<fd_wait_awaiter*>(c);
      self->loop_->cancel_fd_wait(*self);  // completes with -ECANCELED, or with the events if they won the race
    };
    loop_->start_fd_wait(*this);
    if (ctx_) ctx_->waiting = this;
    if (trace_on) [[unlikely]]
      trace_wait(ctx_, h, detail::trace_kind::fd,
                 events & POLLOUT ? (events & POLLIN ? "fd readable or writable" : "fd writable") : "fd readable");
    return true;
  }
  std::uint32_t await_resume() const {
    if (result_ == -ECANCELED) throw cancelled{};
    if (result_ < 0)
      throw std::system_error(
          -result_, std::generic_category(),
          std::string(events & POLLOUT ? (events & POLLIN ? "aw::wait_readable_or_writable" : "aw::wait_writable") : "aw::wait_readable") +
              "(fd " + std::to_string(fd) + ")");
    return static_cast<std::uint32_t>(result_);
  }

 private:
  loop* loop_ = nullptr;
  task_context* ctx_ = nullptr;
  std::coroutine_handle<> waiter_;
  int result_ = 0;
};

}  // namespace detail

inline detail::fd_wait_awaiter wait_readable(int fd) noexcept { return {fd, POLLIN}; }
inline detail::fd_wait_awaiter wait_writable(int fd) noexcept { return {fd, POLLOUT}; }
// Whichever comes first: for a library that must send while its peer may be blocked sending
// to it (libpq flushing a pipeline while the server writes results nobody reads yet).
inline detail::fd_wait_awaiter wait_readable_or_writable(int fd) noexcept { return {fd, POLLIN | POLLOUT}; }

}  // namespace aw
