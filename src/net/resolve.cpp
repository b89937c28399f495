// resolve_for_connect: the addresses connect_tcp and create_tcp_listener try, in RFC 8305 order.
#include "resolve.hpp"

#include <aw/net/errors.hpp>
#include <aw/net/resolver.hpp>

#include <ares.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>

namespace aw::net::detail {
namespace {

bool is_localhost(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // the fully qualified spelling
  constexpr std::string_view name = "localhost";
  return host.size() == name.size() && std::equal(host.begin(), host.end(), name.begin(),
                                                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

[[noreturn]] void not_found(int status, std::string_view host) {
  throw host_not_found(std::error_code(status, resolver_category()), "resolve", std::string(host));
}

}  // namespace

std::vector<socket_address> interleave_families(std::vector<socket_address> addresses) {
  std::vector<socket_address> v6, other, out;
  for (auto& a : addresses) (a.family() == AF_INET6 ? v6 : other).push_back(a);
  out.reserve(addresses.size());
  for (std::size_t i = 0; i < std::max(v6.size(), other.size()); ++i) {
    if (i < v6.size()) out.push_back(v6[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

task<std::vector<socket_address>> resolve_for_connect(std::string_view host, std::uint16_t port, int family) {
  std::vector<socket_address> found;
  if (is_localhost(host)) {
    found.push_back(socket_address::ip("::1", port));
    found.push_back(socket_address::ip("127.0.0.1", port));
  } else {
    // Numeric hosts resolve without I/O inside getaddrinfo; names go to /etc/hosts, then DNS.
    getaddrinfo_options o;
    o.family = family;
    o.socktype = SOCK_STREAM;
    for (auto& info : co_await getaddrinfo(host, port, o)) found.push_back(info.address);
  }
  if (family != AF_UNSPEC) std::erase_if(found, [&](const socket_address& a) { return a.family() != family; });
  if (found.empty()) not_found(ARES_ENODATA, host);  // no address of the family asked for
  co_return interleave_families(std::move(found));
}

}  // namespace aw::net::detail
