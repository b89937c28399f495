// The per-thread cache of coroutine frames: released when its thread ends.
#include <aw/detail/frame_allocator.hpp>

namespace aw::detail {
namespace {

struct cache_reaper {
  bool armed = false;
  ~cache_reaper() {
    if (armed) tls_frame_cache.release_all();
  }
};
thread_local cache_reaper reaper;

}  // namespace

void frame_cache::arm_reaper() noexcept {
  reaper.armed = true;
  reaper_armed_ = true;
}

void frame_cache::release_all() noexcept {
  for (block*& head : free_) {
    while (head) {
      block* next = head->next;
      ::operator delete(head);
      head = next;
    }
  }
  // Frames freed after this point (other thread_locals' destructors) go straight back.
  cached_bytes_ = max_cached_bytes;
}

}  // namespace aw::detail
