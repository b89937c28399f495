// examples/mongodb [MONGODB_URL]: see sections/mongodb.hpp. The tour runs the same demo.
#include "sections/mongodb.hpp"

int main(int argc, char** argv) { aw::run(mongodb::demo(argc > 1 ? argv[1] : "")); }
