// examples/db_connections: see sections/db_connections.hpp. The tour runs the same demo.
// Set DATABASE_URL to use a server of your own; otherwise a temporary cluster is started.
#include "sections/db_connections.hpp"

int main() { aw::run(db_connections::demo()); }
