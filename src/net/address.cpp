// socket_address: building IPv4, IPv6 and Unix addresses, and printing them.
#include <aw/net/address.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace aw::net {

socket_address::socket_address() noexcept : storage_{}, len_(0) { storage_.ss_family = AF_UNSPEC; }

socket_address::socket_address(const sockaddr* sa, socklen_t len) : storage_{}, len_(len) {
  if (len > sizeof storage_) throw std::invalid_argument("aw::net::socket_address: address too long");
  std::memcpy(&storage_, sa, len);
}

socket_address socket_address::ip(std::string_view host, std::uint16_t port) {
  socket_address a;
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  std::string scope;
  if (auto pct = h.find('%'); pct != std::string::npos) {
    scope = h.substr(pct + 1);
    h.resize(pct);
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (!scope.empty()) {
      unsigned idx = if_nametoindex(scope.c_str());
      if (idx == 0) idx = static_cast<unsigned>(std::strtoul(scope.c_str(), nullptr, 10));
      if (idx == 0) throw std::invalid_argument("aw::net::socket_address: unknown IPv6 scope '" + scope + "'");
      v6->sin6_scope_id = idx;
    }
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  throw std::invalid_argument("aw::net::socket_address: not a numeric IP address: '" + std::string(host) + "'");
}

socket_address socket_address::unix_path(std::string_view path) {
  socket_address a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.empty() || path.size() >= sizeof un->sun_path)
    throw std::invalid_argument("aw::net::socket_address: a Unix socket path must have 1 to " + std::to_string(sizeof un->sun_path - 1) +
                                " bytes");
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  // An abstract name's length is exact (no terminating NUL); a path's includes the NUL.
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
  return a;
}

std::string socket_address::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
      return buf;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
      return buf;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
      if (n == 0) return {};  // unnamed (a socketpair, an unbound client)
      if (un->sun_path[0] == '\0') {
        std::string name(1, '@');  // append, not operator+: g++ 12's false -Wrestrict (doc/toolchain.md)
        name.append(un->sun_path + 1, n - 1);
        return name;
      }
      return std::string(un->sun_path, strnlen(un->sun_path, n));
    }
    default:
      return {};
  }
}

std::uint16_t socket_address::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string socket_address::to_string() const {
  // Appended, not chained with operator+: g++ 12's false -Wrestrict (doc/toolchain.md).
  std::string out;
  if (family() == AF_INET6) out.push_back('[');
  out.append(host());
  if (family() == AF_INET6) out.push_back(']');
  if (is_ip()) out.append(":").append(std::to_string(port()));
  return out;
}

bool operator==(const socket_address& a, const socket_address& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace aw::net
