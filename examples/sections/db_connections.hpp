// Tutorial: Use Cases, "Database connections: asyncpg".
//
//   async with asyncpg.create_pool(dsn) as pool:          # the pool is a manager,
//       async with pool.acquire() as conn:                 # so is each borrowed connection,
//           async with conn.transaction():                 # and each transaction:
//               await conn.execute("INSERT ...")           #   COMMIT on success, ROLLBACK on error
//
// aw::pg is the same, on libpq in non-blocking mode: the connection is given back and the
// transaction ended on every path, including a timeout that cancels a slow query on the
// server. With DATABASE_URL set the demo uses that server (in a temporary table); without
// it, aw::pg::testing::temporary_cluster starts a throwaway PostgreSQL of its own (needs
// Debian's postgresql package) and removes it afterwards.
#pragma once

#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>

namespace db_connections {

using namespace std::chrono_literals;

inline aw::task<> show(std::string dsn) {
  // async with asyncpg.connect(dsn) as conn:
  co_await aw::async_with(aw::pg::connect(dsn), [&](aw::pg::connection& conn) -> aw::task<> {
    std::printf("  connected to PostgreSQL %s (server process %d)\n", conn.server_parameter("server_version").c_str(), conn.backend_pid());
    co_await conn.execute("CREATE TEMP TABLE accounts (name text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    co_await conn.execute("INSERT INTO accounts VALUES ($1, $2), ($3, $4)", "alice", std::int64_t{100}, "bob", std::int64_t{20});

    // A transfer: both updates or neither. The CHECK constraint fails the second one.
    auto transfer = [&](const char* from, const char* to, std::int64_t amount) -> aw::task<> {
      co_await aw::async_with(conn.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await conn.execute("UPDATE accounts SET balance = balance + $1 WHERE name = $2", amount, to);
        co_await conn.execute("UPDATE accounts SET balance = balance - $1 WHERE name = $2", amount, from);
      });
    };
    co_await transfer("alice", "bob", 30);
    try {
      co_await transfer("bob", "alice", 500);
    } catch (const aw::pg::check_violation& e) {
      std::printf("  transfer of 500 rolled back: %s violated\n", e.constraint_name().c_str());
    }
    for (aw::pg::row r : co_await conn.fetch("SELECT name, balance FROM accounts ORDER BY name")) {
      auto [name, balance] = r.as<std::string, std::int64_t>();
      std::printf("  %-5s %3lld\n", name.c_str(), static_cast<long long>(balance));
    }

    // A timeout cancels the query on the server; the connection stays usable.
    auto r = co_await aw::move_on_after(50ms, [&] { return conn.fetchval<std::int32_t>("SELECT 1 FROM pg_sleep(10)"); });
    std::printf("  pg_sleep(10) under move_on_after(50ms): %s; the next query gives %d\n", r ? "finished" : "cancelled on the server",
                co_await conn.fetchval<std::int32_t>("SELECT 42"));
  });

  // async with asyncpg.create_pool(dsn, min_size=2, max_size=4) as pool:
  aw::pg::pool_options options;
  options.min_size = 2;
  options.max_size = 4;
  co_await aw::async_with(aw::pg::create_pool(dsn, options), [&](aw::pg::pool& pool) -> aw::task<> {
    std::set<int> servers;
    std::int64_t total = 0;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 1; i <= 32; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          // async with pool.acquire() as conn:
          co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& conn) -> aw::task<> {
            servers.insert(conn.backend_pid());
            total += co_await conn.fetchval<std::int32_t>("SELECT $1::int * $1::int", i);
          });
        });
      co_return;
    });
    std::printf("  32 tasks through a pool of at most %zu: sum of squares %lld, served by %zu connections\n", pool.max_size(),
                static_cast<long long>(total), servers.size());
  });
}

inline aw::task<> demo() {
  if (const char* url = std::getenv("DATABASE_URL"); url && *url) {
    co_await show(url);
    co_return;
  }
  std::printf("  DATABASE_URL is not set: starting a temporary PostgreSQL cluster\n");
  co_await aw::async_with(aw::pg::testing::temporary_cluster(),
                          [](aw::pg::testing::temporary_cluster& cluster) -> aw::task<> { co_await show(cluster.dsn()); });
  std::printf("  the temporary cluster was stopped and removed\n");
}

}  // namespace db_connections
