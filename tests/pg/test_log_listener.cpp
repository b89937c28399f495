// The server's NOTICE and WARNING messages go to the connection's log listeners (asyncpg's
// add_log_listener), never to the program's stderr (libpq's default notice processor).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "../common/stderr_capture.hpp"
#include "pg_test.hpp"

using pg_test::with_connection;

namespace {

constexpr const char* raise_both =
    "DO $$ BEGIN RAISE NOTICE 'hello %', 42 USING HINT = 'a hint'; RAISE WARNING 'careful' USING ERRCODE = '01007'; END $$";

TEST(PgLogListener, NoticesAndWarningsReachTheListeners) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::vector<aw::pg::error_fields> heard;
    aw::pg::connection* from = nullptr;
    const std::uint64_t id = c.add_log_listener([&](aw::pg::connection& conn, const aw::pg::error_fields& f) {
      from = &conn;
      heard.push_back(f);
    });
    int second = 0;
    const std::uint64_t id2 = c.add_log_listener([&](aw::pg::connection&, const aw::pg::error_fields&) { ++second; });
    stderr_capture captured;
    co_await c.execute(raise_both);
    co_await c.execute("SELECT $1::int4", 1);  // the extended protocol too
    EXPECT_EQ(captured.finish(), "");
    PG_CO_ASSERT_EQ(heard.size(), 2u);
    EXPECT_EQ(from, &c);
    EXPECT_EQ(second, 2);
    EXPECT_EQ(heard[0].severity, "NOTICE");
    EXPECT_EQ(heard[0].sqlstate, "00000");
    EXPECT_EQ(heard[0].message, "hello 42");
    EXPECT_EQ(heard[0].hint, "a hint");
    EXPECT_EQ(heard[1].severity, "WARNING");
    EXPECT_EQ(heard[1].sqlstate, "01007");
    EXPECT_EQ(heard[1].message, "careful");
    c.remove_log_listener(id);
    co_await c.execute(raise_both);
    EXPECT_EQ(heard.size(), 2u);
    EXPECT_EQ(second, 4);
    c.remove_log_listener(id2);
  });
}

TEST(PgLogListener, WithoutListenersNothingGoesToStderr) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    stderr_capture captured;
    co_await c.execute(raise_both);
    std::string err = captured.finish();
    EXPECT_EQ(err, "");
  });
}

TEST(PgLogListener, TheDebugModeLogsThem) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    stderr_capture captured;
    aw::set_debug(true);
    co_await c.execute(raise_both);
    aw::set_debug(false);
    std::string err = captured.finish();
    EXPECT_NE(err.find("aw: aw::pg: the server says NOTICE: hello 42 (SQLSTATE 00000)"), std::string::npos) << err;
    EXPECT_NE(err.find("aw: aw::pg: the server says WARNING: careful (SQLSTATE 01007)"), std::string::npos) << err;
  });
}

TEST(PgLogListener, APoolForgetsTheBorrowersListeners) {
  aw::run([]() -> aw::task<> {
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), {.min_size = 1, .max_size = 1}), [](aw::pg::pool& pool) -> aw::task<> {
      int heard = 0;
      co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
        c.add_log_listener([&](aw::pg::connection&, const aw::pg::error_fields&) { ++heard; });
        co_await c.execute(raise_both);
      });
      EXPECT_EQ(heard, 2);
      stderr_capture captured;
      co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& c) -> aw::task<> { co_await c.execute(raise_both); });
      EXPECT_EQ(captured.finish(), "");
      EXPECT_EQ(heard, 2);
    });
  });
}

}  // namespace
