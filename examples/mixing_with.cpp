// examples/mixing_with: see sections/mixing_with.hpp. The tour runs the same demo.
#include "sections/mixing_with.hpp"

int main() { aw::run(mixing_with::demo()); }
