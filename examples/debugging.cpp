// examples/debugging: see sections/debugging.hpp. The tour runs the same demo.
#include "sections/debugging.hpp"

#include <cstdio>

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);  // keep stdout in step with the debug log on stderr
  aw::run(debugging::demo());
}
