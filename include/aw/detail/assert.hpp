// AW_ASSERT(condition, message): the library's internal rules, checked where they are
// stated (corral's CORRAL_ASSERT, folly's DCHECK). A broken rule prints
//   <file>:<line>: asyncwith assertion failed: <condition>: <message>
// to stderr and aborts: the state it guards is already corrupt, so nothing is unwound.
//
// Active when NDEBUG is not defined (Debug builds) or when AW_ASSERTIONS is defined (the
// build defines it with AW_SANITIZE, whatever the build type). Otherwise the condition is
// compiled but not evaluated, so it costs nothing and cannot rot. A condition must have no
// side effects: release builds do not run it.
#pragma once

#include <cstdio>
#include <cstdlib>

#if !defined(NDEBUG) || defined(AW_ASSERTIONS)
#define AW_ASSERTIONS_ON 1
#else
#define AW_ASSERTIONS_ON 0
#endif

namespace aw::detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void assertion_failed(const char* file, int line, const char* condition,
                                                                    const char* message) noexcept {
  std::fprintf(stderr, "%s:%d: asyncwith assertion failed: %s: %s\n", file, line, condition, message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace aw::detail

#if AW_ASSERTIONS_ON
#define AW_ASSERT(condition, message) \
  (static_cast<bool>(condition) ? static_cast<void>(0) : ::aw::detail::assertion_failed(__FILE__, __LINE__, #condition, message))
#else
#define AW_ASSERT(condition, message) static_cast<void>(sizeof(static_cast<bool>(condition)))
#endif
