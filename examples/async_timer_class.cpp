// examples/async_timer_class: see sections/async_timer_class.hpp. The tour runs the same demo.
#include "sections/async_timer_class.hpp"

int main() { aw::run(async_timer_class::demo()); }
