// Recycling allocator for coroutine frames and the library's small per-operation records.
//
// Every aw::task, aw::context_manager and exit record is allocated here. Freed blocks go
// to a per-thread free list per 64-byte size class and are handed out again, so a loop
// that creates and awaits tasks in steady state calls ::operator new not at all.
// Under AddressSanitizer recycling is off: a recycled frame would hide exactly the
// use-after-free bugs the sanitizer run exists to catch.
#pragma once

#include <cstddef>
#include <new>

namespace aw::detail {

#if defined(__SANITIZE_ADDRESS__)
#define AW_RECYCLE_FRAMES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AW_RECYCLE_FRAMES 0
#endif
#endif
#ifndef AW_RECYCLE_FRAMES
#define AW_RECYCLE_FRAMES 1
#endif

class frame_cache {
 public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t classes = 32;  // blocks up to 2 KiB are recycled
  static constexpr std::size_t max_cached_bytes = std::size_t{32} << 20;

  void* allocate(std::size_t n) {
    std::size_t c = (n - 1) / granule;
    if (c < classes) {
      if (block* b = free_[c]) {
        free_[c] = b->next;
        cached_bytes_ -= (c + 1) * granule;
        return b;
      }
      return ::operator new((c + 1) * granule);
    }
    return ::operator new(n);
  }

  void deallocate(void* p, std::size_t n) noexcept {
    std::size_t c = (n - 1) / granule;
    if (c < classes && cached_bytes_ < max_cached_bytes) [[likely]] {
      auto* b = static_cast<block*>(p);
      b->next = free_[c];
      free_[c] = b;
      cached_bytes_ += (c + 1) * granule;
      return;
    }
    if (c < classes && !reaper_armed_) {
      // The thread's first cached block: cached_bytes_ starts full so that the fast path
      // above needs no test of its own for the reaper.
      arm_reaper();
      cached_bytes_ = 0;
      deallocate(p, n);
      return;
    }
    ::operator delete(p);
  }

  // Gives every cached block back to ::operator delete (at thread exit).
  void release_all() noexcept;

 private:
  // The cache is trivially destructible so that reaching it costs no thread-local
  // initialisation check; a separate thread_local, touched here once per thread, frees
  // the cached blocks when the thread exits.
  void arm_reaper() noexcept;

  struct block {
    block* next;
  };
  block* free_[classes] = {};
  std::size_t cached_bytes_ = max_cached_bytes;  // until arm_reaper: nothing is cached
  bool reaper_armed_ = false;
};

inline constinit thread_local frame_cache tls_frame_cache;

inline void* frame_allocate(std::size_t n) {
#if AW_RECYCLE_FRAMES
  return tls_frame_cache.allocate(n);
#else
  return ::operator new(n);
#endif
}

inline void frame_deallocate(void* p, std::size_t n) noexcept {
#if AW_RECYCLE_FRAMES
  tls_frame_cache.deallocate(p, n);
#else
  (void)n;
  ::operator delete(p);
#endif
}

}  // namespace aw::detail
