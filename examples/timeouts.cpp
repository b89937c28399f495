// examples/timeouts: see sections/timeouts.hpp. The tour runs the same demo.
#include "sections/timeouts.hpp"

int main() { aw::run(timeouts::demo()); }
