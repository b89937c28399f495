// examples/exit_stack: see sections/exit_stack.hpp. The tour runs the same demo.
#include "sections/exit_stack.hpp"

int main() { aw::run(exit_stack::demo()); }
