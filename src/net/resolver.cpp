// aw::net::getaddrinfo and getnameinfo: what Python's socket.getaddrinfo returns, computed
// from c-ares's answer (or without c-ares, for numeric and empty hosts).
#include <aw/net/resolver.hpp>

#include "ares_driver.hpp"

#include <aw/exceptions.hpp>
#include <aw/net/errors.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace aw::net {
namespace {

// One socket type of the answer, with the port it gets.
struct kind {
  int socktype;
  int protocol;
  std::uint16_t port;
};

[[noreturn]] void throw_status(int status, const char* operation, const std::string& what) {
  if (status == ARES_ENOMEM) throw std::bad_alloc();
  std::error_code ec(status, resolver_category());
  if (status == ARES_ENOTFOUND || status == ARES_ENODATA) throw host_not_found(ec, operation, what);
  throw error(ec, operation, what);
}

void check_family_and_type(int family, int socktype) {
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    throw std::invalid_argument("aw::net::getaddrinfo: family must be AF_UNSPEC, AF_INET or AF_INET6");
  if (socktype != 0 && socktype != SOCK_STREAM && socktype != SOCK_DGRAM && socktype != SOCK_RAW)
    throw std::invalid_argument("aw::net::getaddrinfo: socktype must be 0, SOCK_STREAM, SOCK_DGRAM or SOCK_RAW");
}

// The socket types of the answer, as glibc lists them: with neither a type nor a protocol,
// one entry per type for each address.
std::vector<kind> kinds_for(int socktype, int protocol) {
  struct entry {
    int socktype, protocol;
  };
  static constexpr std::array<entry, 3> all{{{SOCK_STREAM, IPPROTO_TCP}, {SOCK_DGRAM, IPPROTO_UDP}, {SOCK_RAW, 0}}};
  std::vector<kind> out;
  for (const entry& e : all) {
    if (socktype != 0 && socktype != e.socktype) continue;
    if (e.socktype == SOCK_RAW) {
      if (socktype == 0 && (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP)) continue;
      out.push_back({SOCK_RAW, protocol, 0});
    } else if (protocol == 0 || protocol == e.protocol) {
      out.push_back({e.socktype, e.protocol, 0});
    } else if (socktype != 0) {
      out.push_back({e.socktype, protocol, 0});  // asked for explicitly (SCTP on a stream...)
    }
  }
  return out;
}

// Sets each kind's port from the service; drops the kinds a named service is not defined
// for (glibc's rule: "http" is tcp only in /etc/services, and raw sockets have no services).
void apply_service(std::vector<kind>& kinds, std::string_view service, int flags) {
  bool numeric = !service.empty() && std::all_of(service.begin(), service.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (service.empty() || numeric) {
    unsigned long port = 0;
    for (char c : service) {
      port = port * 10 + static_cast<unsigned long>(c - '0');
      if (port > 65535) throw error(std::error_code(ARES_ESERVICE, resolver_category()), "resolve service", std::string(service));
    }
    for (kind& k : kinds) k.port = static_cast<std::uint16_t>(port);
    return;
  }
  if (flags & AI_NUMERICSERV) throw error(std::error_code(ARES_ESERVICE, resolver_category()), "resolve service", std::string(service));
  std::string name(service);
  std::vector<kind> kept;
  for (kind k : kinds) {
    const char* proto = k.socktype == SOCK_STREAM ? "tcp" : k.socktype == SOCK_DGRAM ? "udp" : nullptr;
    if (!proto) continue;
    servent se;
    servent* found = nullptr;
    char buf[1024];
    if (getservbyname_r(name.c_str(), proto, &se, buf, sizeof buf, &found) != 0 || !found) continue;
    k.port = ntohs(static_cast<std::uint16_t>(found->s_port));
    kept.push_back(k);
  }
  if (kept.empty()) throw error(std::error_code(ARES_ESERVICE, resolver_category()), "resolve service", name);
  kinds = std::move(kept);
}

void set_port(socket_address& a, std::uint16_t port) noexcept {
  if (a.family() == AF_INET)
    reinterpret_cast<sockaddr_in*>(a.data())->sin_port = htons(port);
  else if (a.family() == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(a.data())->sin6_port = htons(port);
}

void append(std::vector<address_info>& out, const socket_address& a, const std::vector<kind>& kinds) {
  for (const kind& k : kinds) {
    address_info info;
    info.family = a.family();
    info.socktype = k.socktype;
    info.protocol = k.protocol;
    info.address = a;
    set_port(info.address, k.port);
    out.push_back(std::move(info));
  }
}

// A numeric IPv4 or IPv6 host (with an IPv6 scope), or nothing: inet_pton's rules, so
// "127.1" is a name, as c-ares reads it. Done here rather than by c-ares: c-ares 1.18 sends
// a numeric IPv4 host to DNS when the family is AF_UNSPEC (fixed in 1.19), and a pooled
// channel need not even be taken for it.
std::optional<socket_address> numeric_host(const std::string& host) {
  in6_addr buf;
  if (inet_pton(AF_INET, host.c_str(), &buf) == 1) return socket_address::ip(host, 0);
  if (host.find(':') == std::string::npos) return std::nullopt;
  std::string bare = host.substr(0, host.find('%'));
  if (inet_pton(AF_INET6, bare.c_str(), &buf) != 1) return std::nullopt;
  try {
    return socket_address::ip(host, 0);
  } catch (const std::invalid_argument&) {  // a scope that names no interface
    throw host_not_found(std::error_code(ARES_EBADNAME, resolver_category()), "resolve", host);
  }
}

// The canonical name c-ares found: the end of the CNAME chain in DNS (a name that is no
// alias), or the first name of the first hosts file line that matched; else the name asked.
std::string canonical_name(const ares_addrinfo& ai) {
  for (const ares_addrinfo_cname* c = ai.cnames; c; c = c->next) {
    if (!c->name) continue;
    bool is_alias = false;
    for (const ares_addrinfo_cname* d = ai.cnames; d && !is_alias; d = d->next) is_alias = d->alias && strcasecmp(d->alias, c->name) == 0;
    if (!is_alias) return c->name;
  }
  return ai.name ? ai.name : "";
}

#if ARES_VERSION < 0x011300
// c-ares before 1.19.0 leaks the name of a lookup of "localhost" that /etc/hosts does not
// answer for the family asked, when it falls back to the loopback addresses (c-ares issue
// #439). Such a lookup is answered here, as c-ares would answer it, without calling c-ares.
bool hosts_file_names_localhost(int family) {
  // What the file says is kept per thread until it changes: a stat, not a read, per lookup.
  struct known {
    detail::file_stamp stamp;
    bool read = false, v4 = false, v6 = false;
  };
  thread_local known k;
  detail::file_stamp now = detail::stamp_of("/etc/hosts");
  if (!k.read || !(now == k.stamp)) {
    k = known{now, true, false, false};
    std::ifstream in("/etc/hosts");
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line.substr(0, line.find('#')));
      std::string addr, name;
      if (!(fields >> addr)) continue;
      in6_addr buf;
      bool v4 = inet_pton(AF_INET, addr.c_str(), &buf) == 1;
      bool v6 = !v4 && inet_pton(AF_INET6, addr.c_str(), &buf) == 1;
      while (fields >> name)
        if (strcasecmp(name.c_str(), "localhost") == 0) {
          k.v4 = k.v4 || v4;
          k.v6 = k.v6 || v6;
        }
    }
  }
  return family == AF_INET ? k.v4 : family == AF_INET6 ? k.v6 : k.v4 || k.v6;
}
#else
bool hosts_file_names_localhost(int) { return true; }
#endif

struct addrinfo_deleter {
  void operator()(ares_addrinfo* ai) const noexcept { ares_freeaddrinfo(ai); }
};

struct addrinfo_result {
  detail::ares_request* req = nullptr;
  int status = ARES_ECANCELLED;
  std::unique_ptr<ares_addrinfo, addrinfo_deleter> ai;

  static void on_done(void* arg, int status, int, ares_addrinfo* ai) {
    auto* r = static_cast<addrinfo_result*>(arg);
    r->status = status;
    r->ai.reset(ai);
    r->req->finish();
  }
};

task<> checkpoint_if_cancelled() {
  aw::detail::task_context* ctx = co_await aw::detail::current_context{};
  if (ctx && ctx->cancelled()) throw cancelled{};
}

task<std::vector<address_info>> resolve(std::string host, std::vector<kind> kinds, int family, int flags, detail::channel_config config) {
  co_await checkpoint_if_cancelled();
  std::vector<address_info> out;
  if (host.empty()) {  // Python's None: loopback, or the wildcard to bind to (glibc's order)
    bool passive = flags & AI_PASSIVE;
    socket_address v4 = socket_address::ip(passive ? "0.0.0.0" : "127.0.0.1", 0);
    socket_address v6 = socket_address::ip(passive ? "::" : "::1", 0);
    const socket_address* order[2] = {passive ? &v4 : &v6, passive ? &v6 : &v4};
    for (const socket_address* a : order)
      if (family == AF_UNSPEC || family == a->family()) append(out, *a, kinds);
    co_return out;
  }
  if (std::optional<socket_address> a = numeric_host(host)) {
    if (family != AF_UNSPEC && family != a->family())
      throw host_not_found(std::error_code(ARES_EBADFAMILY, resolver_category()), "resolve", host);
    append(out, *a, kinds);
    if ((flags & AI_CANONNAME) && !out.empty()) out.front().canonical_name = host;
    co_return out;
  }
  if (flags & AI_NUMERICHOST) throw host_not_found(std::error_code(ARES_ENONAME, resolver_category()), "resolve", host);
  if (host == "localhost" && !hosts_file_names_localhost(family)) {  // RFC 6761's loopback (see above)
    for (const char* ip : {"::1", "127.0.0.1"}) {
      socket_address a = socket_address::ip(ip, 0);
      if (family == AF_UNSPEC || family == a.family()) append(out, a, kinds);
    }
    if ((flags & AI_CANONNAME) && !out.empty()) out.front().canonical_name = host;
    co_return out;
  }

  addrinfo_result result;  // before the request: a destroyed channel may still call back
  detail::ares_request req(config);
  result.req = &req;
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  hints.ai_flags = (flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0;
  ares_getaddrinfo(req.channel(), host.c_str(), nullptr, &hints, &addrinfo_result::on_done, &result);
  co_await req.drive();
  if (result.status != ARES_SUCCESS) throw_status(result.status, "resolve", host);
  for (const ares_addrinfo_node* n = result.ai->nodes; n; n = n->ai_next)
    if (n->ai_family == AF_INET || n->ai_family == AF_INET6) append(out, socket_address(n->ai_addr, n->ai_addrlen), kinds);
  if (out.empty()) throw host_not_found(std::error_code(ARES_ENODATA, resolver_category()), "resolve", host);
  if (flags & AI_CANONNAME) out.front().canonical_name = canonical_name(*result.ai);
  co_return out;
}

struct nameinfo_result {
  detail::ares_request* req = nullptr;
  int status = ARES_ECANCELLED;
  name_info names;

  static void on_done(void* arg, int status, int, char* node, char* service) {
    auto* r = static_cast<nameinfo_result*>(arg);
    r->status = status;
    try {
      if (node) r->names.host = node;
      if (service) r->names.service = service;
    } catch (...) {
      r->status = ARES_ENOMEM;
    }
    r->req->finish();
  }
};

task<name_info> lookup_name(socket_address address, int flags, detail::channel_config config) {
  co_await checkpoint_if_cancelled();
  int ares_flags = ARES_NI_LOOKUPHOST | ARES_NI_LOOKUPSERVICE;
  if (flags & NI_NUMERICHOST) ares_flags |= ARES_NI_NUMERICHOST;
  if (flags & NI_NUMERICSERV) ares_flags |= ARES_NI_NUMERICSERV;
  if (flags & NI_NAMEREQD) ares_flags |= ARES_NI_NAMEREQD;
  if (flags & NI_NOFQDN) ares_flags |= ARES_NI_NOFQDN;
  if (flags & NI_DGRAM) ares_flags |= ARES_NI_DGRAM;
  nameinfo_result result;
  detail::ares_request req(config);
  result.req = &req;
  ares_getnameinfo(req.channel(), address.data(), static_cast<ares_socklen_t>(address.size()), ares_flags, &nameinfo_result::on_done,
                   &result);
  co_await req.drive();
  if (result.status != ARES_SUCCESS) throw_status(result.status, "resolve address", address.host());
  name_info names = std::move(result.names);
  co_return names;
}

detail::channel_config config_of(std::string_view servers, std::chrono::milliseconds timeout, int tries) {
  if (timeout.count() < 0 || timeout.count() > std::numeric_limits<int>::max() || tries < 0)
    throw std::invalid_argument("aw::net: the resolver's timeout and tries must be positive (or zero: resolv.conf's)");
  return {std::string(servers), static_cast<int>(timeout.count()), tries};
}

task<std::vector<address_info>> start(std::string_view host, std::vector<kind> kinds, const getaddrinfo_options& o) {
  constexpr int supported = AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  if (o.flags & ~supported)
    throw std::invalid_argument("aw::net::getaddrinfo: flags other than AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE");
  if (host.empty() && (o.flags & AI_CANONNAME))
    throw std::invalid_argument("aw::net::getaddrinfo: AI_CANONNAME needs a host");  // glibc's EAI_BADFLAGS
  return resolve(std::string(host), std::move(kinds), o.family, o.flags, config_of(o.servers, o.timeout, o.tries));
}

}  // namespace

task<std::vector<address_info>> getaddrinfo(std::string_view host, std::uint16_t port, getaddrinfo_options options) {
  check_family_and_type(options.family, options.socktype);
  std::vector<kind> kinds = kinds_for(options.socktype, options.protocol);
  for (kind& k : kinds) k.port = port;
  return start(host, std::move(kinds), options);
}

task<std::vector<address_info>> getaddrinfo(std::string_view host, std::string_view service, getaddrinfo_options options) {
  check_family_and_type(options.family, options.socktype);
  std::vector<kind> kinds = kinds_for(options.socktype, options.protocol);
  apply_service(kinds, service, options.flags);
  return start(host, std::move(kinds), options);
}

task<name_info> getnameinfo(const socket_address& address, getnameinfo_options options) {
  if (!address.is_ip()) throw std::invalid_argument("aw::net::getnameinfo: not an IPv4 or IPv6 address: " + address.to_string());
  constexpr int supported = NI_NUMERICHOST | NI_NUMERICSERV | NI_NAMEREQD | NI_NOFQDN | NI_DGRAM;
  if (options.flags & ~supported)
    throw std::invalid_argument("aw::net::getnameinfo: flags other than NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_NOFQDN, NI_DGRAM");
  if ((options.flags & NI_NUMERICHOST) && (options.flags & NI_NAMEREQD))
    throw std::invalid_argument("aw::net::getnameinfo: NI_NUMERICHOST with NI_NAMEREQD");
  return lookup_name(address, options.flags, config_of(options.servers, options.timeout, options.tries));
}

}  // namespace aw::net
