// aw::net::tls_context: Python's ssl.SSLContext over an OpenSSL SSL_CTX.
#include "tls_internal.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <utility>

namespace aw::net {
namespace {

[[noreturn]] void throw_tls(const std::string& operation, std::string subject = {}) {
  throw tls_error(detail::take_tls_error(), operation, std::move(subject));
}

// Chooses in the server's order of preference, as CPython does; no common protocol is
// not an error (the connection goes on without ALPN).
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
  const std::string& wire = detail::server_alpn_wire(ssl);
  if (wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned int>(wire.size()),
                            in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<tls_context::state> make_state(bool server) {
  auto s = std::make_shared<tls_context::state>();
  ERR_clear_error();
  s->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!s->ctx) throw_tls("SSL_CTX_new");
  s->server = server;
  // Python's create_default_context: TLS 1.2 at least, no compression (CRIME), and no
  // renegotiation (a peer could otherwise make a send wait for a receive).
  SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(s->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  return s;
}

}  // namespace

namespace detail {

const tls_context& default_client_context() {
  static const tls_context c = tls_context::client();
  return c;
}

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) throw std::invalid_argument("aw::net: an ALPN protocol name is 1 to 255 bytes: '" + p + "'");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

std::error_code take_tls_error() noexcept {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  return {static_cast<int>(code), tls_category()};
}

}  // namespace detail

tls_context tls_context::client() {
  auto s = make_state(false);
  if (SSL_CTX_set_default_verify_paths(s->ctx) != 1) throw_tls("load the system's CA store");
  SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, nullptr);
  s->check_hostname = true;
  return tls_context(std::move(s));
}

tls_context tls_context::server(const std::string& cert_file, const std::string& key_file) {
  auto s = make_state(true);
  // Sessions resumed on a server that verifies clients need an id context, or OpenSSL
  // refuses them.
  static constexpr unsigned char session_context[] = "aw::net";
  SSL_CTX_set_session_id_context(s->ctx, session_context, sizeof session_context - 1);
  SSL_CTX_set_alpn_select_cb(s->ctx, select_alpn, nullptr);
  tls_context c(std::move(s));
  c.load_cert_chain(cert_file, key_file);
  return c;
}

tls_context::state& tls_context::checked() const {
  if (!state_) throw std::logic_error("aw::net::tls_context: the context is empty (make it with client() or server())");
  return *state_;
}

tls_context& tls_context::load_verify_locations(const std::string& ca_file, const std::string& ca_path) {
  auto& s = checked();
  if (ca_file.empty() && ca_path.empty())
    throw std::invalid_argument("aw::net::tls_context::load_verify_locations: no file and no directory");
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(s.ctx, ca_file.empty() ? nullptr : ca_file.c_str(), ca_path.empty() ? nullptr : ca_path.c_str()) != 1)
    throw_tls("load CA certificates from", ca_file.empty() ? ca_path : ca_file);
  return *this;
}

tls_context& tls_context::load_cert_chain(const std::string& cert_file, const std::string& key_file) {
  auto& s = checked();
  const std::string& key = key_file.empty() ? cert_file : key_file;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(s.ctx, cert_file.c_str()) != 1) throw_tls("load the certificate chain", cert_file);
  if (SSL_CTX_use_PrivateKey_file(s.ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) throw_tls("load the private key", key);
  if (SSL_CTX_check_private_key(s.ctx) != 1) throw_tls("match the private key with the certificate", key);
  return *this;
}

tls_context& tls_context::set_alpn_protocols(const std::vector<std::string>& protocols) {
  auto& s = checked();
  std::string wire = detail::alpn_wire(protocols);
  // A client's list goes to OpenSSL (note: 0 is success here); a server's stays ours.
  if (!s.server &&
      SSL_CTX_set_alpn_protos(s.ctx, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size())) != 0)
    throw_tls("set the ALPN protocols");
  s.alpn_wire = std::move(wire);
  return *this;
}

tls_context& tls_context::set_verify_mode(tls_verify_mode mode) {
  auto& s = checked();
  if (mode == tls_verify_mode::none && s.check_hostname)
    throw std::invalid_argument("aw::net::tls_context: verify_mode none with check_hostname on (turn check_hostname off first)");
  int flags = mode == tls_verify_mode::none       ? SSL_VERIFY_NONE
              : mode == tls_verify_mode::optional ? SSL_VERIFY_PEER
                                                  : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(s.ctx, flags, nullptr);
  return *this;
}

tls_verify_mode tls_context::verify_mode() const noexcept {
  if (!state_) return tls_verify_mode::none;
  int flags = SSL_CTX_get_verify_mode(state_->ctx);
  if (!(flags & SSL_VERIFY_PEER)) return tls_verify_mode::none;
  // A client fails without the server's certificate either way: Python calls it required.
  return (flags & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) || !state_->server ? tls_verify_mode::required : tls_verify_mode::optional;
}

tls_context& tls_context::set_check_hostname(bool check) {
  auto& s = checked();
  if (check && verify_mode() == tls_verify_mode::none) set_verify_mode(tls_verify_mode::required);
  s.check_hostname = check;
  return *this;
}

bool tls_context::check_hostname() const noexcept { return state_ && state_->check_hostname; }

tls_context& tls_context::set_minimum_version(tls_version v) {
  if (SSL_CTX_set_min_proto_version(checked().ctx, static_cast<int>(v)) != 1) throw_tls("set the minimum TLS version");
  return *this;
}

tls_context& tls_context::set_maximum_version(tls_version v) {
  if (SSL_CTX_set_max_proto_version(checked().ctx, static_cast<int>(v)) != 1) throw_tls("set the maximum TLS version");
  return *this;
}

tls_context& tls_context::set_ciphers(const std::string& ciphers) {
  ERR_clear_error();
  if (SSL_CTX_set_cipher_list(checked().ctx, ciphers.c_str()) != 1) throw_tls("set the ciphers", ciphers);
  return *this;
}

bool tls_context::is_server() const noexcept { return state_ && state_->server; }

ssl_ctx_st* tls_context::native_handle() const noexcept { return state_ ? state_->ctx : nullptr; }

}  // namespace aw::net
