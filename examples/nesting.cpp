// examples/nesting: see sections/nesting.hpp. The tour runs the same demo.
#include "sections/nesting.hpp"

int main() { aw::run(nesting::demo()); }
