// resolve_host_names: the DSN's host names resolved on the loop, handed to libpq as hostaddr.
#include "resolve.hpp"

#include <aw/pg/errors.hpp>
#include <aw/redact.hpp>

#if AW_PG_RESOLVE_ON_LOOP
#include <aw/async_with.hpp>
#include <aw/net/errors.hpp>
#include <aw/net/resolver.hpp>
#include <aw/task_group.hpp>

#include <libpq-fe.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>
#endif

namespace aw::pg::detail {

namespace {
std::string test_servers;
int test_timeout_ms = 0;
}  // namespace

void set_dns_servers_for_testing(std::string servers, int timeout_ms) {
  test_servers = std::move(servers);
  test_timeout_ms = timeout_ms;
}

#if !AW_PG_RESOLVE_ON_LOOP

task<std::optional<host_override>> resolve_host_names(const std::string&) { co_return std::nullopt; }

#else

namespace {

// libpq's lists: split at every comma, no quoting, empty entries kept.
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    std::size_t comma = s.find(',', from);
    out.push_back(s.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

// What libpq would look up: not empty (the default socket directory), not a socket
// directory ('/') or abstract socket ('@'), not numeric (which its getaddrinfo resolves
// without I/O; AI_NUMERICHOST is exactly that test, with IPv6 scopes and "127.1").
bool is_name(const std::string& host) {
  if (host.empty() || host[0] == '/' || host[0] == '@') return false;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found) ::freeaddrinfo(found);
  return rc != 0;
}

// The DSN's own keywords (PQconninfoParse applies no defaults), and then the environment
// variables libpq falls back on for the ones it leaves out.
struct dsn_targets {
  std::optional<std::string> host, hostaddr, port;
  bool service = false;
};

std::optional<dsn_targets> parse(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return std::nullopt;  // libpq reports it when connecting
  dsn_targets t;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    if (std::strcmp(o->keyword, "host") == 0) t.host = o->val;
    if (std::strcmp(o->keyword, "hostaddr") == 0) t.hostaddr = o->val;
    if (std::strcmp(o->keyword, "port") == 0) t.port = o->val;
    if (std::strcmp(o->keyword, "service") == 0 && *o->val) t.service = true;
  }
  PQconninfoFree(opts);
  auto env = [](std::optional<std::string>& v, const char* name) {
    if (v) return;
    if (const char* e = std::getenv(name)) v = e;
  };
  env(t.host, "PGHOST");
  env(t.hostaddr, "PGHOSTADDR");
  env(t.port, "PGPORT");
  if (const char* s = std::getenv("PGSERVICE"); s && *s) t.service = true;
  return t;
}

// One host entry's lookup: its addresses, or why there are none.
struct lookup {
  std::vector<std::string> addresses;
  std::string failure;
};

task<> resolve_one(std::string host, lookup& out) {
  aw::net::getaddrinfo_options o;
  o.socktype = SOCK_STREAM;
  o.servers = test_servers;
  o.timeout = std::chrono::milliseconds(test_timeout_ms);
  try {
    for (const aw::net::address_info& a : co_await aw::net::getaddrinfo(host, 0, o)) out.addresses.push_back(a.address.host());
  } catch (const aw::net::error& e) {
    // libpq's words for a failed lookup, with the resolver's reason.
    out.failure = "could not translate host name \"" + host + "\" to address: " + e.code().message();
  }
}

}  // namespace

task<std::optional<host_override>> resolve_host_names(const std::string& dsn) {
  std::optional<dsn_targets> t = parse(dsn);
  // hostaddr already says where to connect; a service file fills in what the DSN leaves out
  // (the host, hostaddr, port) before the environment does: libpq decides alone there.
  if (!t || t->service || !t->host || (t->hostaddr && !t->hostaddr->empty())) co_return std::nullopt;
  const std::vector<std::string> hosts = split_list(*t->host);
  const std::vector<std::string> ports = t->port && !t->port->empty() ? split_list(*t->port) : std::vector<std::string>{};
  // A port list must match the hosts one to one (one port applies to all): libpq says so.
  if (ports.size() > 1 && ports.size() != hosts.size()) co_return std::nullopt;
  std::vector<lookup> found(hosts.size());
  bool any_name = false;
  for (const std::string& h : hosts) any_name = any_name || is_name(h);
  if (!any_name) co_return std::nullopt;
  // All at once: a host whose DNS is slow does not hold up the next one's.
  co_await async_with(task_group{}, [&](task_group& tg) -> task<> {
    for (std::size_t i = 0; i < hosts.size(); ++i)
      if (is_name(hosts[i])) tg.start_soon(resolve_one, hosts[i], std::ref(found[i]));
    co_return;
  });
  std::vector<std::string> host, hostaddr, port;
  std::string failures;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (!found[i].failure.empty()) {
      failures += (failures.empty() ? "" : "; ") + found[i].failure;
      continue;
    }
    // An entry that is no name keeps an empty hostaddr: libpq uses the host itself.
    const std::vector<std::string> addrs = found[i].addresses.empty() ? std::vector<std::string>{""} : found[i].addresses;
    for (const std::string& a : addrs) {
      host.push_back(hosts[i]);
      hostaddr.push_back(a);
      if (ports.size() > 1) port.push_back(ports[i]);
    }
  }
  // A name can hold a piece of a password where the user-info is ambiguous (as libpq splits it).
  if (host.empty())
    throw connection_error("aw::pg::connect: " + scrub_credentials(failures, dsn) + " (connecting with \"" + redact_credentials(dsn) +
                           "\")");
  co_return host_override{join(host), join(hostaddr), join(port)};
}

#endif

}  // namespace aw::pg::detail
