// Misuse: a runtime codec for a type that has a codec of its own and is not a class or an
// enum (int): reading such a column never consults the registered decoder.
// expect: a codec reads into and sends a class or an enum of your own
// module: pg
#include <aw/pg.hpp>

aw::task<> misuse(aw::pg::connection& conn) {
  aw::pg::type_codec<int> c;
  co_await conn.set_type_codec("int4", c);
}
