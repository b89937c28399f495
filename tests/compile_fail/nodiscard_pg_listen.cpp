// Misuse: conn.listen(channel) without entering it: nothing would LISTEN.
// expect: enter it: co_await aw::async_with\(conn\.listen\(channel\), body\) or .*; nothing listens until then
// flags: -Werror=unused-result -Werror=unused-value
// module: pg
#include <aw/pg.hpp>

aw::task<> misuse(aw::pg::connection& conn) {
  conn.listen("jobs");
  co_return;
}
