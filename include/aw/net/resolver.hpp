// aw::net::getaddrinfo and aw::net::getnameinfo: name resolution on the loop, without a
// thread (anyio's getaddrinfo and getnameinfo, which run on a worker thread; here c-ares
// runs on the loop, its sockets waited for as every other fd is).
//
//   for (const aw::net::address_info& a : co_await aw::net::getaddrinfo("db.example.com", 5432, {.socktype = SOCK_STREAM}))
//     std::printf("%s\n", a.address.to_string().c_str());   // "10.1.2.3:5432", "[2001:db8::7]:5432"
//   aw::net::name_info n = co_await aw::net::getnameinfo(aw::net::socket_address::ip("127.0.0.1", 22));
//   // n.host == "localhost", n.service == "ssh"
//
// - A name is looked up in /etc/hosts first, then in DNS with /etc/resolv.conf's servers,
//   search domains and options (glibc's "hosts: files dns"); "localhost" never goes to DNS
//   and is the loopback address when /etc/hosts does not list it (RFC 6761). The hosts file
//   is read anew for every lookup; resolv.conf is read again when it has changed.
// - A numeric host ("127.0.0.1", "::1", "fe80::1%eth0") resolves without any I/O. An empty
//   host stands for Python's None: the loopback addresses, or with AI_PASSIVE the wildcard
//   ones (what a listener binds).
// - The results are Python's socket.getaddrinfo list: one entry per address and socket type
//   (socktype 0 gives SOCK_STREAM, SOCK_DGRAM and SOCK_RAW entries for each address), in
//   RFC 6724 order (the order to try them in); the canonical name (AI_CANONNAME) is on the
//   first entry only.
// - A name that does not exist, or has no address of the family asked for, raises
//   aw::net::host_not_found, host() the name, code() in resolver_category(): ARES_ENOTFOUND
//   (no such name), ARES_ENODATA (no address of that family), ARES_EBADFAMILY (a numeric
//   host of the other family), ARES_ENONAME (AI_NUMERICHOST and a name). Any other failure
//   raises aw::net::error in the same category: no server answered (ARES_ETIMEOUT), the
//   servers refused (ARES_ECONNREFUSED, ARES_EREFUSED, ARES_ESERVFAIL), an unknown service
//   (ARES_ESERVICE). Flags, families or socket types the resolver does not support are
//   std::invalid_argument (AI_ADDRCONFIG, AI_V4MAPPED and AI_ALL among them).
// - Every lookup that waits is a cancellation point: cancelling it abandons the query,
//   closes its sockets and raises aw::cancelled. A lookup in an already cancelled scope
//   raises aw::cancelled, as trio's does, even for a numeric host. There is no overall
//   timeout besides c-ares's own retries (resolv.conf's timeout and attempts): bound a
//   lookup with aw::fail_after.
// - Names are passed to DNS as they are: no IDNA encoding (give an internationalised name in
//   its "xn--" form).
#pragma once

#include <aw/net/address.hpp>
#include <aw/task.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace aw::net {

// One entry of getaddrinfo's result (an element of Python's getaddrinfo list).
struct address_info {
  int family = AF_UNSPEC;      // AF_INET or AF_INET6
  int socktype = 0;            // SOCK_STREAM, SOCK_DGRAM or SOCK_RAW
  int protocol = 0;            // IPPROTO_TCP, IPPROTO_UDP, or what was asked for SOCK_RAW
  std::string canonical_name;  // with AI_CANONNAME, on the first entry; else empty
  socket_address address;      // with the port
};

// The options of getaddrinfo: Python's family, type, proto and flags, and the resolver's
// configuration for this lookup (tests, and programs that choose their own servers).
// Kept trivially destructible (`servers` is a view) so that `co_await getaddrinfo(h, p,
// {.family = AF_INET6})` is safe under g++ 12 (see README, "Known compiler bugs"); the
// view is read before getaddrinfo returns its task.
struct getaddrinfo_options {
  int family = AF_UNSPEC;  // AF_UNSPEC, AF_INET or AF_INET6
  int socktype = 0;        // 0 (every type), SOCK_STREAM, SOCK_DGRAM or SOCK_RAW
  int protocol = 0;        // 0: the socket type's own
  int flags = 0;           // AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE
  // DNS servers instead of resolv.conf's, comma-separated: "127.0.0.1:5353,[::1]:53,10.0.0.2".
  std::string_view servers = {};
  // The time each server has to answer the first try (c-ares doubles it on each round), and
  // the number of tries per server; zero: resolv.conf's (c-ares's defaults: 5 s, 4 tries).
  std::chrono::milliseconds timeout{0};
  int tries = 0;
};
static_assert(std::is_trivially_destructible_v<getaddrinfo_options>);

// `host` and `port` (or a service name, looked up in /etc/services, or a number as text).
// The strings are copied: the task may outlive them.
task<std::vector<address_info>> getaddrinfo(std::string_view host, std::uint16_t port, getaddrinfo_options options = {});
task<std::vector<address_info>> getaddrinfo(std::string_view host, std::string_view service, getaddrinfo_options options = {});

// getnameinfo's answer: Python's (host, port) pair.
struct name_info {
  std::string host;     // the name, or the numeric address when it has none (unless NI_NAMEREQD)
  std::string service;  // the service name of the port ("https"), or the number as text
};

struct getnameinfo_options {
  int flags = 0;  // NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_NOFQDN, NI_DGRAM
  std::string_view servers = {};
  std::chrono::milliseconds timeout{0};
  int tries = 0;
};
static_assert(std::is_trivially_destructible_v<getnameinfo_options>);

// The name of an IPv4 or IPv6 address (a PTR lookup, after /etc/hosts) and of its port.
// With NI_NAMEREQD an address without a name raises host_not_found.
task<name_info> getnameinfo(const socket_address& address, getnameinfo_options options = {});

}  // namespace aw::net
