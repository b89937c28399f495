// aw::open_signal_receiver: receiving Unix signals as a stream (anyio.open_signal_receiver).
//
//   // with anyio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM) as signals:
//   //     async for signum in signals: ...
//   co_await aw::async_with(aw::open_signal_receiver(SIGHUP, SIGTERM), [&](aw::signal_receiver& signals) -> aw::task<> {
//     while (auto sig = co_await signals.next()) {
//       if (*sig == SIGHUP) reload_config();
//       else break;                                   // SIGTERM: leave gracefully
//     }
//   });
//
// - While a receiver is open, its signals are caught and handed to it instead of having
//   their previous effect; leaving the block restores the previous handlers (the last
//   receiver open for a signal restores what was there before the first).
// - SIGINT and SIGTERM: aw::run turns them into cancellation of the main task (run.hpp).
//   While a receiver for one of them is open, the receiver gets it instead and nothing is
//   cancelled (anyio's behaviour); once it closes, aw::run's handling is back.
// - Order and coalescing: every time a handler runs, each open receiver of that signal
//   gets one item, in the order the handlers ran. The kernel itself merges a standard
//   (non-realtime) signal sent again while it is still pending, so two quick kill()s may
//   arrive as one item, as with any handler. Signals a receiver lets pile up are kept, up
//   to 64 Ki of them (a pipe); beyond that they are dropped. Signals not yet received when
//   the receiver closes are dropped.
// - next() waits for the next signal: the signal number, never empty while the receiver is
//   open (the stream is endless, as anyio's), empty once it was closed. receive() gives the
//   number directly. Both are cancellation points.
// - SIGKILL, SIGSTOP and numbers outside 1..64 cannot be received: std::system_error(EINVAL)
//   when entering. Several receivers (in any tasks or threads' loops) may be open at once.
// How: a handler installed with sigaction writes the signal number to a pipe per receiver
// (write(2) is async-signal-safe); the receiver waits for that pipe on the loop.
#pragma once

#include <aw/context.hpp>
#include <aw/task.hpp>

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace aw {

class [[nodiscard(
    "enter it: co_await aw::async_with(aw::open_signal_receiver(...), body); no signal is caught until it is entered")]] signal_receiver {
 public:
  explicit signal_receiver(std::vector<int> signals) : signals_(std::move(signals)) {}
  signal_receiver(signal_receiver&& o) noexcept;  // only before it is entered
  signal_receiver& operator=(signal_receiver&&) = delete;
  signal_receiver(const signal_receiver&) = delete;
  ~signal_receiver() { close(); }

  const std::vector<int>& signals() const noexcept { return signals_; }
  bool is_open() const noexcept { return read_fd_ >= 0; }

  // Installs the handlers (what entering does). std::system_error when a signal cannot be
  // caught; std::logic_error when already open.
  void open();
  // Restores the handlers and drops what was not received (what leaving does). Idempotent.
  void close() noexcept;

  // async for signum in signals: the next signal number; empty once the receiver is closed.
  task<std::optional<int>> next();
  // The next signal number; std::logic_error when the receiver is closed.
  task<int> receive();

  detail::ready<signal_receiver&> aenter() {
    open();
    return {*this};
  }
  std::suspend_never aexit(std::exception_ptr) noexcept {
    close();
    return {};
  }

 private:
  std::vector<int> signals_;
  int read_fd_ = -1;
  int slot_ = -1;  // in the process-wide registry the handler reads
  unsigned char buf_[64];
  std::size_t head_ = 0, tail_ = 0;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<signal_receiver> enter_check_;
};

// anyio.open_signal_receiver(*signals): a manager that, when entered, catches the signals
// and gives the receiver. open_signal_receiver(SIGHUP, SIGTERM), or with a vector.
template <std::same_as<int>... More>
signal_receiver open_signal_receiver(int first, More... more) {
  return signal_receiver(std::vector<int>{first, more...});
}
inline signal_receiver open_signal_receiver(std::vector<int> signals) { return signal_receiver(std::move(signals)); }

}  // namespace aw
