// Misuse: a handler of aw::net serve() that is not a coroutine returning aw::task.
// expect: aw::net::serve: the handler must return aw::task<T>
#include <aw/net/listener.hpp>

aw::task<> misuse(aw::net::tcp_listener& l) {
  co_await l.serve([](aw::net::tcp_stream&) { return 1; });
}
