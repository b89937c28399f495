// What tls_context.cpp and tls_stream.cpp share: the context's state and OpenSSL helpers.
#pragma once

#include <aw/net/tls.hpp>

#include <openssl/ssl.h>

#include <string>
#include <system_error>
#include <vector>

namespace aw::net {

struct tls_context::state {
  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() { SSL_CTX_free(ctx); }

  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool check_hostname = false;
  // ALPN's wire form (length-prefixed names): OpenSSL keeps a client's list but not the
  // list a server chooses from.
  std::string alpn_wire;
};

namespace detail {

// The context a tls_options without one uses: one per process, loaded once.
const tls_context& default_client_context();
// {"h2", "http/1.1"} -> "\x02h2\x08http/1.1"; std::invalid_argument for a bad name.
std::string alpn_wire(const std::vector<std::string>& protocols);
// The list a server stream chooses its ALPN protocol from (the stream's or its context's).
const std::string& server_alpn_wire(const SSL* ssl) noexcept;
// OpenSSL's oldest queued error as a std::error_code in tls_category(); clears the queue.
std::error_code take_tls_error() noexcept;

}  // namespace detail
}  // namespace aw::net
