// Misuse: a session made as a temporary and never entered.
// expect: enter it: co_await aw::async_with\(aw::http::session\(\.\.\.\), body\); requests are made inside the block
// flags: -Werror=unused-result -Werror=unused-value
// module: http
#include <aw/http.hpp>

aw::task<> misuse(aw::http::session_options options) {
  aw::http::session(std::move(options));
  co_return;
}
