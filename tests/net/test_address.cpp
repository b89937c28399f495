// socket_address: numeric IPv4/IPv6 and Unix addresses, built, printed and compared.
#include <aw/net/address.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <stdexcept>
#include <string>

namespace {

using aw::net::socket_address;

TEST(NetAddress, Ipv4AndIpv6) {
  auto a = socket_address::ip("127.0.0.1", 8080);
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.size(), sizeof(sockaddr_in));
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  auto b = socket_address::ip("::1", 443);
  EXPECT_EQ(b.family(), AF_INET6);
  EXPECT_EQ(b.to_string(), "[::1]:443");
  EXPECT_EQ(socket_address::ip("[::1]", 443), b);
  EXPECT_NE(a, b);
  EXPECT_EQ(socket_address(a.data(), a.size()), a);
}

TEST(NetAddress, ScopedIpv6UsesTheInterfaceIndex) {
  auto a = socket_address::ip("fe80::1%lo", 1);
  EXPECT_NE(reinterpret_cast<const sockaddr_in6*>(a.data())->sin6_scope_id, 0u);
  EXPECT_THROW(socket_address::ip("fe80::1%no-such-interface", 1), std::invalid_argument);
}

TEST(NetAddress, NamesAreNotNumeric) {
  EXPECT_THROW(socket_address::ip("localhost", 80), std::invalid_argument);
  EXPECT_THROW(socket_address::ip("", 80), std::invalid_argument);
  EXPECT_THROW(socket_address::ip("1.2.3.4.5", 80), std::invalid_argument);
}

TEST(NetAddress, UnixPathsAndAbstractNames) {
  auto p = socket_address::unix_path("/run/app.sock");
  EXPECT_EQ(p.family(), AF_UNIX);
  EXPECT_EQ(p.to_string(), "/run/app.sock");
  EXPECT_EQ(p.port(), 0);
  auto n = socket_address::unix_path(std::string("\0name", 5));
  EXPECT_EQ(n.to_string(), "@name");
  EXPECT_NE(n, socket_address::unix_path("name"));
  EXPECT_THROW(socket_address::unix_path(""), std::invalid_argument);
  EXPECT_THROW(socket_address::unix_path(std::string(200, 'x')), std::invalid_argument);
}

TEST(NetAddress, EmptyIsUnspecified) {
  socket_address a;
  EXPECT_EQ(a.family(), AF_UNSPEC);
  EXPECT_EQ(a.to_string(), "");
  EXPECT_FALSE(a.is_ip());
}

}  // namespace
