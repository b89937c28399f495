// aw::testing::virtual_clock: MockClock's arithmetic. The loop's side (when to jump) is in
// loop.cpp, where it decides how long to wait for I/O.
#include <aw/testing/virtual_clock.hpp>

#include <cmath>
#include <stdexcept>

namespace aw::testing {

virtual_clock::virtual_clock(options o) : real_base_(clock::now()) {
  set_rate(o.rate);
  set_autojump_threshold(o.autojump_threshold);
}

clock::time_point virtual_clock::now() const noexcept {
  if (rate_ == 0.0) return virtual_base_;  // exact: no floating point when time stands still
  std::chrono::duration<double, clock::period> real = clock::now() - real_base_;
  return virtual_base_ + std::chrono::duration_cast<clock::duration>(real * rate_);
}

void virtual_clock::jump(clock::duration d) {
  if (d < clock::duration::zero()) throw std::invalid_argument("aw::testing::virtual_clock::jump: time can't go backwards");
  virtual_base_ += d;
}

void virtual_clock::set_rate(double r) {
  if (!(r >= 0.0) || std::isinf(r)) throw std::invalid_argument("aw::testing::virtual_clock: the rate must be finite and >= 0");
  virtual_base_ = now();
  real_base_ = clock::now();
  rate_ = r;
}

void virtual_clock::set_autojump_threshold(clock::duration d) {
  if (d < clock::duration::zero()) throw std::invalid_argument("aw::testing::virtual_clock: the autojump threshold must be >= 0");
  threshold_ = d;
}

clock::duration virtual_clock::real_wait_until(clock::time_point deadline) const noexcept {
  if (rate_ == 0.0) return never;
  clock::duration ahead = deadline - now();
  if (ahead <= clock::duration::zero()) return clock::duration::zero();
  double real = std::ceil(static_cast<double>(ahead.count()) / rate_);
  if (real >= static_cast<double>(never.count())) return never;
  return clock::duration(static_cast<clock::rep>(real));
}

}  // namespace aw::testing
