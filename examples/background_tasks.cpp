// examples/background_tasks: see sections/background_tasks.hpp. The tour runs the same demo.
#include "sections/background_tasks.hpp"

int main() { aw::run(background_tasks::demo()); }
