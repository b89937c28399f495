// aw::http's error helpers: the names of the timeout phases.
#include <aw/http/errors.hpp>

namespace aw::http {

const char* to_string(timeout_phase p) noexcept {
  switch (p) {
    case timeout_phase::connect:
      return "connect";
    case timeout_phase::read:
      return "read";
    case timeout_phase::total:
      return "total";
  }
  return "?";
}

}  // namespace aw::http
