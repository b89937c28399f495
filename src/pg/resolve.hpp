// The DSN's host names resolved on the loop (aw::net::getaddrinfo), so that libpq, handed
// the addresses as `hostaddr`, never calls its blocking getaddrinfo. Internal.
//
// Built with aw::net only (AW_PG_RESOLVE_ON_LOOP); without it resolve_host_names gives
// nothing to override and libpq resolves names itself, blocking the loop while it does.
#pragma once

#include <aw/task.hpp>

#include <optional>
#include <string>

namespace aw::pg::detail {

// What to pass to PQconnectStartParams after the DSN, overriding its host, hostaddr and
// port: host and hostaddr lists of the same length, a name that resolved to several
// addresses repeated once per address (TLS verification and .pgpass still see the name);
// port empty when the DSN's (one port for every host, or none) still applies.
struct host_override {
  std::string host;
  std::string hostaddr;
  std::string port;
};

// Resolves the host names the DSN (and PGHOST, PGPORT where it names no host or port)
// gives, each list entry on its own and all at once. Nothing (std::nullopt) when there is
// no name to resolve or libpq must decide alone: hostaddr given, a service file in play
// (it may name the host), a DSN libpq cannot parse or whose lists do not match (libpq
// reports those). A name that does not resolve is left out while another entry remains;
// when none remains, connection_error naming each host and why, as libpq's "could not
// translate host name" does. `dsn` is only named redacted. Each lookup is a cancellation
// point; the caller bounds them with its deadline.
task<std::optional<host_override>> resolve_host_names(const std::string& dsn);

// Tests: the DNS servers of aw::net::getaddrinfo_options::servers ("127.0.0.1:5353") and its
// per-try timeout in milliseconds (0: resolv.conf's) for every later lookup; "" for
// resolv.conf's servers again. Not thread-safe: set it before connecting.
void set_dns_servers_for_testing(std::string servers, int timeout_ms = 0);

}  // namespace aw::pg::detail
