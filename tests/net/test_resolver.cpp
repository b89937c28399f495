// aw::net::getaddrinfo and getnameinfo, all local: numeric hosts, /etc/hosts, and DNS
// answered by a tiny server the test runs on 127.0.0.1 (options.servers points c-ares at
// it), which knows a few names and answers NXDOMAIN for the rest, or stays silent.
#include <aw/net/resolver.hpp>

#include <aw/net/errors.hpp>

#include <aw/cancel_scope.hpp>
#include <aw/run.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <ares.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "../common/dns_server.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using aw::net::address_info;
using aw::net::getaddrinfo_options;

// db.test A 10.1.2.3 (no AAAA), v6.test AAAA fd00::1:2:3 (no A), alias.test a CNAME to
// db.test, a PTR for 10.1.2.3; NXDOMAIN for any other name.
class dns_server : public test_dns_server {
 public:
  explicit dns_server(bool silent = false)
      : test_dns_server({dns_record::a("db.test", "10.1.2.3"), dns_record::aaaa("v6.test", "fd00::1:2:3"),
                         dns_record::cname("alias.test", "db.test"), dns_record::ptr("3.2.1.10.in-addr.arpa", "db.test")},
                        silent) {}
};

// Runs body() while `server` answers, on a fresh loop.
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

std::set<std::string> hosts_of(const std::vector<address_info>& v) {
  std::set<std::string> out;
  for (const address_info& a : v) out.insert(a.address.host());
  return out;
}

// /etc/hosts as a map from name to its addresses (names as written, lower-cased).
std::map<std::string, std::set<std::string>> read_hosts_file() {
  std::map<std::string, std::set<std::string>> out;
  std::ifstream in("/etc/hosts");
  for (std::string line; std::getline(in, line);) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string addr, name;
    if (!(fields >> addr)) continue;
    while (fields >> name) {
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out[name].insert(addr);
    }
  }
  return out;
}

// The first name of the first /etc/hosts line that names `name`: its canonical name.
std::string first_name_of(const std::string& name) {
  std::ifstream in("/etc/hosts");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line.substr(0, line.find('#')));
    std::string addr, first, n;
    if (!(fields >> addr >> first)) continue;
    if (first == name) return first;
    while (fields >> n)
      if (n == name) return first;
  }
  return name;
}

int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

TEST(NetResolver, NumericIpv4ListsEachSocketType) {
  dns_server silent(true);  // were DNS asked, the lookup would never end
  std::vector<address_info> v;
  with_server(silent,
              [&]() -> aw::task<> { v = co_await aw::net::getaddrinfo("127.0.0.1", 80, {.servers = silent.address(), .timeout = 24h}); });
  ASSERT_EQ(v.size(), 3u);  // Python's getaddrinfo("127.0.0.1", 80): stream, datagram, raw
  EXPECT_EQ(v[0].socktype, SOCK_STREAM);
  EXPECT_EQ(v[0].protocol, IPPROTO_TCP);
  EXPECT_EQ(v[1].socktype, SOCK_DGRAM);
  EXPECT_EQ(v[1].protocol, IPPROTO_UDP);
  EXPECT_EQ(v[2].socktype, SOCK_RAW);
  for (const address_info& a : v) {
    EXPECT_EQ(a.family, AF_INET);
    EXPECT_EQ(a.address.to_string(), "127.0.0.1:80");
    EXPECT_EQ(a.canonical_name, "");
  }
}

TEST(NetResolver, NumericIpv6WithAScope) {
  aw::run([&]() -> aw::task<> {
    auto v = co_await aw::net::getaddrinfo("::1", 443, {.socktype = SOCK_STREAM, .flags = AI_CANONNAME});
    EXPECT_EQ(v.size(), 1u);
    EXPECT_EQ(v.at(0).family, AF_INET6);
    EXPECT_EQ(v.at(0).protocol, IPPROTO_TCP);
    EXPECT_EQ(v.at(0).address.to_string(), "[::1]:443");
    EXPECT_EQ(v.at(0).canonical_name, "::1");  // glibc gives the numeric host as its name
    auto s = co_await aw::net::getaddrinfo("fe80::1%1", 22, {.socktype = SOCK_STREAM});
    EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(s.at(0).address.data())->sin6_scope_id, 1u);
    auto d = co_await aw::net::getaddrinfo("10.0.0.1", "8080", {.socktype = SOCK_DGRAM});
    EXPECT_EQ(d.at(0).address.to_string(), "10.0.0.1:8080");
    EXPECT_EQ(d.at(0).protocol, IPPROTO_UDP);
  });
}

TEST(NetResolver, NumericHostOfTheOtherFamilyIsNotFound) {
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::net::getaddrinfo("127.0.0.1", 80, {.family = AF_INET6});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found& e) {
      EXPECT_EQ(e.host(), "127.0.0.1");
      EXPECT_EQ(e.code().value(), ARES_EBADFAMILY);
    }
    try {
      co_await aw::net::getaddrinfo("localhost", 80, {.flags = AI_NUMERICHOST});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found& e) {
      EXPECT_EQ(e.code().value(), ARES_ENONAME);
    }
  });
}

TEST(NetResolver, EmptyHostIsLoopbackOrWildcard) {
  aw::run([&]() -> aw::task<> {
    auto loop = co_await aw::net::getaddrinfo("", 8000, {.socktype = SOCK_STREAM});
    EXPECT_EQ(loop.size(), 2u);
    EXPECT_EQ(loop.at(0).address.to_string(), "[::1]:8000");  // glibc's order
    EXPECT_EQ(loop.at(1).address.to_string(), "127.0.0.1:8000");
    auto any = co_await aw::net::getaddrinfo("", 8000, {.socktype = SOCK_STREAM, .flags = AI_PASSIVE});
    EXPECT_EQ(any.size(), 2u);
    EXPECT_EQ(any.at(0).address.to_string(), "0.0.0.0:8000");
    EXPECT_EQ(any.at(1).address.to_string(), "[::]:8000");
    auto v4 = co_await aw::net::getaddrinfo("", 8000, {.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_PASSIVE});
    EXPECT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4.at(0).address.to_string(), "0.0.0.0:8000");
  });
}

TEST(NetResolver, ServicesByNameAndNumber) {
  servent* http = ::getservbyname("http", "tcp");
  aw::run([&]() -> aw::task<> {
    if (http) {
      // "http" is tcp only in /etc/services: no datagram or raw entry (glibc's rule).
      auto v = co_await aw::net::getaddrinfo("127.0.0.1", "http");
      EXPECT_EQ(v.size(), 1u);
      EXPECT_EQ(v.at(0).socktype, SOCK_STREAM);
      EXPECT_EQ(v.at(0).address.port(), ntohs(static_cast<std::uint16_t>(http->s_port)));
    }
    try {
      co_await aw::net::getaddrinfo("127.0.0.1", "no-such-service");
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found&) {
      ADD_FAILURE() << "a service is not a host";
    } catch (const aw::net::error& e) {
      EXPECT_EQ(e.code().value(), ARES_ESERVICE);
      EXPECT_NE(std::string(e.what()).find("no-such-service"), std::string::npos);
    }
  });
  EXPECT_THROW(aw::run([]() -> aw::task<> { co_await aw::net::getaddrinfo("127.0.0.1", "99999"); }), aw::net::error);
  EXPECT_THROW(aw::run([]() -> aw::task<> { co_await aw::net::getaddrinfo("127.0.0.1", "http", {.flags = AI_NUMERICSERV}); }),
               aw::net::error);
}

TEST(NetResolver, UnsupportedOptionsAreInvalidArguments) {
  aw::run([&]() -> aw::task<> {
    EXPECT_THROW(co_await aw::net::getaddrinfo("localhost", 80, {.family = AF_UNIX}), std::invalid_argument);
    EXPECT_THROW(co_await aw::net::getaddrinfo("localhost", 80, {.socktype = SOCK_SEQPACKET}), std::invalid_argument);
    EXPECT_THROW(co_await aw::net::getaddrinfo("localhost", 80, {.flags = AI_ADDRCONFIG}), std::invalid_argument);
    EXPECT_THROW(co_await aw::net::getaddrinfo("localhost", 80, {.servers = "not a server"}), std::invalid_argument);
    EXPECT_THROW(co_await aw::net::getaddrinfo("", 80, {.flags = AI_CANONNAME}), std::invalid_argument);
  });
}

TEST(NetResolver, LocalhostComesFromTheHostsFile) {
  auto hosts = read_hosts_file();
  std::set<std::string> v4, v6;
  for (const std::string& a : hosts["localhost"]) (a.find(':') == std::string::npos ? v4 : v6).insert(a);
  // Without a line in the file, "localhost" is the loopback address all the same (RFC 6761).
  std::set<std::string> both = v4;
  both.insert(v6.begin(), v6.end());
  if (both.empty()) both = {"127.0.0.1", "::1"};
  if (v6.empty()) v6 = {"::1"};
  std::string canonical = first_name_of("localhost");
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    const std::string servers = server.address();
    auto any = co_await aw::net::getaddrinfo("localhost", 80, {.socktype = SOCK_STREAM, .servers = servers});
    EXPECT_EQ(hosts_of(any), both);
    for (const address_info& a : any) EXPECT_EQ(a.address.port(), 80);
    auto six = co_await aw::net::getaddrinfo("localhost", 80, {.family = AF_INET6, .socktype = SOCK_STREAM, .servers = servers});
    EXPECT_EQ(hosts_of(six), v6);
    auto canon = co_await aw::net::getaddrinfo("localhost", 80, {.socktype = SOCK_STREAM, .flags = AI_CANONNAME, .servers = servers});
    EXPECT_FALSE(canon.empty());
    if (!canon.empty()) {
      EXPECT_EQ(canon.front().canonical_name, canonical);
    }
  });
  EXPECT_EQ(server.queries(), 0);  // localhost never goes to DNS
}

TEST(NetResolver, OtherHostsFileNames) {
  auto hosts = read_hosts_file();
  dns_server server;
  int tried = 0;
  with_server(server, [&]() -> aw::task<> {
    for (const auto& [name, addrs] : hosts) {
      if (name == "localhost" || name.find('.') != std::string::npos) continue;  // dotted ones may be in DNS too
      ++tried;
      auto v = co_await aw::net::getaddrinfo(name, 5432, {.socktype = SOCK_STREAM, .servers = server.address()});
      EXPECT_EQ(hosts_of(v), addrs) << name;
    }
  });
  EXPECT_EQ(server.queries(), 0);
  if (tried == 0) GTEST_SKIP() << "/etc/hosts names nothing but localhost";
}

TEST(NetResolver, NamesFromTheDnsServer) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    const std::string servers = server.address();
    auto v4 = co_await aw::net::getaddrinfo("db.test", 5432, {.socktype = SOCK_STREAM, .servers = servers});
    EXPECT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4.at(0).address.to_string(), "10.1.2.3:5432");
    auto v6 = co_await aw::net::getaddrinfo("v6.test", 443, {.socktype = SOCK_STREAM, .servers = servers});
    EXPECT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6.at(0).address.to_string(), "[fd00::1:2:3]:443");
    auto alias = co_await aw::net::getaddrinfo("alias.test", 80, {.family = AF_INET, .flags = AI_CANONNAME, .servers = servers});
    EXPECT_EQ(alias.size(), 3u);
    EXPECT_EQ(alias.at(0).canonical_name, "db.test");  // the end of the CNAME chain, on the first entry only
    EXPECT_EQ(alias.at(1).canonical_name, "");
    EXPECT_EQ(hosts_of(alias), std::set<std::string>{"10.1.2.3"});
  });
  EXPECT_GT(server.queries(), 0);
}

TEST(NetResolver, ANameThatDoesNotExistIsHostNotFound) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    try {
      co_await aw::net::getaddrinfo("nowhere.test", 80, {.servers = server.address()});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found& e) {
      EXPECT_EQ(e.host(), "nowhere.test");
      EXPECT_EQ(e.code().value(), ARES_ENOTFOUND);
      EXPECT_EQ(&e.code().category(), &aw::net::resolver_category());
      EXPECT_NE(std::string(e.what()).find("nowhere.test"), std::string::npos);
    }
    // db.test has no IPv6 address: not found either (ENODATA).
    try {
      co_await aw::net::getaddrinfo("db.test", 80, {.family = AF_INET6, .servers = server.address()});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found& e) {
      EXPECT_EQ(e.code().value(), ARES_ENODATA);
    }
  });
}

TEST(NetResolver, NoAnswerIsATimeoutNotHostNotFound) {
  dns_server silent(true);
  with_server(silent, [&]() -> aw::task<> {
    try {
      co_await aw::net::getaddrinfo("db.test", 80, {.servers = silent.address(), .timeout = 20ms, .tries = 1});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found&) {
      ADD_FAILURE() << "a silent server is no answer about the name";
    } catch (const aw::net::error& e) {
      EXPECT_EQ(e.code().value(), ARES_ETIMEOUT);
      EXPECT_EQ(e.address(), "db.test");
    }
  });
}

TEST(NetResolver, ARefusingServerIsAnError) {
  // A port nobody listens on: the kernel answers the query with ICMP port unreachable.
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(s);
  std::string servers = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::net::getaddrinfo("db.test", 80, {.servers = servers, .timeout = 24h, .tries = 2});
      ADD_FAILURE() << "resolved";
    } catch (const aw::net::host_not_found&) {
      ADD_FAILURE() << "a refusal is no answer about the name";
    } catch (const aw::net::error& e) {
      EXPECT_EQ(e.code().value(), ARES_ECONNREFUSED);
    }
  });
}

TEST(NetResolver, CancellingALookupAbandonsItsQuery) {
  dns_server silent(true);
  int outside = open_fds();
  with_server(silent, [&]() -> aw::task<> {
    int before = open_fds();  // the loop's own descriptors included
    // A day per try: only cancellation ends it, which the test finishing proves.
    bool completed = co_await aw::move_on_after(
        20ms, [&]() -> aw::task<> { co_await aw::net::getaddrinfo("db.test", 80, {.servers = silent.address(), .timeout = 24h}); });
    EXPECT_FALSE(completed);
    EXPECT_EQ(open_fds(), before);  // c-ares's socket is closed, its fd wait gone
    // The channel goes back to the pool and serves the next lookup.
    bool again = co_await aw::move_on_after(
        20ms, [&]() -> aw::task<> { co_await aw::net::getaddrinfo("db.test", 80, {.servers = silent.address(), .timeout = 24h}); });
    EXPECT_FALSE(again);
  });
  EXPECT_EQ(open_fds(), outside);
  dns_server server;  // and a pooled channel answers a real lookup after a cancelled one
  with_server(server, [&]() -> aw::task<> {
    auto v = co_await aw::net::getaddrinfo("db.test", 80, {.family = AF_INET, .socktype = SOCK_STREAM, .servers = server.address()});
    EXPECT_EQ(hosts_of(v), std::set<std::string>{"10.1.2.3"});
  });
}

TEST(NetResolver, ALookupInACancelledScopeRaisesCancelled) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    aw::cancel_scope scope;
    scope.cancel();
    bool reached_end = false;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      co_await aw::net::getaddrinfo("127.0.0.1", 80);  // numeric, and still a checkpoint (trio)
      reached_end = true;
    });
    EXPECT_FALSE(reached_end);
    EXPECT_TRUE(scope.cancelled_caught());
  });
  EXPECT_EQ(server.queries(), 0);
}

TEST(NetResolver, ManyConcurrentLookups) {
  dns_server server;
  int done = 0;
  with_server(server, [&]() -> aw::task<> {
    const std::string servers = server.address();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      for (int i = 0; i < 60; ++i) {
        tg.start_soon([&, i]() -> aw::task<> {
          switch (i % 4) {
            case 0: {
              auto v = co_await aw::net::getaddrinfo("db.test", 80, {.family = AF_INET, .socktype = SOCK_STREAM, .servers = servers});
              EXPECT_EQ(hosts_of(v), std::set<std::string>{"10.1.2.3"});
              break;
            }
            case 1:
              EXPECT_THROW(co_await aw::net::getaddrinfo("nowhere-" + std::to_string(i) + ".test", 80, {.servers = servers}),
                           aw::net::host_not_found);
              break;
            case 2: {
              auto v = co_await aw::net::getaddrinfo("localhost", 80, {.family = AF_INET, .socktype = SOCK_STREAM, .servers = servers});
              EXPECT_FALSE(v.empty());
              break;
            }
            default: {
              auto v = co_await aw::net::getaddrinfo("v6.test", 80, {.socktype = SOCK_STREAM, .servers = servers});
              EXPECT_EQ(hosts_of(v), std::set<std::string>{"fd00::1:2:3"});
            }
          }
          ++done;
        });
      }
      co_return;
    });
  });
  EXPECT_EQ(done, 60);
}

TEST(NetResolver, TheTaskOwnsItsArguments) {
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    aw::task<std::vector<address_info>> t = [&] {
      std::string name = "db.test";
      std::string servers = server.address();
      return aw::net::getaddrinfo(name, 80, {.family = AF_INET, .socktype = SOCK_STREAM, .servers = servers});
    }();  // the strings are gone before the task runs
    auto v = co_await std::move(t);
    EXPECT_EQ(hosts_of(v), std::set<std::string>{"10.1.2.3"});
  });
}

TEST(NetResolver, GetnameinfoFromTheHostsFileAndDns) {
  auto hosts = read_hosts_file();
  dns_server server;
  with_server(server, [&]() -> aw::task<> {
    const std::string servers = server.address();
    auto numeric = co_await aw::net::getnameinfo(aw::net::socket_address::ip("127.0.0.1", 22), {.flags = NI_NUMERICHOST | NI_NUMERICSERV});
    EXPECT_EQ(numeric.host, "127.0.0.1");
    EXPECT_EQ(numeric.service, "22");
    auto ptr = co_await aw::net::getnameinfo(aw::net::socket_address::ip("10.1.2.3", 5432), {.flags = NI_NUMERICSERV, .servers = servers});
    EXPECT_EQ(ptr.host, "db.test");
    EXPECT_EQ(ptr.service, "5432");
    // No name: the numeric address, unless a name is required.
    auto none = co_await aw::net::getnameinfo(aw::net::socket_address::ip("10.9.8.7", 80), {.servers = servers});
    EXPECT_EQ(none.host, "10.9.8.7");
    if (::getservbyport(htons(80), "tcp")) {
      EXPECT_EQ(none.service, "http");
    }
    EXPECT_THROW(co_await aw::net::getnameinfo(aw::net::socket_address::ip("10.9.8.7", 80), {.flags = NI_NAMEREQD, .servers = servers}),
                 aw::net::host_not_found);
    bool loopback_named = false;
    for (const auto& [name, addrs] : hosts) loopback_named = loopback_named || addrs.count("127.0.0.1");
    if (loopback_named) {
      auto local = co_await aw::net::getnameinfo(aw::net::socket_address::ip("127.0.0.1", 80), {.servers = servers});
      EXPECT_TRUE(hosts.count(local.host)) << local.host;  // a name the hosts file gives 127.0.0.1
    }
  });
}

}  // namespace
