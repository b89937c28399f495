// examples/async_file_access: see sections/async_file_access.hpp. The tour runs the same demo.
#include "sections/async_file_access.hpp"

int main() { aw::run(async_file_access::demo()); }
