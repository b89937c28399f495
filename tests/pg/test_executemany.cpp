// executemany: every row, all or nothing, and as fast as a pipeline allows.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using pg_test::with_connection;

namespace {

TEST(PgExecutemany, InsertsEveryRow) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE m (a int, b text)");
    std::vector<std::tuple<std::int32_t, std::optional<std::string>>> rows;
    for (int i = 0; i < 20000; ++i) rows.emplace_back(i, i % 3 ? std::optional<std::string>(std::to_string(i)) : std::nullopt);
    co_await c.executemany("INSERT INTO m VALUES ($1, $2)", rows);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM m"), 20000);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM m WHERE b IS NULL"), 6667);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT sum(a) FROM m"), 19999LL * 20000 / 2);
    std::vector<std::tuple<std::int32_t, std::optional<std::string>>> none;
    co_await c.executemany("INSERT INTO m VALUES ($1, $2)", none);
  });
}

TEST(PgExecutemany, AllOrNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE u (a int PRIMARY KEY)");
    std::vector<std::tuple<std::int32_t>> rows{{1}, {2}, {3}, {2}, {5}};
    EXPECT_THROW(co_await c.executemany("INSERT INTO u VALUES ($1)", rows), aw::pg::unique_violation);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM u"), 0);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);  // usable afterwards
  });
}

TEST(PgExecutemany, InsideATransaction) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE w (a int)");
    std::vector<std::tuple<std::int32_t>> rows{{1}, {2}};
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
      co_await c.executemany("INSERT INTO w VALUES ($1)", rows);
      EXPECT_TRUE(c.in_transaction());
    });
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM w"), 2);
  });
}

}  // namespace
