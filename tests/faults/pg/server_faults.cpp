// aw::pg under a server that stops answering (SIGSTOP), is killed (immediate shutdown)
// and restarted, and under a backend terminated mid-query: every wait is bounded by the
// library's timeouts (a test that finishes is the proof), errors are typed, and the pool
// is usable afterwards. The server is this suite's own (tests/faults/pg/CMakeLists.txt).
#include <gtest/gtest.h>
#include <aw/aw.hpp>
#include <aw/pg.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../common/stderr_capture.hpp"

using namespace std::chrono_literals;

namespace {

std::string dsn() {
  const char* d = std::getenv("AW_PG_FAULT_DSN");
  return d ? d : "host=127.0.0.1 port=25434 user=postgres dbname=postgres";
}

// The postmaster: the parent of any backend.
pid_t postmaster_of(int backend_pid) {
  std::ifstream f("/proc/" + std::to_string(backend_pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  char state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// SIGSTOP to the postmaster for the guard's life: it accepts no connection (the kernel
// still completes the TCP handshake) while the backends already running go on.
struct stopped_server {
  pid_t pid;
  explicit stopped_server(pid_t p) : pid(p) { EXPECT_EQ(::kill(pid, SIGSTOP), 0); }
  ~stopped_server() { resume(); }
  void resume() {
    if (pid > 0) ::kill(pid, SIGCONT);
    pid = 0;
  }
};

// All of the pool's connections at once, each running a query: every slot came back.
aw::task<> use_every_connection(aw::pg::pool& pool) {
  co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
    for (std::size_t i = 0; i < pool.max_size(); ++i)
      g.start_soon([&pool, i]() -> aw::task<> {
        co_await aw::async_with(pool.acquire(5s), [&](aw::pg::connection& c) -> aw::task<> {
          EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT $1::int4 FROM pg_sleep(0.05)", static_cast<std::int32_t>(i)),
                    static_cast<std::int32_t>(i));
        });
      });
    co_return;
  });
  EXPECT_LE(pool.size(), pool.max_size());
}

TEST(PgFaults, ConnectingToAStoppedServerTimesOut) {
  aw::run([]() -> aw::task<> {
    aw::pg::pool_options po;
    po.min_size = 1;
    po.max_size = 2;
    po.connection.connect_timeout = 2s;
    co_await aw::async_with(aw::pg::create_pool(dsn(), po), [&](aw::pg::pool& pool) -> aw::task<> {
      int backend = 0;
      co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
        backend = c.backend_pid();
        co_return;
      });
      stopped_server stopped(postmaster_of(backend));

      // connect(): the option, then the DSN's connect_timeout alone.
      aw::pg::connection_options quick;
      quick.connect_timeout = 2s;
      EXPECT_THROW(co_await aw::async_with(aw::pg::connect(dsn(), quick), [](aw::pg::connection&) -> aw::task<> { co_return; }),
                   aw::pg::connect_timeout_error);
      aw::pg::connection_options unbounded;
      unbounded.connect_timeout = 0ms;
      EXPECT_THROW(co_await aw::async_with(aw::pg::connect(dsn() + " connect_timeout=2", unbounded),
                                           [](aw::pg::connection&) -> aw::task<> { co_return; }),
                   aw::pg::connect_timeout_error);
      // The URL form, and a second host that answers after the first one's time ran out.
      EXPECT_THROW(co_await aw::async_with(aw::pg::connect("postgresql://postgres@127.0.0.1:25434/postgres?connect_timeout=2", unbounded),
                                           [](aw::pg::connection&) -> aw::task<> { co_return; }),
                   aw::pg::connect_timeout_error);

      // The pool: the idle connection is lent; opening a second one times out.
      co_await aw::async_with(pool.acquire(2s), [&](aw::pg::connection& held) -> aw::task<> {
        EXPECT_EQ(co_await held.fetchval<std::int32_t>("SELECT 1"), 1);
        // acquire(timeout) covers opening the connection, not only the wait for a slot.
        EXPECT_THROW(co_await aw::async_with(pool.acquire(1s), [](aw::pg::connection&) -> aw::task<> { co_return; }), aw::timeout_error);
        // Without a timeout of its own, connect_timeout bounds it.
        EXPECT_THROW(co_await aw::async_with(pool.acquire(), [](aw::pg::connection&) -> aw::task<> { co_return; }),
                     aw::pg::connect_timeout_error);
        EXPECT_EQ(pool.size(), 1u);
      });

      stopped.resume();
      co_await use_every_connection(pool);
      co_await aw::async_with(aw::pg::connect(dsn() + " connect_timeout=2"),
                              [](aw::pg::connection& c) -> aw::task<> { EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 2"), 2); });
    });
  });
}

// With several hosts, a stopped one (it accepts, then says nothing) ends the attempt when
// the DSN's connect_timeout runs out: with the typed timeout, not libpq's complaint.
TEST(PgFaults, StoppedHostEndsTheAttemptWithTheTimeout) {
  aw::run([]() -> aw::task<> {
    int backend = 0;
    co_await aw::async_with(aw::pg::connect(dsn()), [&](aw::pg::connection& c) -> aw::task<> {
      backend = c.backend_pid();
      co_return;
    });
    const std::string two_hosts = "host=127.0.0.1,127.0.0.1 port=25434 user=postgres dbname=postgres connect_timeout=2";
    stopped_server stopped(postmaster_of(backend));
    aw::pg::connection_options unbounded;
    unbounded.connect_timeout = 0ms;
    EXPECT_THROW(co_await aw::async_with(aw::pg::connect(two_hosts, unbounded), [](aw::pg::connection&) -> aw::task<> { co_return; }),
                 aw::pg::connect_timeout_error);
    stopped.resume();
    co_await aw::async_with(aw::pg::connect(two_hosts),
                            [](aw::pg::connection& c) -> aw::task<> { EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 3"), 3); });
  });
}

TEST(PgFaults, BackendTerminatedMidQueryInAPool) {
  aw::run([]() -> aw::task<> {
    aw::pg::pool_options po;
    po.min_size = 2;
    po.max_size = 2;
    co_await aw::async_with(aw::pg::create_pool(dsn(), po), [&](aw::pg::pool& pool) -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
        aw::event running;
        int victim = 0;
        g.start_soon([&]() -> aw::task<> {
          co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
            victim = c.backend_pid();
            running.set();
            EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT 1 FROM pg_sleep(60)"), aw::pg::connection_lost);
            EXPECT_TRUE(c.is_closed());
          });
        });
        co_await running.wait();
        // Terminated once it runs the statement (not before it was sent).
        for (;;) {
          auto active = co_await pool.fetchval<std::int64_t>(
              "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(60)%'", victim);
          if (active == 1) break;
          co_await aw::sleep(10ms);
        }
        EXPECT_TRUE(co_await pool.fetchval<bool>("SELECT pg_terminate_backend($1)", victim));
      });
      co_await use_every_connection(pool);
    });
  });
}

// An immediate shutdown under a pool with statements running: they raise connection_lost,
// the server's goodbye (a WARNING) reaches the log listeners and not stderr, acquiring
// while the server is down fails at once, and after a restart the pool serves again.
TEST(PgFaults, ImmediateShutdownAndRestartUnderAPool) {
  aw::run([]() -> aw::task<> {
    aw::pg::pool_options po;
    po.min_size = 3;
    po.max_size = 3;
    po.connection.connect_timeout = 5s;
    co_await aw::async_with(aw::pg::create_pool(dsn(), po), [&](aw::pg::pool& pool) -> aw::task<> {
      std::vector<aw::pg::error_fields> heard;
      stderr_capture captured;
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
        int running = 0;
        aw::event all_running;
        for (int i = 0; i < 2; ++i)
          g.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(pool.acquire(), [&](aw::pg::connection& c) -> aw::task<> {
              c.add_log_listener([&](aw::pg::connection&, const aw::pg::error_fields& f) { heard.push_back(f); });
              if (++running == 2) all_running.set();
              EXPECT_THROW(co_await c.fetchval<std::int32_t>("SELECT 1 FROM pg_sleep(60)"), aw::pg::connection_lost);
            });
          });
        co_await all_running.wait();
        co_await aw::sleep(200ms);  // the statements reach the server (their failure is the same either way)
        co_await aw::to_thread([] { EXPECT_EQ(std::system(AW_PG_FAULT_STOP), 0); });
      });
      // The server is down: an acquire fails (refused), it does not wait.
      EXPECT_THROW(co_await aw::async_with(pool.acquire(10s), [](aw::pg::connection&) -> aw::task<> { co_return; }),
                   aw::pg::connection_error);
      std::string err = captured.finish();
      EXPECT_EQ(err.find("terminating connection"), std::string::npos) << err;
      bool warned = false;
      for (const auto& f : heard) warned |= f.severity == "WARNING" && f.sqlstate == "57P01";
      EXPECT_TRUE(warned) << heard.size() << " messages heard";

      co_await aw::to_thread([] { EXPECT_EQ(std::system(AW_PG_FAULT_RESTART), 0); });
      co_await use_every_connection(pool);
    });
  });
}

}  // namespace
