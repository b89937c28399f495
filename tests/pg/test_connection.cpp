// aw::pg::connect and queries on a real server: connecting, failures to connect (with the
// password kept out of messages), the error classes, a lost connection, misuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

#include "../common/tricky_credentials.hpp"
#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::dsn;
using pg_test::with_connection;

namespace {

TEST(PgConnect, ConnectsAndRunsAQuery) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
    EXPECT_GT(c.backend_pid(), 0);
    EXPECT_EQ(c.server_parameter("server_version").substr(0, 2), "15");
    EXPECT_FALSE(c.in_transaction());
    EXPECT_FALSE(c.is_closed());
  });
}

TEST(PgConnect, ExitClosesTheConnection) {
  int pid = 0;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> {
      pid = c.backend_pid();
      co_return;
    });
    // The server forgets the session soon after the client said goodbye.
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> {
      for (int i = 0; i < 500; ++i) {
        // Named first: g++ 12 miscompiles `if (co_await f() == 0)` (doc/toolchain.md).
        const auto left = co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid);
        if (left == 0) co_return;
        co_await aw::sleep(10ms);
      }
      ADD_FAILURE() << "the session of the closed connection is still there";
    });
  });
}

TEST(PgConnect, UrlFormAndEnterForm) {
  aw::run([]() -> aw::task<> {
    auto& c = co_await aw::enter(aw::pg::connect("postgresql://postgres@127.0.0.1:25433/postgres?application_name=aw_url"));
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_setting('application_name')"), "aw_url");
  });
}

TEST(PgConnect, RefusedIsConnectionError) {
  const std::string port = std::to_string(pg_test::refused_port());
  const std::string dsn = "host=127.0.0.1 port=" + port + " user=postgres";
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::pg::connect(dsn), [](aw::pg::connection&) -> aw::task<> { co_return; });
      ADD_FAILURE() << "connected to a port nobody listens on";
    } catch (const aw::pg::connection_error& e) {
      EXPECT_NE(std::string(e.what()).find(port), std::string::npos) << e.what();
      EXPECT_EQ(dynamic_cast<const aw::pg::connection_lost*>(&e), nullptr);
    }
  });
}

TEST(PgConnect, WrongPasswordNeverAppearsInTheMessage) {
  for (std::string d : {std::string("postgresql://aw_password:wrong-pw-123@127.0.0.1:25433/postgres"),
                        std::string("host=127.0.0.1 port=25433 user=aw_password dbname=postgres password=wrong-pw-123")}) {
    aw::run([&]() -> aw::task<> {
      try {
        co_await aw::async_with(aw::pg::connect(d), [](aw::pg::connection&) -> aw::task<> { co_return; });
        ADD_FAILURE() << "a wrong password was accepted";
      } catch (const aw::pg::connection_error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.find("wrong-pw-123"), std::string::npos) << m;
        EXPECT_NE(m.find("***"), std::string::npos) << m;
        EXPECT_NE(m.find("password authentication failed"), std::string::npos) << m;
      }
    });
  }
}

TEST(PgConnect, RightPasswordConnects) {
  aw::run([]() -> aw::task<> {
    auto& c = co_await aw::enter(aw::pg::connect("postgresql://aw_password:aw-secret-pw@127.0.0.1:25433/postgres"));
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT current_user::text"), "aw_password");
  });
}

TEST(PgConnect, UnknownDatabase) {
  aw::run([]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::pg::connect("host=127.0.0.1 port=25433 user=postgres dbname=no_such_db"),
                              [](aw::pg::connection&) -> aw::task<> { co_return; });
      ADD_FAILURE();
    } catch (const aw::pg::connection_error& e) {
      EXPECT_NE(std::string(e.what()).find("no_such_db"), std::string::npos) << e.what();
    }
  });
}

TEST(PgConnect, CancelledWhileConnecting) {
  aw::run([]() -> aw::task<> {
    bool done = co_await aw::move_on_after(
        0s, []() -> aw::task<> { co_await aw::async_with(aw::pg::connect(dsn()), [](aw::pg::connection&) -> aw::task<> { co_return; }); });
    EXPECT_FALSE(done);
  });
}

TEST(PgRedact, UrlAndKeyValue) {
  EXPECT_EQ(aw::pg::redact_dsn("postgresql://u:secret@h:5/db"), "postgresql://u:***@h:5/db");
  EXPECT_EQ(aw::pg::redact_dsn("postgresql://u@h/db?password=secret&sslmode=off"), "postgresql://u@h/db?password=***&sslmode=off");
  EXPECT_EQ(aw::pg::redact_dsn("host=h password=secret user=u"), "host=h password=*** user=u");
  EXPECT_EQ(aw::pg::redact_dsn("host=h password = 'se cr\\'et' user=u"), "host=h password = *** user=u");
  EXPECT_EQ(aw::pg::redact_dsn("host=h user=u"), "host=h user=u");
}

// Every tricky connection string of the shared table fails to connect (a refused port, an
// unknown host, a malformed string) without its password in the message, libpq's part
// included (it quotes what it cannot parse).
TEST(PgRedact, NoPasswordInAnyConnectError) {
  for (const auto& e : aw_test::tricky_credentials_table()) {
    aw::run([&]() -> aw::task<> {
      try {
        co_await aw::async_with(aw::pg::connect(std::string(e.text)), [](aw::pg::connection&) -> aw::task<> { co_return; });
        ADD_FAILURE() << "connected with " << e.text;
      } catch (const aw::pg::connection_error& err) {
        EXPECT_TRUE(aw_test::holds_no_secret(err.what(), e)) << err.what();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------
// Server errors: the class follows the SQLSTATE, the fields are there.

template <class E>
void expect_sqlstate(const char* state) {
  with_connection([&](aw::pg::connection& c) -> aw::task<> {
    std::string sql =
        std::string("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '") + state + "', DETAIL = 'the detail', HINT = 'the hint'; END $$";
    try {
      co_await c.execute(sql);
      ADD_FAILURE() << "no error for " << state;
    } catch (const E& e) {
      EXPECT_EQ(e.sqlstate(), state);
      EXPECT_EQ(e.message(), "boom");
      EXPECT_EQ(e.detail(), "the detail");
      EXPECT_EQ(e.hint(), "the hint");
      EXPECT_NE(std::string(e.what()).find(state), std::string::npos);
    } catch (const std::exception& e) {
      ADD_FAILURE() << state << " raised " << typeid(e).name() << ": " << e.what();
    }
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 2"), 2);  // still usable
  });
}

TEST(PgErrors, ClassFollowsSqlstate) {
  expect_sqlstate<aw::pg::unique_violation>("23505");
  expect_sqlstate<aw::pg::foreign_key_violation>("23503");
  expect_sqlstate<aw::pg::not_null_violation>("23502");
  expect_sqlstate<aw::pg::check_violation>("23514");
  expect_sqlstate<aw::pg::integrity_constraint_violation>("23000");
  expect_sqlstate<aw::pg::serialization_failure>("40001");
  expect_sqlstate<aw::pg::deadlock_detected>("40P01");
  expect_sqlstate<aw::pg::transaction_rollback>("40000");
  expect_sqlstate<aw::pg::undefined_table>("42P01");
  expect_sqlstate<aw::pg::syntax_error>("42601");
  expect_sqlstate<aw::pg::insufficient_privilege>("42501");
  expect_sqlstate<aw::pg::division_by_zero>("22012");
  expect_sqlstate<aw::pg::data_exception>("22000");
  expect_sqlstate<aw::pg::lock_not_available>("55P03");
  expect_sqlstate<aw::pg::query_canceled>("57014");
  expect_sqlstate<aw::pg::feature_not_supported>("0A000");
  expect_sqlstate<aw::pg::postgres_error>("P0001");
}

TEST(PgErrors, RealConstraintViolationsNameTheirObjects) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute(
        "CREATE TEMP TABLE parent (id int PRIMARY KEY);"
        "CREATE TEMP TABLE child (id int PRIMARY KEY, parent int REFERENCES parent(id), n int NOT NULL CHECK (n > 0))");
    co_await c.execute("INSERT INTO parent VALUES ($1)", 1);
    try {
      co_await c.execute("INSERT INTO parent VALUES ($1)", 1);
      ADD_FAILURE();
    } catch (const aw::pg::unique_violation& e) {
      EXPECT_EQ(e.constraint_name(), "parent_pkey");
      EXPECT_EQ(e.table_name(), "parent");
      EXPECT_NE(e.detail().find("already exists"), std::string::npos);
      EXPECT_FALSE(e.schema_name().empty());
    }
    try {
      co_await c.execute("INSERT INTO child VALUES ($1, $2, $3)", 1, 99, 1);
      ADD_FAILURE();
    } catch (const aw::pg::foreign_key_violation& e) {
      EXPECT_EQ(e.constraint_name(), "child_parent_fkey");
    }
    try {
      co_await c.execute("INSERT INTO child VALUES ($1, $2, $3)", 1, 1, std::optional<std::int32_t>{});
      ADD_FAILURE();
    } catch (const aw::pg::not_null_violation& e) {
      EXPECT_EQ(e.column_name(), "n");
    }
    try {
      co_await c.execute("INSERT INTO child VALUES ($1, $2, $3)", 1, 1, -5);
      ADD_FAILURE();
    } catch (const aw::pg::check_violation& e) {
      EXPECT_EQ(e.constraint_name(), "child_n_check");
    }
  });
}

TEST(PgErrors, SyntaxErrorHasPosition) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    try {
      co_await c.fetch("SELECT 1 FROM WHERE");
      ADD_FAILURE();
    } catch (const aw::pg::syntax_error& e) {
      EXPECT_EQ(e.sqlstate(), "42601");
      EXPECT_GT(e.position(), 0);
    }
    try {
      co_await c.fetch("SELECT * FROM no_such_table_at_all");
      ADD_FAILURE();
    } catch (const aw::pg::undefined_table& e) {
      EXPECT_NE(e.message().find("no_such_table_at_all"), std::string::npos);
    }
  });
}

TEST(PgErrors, LostConnectionIsItsOwnType) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    int pid = c.backend_pid();
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      EXPECT_TRUE(co_await other.fetchval<bool>("SELECT pg_terminate_backend($1)", pid));
    });
    try {
      for (int i = 0; i < 100; ++i) {  // the first query may still be sent before the server's goodbye is read
        co_await c.fetchval<std::int32_t>("SELECT 1");
        co_await aw::sleep(10ms);
      }
      ADD_FAILURE() << "no connection_lost";
    } catch (const aw::pg::connection_lost& e) {
      SUCCEED() << e.what();
    }
    EXPECT_TRUE(c.is_closed());
    EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT 1"), aw::pg::connection_lost);
  });
}

TEST(PgErrors, ClosedConnectionIsInterfaceError) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    c.close();
    EXPECT_TRUE(c.is_closed());
    EXPECT_THROW(co_await c.execute("SELECT 1"), aw::pg::interface_error);
  });
}

// ---------------------------------------------------------------------------------------
// Statements.

TEST(PgQuery, ExecuteGivesTheCommandTagAndTakesSeveralStatements) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await c.execute("CREATE TEMP TABLE t (a int); INSERT INTO t VALUES (1), (2)"), "INSERT 0 2");
    EXPECT_EQ(co_await c.execute("UPDATE t SET a = a + $1", 10), "UPDATE 2");
    auto r = co_await c.fetch("DELETE FROM t WHERE a > $1 RETURNING a", 11);
    EXPECT_EQ(r.rows_affected(), 1u);
    EXPECT_EQ(r.status(), "DELETE 1");
    EXPECT_EQ(r[0].get<std::int32_t>(0), 12);
    EXPECT_EQ(co_await c.execute(""), "");
  });
}

TEST(PgQuery, FetchRowAndVal) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto none = co_await c.fetchrow("SELECT 1 WHERE false");
    EXPECT_FALSE(none.has_value());
    auto row = co_await c.fetchrow("SELECT 7 AS a, 'x' AS b UNION ALL SELECT 8, 'y'");
    EXPECT_TRUE(row.has_value());
    if (!row) co_return;
    EXPECT_EQ(row->get<std::int32_t>("a"), 7);
    EXPECT_EQ((*row)["b"].as<std::string>(), "x");
    EXPECT_EQ(co_await c.fetchval<std::optional<std::int32_t>>("SELECT 1 WHERE false"), std::nullopt);
    EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT 1 WHERE false"), aw::pg::interface_error);
    auto rows = co_await c.fetch("SELECT g, g * 2 AS twice FROM generate_series(1, $1) g", 5);
    EXPECT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows.columns(), 2u);
    EXPECT_EQ(rows.column_name(1), "twice");
    int sum = 0;
    for (aw::pg::row r : rows) sum += r.get<std::int32_t>("twice");
    EXPECT_EQ(sum, 30);
  });
}

TEST(PgQuery, ConcurrentQueriesOnOneConnectionTakeTurns) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::vector<std::int32_t> got(20);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 20; ++i)
        tg.start_soon([&c, &got, i]() -> aw::task<> { got[i] = co_await c.fetchval<std::int32_t>("SELECT $1::int * 2", i); });
      co_return;
    });
    for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i], 2 * i);
  });
}

TEST(PgQuery, StatementCacheSurvivesSchemaChangesAndEviction) {
  aw::run([]() -> aw::task<> {
    aw::pg::connection c(aw::pg::connection_options{.statement_cache_size = 2});
    co_await c.open(dsn());
    co_await c.execute("CREATE TEMP TABLE s (a int)");
    co_await c.execute("INSERT INTO s VALUES ($1)", 1);
    auto r1 = co_await c.fetchrow("SELECT * FROM s WHERE a = $1", 1);
    EXPECT_EQ(r1->size(), 1u);
    co_await c.execute("ALTER TABLE s ADD COLUMN b text DEFAULT 'x'");
    auto r2 = co_await c.fetchrow("SELECT * FROM s WHERE a = $1", 1);  // re-prepared: the result type changed
    EXPECT_EQ(r2->size(), 2u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int + " + std::to_string(i), 1), 1 + i);
    auto n = co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements");
    EXPECT_LE(n, 3);  // two cached, plus at most one evicted and not yet deallocated
    co_await c.execute("DEALLOCATE ALL");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int + 0", 5), 5);
  });
}

// close() from another task while a statement waits on the socket: the waiting task is
// woken with connection_lost (with epoll, closing the descriptor under its wait left it
// waiting for ever), and the connection is closed.
TEST(PgErrors, CloseWhileAnotherTaskWaitsOnTheSocket) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    const int pid = c.backend_pid();
    bool lost = false;
    bool in_time = co_await aw::move_on_after(30s, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await c.execute("SELECT pg_sleep($1)", 60.0);
          } catch (const aw::pg::connection_lost&) {
            lost = true;
          }
        });
        // Until the statement runs on the server (so its task waits on the socket).
        co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& observer) -> aw::task<> {
          while (co_await observer.fetchval<std::int64_t>(
                     "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'", pid) == 0)
            co_await aw::sleep(2ms);
        });
        c.close();
        EXPECT_TRUE(c.is_closed());
      });
    });
    EXPECT_TRUE(in_time) << "the waiting task was not woken";
    EXPECT_TRUE(lost);
    EXPECT_TRUE(c.is_closed());
    EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT 1"), aw::pg::interface_error);
    // The server's process is told (it ends with pg_sleep at the latest): cancel it now.
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& other) -> aw::task<> {
      co_await other.execute("SELECT pg_terminate_backend($1)", pid);
    });
  });
}

// The same for a listener waiting for a notification.
TEST(PgErrors, CloseWhileAListenerWaits) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    bool lost = false;
    bool in_time = co_await aw::move_on_after(30s, [&]() -> aw::task<> {
      co_await aw::async_with(c.listen("aw_close_test"), [&](aw::pg::listener& l) -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            try {
              (void)co_await l.next();
            } catch (const aw::pg::connection_lost&) {
              lost = true;
            }
          });
          co_await aw::sleep(20ms);  // the listener waits on the socket
          c.close();
        });
      });
    });
    EXPECT_TRUE(in_time) << "the waiting listener was not woken";
    EXPECT_TRUE(lost);
  });
}

}  // namespace
