// examples/tracing: see sections/tracing.hpp. The tour runs the same demo.
#include "sections/tracing.hpp"

int main() { tracing::run_traced(); }
