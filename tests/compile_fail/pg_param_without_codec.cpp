// Misuse: a parameter of a type no codec sends (std::size_t has none: say which width).
// expect: aw::pg: no codec sends this type as a parameter
// module: pg
#include <aw/pg.hpp>

#include <cstddef>

aw::task<> misuse(aw::pg::connection& conn) {
  std::size_t n = 1;
  (void)co_await conn.execute("SELECT $1", n);
}
