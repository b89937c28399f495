// examples/networking: see sections/networking.hpp. The tour runs the same demo.
#include "sections/networking.hpp"

int main() { aw::run(networking::demo()); }
