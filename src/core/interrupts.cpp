// SIGINT and SIGTERM under aw::run: cancellation of the main task instead of sudden death,
// so that every exit runs; then the process ends as the signal would have ended it.
#include <aw/detail/cancellation.hpp>
#include <aw/detail/interrupts.hpp>

#include <atomic>
#include <csignal>

namespace aw::detail {
namespace {

std::atomic<loop*> signal_loop{nullptr};  // the loop that owns the handlers
volatile std::sig_atomic_t caught_signal = 0;

extern "C" void on_interrupt(int sig) {
  if (!caught_signal) caught_signal = sig;
  if (loop* l = signal_loop.load()) l->wake();  // write(2) to an eventfd: async-signal-safe
}

constexpr int handled[] = {SIGINT, SIGTERM};

}  // namespace

interrupt_guard::interrupt_guard(loop& l, scope_state& root) : loop_(l), root_(root) {
  loop* expected = nullptr;
  if (!signal_loop.compare_exchange_strong(expected, &l)) return;  // another thread's loop has them
  owner_ = true;
  caught_signal = 0;
  for (int i = 0; i < 2; ++i) {
    struct sigaction old{};
    if (sigaction(handled[i], nullptr, &old) != 0) continue;
    // Only where nobody chose a disposition: a program's own handler wins, as with asyncio.run.
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa{};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(handled[i], &sa, nullptr) == 0) installed_[i] = true;
  }
  l.set_wakeup_hook(
      [](void* self) {
        auto* g = static_cast<interrupt_guard*>(self);
        if (caught_signal) g->root_.cancel();
      },
      this);
}

void interrupt_guard::restore() noexcept {
  for (int i = 0; i < 2; ++i)
    if (installed_[i]) {
      struct sigaction sa{};
      sa.sa_handler = SIG_DFL;
      sigemptyset(&sa.sa_mask);
      sigaction(handled[i], &sa, nullptr);
      installed_[i] = false;
    }
}

interrupt_guard::~interrupt_guard() {
  if (!owner_) return;
  restore();
  loop_.set_wakeup_hook(nullptr, nullptr);
  signal_loop.store(nullptr);
}

void interrupt_guard::reraise_if_caught() {
  if (!owner_ || !caught_signal) return;
  int sig = caught_signal;
  restore();
  signal_loop.store(nullptr);
  owner_ = false;
  std::raise(sig);  // the default action: the process ends with the signal's status
}

}  // namespace aw::detail
