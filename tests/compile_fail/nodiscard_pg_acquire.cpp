// Misuse: pool.acquire() without entering the manager it gives: no connection is borrowed.
// expect: enter it: co_await aw::async_with\(pool\.acquire\(\), body\) or aw::enter\(pool\.acquire\(\)\); nothing is borrowed until then
// flags: -Werror=unused-result -Werror=unused-value
// module: pg
#include <aw/pg.hpp>

aw::task<> misuse(aw::pg::pool& pool) {
  pool.acquire();
  co_return;
}
