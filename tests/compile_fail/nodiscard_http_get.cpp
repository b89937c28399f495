// Misuse: a request made and neither awaited nor entered: nothing would be sent.
// expect: co_await it for the response, or enter it with aw::async_with to stream the body: nothing is sent until then
// flags: -Werror=unused-result -Werror=unused-value
// module: http
#include <aw/http.hpp>

aw::task<> misuse(aw::http::session& s) {
  s.post("items");
  co_return;
}
