// Concurrent queries on one connection are pipelined: sent without waiting for each other's
// results, each answered to its own task, an error failing only its own statement;
// operations that need the session alone wait for the pipeline; cancellation at every wait
// (queued, at the head, behind an abandoned statement, while an exclusive operation waits)
// leaves the connection usable and the results where they belong.
#include <gtest/gtest.h>

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

// The advisory lock the tests block statements on: one key per test, as ctest runs each test
// in a process of its own and, with -j, two at once, which must not take each other's lock.
std::int64_t lock_key() {
  const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = t ? std::string(t->test_suite_name()) + "." + t->name() : "";
  std::uint32_t h = 2166136261u;  // FNV-1a: the same key in every run
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
  return 774411LL * 1000000 + h % 1000000;
}

// A second session holding an advisory lock: a statement that asks for it blocks on the
// server until the holder lets go (no timing involved).
template <class Body>
aw::task<> with_lock_held(Body body) {
  co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& holder) -> aw::task<> {
    co_await holder.execute("SELECT pg_advisory_lock($1)", lock_key());
    co_await body(holder);
    co_await holder.execute("SELECT pg_advisory_unlock_all()");
  });
}

// Waits until session `pid` waits for the advisory lock on the server.
aw::task<> until_waiting_for_lock(aw::pg::connection& observer, int pid) {
  for (;;) {
    auto n = co_await observer.fetchval<std::int64_t>(
        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted", pid);
    if (n > 0) co_return;
    co_await aw::sleep(2ms);
  }
}

// Runs the lock statement once (taking and releasing the lock) so that it is in the
// statement cache: a statement still to be prepared waits for the pipeline instead.
aw::task<> warm_lock_statement(aw::pg::connection& c, const char* sql) {
  co_await c.execute(sql, lock_key());
  co_await c.execute("SELECT pg_advisory_unlock_all()");
}

// A quick query started first in a burst: it runs alone (not pipelined), and the tasks
// started with it wait for it and are then pipelined behind each other.
void start_lead(aw::task_group& tg, aw::pg::connection& c) {
  tg.start_soon([&c]() -> aw::task<> { EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0); });
}

struct trace_line {
  char dir;  // 'F' (sent) or 'B' (received)
  std::string message;
};

// libpq's protocol trace of a connection, into a temporary file (nullptr: none could be made).
std::FILE* start_trace(pg_conn* c) {
  std::FILE* f = std::tmpfile();
  if (f) {
    PQtrace(c, f);
    PQsetTraceFlags(c, PQTRACE_SUPPRESS_TIMESTAMPS);
  }
  return f;
}

// Stops it: the protocol messages libpq traced, in the order it sent and parsed them.
std::vector<trace_line> stop_trace(pg_conn* c, std::FILE* f) {
  PQuntrace(c);
  std::fflush(f);
  std::rewind(f);
  std::vector<trace_line> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f)) {
    std::istringstream in(buf);
    std::string dir, len, msg;
    std::getline(in, dir, '\t');
    std::getline(in, len, '\t');
    std::getline(in, msg, '\t');
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (dir == "F" || dir == "B") lines.push_back({dir[0], msg});
  }
  std::fclose(f);
  return lines;
}

// How many Syncs went out after the first answer (ReadyForQuery) before the next one came:
// each statement ends with one, so one statement at a time gives 1, and statements sent
// without waiting for each other's answers give more.
int syncs_after_first_answer(const std::vector<trace_line>& lines) {
  std::size_t i = 0;
  while (i < lines.size() && !(lines[i].dir == 'B' && lines[i].message == "ReadyForQuery")) ++i;
  int syncs = 0;
  for (++i; i < lines.size() && lines[i].dir == 'F'; ++i)
    if (lines[i].message == "Sync") ++syncs;
  return syncs;
}

TEST(PgPipeline, ConcurrentQueriesAreSentBeforeTheFirstResultIsRead) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    // Prepared first: the statements below are sent at once (preparing waits for the pipeline).
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    co_await warm_lock_statement(c, "SELECT 7 FROM pg_advisory_lock($1)");
    std::FILE* trace = start_trace(c.native());
    PG_CO_ASSERT_TRUE(trace != nullptr);
    std::vector<std::int32_t> got(5, -1);
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        // The first blocks on the server until the lock is released; the others come while
        // it waits.
        tg.start_soon(
            [&]() -> aw::task<> { got[0] = co_await c.fetchval<std::int32_t>("SELECT 7 FROM pg_advisory_lock($1)", lock_key()); });
        for (int i = 1; i < 5; ++i)
          tg.start_soon([&, i]() -> aw::task<> { got[i] = co_await c.fetchval<std::int32_t>("SELECT $1::int", i); });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    std::vector<trace_line> lines = stop_trace(c.native(), trace);
    co_await c.execute("SELECT pg_advisory_unlock_all()");
    EXPECT_EQ(got, (std::vector<std::int32_t>{7, 1, 2, 3, 4}));
    // The first, alone on the connection, is sent as it is and answered; of the four that
    // came while it ran, the next ones are sent before the first of their results is read
    // (each takes the connection in turn on the loop, so a fast reply may be read before
    // the last of them is sent: at least two, not always four).
    EXPECT_GE(syncs_after_first_answer(lines), 2) << "statements waited for each other's results";
  });
}

TEST(PgPipeline, TwoHundredConcurrentQueriesEachGetTheirOwnResult) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE p (id int, v text)");
    std::vector<std::string> tags(100);
    std::vector<std::int64_t> rows(100, -1);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 100; ++i) {
        tg.start_soon([&, i]() -> aw::task<> { tags[i] = co_await c.execute("INSERT INTO p VALUES ($1, $2)", i, std::to_string(i)); });
        tg.start_soon([&, i]() -> aw::task<> {
          aw::pg::result r = co_await c.fetch("SELECT g FROM generate_series(1, $1) g", i);  // i rows
          rows[i] = static_cast<std::int64_t>(r.size());
          for (std::size_t k = 0; k < r.size(); ++k) EXPECT_EQ(r[k].get<std::int32_t>(0), static_cast<std::int32_t>(k + 1));
        });
      }
      co_return;
    });
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(tags[i], "INSERT 0 1");
      EXPECT_EQ(rows[i], i);
    }
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(DISTINCT id) FROM p WHERE v = id::text"), 100);
  });
}

TEST(PgPipeline, AnErrorFailsOnlyItsOwnStatement) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE e (v int)");
    std::optional<std::string> sqlstate;
    std::int32_t after = 0;
    std::string inserted;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { inserted = co_await c.execute("INSERT INTO e VALUES ($1)", 1); });
      tg.start_soon([&]() -> aw::task<> {
        try {
          co_await c.fetchval<std::int32_t>("SELECT 1 / $1::int", 0);
        } catch (const aw::pg::postgres_error& e) {
          sqlstate = e.sqlstate();
        }
      });
      tg.start_soon([&]() -> aw::task<> { after = co_await c.fetchval<std::int32_t>("SELECT $1::int + 1", 41); });
      tg.start_soon([&]() -> aw::task<> { co_await c.execute("INSERT INTO e VALUES ($1)", 2); });
      co_return;
    });
    EXPECT_EQ(sqlstate, "22012");  // division_by_zero
    EXPECT_EQ(after, 42);
    EXPECT_EQ(inserted, "INSERT 0 1");
    // Each statement was a transaction of its own: both inserts are there.
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM e"), 2);
    EXPECT_FALSE(c.in_transaction());
  });
}

TEST(PgPipeline, InsideATransactionAFailureAbortsTheRestAndRollsBack) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE t (v int)");
    std::vector<std::string> states;
    bool rolled_back = false;
    try {
      co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> { co_await c.execute("INSERT INTO t VALUES ($1)", 1); });
          for (int i = 0; i < 3; ++i)
            tg.start_soon([&, i]() -> aw::task<> {
              try {
                co_await c.execute(i == 0 ? "INSERT INTO t VALUES (1 / $1::int)" : "INSERT INTO t VALUES ($1)", i == 0 ? 0 : i);
              } catch (const aw::pg::postgres_error& e) {
                states.push_back(e.sqlstate());
              }
            });
          co_return;
        });
      });
    } catch (const aw::pg::interface_error&) {  // a statement failed and its error was caught: rolled back
      rolled_back = true;
    }
    EXPECT_TRUE(rolled_back);
    EXPECT_EQ(states, (std::vector<std::string>{"22012", "25P02", "25P02"}));  // in_failed_sql_transaction after it
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM t"), 0);
  });
}

TEST(PgPipeline, OperationsThatNeedTheSessionWaitForThePipeline) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE m (v int)");
    std::vector<std::int32_t> got(40, -1);
    std::string copied;
    std::int64_t in_tx = -1;
    std::vector<std::int32_t> via_cursor;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 40; ++i) {
        tg.start_soon([&, i]() -> aw::task<> { got[i] = co_await c.fetchval<std::int32_t>("SELECT $1::int * 3", i); });
        if (i == 5) tg.start_soon([&]() -> aw::task<> { co_await c.execute("SET application_name = 'pipelined'"); });
        if (i == 10)
          tg.start_soon([&]() -> aw::task<> {
            std::vector<std::tuple<std::int32_t>> recs{{100}, {101}};
            copied = co_await c.copy_records_to_table("m", recs);
          });
        if (i == 15)
          tg.start_soon([&]() -> aw::task<> {
            std::vector<std::tuple<std::int32_t>> many{{1}, {2}, {3}};
            co_await c.executemany("INSERT INTO m VALUES ($1)", many);
          });
        if (i == 20)
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
              in_tx = co_await c.fetchval<std::int64_t>("SELECT count(*) FROM m WHERE v < $1", 1000);
              co_await aw::async_with(c.cursor("SELECT g FROM generate_series(1, $1) g", 3), [&](aw::pg::cursor& it) -> aw::task<> {
                while (std::optional<aw::pg::record> r = co_await it.next()) via_cursor.push_back(r->get<std::int32_t>(0));
              });
            });
          });
        if (i == 25)
          tg.start_soon([&]() -> aw::task<> {
            aw::pg::prepared_statement st = co_await c.prepare("SELECT $1::int + 1000");
            EXPECT_EQ((co_await st.fetchval<std::int32_t>(1)), 1001);
          });
      }
      co_return;
    });
    for (int i = 0; i < 40; ++i) EXPECT_EQ(got[i], 3 * i);
    EXPECT_EQ(copied, "COPY 2");
    EXPECT_EQ(in_tx, 5);  // copy and executemany ran before the transaction began
    EXPECT_EQ(via_cursor, (std::vector<std::int32_t>{1, 2, 3}));
    EXPECT_EQ(co_await c.fetchval<std::string>("SHOW application_name"), "pipelined");
  });
}

TEST(PgPipeline, CancellingAQueuedQueryAbandonsItAndTheOthersGetTheirResults) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE a (v int)");
    co_await warm_lock_statement(c, "SELECT 1 FROM pg_advisory_lock($1)");
    co_await c.execute("INSERT INTO a VALUES ($1)", 0);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    std::int32_t first = 0, third = 0;
    bool second_done = true;
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        start_lead(tg, c);  // so that the statements below are pipelined
        tg.start_soon([&]() -> aw::task<> { first = co_await c.fetchval<std::int32_t>("SELECT 1 FROM pg_advisory_lock($1)", lock_key()); });
        tg.start_soon([&]() -> aw::task<> {
          second_done = co_await aw::move_on_after(30ms, [&]() -> aw::task<> { co_await c.execute("INSERT INTO a VALUES ($1)", 2); });
        });
        tg.start_soon([&]() -> aw::task<> { third = co_await c.fetchval<std::int32_t>("SELECT $1::int", 3); });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await aw::sleep(60ms);  // the second's timeout has passed while it waited behind the first
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    EXPECT_FALSE(second_done);
    EXPECT_EQ(first, 1);
    EXPECT_EQ(third, 3);
    // The abandoned statement had been sent: the server ran it (a cancelled write may apply).
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM a WHERE v = $1", 2), 1);
    co_await c.execute("SELECT pg_advisory_unlock_all()");
  });
}

TEST(PgPipeline, CancellingTheHeadWithALiveQueryBehindAbandonsItWithoutACancelRequest) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    bool head_done = true;
    std::int32_t behind = 0;
    co_await warm_lock_statement(c, "SELECT pg_advisory_lock($1)");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        start_lead(tg, c);  // so that the statements below are pipelined
        tg.start_soon([&]() -> aw::task<> {
          head_done =
              co_await aw::move_on_after(50ms, [&]() -> aw::task<> { co_await c.execute("SELECT pg_advisory_lock($1)", lock_key()); });
        });
        tg.start_soon([&]() -> aw::task<> { behind = co_await c.fetchval<std::int32_t>("SELECT $1::int", 9); });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await aw::sleep(80ms);  // the head's timeout has passed
        // No cancel request was sent (it could have hit the statement behind): the lock
        // request still waits on the server.
        EXPECT_EQ(co_await holder.fetchval<std::int64_t>(
                      "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted", c.backend_pid()),
                  1);
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    EXPECT_FALSE(head_done);
    EXPECT_EQ(behind, 9);
    // The abandoned statement ran: this session holds the lock now.
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"), 1);
    co_await c.execute("SELECT pg_advisory_unlock_all()");
  });
}

TEST(PgPipeline, CancellingTheHeadAloneCancelsOnTheServerAndDropsAnAbandonedOneBehind) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE d (v int)");
    co_await warm_lock_statement(c, "SELECT pg_advisory_lock($1)");
    co_await c.execute("INSERT INTO d VALUES ($1)", 0);
    bool head_done = true, behind_done = true;
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        start_lead(tg, c);  // so that the statements below are pipelined
        tg.start_soon([&]() -> aw::task<> {
          head_done =
              co_await aw::move_on_after(100ms, [&]() -> aw::task<> { co_await c.execute("SELECT pg_advisory_lock($1)", lock_key()); });
        });
        tg.start_soon([&]() -> aw::task<> {
          behind_done = co_await aw::move_on_after(30ms, [&]() -> aw::task<> { co_await c.execute("INSERT INTO d VALUES ($1)", 5); });
        });
        co_await until_waiting_for_lock(holder, c.backend_pid());
      });
      // The head was cancelled on the server (nothing live behind it): the lock was never
      // granted, although the holder still has it.
      EXPECT_EQ(
          co_await holder.fetchval<std::int64_t>("SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory'", c.backend_pid()),
          0);
    });
    EXPECT_FALSE(head_done);
    EXPECT_FALSE(behind_done);
    // A statement alone on the session drops the abandoned one's results first; the next
    // query gets its own result, not the abandoned one's.
    EXPECT_EQ(co_await c.execute("SELECT 1"), "SELECT 1");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 77), 77);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT count(*) FROM d WHERE v = $1", 5), 1);  // the abandoned insert ran
  });
}

TEST(PgPipeline, CancellingAnOperationWaitingForThePipelineSendsNothing) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::int32_t first = 0;
    bool set_done = true;
    co_await warm_lock_statement(c, "SELECT 4 FROM pg_advisory_lock($1)");
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        start_lead(tg, c);  // so that the statements below are pipelined
        tg.start_soon([&]() -> aw::task<> { first = co_await c.fetchval<std::int32_t>("SELECT 4 FROM pg_advisory_lock($1)", lock_key()); });
        tg.start_soon([&]() -> aw::task<> {
          set_done = co_await aw::move_on_after(30ms, [&]() -> aw::task<> { co_await c.execute("SET application_name = 'never'"); });
        });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await aw::sleep(60ms);
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    EXPECT_FALSE(set_done);
    EXPECT_EQ(first, 4);
    EXPECT_NE(co_await c.fetchval<std::string>("SHOW application_name"), "never");
    co_await c.execute("SELECT pg_advisory_unlock_all()");
  });
}

// Five statements in flight (the head blocked on the server) when the connection ends,
// terminated by the server or closed by another task: every one raises connection_lost,
// none hangs, and the connection is unusable after.
template <class End>
void statements_in_flight_when_the_connection_ends(End end) {
  with_connection([&](aw::pg::connection& c) -> aw::task<> {
    int lost = 0;
    co_await warm_lock_statement(c, "SELECT pg_advisory_lock($1)");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        start_lead(tg, c);  // so that the statements below are pipelined
        for (int i = 0; i < 5; ++i)
          tg.start_soon([&, i]() -> aw::task<> {
            try {
              if (i == 0)
                co_await c.execute("SELECT pg_advisory_lock($1)", lock_key());
              else
                co_await c.fetchval<std::int32_t>("SELECT $1::int", i);
              ADD_FAILURE() << "statement " << i << " succeeded";
            } catch (const aw::pg::connection_lost&) {
              ++lost;
            }
          });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await end(holder, c);
      });
    });
    EXPECT_EQ(lost, 5);
    EXPECT_TRUE(c.is_closed());
    bool refused = false;
    try {
      (void)co_await c.fetchval<std::int32_t>("SELECT 1");
    } catch (const aw::pg::connection_error&) {  // lost earlier
      refused = true;
    } catch (const aw::pg::interface_error&) {  // closed
      refused = true;
    }
    EXPECT_TRUE(refused);
  });
}

TEST(PgPipeline, ALostConnectionFailsEveryStatementInFlight) {
  statements_in_flight_when_the_connection_ends([](aw::pg::connection& holder, aw::pg::connection& c) -> aw::task<> {
    co_await holder.execute("SELECT pg_terminate_backend($1)", c.backend_pid());
  });
}

TEST(PgPipeline, ClosingTheConnectionFailsEveryStatementInFlight) {
  statements_in_flight_when_the_connection_ends([](aw::pg::connection&, aw::pg::connection& c) -> aw::task<> {
    c.close();
    co_return;
  });
}

TEST(PgPipeline, PreparedStatementsArePipelinedToo) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::pg::prepared_statement locked = co_await c.prepare("SELECT 7 FROM pg_advisory_lock($1)");
    aw::pg::prepared_statement times3 = co_await c.prepare("SELECT $1::int * 3");
    EXPECT_EQ(co_await locked.fetchval<std::int32_t>(lock_key()), 7);
    co_await c.execute("SELECT pg_advisory_unlock_all()");
    std::FILE* trace = start_trace(c.native());
    PG_CO_ASSERT_TRUE(trace != nullptr);
    std::vector<std::int32_t> got(6, -1);
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { got[0] = co_await locked.fetchval<std::int32_t>(lock_key()); });
        for (int i = 1; i < 6; ++i) tg.start_soon([&, i]() -> aw::task<> { got[i] = co_await times3.fetchval<std::int32_t>(i); });
        co_await until_waiting_for_lock(holder, c.backend_pid());
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    std::vector<trace_line> lines = stop_trace(c.native(), trace);
    co_await c.execute("SELECT pg_advisory_unlock_all()");
    EXPECT_EQ(got, (std::vector<std::int32_t>{7, 3, 6, 9, 12, 15}));
    EXPECT_GE(syncs_after_first_answer(lines), 2) << "the prepared statements waited for each other's results";
    // A failure fails only its own run; many runs from many tasks each get their own.
    int wrong = 0;
    bool failed = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 100; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          if (i == 50) {
            try {
              (void)co_await times3.fetchval<std::int32_t>(std::string("not a number"));
            } catch (const aw::pg::error&) {
              failed = true;
            }
            co_return;
          }
          wrong += co_await times3.fetchval<std::int32_t>(i) != 3 * i;
        });
      co_return;
    });
    EXPECT_TRUE(failed);
    EXPECT_EQ(wrong, 0);
  });
}

TEST(PgPipeline, ACursorOpensAndReadsWhileOtherStatementsAreInFlight) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    std::vector<std::int32_t> via_cursor;
    int wrong = 0;
    co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 20; ++i)
          tg.start_soon([&, i]() -> aw::task<> { wrong += co_await c.fetchval<std::int32_t>("SELECT $1::int", i) != i; });
        // The transaction status reads PQTRANS_ACTIVE while they are in flight: the cursor
        // looks at it only with the connection to itself.
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(
              c.cursor({.prefetch = 2}, "SELECT g FROM generate_series(1, $1) g", 5), [&](aw::pg::cursor& it) -> aw::task<> {
                while (std::optional<aw::pg::record> r = co_await it.next()) {
                  via_cursor.push_back(r->get<std::int32_t>(0));
                  tg.start_soon([&]() -> aw::task<> { wrong += co_await c.fetchval<std::int32_t>("SELECT $1::int", 9) != 9; });
                }
              });
        });
        co_return;
      });
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(via_cursor, (std::vector<std::int32_t>{1, 2, 3, 4, 5}));
    EXPECT_FALSE(c.in_transaction());
  });
}

// ---------------------------------------------------------------------------------------
// The pool's multiplex option: shortcuts share busy connections, pipelined.

aw::pg::pool_options one_connection(bool multiplex, aw::pg::connection** seen) {
  aw::pg::pool_options o;
  o.min_size = 1;
  o.max_size = 1;
  o.multiplex = multiplex;
  if (seen)
    o.init = [seen](aw::pg::connection& c) -> aw::task<> {
      *seen = &c;
      co_return;
    };
  return o;
}

template <class Body>
void with_pool(aw::pg::pool_options o, Body body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::pg::create_pool(pg_test::dsn(), std::move(o)), [&](aw::pg::pool& p) -> aw::task<> { co_await body(p); });
  });
}

constexpr const char* xact_lock = "SELECT 7 FROM pg_advisory_xact_lock($1)";  // let go at the statement's end

// Five shortcuts on a pool of one connection, the first blocked on the server while the
// other four come: gives how many Syncs were sent after the first statement's answer before
// the next answer (each statement ends with one: one statement at a time gives 1),
// and checks every result and what the pool holds meanwhile and afterwards.
int syncs_of_a_burst(bool multiplex) {
  aw::pg::connection* conn = nullptr;
  int syncs = -1;
  with_pool(one_connection(multiplex, &conn), [&](aw::pg::pool& p) -> aw::task<> {
    // Both statements cached first (preparing one waits for the pipeline).
    EXPECT_EQ(co_await p.fetchval<std::int32_t>(xact_lock, lock_key()), 7);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    PG_CO_ASSERT_TRUE(conn != nullptr);
    std::FILE* trace = start_trace(conn->native());
    PG_CO_ASSERT_TRUE(trace != nullptr);
    std::vector<std::int32_t> got(5, -1);
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { got[0] = co_await p.fetchval<std::int32_t>(xact_lock, lock_key()); });
        for (int i = 1; i < 5; ++i)
          tg.start_soon([&, i]() -> aw::task<> { got[i] = co_await p.fetchval<std::int32_t>("SELECT $1::int", i); });
        co_await until_waiting_for_lock(holder, conn->backend_pid());
        EXPECT_EQ(p.size(), 1u);
        EXPECT_EQ(p.idle_size(), 0u);
        EXPECT_EQ(p.shared_size(), multiplex ? 1u : 0u);
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    std::vector<trace_line> lines = stop_trace(conn->native(), trace);
    EXPECT_EQ(got, (std::vector<std::int32_t>{7, 1, 2, 3, 4}));
    EXPECT_EQ(p.size(), 1u);
    EXPECT_EQ(p.idle_size(), 1u);
    EXPECT_EQ(p.shared_size(), 0u);
    syncs = syncs_after_first_answer(lines);
  });
  return syncs;
}

TEST(PgPoolMultiplex, ShortcutsShareABusyConnectionPipelined) {
  // The four wait for the first (it runs alone), and then go out together.
  EXPECT_GE(syncs_of_a_burst(true), 2) << "the shortcuts did not share the connection";
}

TEST(PgPoolMultiplex, WithoutItEachShortcutWaitsForAConnection) { EXPECT_EQ(syncs_of_a_burst(false), 1); }

TEST(PgPoolMultiplex, ManyTasksMixedShortcutsEachGetTheirOwnResult) {
  auto o = one_connection(true, nullptr);
  o.min_size = 0;
  o.max_size = 2;
  with_pool(o, [](aw::pg::pool& p) -> aw::task<> {
    // A table of this process's own (the pool's two connections both write to it).
    const std::string table = "aw_multiplex_rows_" + std::to_string(::getpid());
    co_await p.execute("DROP TABLE IF EXISTS " + table);
    co_await p.execute("CREATE TABLE " + table + " (v int)");
    int wrong = 0;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 200; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          switch (i % 4) {
            case 0:
              wrong += co_await p.fetchval<std::int32_t>("SELECT $1::int * 2", i) != 2 * i;
              break;
            case 1: {
              auto r = co_await p.fetchrow("/* a comment */ SELECT $1::text AS t", std::to_string(i));
              wrong += !r || r->get<std::string>("t") != std::to_string(i);
              break;
            }
            case 2:
              wrong += (co_await p.fetch("select generate_series(1, $1)", i % 10)).size() != static_cast<std::size_t>(i % 10);
              break;
            default:
              wrong += co_await p.execute("INSERT INTO " + table + " VALUES ($1)", i) != "INSERT 0 1";
          }
          EXPECT_LE(p.size(), 2u);
        });
      co_return;
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(co_await p.fetchval<std::int64_t>("SELECT count(*) FROM " + table), 50);
    EXPECT_EQ(p.shared_size(), 0u);
    EXPECT_EQ(p.idle_size(), p.size());
    co_await p.execute("DROP TABLE " + table);
  });
}

TEST(PgPoolMultiplex, AnErrorFailsOnlyItsOwnStatement) {
  with_pool(one_connection(true, nullptr), [](aw::pg::pool& p) -> aw::task<> {
    std::vector<int> got(10, -1);
    bool divided_by_zero = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 10; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          try {
            got[i] = co_await p.fetchval<std::int32_t>("SELECT 100 / $1::int", i == 3 ? 0 : 1);
          } catch (const aw::pg::division_by_zero&) {
            divided_by_zero = true;
          }
        });
      co_return;
    });
    EXPECT_TRUE(divided_by_zero);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(got[i], i == 3 ? -1 : 100) << i;
    EXPECT_EQ(p.size(), 1u);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgPoolMultiplex, OnlyPlainStatementsShare) {
  using aw::pg::pool;
  EXPECT_TRUE(pool::shareable("SELECT 1"));
  EXPECT_TRUE(pool::shareable("  \n\tselect 1"));
  EXPECT_TRUE(pool::shareable("(SELECT 1) UNION (SELECT 2)"));
  EXPECT_TRUE(pool::shareable("-- a note\nWITH x AS (SELECT 1) SELECT * FROM x"));
  EXPECT_TRUE(pool::shareable("/* outer /* nested */ still a comment */ Insert INTO t VALUES (1)"));
  EXPECT_TRUE(pool::shareable("update t SET v = 1"));
  EXPECT_TRUE(pool::shareable("DELETE FROM t"));
  EXPECT_TRUE(pool::shareable("MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING"));
  EXPECT_TRUE(pool::shareable("VALUES (1)"));
  EXPECT_TRUE(pool::shareable("TABLE t"));
  EXPECT_FALSE(pool::shareable("BEGIN"));
  EXPECT_FALSE(pool::shareable("SET search_path = x"));
  EXPECT_FALSE(pool::shareable("SHOW search_path"));
  EXPECT_FALSE(pool::shareable("LISTEN x"));
  EXPECT_FALSE(pool::shareable("selector"));
  EXPECT_FALSE(pool::shareable(""));
  EXPECT_FALSE(pool::shareable("-- only a comment"));
  EXPECT_FALSE(pool::shareable("/* unterminated SELECT 1"));
  EXPECT_FALSE(pool::shareable("/* /* */ SELECT 1"));  // still inside the outer comment
}

TEST(PgPoolMultiplex, AStatementThatMayNotShareWaitsForAConnectionOfItsOwn) {
  aw::pg::connection* conn = nullptr;
  with_pool(one_connection(true, &conn), [&](aw::pg::pool& p) -> aw::task<> {
    EXPECT_EQ(co_await p.fetchval<std::int32_t>(xact_lock, lock_key()), 7);
    std::vector<std::string> order;
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> {
          co_await p.fetchval<std::int32_t>(xact_lock, lock_key());
          order.push_back("lock");
        });
        co_await until_waiting_for_lock(holder, conn->backend_pid());
        // SET changes the session: it waits for the shared connection to be given back,
        // and the shortcut that comes after it waits behind it instead of joining.
        tg.start_soon([&]() -> aw::task<> {
          co_await p.execute("SET application_name = 'aw_multiplex'");
          order.push_back("set");
        });
        co_await aw::sleep(1ms);
        tg.start_soon([&]() -> aw::task<> {
          EXPECT_NE(co_await p.fetchval<std::string>("SELECT current_setting('application_name')"),
                    std::string("aw_multiplex"));  // reset on release
          order.push_back("select");
        });
        co_await aw::sleep(1ms);
        EXPECT_EQ(p.shared_size(), 1u);
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    EXPECT_EQ(order, (std::vector<std::string>{"lock", "set", "select"}));
  });
}

TEST(PgPoolMultiplex, AcquireIsNotStarvedByShortcuts) {
  with_pool(one_connection(true, nullptr), [](aw::pg::pool& p) -> aw::task<> {
    bool stop = false;
    int queries = 0;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int t = 0; t < 16; ++t)
        tg.start_soon([&]() -> aw::task<> {
          while (!stop) queries += co_await p.fetchval<std::int32_t>("SELECT $1::int", 1);
        });
      while (queries < 100) co_await aw::sleep(1ms);
      // The shared connection never empties while 16 tasks keep it busy; acquire() gets
      // it because shortcuts stop joining while it waits. (The timeout only bounds a failure.)
      co_await aw::async_with(p.acquire(30s), [&](aw::pg::connection& c) -> aw::task<> {
        EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 5"), 5);
        co_return;
      });
      stop = true;
    });
    EXPECT_EQ(p.shared_size(), 0u);
  });
}

TEST(PgPoolMultiplex, CancellingASharedShortcutKeepsThePoolWhole) {
  aw::pg::connection* conn = nullptr;
  with_pool(one_connection(true, &conn), [&](aw::pg::pool& p) -> aw::task<> {
    EXPECT_EQ(co_await p.fetchval<std::int32_t>(xact_lock, lock_key()), 7);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT $1::int", 0), 0);
    std::int32_t first = 0, third = 0;
    bool second_done = true;
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { first = co_await p.fetchval<std::int32_t>(xact_lock, lock_key()); });
        co_await until_waiting_for_lock(holder, conn->backend_pid());
        tg.start_soon([&]() -> aw::task<> {
          second_done =
              co_await aw::move_on_after(20ms, [&]() -> aw::task<> { (void)co_await p.fetchval<std::int32_t>("SELECT $1::int", 2); });
        });
        tg.start_soon([&]() -> aw::task<> { third = co_await p.fetchval<std::int32_t>("SELECT $1::int", 3); });
        co_await aw::sleep(50ms);  // the second's timeout has passed while it waited behind the first
        co_await holder.execute("SELECT pg_advisory_unlock($1)", lock_key());
      });
    });
    EXPECT_FALSE(second_done);
    EXPECT_EQ(first, 7);
    EXPECT_EQ(third, 3);
    EXPECT_EQ(p.shared_size(), 0u);
    EXPECT_EQ(p.idle_size(), 1u);
    EXPECT_EQ(co_await p.fetchval<std::int32_t>("SELECT $1::int", 4), 4);
  });
}

TEST(PgPoolMultiplex, ALostSharedConnectionFailsItsStatementsAndIsReplaced) {
  aw::pg::connection* conn = nullptr;
  with_pool(one_connection(true, &conn), [&](aw::pg::pool& p) -> aw::task<> {
    EXPECT_EQ(co_await p.fetchval<std::int32_t>(xact_lock, lock_key()), 7);
    const int pid = conn->backend_pid();
    int lost = 0;
    co_await with_lock_held([&](aw::pg::connection& holder) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 4; ++i)
          tg.start_soon([&, i]() -> aw::task<> {
            try {
              (void)co_await p.fetchval<std::int32_t>(i == 0 ? xact_lock : "SELECT $1::int", lock_key());
            } catch (const aw::pg::connection_lost&) {
              ++lost;
            }
          });
        co_await until_waiting_for_lock(holder, pid);
        co_await holder.execute("SELECT pg_terminate_backend($1)", pid);
      });
    });
    EXPECT_EQ(lost, 4);  // none lost silently
    EXPECT_EQ(p.shared_size(), 0u);
    EXPECT_NE(co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()"), pid);
    EXPECT_EQ(p.size(), 1u);
  });
}

TEST(PgPoolMultiplex, AConnectionAtMaxQueriesDrainsAndIsReplaced) {
  auto o = one_connection(true, nullptr);
  o.max_queries = 5;
  with_pool(o, [](aw::pg::pool& p) -> aw::task<> {
    std::set<int> pids;
    for (int round = 0; round < 3; ++round)
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
        for (int i = 0; i < 8; ++i)
          tg.start_soon([&]() -> aw::task<> { pids.insert(co_await p.fetchval<std::int32_t>("SELECT pg_backend_pid()")); });
        co_return;
      });
    // 24 statements, at most 5 per connection once it stops taking more (those already on
    // it finish there): several connections, one at a time.
    EXPECT_GE(pids.size(), 2u);
    EXPECT_LE(p.size(), 1u);  // the last one may have been dropped: replaced on demand
    EXPECT_EQ(p.shared_size(), 0u);
  });
}

}  // namespace
