// Connecting by host name resolves the name on the loop (aw::net's resolver), not with
// libpq's blocking getaddrinfo. All local: the names come from /etc/hosts ("localhost") or
// from a tiny DNS server the test runs on 127.0.0.1, which knows pg.test (127.0.0.1) and
// multi.test (127.0.0.1 and 127.0.0.2, where nothing listens) and answers NXDOMAIN for any
// other name, or reads the queries and never answers. libpq's own resolver cannot find the
// .test names (resolv.conf's servers do not know them), so a connection by one of them
// proves the lookup happened on the loop.
#if AW_PG_RESOLVE_ON_LOOP

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "../../src/pg/resolve.hpp"
#include "../common/dns_server.hpp"
#include "pg_test.hpp"

using namespace std::chrono_literals;

namespace {

// pg.test A 127.0.0.1; multi.test A 127.0.0.2 (where nothing listens) and 127.0.0.1.
// Every connect of this process asks it while it lives (a silent one with 24 h tries).
class dns_server : public test_dns_server {
 public:
  explicit dns_server(bool silent = false)
      : test_dns_server(
            {dns_record::a("pg.test", "127.0.0.1"), dns_record::a("multi.test", "127.0.0.2"), dns_record::a("multi.test", "127.0.0.1")},
            silent) {
    aw::pg::detail::set_dns_servers_for_testing(address(), silent ? 86400000 : 0);
  }
  ~dns_server() { aw::pg::detail::set_dns_servers_for_testing(""); }
};

// Runs body() while `server` serves, on a fresh loop.
template <class Body>
void with_server(dns_server& server, Body body) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await server.serve(); });
      co_await body();
      tg.cancel();
    });
  });
}

const std::string creds = " user=postgres dbname=postgres";

// Connects with `dsn`, returns the host and address libpq connected to ("pg.test 127.0.0.1").
aw::task<std::string> connected_to(std::string dsn) {
  std::string where;
  co_await aw::async_with(aw::pg::connect(dsn), [&](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
    where = std::string(PQhost(c.native())) + " " + PQhostaddr(c.native());
  });
  co_return where;
}

std::set<std::string> split(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.insert(item);
  return out;
}

TEST(PgResolve, ConnectsByName) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    EXPECT_EQ(co_await connected_to("host=pg.test port=25433" + creds), "pg.test 127.0.0.1");
    EXPECT_EQ(co_await connected_to("postgresql://postgres@pg.test:25433/postgres"), "pg.test 127.0.0.1");
    // From /etc/hosts, without DNS.
    const int before = server.queries();
    EXPECT_EQ(co_await connected_to("host=localhost port=25433" + creds), "localhost 127.0.0.1");
    EXPECT_EQ(server.queries(), before);
    // hostaddr given: no lookup at all (nowhere.test would not resolve).
    EXPECT_EQ(co_await connected_to("host=nowhere.test hostaddr=127.0.0.1 port=25433" + creds), "nowhere.test 127.0.0.1");
  });
}

TEST(PgResolve, PghostIsResolvedToo) {
  dns_server server;
  ::setenv("PGHOST", "pg.test", 1);
  with_server(server, [&]() -> aw::task<> { EXPECT_EQ(co_await connected_to("port=25433" + creds), "pg.test 127.0.0.1"); });
  ::unsetenv("PGHOST");
}

// The lists handed to libpq: a name per address, the ports in step, other entries as they are.
TEST(PgResolve, ListsGivenToLibpq) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    auto o = co_await aw::pg::detail::resolve_host_names("host=multi.test,/tmp,127.0.0.1,,localhost port=1,2,3,4,5" + creds);
    PG_CO_ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->host, "multi.test,multi.test,/tmp,127.0.0.1,,localhost");
    EXPECT_EQ(split(o->hostaddr.substr(0, o->hostaddr.find(",,"))), (std::set<std::string>{"127.0.0.1", "127.0.0.2"}));
    EXPECT_EQ(o->hostaddr.substr(o->hostaddr.find(",,")), ",,,,127.0.0.1");
    EXPECT_EQ(o->port, "1,1,2,3,4,5");
    // One port applies to every host: not repeated.
    o = co_await aw::pg::detail::resolve_host_names("postgresql://multi.test:7/db");
    PG_CO_ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->host, "multi.test,multi.test");
    EXPECT_EQ(o->port, "");
    // A name that does not resolve is left out, its port with it.
    o = co_await aw::pg::detail::resolve_host_names("host=nowhere.test,pg.test port=1,2");
    PG_CO_ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->host, "pg.test");
    EXPECT_EQ(o->hostaddr, "127.0.0.1");
    EXPECT_EQ(o->port, "2");
    // Nothing to resolve, or libpq's to decide: nothing overridden.
    for (const char* dsn : {"host=127.0.0.1,::1,/tmp", "host=pg.test hostaddr=127.0.0.1", "host=pg.test service=x",
                            "host=pg.test,pg.test port=1,2,3", "host='unterminated"})
      EXPECT_FALSE((co_await aw::pg::detail::resolve_host_names(dsn)).has_value()) << dsn;
  });
}

TEST(PgResolve, ANameThatDoesNotResolveIsSkipped) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    EXPECT_EQ(co_await connected_to("host=nowhere.test,127.0.0.1 port=25433" + creds), "127.0.0.1 127.0.0.1");
    EXPECT_EQ(co_await connected_to("host=nowhere.test,pg.test port=1,25433" + creds), "pg.test 127.0.0.1");
  });
}

TEST(PgResolve, ANameAloneThatDoesNotResolveIsAConnectionError) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    try {
      (void)co_await connected_to("host=nowhere.test port=25433 password=Sekr3tPw" + creds);
      ADD_FAILURE() << "connected";
    } catch (const aw::pg::connection_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("could not translate host name \"nowhere.test\" to address"), std::string::npos) << what;
      EXPECT_EQ(what.find("Sekr3tPw"), std::string::npos) << what;
    }
    try {
      (void)co_await connected_to("host=nowhere.test,elsewhere.test port=25433" + creds);
      ADD_FAILURE() << "connected";
    } catch (const aw::pg::connection_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("\"nowhere.test\""), std::string::npos) << what;
      EXPECT_NE(what.find("\"elsewhere.test\""), std::string::npos) << what;
    }
  });
}

// Several ports, and a name of several addresses: libpq gets lists of one length (else it
// refuses them) and tries each entry, 127.0.0.2 and the refusing port in vain.
TEST(PgResolve, NamesWithSeveralPortsAndAddresses) {
  const std::string refused = std::to_string(pg_test::refused_port());
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    EXPECT_EQ(co_await connected_to("host=pg.test,pg.test port=" + refused + ",25433" + creds), "pg.test 127.0.0.1");
    EXPECT_EQ(co_await connected_to("host=multi.test,localhost port=" + refused + ",25433" + creds), "localhost 127.0.0.1");
    EXPECT_EQ(co_await connected_to("host=multi.test port=25433" + creds), "multi.test 127.0.0.1");
  });
}

// The loop runs on while the name is being resolved: another task sees the query reach
// the (silent) server and then cancels the connect, which leaves nothing behind.
TEST(PgResolve, ResolvingDoesNotBlockTheLoopAndIsCancellable) {
  dns_server silent(true);
  with_server(silent, [&]() -> aw::task<> {
    bool finished = false;
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        (void)co_await connected_to("host=pg.test port=25433" + creds);
        finished = true;
      });
      while (silent.queries() == 0) co_await aw::sleep(1ms);
      tg.cancel();
    });
    EXPECT_FALSE(finished);
  });
}

TEST(PgResolve, ConnectTimeoutCoversResolving) {
  dns_server silent(true);
  with_server(silent, [&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::pg::connect("host=pg.test port=25433 password=Sekr3tPw" + creds, {.connect_timeout = 200ms}),
                              [](aw::pg::connection&) -> aw::task<> { co_return; });
      ADD_FAILURE() << "connected";
    } catch (const aw::pg::connect_timeout_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("not resolved within 200 ms"), std::string::npos) << what;
      EXPECT_EQ(what.find("Sekr3tPw"), std::string::npos) << what;
    }
    EXPECT_GT(silent.queries(), 0);
  });
}

}  // namespace

#endif
