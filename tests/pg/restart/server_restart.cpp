// A server restart in the middle of a pool's life: the pool notices its dead connections
// and replaces them; a query caught on a dead connection raises connection_lost (never
// lost silently). Runs alone (RUN_SERIAL): the restart disturbs every other session.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "../pg_test.hpp"

using namespace std::chrono_literals;

namespace {

void restart_server() {
  ASSERT_EQ(std::system(AW_PG_TEST_RESTART), 0);  // the fixture's restart script (tests/pg/CMakeLists.txt)
}

TEST(PgRestart, PoolReplacesConnectionsAfterRestart) {
  aw::run([]() -> aw::task<> {
    aw::pg::pool_options o;
    o.min_size = 2;
    o.max_size = 2;
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), o), [&](aw::pg::pool& pool) -> aw::task<> {
      EXPECT_EQ(co_await pool.fetchval<std::int32_t>("SELECT 1"), 1);
      EXPECT_EQ(pool.size(), 2u);
      // A connection held across the restart: its query fails loudly.
      co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& held) -> aw::task<> {
        restart_server();
        co_await aw::sleep(50ms);
        EXPECT_THROW(co_await held.fetchval<std::int32_t>("SELECT 2"), aw::pg::connection_lost);
      });
      // Idle connections died too; the pool notices before lending them out.
      for (int i = 0; i < 10; ++i) EXPECT_EQ(co_await pool.fetchval<std::int32_t>("SELECT $1::int", i), i);
      EXPECT_LE(pool.size(), 2u);
    });
  });
}

}  // namespace
