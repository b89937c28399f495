// Misuse: a handler of aw::net serve() that cannot take the accepted stream.
// expect: aw::net::serve: the handler must be callable as handler
#include <aw/net/listener.hpp>

aw::task<> misuse(aw::net::tcp_listener& l) {
  co_await l.serve([](aw::net::unix_stream&) -> aw::task<> { co_return; });
}
