// examples/web_clients [URL]: see sections/web_clients.hpp. The tour runs the same demo.
#include "sections/web_clients.hpp"

int main(int argc, char** argv) { aw::run(web_clients::demo(argc > 1 ? argv[1] : "")); }
