#include <aw/detail/frame_allocator.hpp>

namespace aw::detail {

frame_cache::~frame_cache() {
  for (block*& head : free_) {
    while (head) {
      block* next = head->next;
      ::operator delete(head);
      head = next;
    }
  }
}

}  // namespace aw::detail
