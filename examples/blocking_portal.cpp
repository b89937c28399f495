// examples/blocking_portal: see sections/blocking_portal.hpp. A synchronous main() that
// calls asyncwith through a portal; the tour runs the same program on a worker thread.
#include "sections/blocking_portal.hpp"

int main() { blocking_portal::synchronous_program(); }
