// Transactions: commit on success, rollback on an exception or a cancellation, savepoints
// for nested blocks, options, and a caught error that must not end in a silent COMMIT.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

aw::task<std::int64_t> count(aw::pg::connection& c) { co_return co_await c.fetchval<std::int64_t>("SELECT count(*) FROM tx"); }

template <class Body>
void with_table(Body body) {
  with_connection([&](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE tx (v int)");
    co_await body(c);
  });
}

TEST(PgTransaction, CommitsWhenTheBodySucceeds) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction& t) -> aw::task<> {
      EXPECT_FALSE(t.is_savepoint());
      EXPECT_TRUE(c.in_transaction());
      co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
    });
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 1);
  });
}

TEST(PgTransaction, RollsBackOnException) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(c.transaction(),
                                         [&](aw::pg::transaction&) -> aw::task<> {
                                           co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
                                           throw std::runtime_error("body failed");
                                         }),
                 std::runtime_error);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 0);
  });
}

TEST(PgTransaction, RollsBackOnServerError) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(c.transaction(),
                                         [&](aw::pg::transaction&) -> aw::task<> {
                                           co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
                                           co_await c.execute("SELECT 1/0");
                                         }),
                 aw::pg::division_by_zero);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 0);
  });
}

TEST(PgTransaction, RollsBackOnCancellation) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    bool finished = co_await aw::move_on_after(50ms, [&]() -> aw::task<> {
      co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
        co_await aw::sleep(1h);
      });
    });
    EXPECT_FALSE(finished);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 0);
  });
}

TEST(PgTransaction, RollsBackWhenCancelledInAQuery) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    bool finished = co_await aw::move_on_after(100ms, [&]() -> aw::task<> {
      co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
        co_await c.execute("SELECT pg_sleep(60)");
      });
    });
    EXPECT_FALSE(finished);
    EXPECT_FALSE(c.is_closed());
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 0);
  });
}

TEST(PgTransaction, NestedBlocksAreSavepoints) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
      co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
      try {
        co_await aw::async_with(c.transaction(), [&](aw::pg::transaction& inner) -> aw::task<> {
          EXPECT_TRUE(inner.is_savepoint());
          co_await c.execute("INSERT INTO tx VALUES ($1)", 2);
          co_await c.execute("INSERT INTO tx VALUES ($1)", 1 / 1);
          throw std::runtime_error("inner failed");
        });
      } catch (const std::runtime_error&) {
      }
      EXPECT_EQ(co_await count(c), 1);  // the savepoint's rows are gone, the outer's stay
      co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await c.execute("INSERT INTO tx VALUES ($1)", 3);  // released into the outer
      });
    });
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT sum(v) FROM tx"), 4);
  });
}

TEST(PgTransaction, SavepointRecoversFromServerError) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
      co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
      EXPECT_THROW(co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> { co_await c.execute("SELECT 1/0"); }),
                   aw::pg::division_by_zero);
      co_await c.execute("INSERT INTO tx VALUES ($1)", 2);  // the outer transaction is usable again
    });
    EXPECT_EQ(co_await count(c), 2);
  });
}

TEST(PgTransaction, CaughtErrorDoesNotCommitSilently) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(c.transaction(),
                                         [&](aw::pg::transaction&) -> aw::task<> {
                                           co_await c.execute("INSERT INTO tx VALUES ($1)", 1);
                                           try {
                                             co_await c.execute("SELECT 1/0");
                                           } catch (const aw::pg::error&) {
                                           }
                                         }),
                 aw::pg::interface_error);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(co_await count(c), 0);
  });
}

TEST(PgTransaction, Options) {
  with_table([](aw::pg::connection& c) -> aw::task<> {
    aw::pg::transaction_options o;
    o.level = aw::pg::isolation::serializable;
    o.read_only = true;
    o.deferrable = true;
    co_await aw::async_with(c.transaction(o), [&](aw::pg::transaction&) -> aw::task<> {
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_setting('transaction_isolation')"), "serializable");
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_setting('transaction_read_only')"), "on");
    });
    EXPECT_THROW(
        co_await aw::async_with(c.transaction(o),
                                [&](aw::pg::transaction&) -> aw::task<> { co_await c.execute("CREATE TABLE aw_read_only (v int)"); }),
        aw::pg::read_only_sql_transaction);
    o = {};
    o.level = aw::pg::isolation::repeatable_read;
    co_await aw::async_with(c.transaction(o), [&](aw::pg::transaction&) -> aw::task<> {
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_setting('transaction_isolation')"), "repeatable read");
    });
  });
}

TEST(PgTransaction, RealSerializationFailure) {
  // Two serializable transactions that each read what the other writes: one must fail.
  with_connection([](aw::pg::connection& a) -> aw::task<> {
    co_await a.execute("DROP TABLE IF EXISTS aw_ser; CREATE TABLE aw_ser (k int, v int); INSERT INTO aw_ser VALUES (1, 0), (2, 0)");
    co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& b) -> aw::task<> {
      aw::pg::transaction_options o;
      o.level = aw::pg::isolation::serializable;
      bool failed = false;
      try {
        co_await aw::async_with(a.transaction(o), [&](aw::pg::transaction&) -> aw::task<> {
          co_await a.fetch("SELECT sum(v) FROM aw_ser WHERE k = 2");
          co_await aw::async_with(b.transaction(o), [&](aw::pg::transaction&) -> aw::task<> {
            co_await b.fetch("SELECT sum(v) FROM aw_ser WHERE k = 1");
            co_await b.execute("UPDATE aw_ser SET v = v + 1 WHERE k = 2");
          });
          co_await a.execute("UPDATE aw_ser SET v = v + 1 WHERE k = 1");
        });
      } catch (const aw::pg::serialization_failure& e) {
        failed = true;
        EXPECT_EQ(e.sqlstate(), "40001");
      }
      EXPECT_TRUE(failed);
    });
    co_await a.execute("DROP TABLE aw_ser");
  });
}

}  // namespace
