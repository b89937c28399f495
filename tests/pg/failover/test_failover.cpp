// A multi-host DSN with target_session_attrs=read-write against a primary and its
// streaming-replication standby (the ctest fixture starts both): the pool lands on the
// primary whatever the order of the hosts; after the standby is promoted and the primary
// stopped, the pool drops its dead connections and reconnects to the new primary.
#include <gtest/gtest.h>

#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

constexpr std::int32_t primary_port = 25436, standby_port = 25437;

// The standby first: read-write passes it over while it is one.
const char* dsn =
    "host=127.0.0.1,127.0.0.1 port=25437,25436 user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=10";

int run_script(const std::string& command) { return std::system(command.c_str()); }

TEST(PgFailover, PoolReconnectsToThePromotedStandby) {
  aw::run([]() -> aw::task<> {
    aw::pg::pool_options o;
    o.min_size = 2;
    o.max_size = 2;
    co_await aw::async_with(aw::pg::create_pool(dsn, std::move(o)), [](aw::pg::pool& p) -> aw::task<> {
      EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT inet_server_port()"), primary_port);
      co_await p.execute("CREATE TABLE IF NOT EXISTS failover_rows (v int)");
      co_await p.execute("INSERT INTO failover_rows VALUES ($1)", 1);
      // The standby replays up to here before the promotion, the row included.
      std::string lsn = co_await p.fetchval<std::string>("SELECT pg_current_wal_lsn()::text");
      co_await aw::async_with(
          aw::pg::connect("host=127.0.0.1 port=25437 user=postgres dbname=postgres"), [&](aw::pg::connection& standby) -> aw::task<> {
            EXPECT_TRUE(co_await standby.fetchval<bool>("SELECT pg_is_in_recovery()"));
            for (;;) {
              bool caught_up = co_await standby.fetchval<bool>("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn);
              if (caught_up) break;
              co_await aw::sleep(std::chrono::milliseconds(10));
            }
          });

      EXPECT_EQ(run_script(AW_PG_TEST_PROMOTE), 0);
      EXPECT_EQ(run_script(AW_PG_TEST_STOP_PRIMARY), 0);

      // Each of the pool's connections to the old primary is dead: noticed (probed) when
      // lent, or lost by the statement sent on it; either way it is replaced by one on
      // the new primary. At most one statement per connection can be lost.
      std::int32_t port = 0;
      for (int attempt = 0; attempt < 3 && port == 0; ++attempt) {
        try {
          port = co_await p.fetchval<std::int32_t>("SELECT inet_server_port()");
        } catch (const aw::pg::connection_error& e) {
          ADD_FAILURE() << "a connection failed (attempt " << attempt << "): " << e.what();
        }
      }
      EXPECT_EQ(port, standby_port);
      EXPECT_FALSE(co_await p.fetchval<bool>("SELECT pg_is_in_recovery()"));
      co_await p.execute("INSERT INTO failover_rows VALUES ($1)", 2);
      EXPECT_EQ(co_await p.fetchval<std::int64_t>("SELECT count(*) FROM failover_rows"), 2);
    });
  });
}

}  // namespace
