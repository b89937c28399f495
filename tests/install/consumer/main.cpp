// Built against the installed package (find_package, and the README's pkg-config command):
// the public headers through <aw/aw.hpp> alone, libaw_core and its dependencies (liburing,
// threads, dl), and each installed module (CONSUMER_<MODULE>, set by run.sh), used so that
// its library and the libraries it calls must be linked.
#include <aw/aw.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace {

class timer {
 public:
  timer() = default;
  aw::task<timer&> aenter() {
    start_ = aw::now();
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr) {
    elapsed = aw::now() - start_;
    co_return;
  }
  aw::clock::duration elapsed{};

 private:
  aw::clock::time_point start_;
};

aw::context_manager<int> answer() { co_yield 42; }

// Each module, through what <aw/aw.hpp> brought in; no server needed.
aw::task<int> use_modules() {
#ifdef CONSUMER_FILES
  std::string empty = co_await aw::async_with(aw::files::open("/dev/null"), [](aw::files::file& f) { return f.read(); });
  if (!empty.empty()) co_return 10;
#endif
#ifdef CONSUMER_PG
  if (aw::pg::redact_dsn("postgresql://app:secret@db/shop").find("secret") != std::string::npos) co_return 11;
#endif
#ifdef CONSUMER_HTTP
  co_await aw::async_with(aw::http::session(), [](aw::http::session&) -> aw::task<> { co_return; });
#endif
#ifdef CONSUMER_MONGO
  aw::mongo::client mongo("mongodb://app:secret@127.0.0.1:1/?appname=consumer");
  if (mongo.redacted_uri().find("secret") != std::string::npos) co_return 12;
  if (aw::mongo::doc("a", 1).to_json().empty()) co_return 13;
#endif
  co_return 0;
}

aw::task<int> main_task() {
  timer t;
  int value = 0;
  co_await aw::async_with(t, answer(), [&](timer&, int& a) -> aw::task<> {
    co_await aw::sleep(std::chrono::milliseconds(1));
    value = a;
  });
  if (t.elapsed < std::chrono::milliseconds(1)) co_return 1;
  if (value != 42) co_return 2;
  co_return co_await use_modules();
}

}  // namespace

int main() {
  int status = aw::run(main_task());
  std::printf("consumer: %s (status %d, backend %s)\n", status == 0 ? "ok" : "FAILED", status,
              aw::run([]() -> aw::task<const char*> { co_return aw::loop::current().backend_name(); }));
  return status;
}
