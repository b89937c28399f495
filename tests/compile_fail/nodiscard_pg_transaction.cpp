// Misuse: conn.transaction() without entering it: no BEGIN, and the statements after it
// would run outside any transaction.
// expect: enter it: co_await aw::async_with\(conn\.transaction\(\), body\) or .*; nothing is begun until then
// flags: -Werror=unused-result -Werror=unused-value
// module: pg
#include <aw/pg.hpp>

aw::task<> misuse(aw::pg::connection& conn) {
  conn.transaction();
  co_await conn.execute("UPDATE t SET n = n + 1");
}
