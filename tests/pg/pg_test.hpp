// Helpers of the aw::pg suite: the server's DSN (the ctest fixture sets AW_PG_TEST_DSN) and
// a test body that runs on a fresh connection.
#pragma once

#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <cstdlib>
#include <string>

namespace pg_test {

inline std::string dsn() {
  const char* d = std::getenv("AW_PG_TEST_DSN");
  return d ? d : "host=127.0.0.1 port=54330 user=postgres dbname=postgres";
}

// Runs body(conn) on a new connection inside aw::run.
template <class Body>
void with_connection(Body body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> { co_await body(c); });
  });
}

}  // namespace pg_test
