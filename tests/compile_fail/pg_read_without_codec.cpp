// Misuse: reading a column into a type no codec reads (std::size_t has none: say which width).
// expect: aw::pg: no codec reads a column into this type
// module: pg
#include <aw/pg.hpp>

#include <cstddef>

aw::task<> misuse(aw::pg::connection& conn) { (void)co_await conn.fetchval<std::size_t>("SELECT 1"); }
