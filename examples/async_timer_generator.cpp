// examples/async_timer_generator: see sections/async_timer_generator.hpp. The tour runs the same demo.
#include "sections/async_timer_generator.hpp"

int main() { aw::run(async_timer_generator::demo()); }
