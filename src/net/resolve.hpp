// Name resolution as connect_tcp and create_tcp_listener need it. Internal.
//
// "localhost" is always ::1 and 127.0.0.1 (RFC 6761: it never leaves the machine, whatever
// /etc/hosts lists); every other host goes through aw::net::getaddrinfo (c-ares on the
// loop: numeric hosts without I/O, then /etc/hosts, then DNS).
#pragma once

#include <aw/net/address.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace aw::net::detail {

// The addresses of `host` for `port`, of `family` (AF_UNSPEC: both), in the order to try
// them (interleave_families). host_not_found when there is none; never empty.
task<std::vector<socket_address>> resolve_for_connect(std::string_view host, std::uint16_t port, int family);

// RFC 8305 section 4: alternate the families, IPv6 first, each family keeping its own
// order, so that a broken family costs one attempt, not all of its addresses.
std::vector<socket_address> interleave_families(std::vector<socket_address> addresses);

}  // namespace aw::net::detail
