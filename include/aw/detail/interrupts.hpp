// aw::run's handling of SIGINT and SIGTERM (see run.hpp). Internal.
#pragma once

#include <aw/loop.hpp>

namespace aw::detail {

struct scope_state;

// While alive, SIGINT and SIGTERM (where their disposition is the default, and no other
// loop has them) cancel `root` instead of ending the process.
class interrupt_guard {
 public:
  interrupt_guard(loop& l, scope_state& root);
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;
  ~interrupt_guard();
  // After the main task has finished: if a signal was caught, restores its default
  // action and raises it again, so the process ends as the signal would have ended it.
  void reraise_if_caught();

 private:
  void restore() noexcept;
  loop& loop_;
  scope_state& root_;
  bool owner_ = false;
  bool installed_[2] = {false, false};
};

}  // namespace aw::detail
