// The reader's wait: a task awaiting a transfer's headers, data or end (pumping a streamed
// request body meanwhile), and how it is cancelled.
#include "internal.hpp"

#include <aw/sleep.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

namespace aw::http::detail {

namespace {
bool reached(const transfer* t, wait_for what, std::size_t need) noexcept {
  switch (what) {
    case wait_for::headers:
      return t->headers_ready || t->done;
    case wait_for::data:
      return t->buffered() >= need || t->complete();
    case wait_for::done:
      return t->complete();
  }
  return true;
}
}  // namespace

bool transfer_wait::satisfied() const noexcept {
  return reached(t_, what_, need_) || (mode_ == mode::upload && t_->up.wanted && !t_->up.reading);
}

bool transfer_wait::pumping() const noexcept { return t_ && ((t_->up.active && !t_->done) || t_->retries_left > 0 || t_->mock_pending); }

aw::task<> transfer_wait::pump(transfer* t, wait_for what, std::size_t need) {
  if (t->mock_pending) {
    co_await run_mock(t);  // the whole response, or the handler's exception
    co_return;
  }
  // The retry phase: until the headers of an attempt whose outcome stands (or an error
  // before them), waiting between attempts in this task, where the caller's scopes reach.
  while (t->retries_left > 0) {
    std::exception_ptr err;
    try {
      co_await transfer_wait(t, wait_for::headers, 1, mode::upload);
    } catch (...) {
      err = std::current_exception();
    }
    // A cancellation, or a hook's exception (not the attempt's outcome): no more attempts.
    if (err && (aw::is_cancellation(err) || err != t->failure)) std::rethrow_exception(err);
    std::optional<clock::duration> wait = t->retry_wait();
    if (!wait) {
      t->retries_left = 0;
      break;  // this attempt stands: read on (or raise its error) below
    }
    t->drop_attempt();
    try {
      co_await aw::sleep(*wait);
    } catch (...) {
      t->fail(std::make_exception_ptr(error("aw::http: " + t->describe() + ": the request was cancelled", redact(t->request_url))));
      throw;
    }
    t->restart();
  }
  while (!reached(t, what, need)) {
    if (t->up.wanted && !t->up.reading)
      co_await t->read_upload();
    else
      co_await transfer_wait(t, what, need, mode::upload);
  }
}

bool transfer_wait::await_ready() {
  if (!t_) return true;
  if (what_ != wait_for::headers) {
    t_->need_hint = what_ == wait_for::data ? need_ : 0;
    if (what_ == wait_for::done) t_->stream = false;
    // Decoded as far as this reader needs: a streamed body up to the high-water mark (no
    // further: the rest waits coded, small), a whole one to its end, a step at a time, each
    // on a turn of the loop of its own (the decode timer's). Not here: a reader of a gzip
    // bomb would find data every time and never let the loop turn.
    t_->decode_target = what_ == wait_for::done ? static_cast<std::size_t>(-1) : std::max(need_, transfer::high_water);
    if (t_->dec.active) {
      t_->decode(0);  // only the checks of a body whose coded bytes are all in
    } else {
      t_->unpause();
    }
    // A whole read of what a stream had buffered already.
    if (what_ == wait_for::done && t_->max_body && t_->buffered() > t_->max_body && !t_->failure) t_->fail(t_->too_large());
  }
  if (satisfied()) return true;
  if (what_ != wait_for::headers && t_->decodable()) t_->schedule_decode();  // the next step, on the next turn
  return false;
}

bool transfer_wait::suspend(aw::detail::task_context* ctx, std::coroutine_handle<> h) {
  ctx_ = ctx;
  if (ctx_ && ctx_->cancelled()) {  // a cancellation point: raise without waiting
    cancelled_ = true;
    return false;
  }
  h_ = h;
  t_->waiter = this;
  interrupt = [](aw::detail::cancellable* c) noexcept {
    auto* self = static_cast<transfer_wait*>(c);
    self->cancelled_ = true;
    transfer* t = self->t_;
    t->waiter = nullptr;
    t->disarm_read_timer();
    t->abort(std::make_exception_ptr(error("aw::http: " + t->describe() + ": the request was cancelled", redact(t->request_url))));
    loop::current().schedule(self->h_);
  };
  if (ctx_) ctx_->waiting = this;
  t_->arm_read_timer();
  // Inside the transfer's span (transfer::start): libcurl's sockets, of this transfer or others.
  if (aw::detail::trace_on) [[unlikely]]
    aw::detail::trace_wait(ctx_, h, aw::detail::trace_kind::fd, "HTTP response");
  return true;
}

void transfer_wait::wake() noexcept {
  t_->waiter = nullptr;
  t_->disarm_read_timer();
  if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  loop::current().schedule(h_);
}

transfer_wait::~transfer_wait() {
  if (t_ && t_->waiter == this) {  // the waiting frame was destroyed
    t_->waiter = nullptr;
    t_->disarm_read_timer();
    if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  }
}

void transfer_wait::await_resume() {
  // Forget the transfer: the response the caller gets may be destroyed before this awaiter.
  transfer* t = std::exchange(t_, nullptr);
  if (!t) throw error("aw::http: the response was closed", "");
  std::exception_ptr e;
  if (pump_) {
    try {
      pump_awaiter_.await_resume();  // the pump's aw::cancelled or failure
    } catch (...) {
      e = std::current_exception();
    }
  }
  t->need_hint = 0;
  if (!e && cancelled_) e = std::make_exception_ptr(cancelled{});
  if (!e && t->failure) {
    bool short_of_it =
        what_ == wait_for::done || (what_ == wait_for::headers && !t->headers_ready) || (what_ == wait_for::data && t->buffered() < need_);
    if (short_of_it) e = t->failure;
  }
  // The attempt's end, in this task so that a hook's exception reaches the caller.
  if (t->start_reported && !t->end_reported && (e || t->headers_ready)) [[unlikely]]
    report_end(t, e);
  if (e) std::rethrow_exception(e);
}

}  // namespace aw::http::detail
