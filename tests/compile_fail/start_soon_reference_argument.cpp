// Misuse: start_soon copies its arguments into the child and passes them as rvalues (as
// std::thread does), so a reference parameter needs std::ref.
// expect: aw::task_group::start_soon: fn cannot be called with these arguments
#include <aw/task_group.hpp>

aw::task<> child(int& counter) {
  ++counter;
  co_return;
}

void misuse(aw::task_group& tg, int& counter) { tg.start_soon(child, counter); }
