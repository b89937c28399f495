// aw::net::tls_stream: OpenSSL behind a BIO pair. OpenSSL reads and writes ciphertext in
// the pair's two 64 KiB rings; the engine moves it between the network end of the pair and
// the transport, receiving straight into the ring and sending straight out of it (BIO_nwrite0
// and BIO_nread0), so no byte is copied on our side and nothing is allocated per record.
#include "tls_internal.hpp"

#include <aw/lock.hpp>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace aw::net {
namespace detail {
namespace {

struct ssl_free_t {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
struct bio_free_t {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Reads the text a print function wrote into a memory BIO.
template <class Print>
std::string print_to_string(Print print) {
  std::unique_ptr<BIO, bio_free_t> m(BIO_new(BIO_s_mem()));
  if (!m || !print(m.get())) return {};
  char* p = nullptr;
  long n = BIO_get_mem_data(m.get(), &p);
  return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

class tls_engine {
 public:
  // Each ring holds four full records: a send moves 64 KiB per transport call.
  static constexpr int ring_size = 65536;

  tls_engine(std::unique_ptr<tls_transport> transport, tls_options&& o)
      : context_(o.context ? std::move(o.context) : default_client_context()),
        transport_(std::move(transport)),
        hostname_(std::move(o.server_hostname)),
        server_(context_.is_server()),
        standard_compatible_(o.standard_compatible) {
    const tls_context::state& cs = *context_.state_;
    bool check_hostname = !server_ && cs.check_hostname && context_.verify_mode() != tls_verify_mode::none;
    if (check_hostname && hostname_.empty())
      throw std::invalid_argument("aw::net::tls_stream::wrap: the context checks host names and server_hostname is empty");
    alpn_wire_ = o.alpn_protocols.empty() ? cs.alpn_wire : detail::alpn_wire(o.alpn_protocols);

    ERR_clear_error();
    ssl_.reset(SSL_new(cs.ctx));
    if (!ssl_) throw tls_error(take_tls_error(), "SSL_new", hostname_);
    BIO* inner = nullptr;
    BIO* net = nullptr;
    if (BIO_new_bio_pair(&inner, ring_size, &net, ring_size) != 1) throw tls_error(take_tls_error(), "BIO_new_bio_pair", hostname_);
    net_.reset(net);
    SSL_set_bio(ssl_.get(), inner, inner);  // the SSL owns the inner end now
    SSL_set_app_data(ssl_.get(), this);
    // Partial writes: SSL_write returns after each record, so a full ring only makes us
    // drain it. Read-ahead: OpenSSL takes all the ciphertext there is in one BIO read.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_read_ahead(ssl_.get(), 1);
    if (server_) {
      SSL_set_accept_state(ssl_.get());
      return;
    }
    SSL_set_connect_state(ssl_.get());
    if (!o.alpn_protocols.empty() && SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
                                                         static_cast<unsigned>(alpn_wire_.size())) != 0)
      throw tls_error(take_tls_error(), "set the ALPN protocols for", hostname_);
    if (hostname_.empty()) return;
    bool ip = is_ip_literal(hostname_);
    // RFC 6066: SNI carries host names only, never an address.
    if (!ip && SSL_set_tlsext_host_name(ssl_.get(), hostname_.c_str()) != 1) throw tls_error(take_tls_error(), "set SNI for", hostname_);
    if (!check_hostname) return;
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), hostname_.c_str()) != 1)
        throw tls_error(take_tls_error(), "check the address", hostname_);
    } else {
      SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);  // as CPython
      if (SSL_set1_host(ssl_.get(), hostname_.c_str()) != 1) throw tls_error(take_tls_error(), "check the host name", hostname_);
    }
  }

  tls_engine(const tls_engine&) = delete;
  tls_engine& operator=(const tls_engine&) = delete;

  SSL* ssl() const noexcept { return ssl_.get(); }
  tls_transport* transport() noexcept { return transport_.get(); }
  bool closed() const noexcept { return closed_; }
  bool server() const noexcept { return server_; }
  bool standard_compatible() const noexcept { return standard_compatible_; }
  const std::string& hostname() const noexcept { return hostname_; }
  const std::string& alpn_wire() const noexcept { return alpn_wire_; }

  task<> handshake() {
    for (;;) {
      ERR_clear_error();
      int r = SSL_do_handshake(ssl_.get());
      if (r == 1) break;
      int err = SSL_get_error(ssl_.get(), r);
      if (err == SSL_ERROR_WANT_READ) {
        co_await flush();
        co_await fill();
      } else if (err == SSL_ERROR_WANT_WRITE) {
        co_await flush();
      } else {
        bool ended = false;
        std::exception_ptr e = failure(err, "TLS handshake", &ended);
        if (ended) e = std::make_exception_ptr(end_of_stream());
        // The alert saying why goes out if it can: the peer learns more than from a bare close.
        try {
          co_await flush();
        } catch (...) {
        }
        std::rethrow_exception(e);
      }
    }
    handshaken_ = true;
    try {
      co_await flush();
    } catch (const broken_resource_error&) {
      // A server's last flight (TLS 1.3's session tickets) may find the client gone: one
      // that sent its request and closed. What it sent is still there to receive; sends
      // will raise.
      if (!server_) throw;
    }
  }

  task<std::size_t> receive_into(std::span<char> buf) {
    for (;;) {
      if (closed_) throw closed_resource_error();
      if (ended_) co_return 0;
      if (ssl_failed_ || in_broken_) throw broken_resource_error();
      if (buf.empty()) co_return 0;
      ERR_clear_error();
      std::size_t n = 0;
      int r = SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n);
      if (r == 1) co_return n;
      int err = SSL_get_error(ssl_.get(), r);
      if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify
        ended_ = true;
        co_return 0;
      }
      if (err == SSL_ERROR_WANT_READ) {
        // What reading produced (a KeyUpdate answer) goes out before we wait. A send in
        // progress drains the ring to the end anyway; waiting for it here could deadlock two
        // peers that both send while both their receivers wait for their senders.
        if (output_pending() && !send_lock_.locked()) co_await flush();
        co_await fill();
      } else if (err == SSL_ERROR_WANT_WRITE) {
        co_await flush();
      } else {
        bool ended = false;
        std::exception_ptr e = failure(err, "TLS receive", &ended);
        if (!ended) std::rethrow_exception(e);
        ended_ = true;
        co_return 0;
      }
    }
  }

  task<> send(std::string_view data) {
    check_sendable();
    co_await send_lock_.acquire();
    std::exception_ptr error;
    try {
      while (!data.empty()) {
        check_sendable();  // the receiver may have failed meanwhile
        ERR_clear_error();
        std::size_t n = 0;
        int r = SSL_write_ex(ssl_.get(), data.data(), data.size(), &n);
        if (r == 1) {
          data.remove_prefix(n);
          continue;
        }
        int err = SSL_get_error(ssl_.get(), r);
        if (err == SSL_ERROR_WANT_WRITE)
          co_await drain();
        else if (err == SSL_ERROR_WANT_READ)
          co_await fill();
        else
          std::rethrow_exception(failure(err, "TLS send", nullptr));
      }
      co_await drain();
    } catch (...) {
      error = std::current_exception();
    }
    co_await send_lock_.release();
    if (error) std::rethrow_exception(error);
  }

  task<> send_eof() {
    if (closed_) throw closed_resource_error();
    if (eof_sent_) co_return;
    if (SSL_version(ssl_.get()) < TLS1_3_VERSION)
      throw std::logic_error(std::string("aw::net::tls_stream::send_eof: a half-close needs TLS 1.3; this session is ") +
                             SSL_get_version(ssl_.get()));
    check_sendable();
    eof_sent_ = true;
    co_await close_notify();
  }

  // close_notify (when graceful and standard_compatible), then the transport is closed.
  task<> aclose(bool graceful) {
    if (closed_) co_return;
    closed_ = true;
    std::exception_ptr error;
    if (graceful && standard_compatible_ && handshaken_ && !ssl_failed_ && !out_broken_ &&
        !(SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN)) {
      try {
        co_await close_notify();
      } catch (const broken_resource_error&) {
        // The peer is gone already: closing is what was asked (trio's aclose does the same).
      } catch (...) {
        error = std::current_exception();
      }
    }
    try {
      co_await transport_->aclose();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  bool output_pending() const noexcept { return BIO_ctrl_pending(net_.get()) > 0; }

  void check_sendable() const {
    if (closed_ || eof_sent_) throw closed_resource_error();
    if (ssl_failed_ || out_broken_) throw broken_resource_error();
  }

  // Sends close_notify, once: OpenSSL would read the peer's on a second SSL_shutdown.
  task<> close_notify() {
    co_await send_lock_.acquire();
    std::exception_ptr error;
    try {
      for (;;) {
        ERR_clear_error();
        int r = SSL_shutdown(ssl_.get());
        if (r >= 0) break;
        if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          break;
        }
        co_await drain();
      }
      co_await drain();
    } catch (...) {
      error = std::current_exception();
    }
    co_await send_lock_.release();
    if (error) std::rethrow_exception(error);
  }

  task<> flush() {
    if (!output_pending()) co_return;
    co_await send_lock_.acquire();
    std::exception_ptr error;
    try {
      co_await drain();
    } catch (...) {
      error = std::current_exception();
    }
    co_await send_lock_.release();
    if (error) std::rethrow_exception(error);
  }

  // The send lock held: every ciphertext byte OpenSSL wrote goes to the transport, straight
  // from the ring. A chunk leaves the ring only once the transport took all of it.
  task<> drain() {
    while (output_pending()) {
      char* p = nullptr;
      int n = BIO_nread0(net_.get(), &p);
      if (n <= 0) co_return;
      try {
        co_await transport_->send(std::string_view(p, static_cast<std::size_t>(n)));
      } catch (const std::system_error&) {
        out_broken_ = true;
        std::throw_with_nested(broken_resource_error());
      } catch (...) {
        // Cancelled, or broken: part of a record may be out, so the peer could not
        // decrypt anything we sent after it.
        out_broken_ = true;
        throw;
      }
      BIO_nread(net_.get(), &p, n);
    }
  }

  // Ciphertext from the transport into the ring, or its end. A send that needs input
  // (renegotiation, which we refuse, is the only case) waits for the receiver's read
  // instead of reading beside it.
  task<> fill() {
    std::uint64_t seen = fills_;
    co_await recv_lock_.acquire();
    std::exception_ptr error;
    try {
      if (fills_ == seen && !transport_ended_) {
        char* p = nullptr;
        int space = BIO_nwrite0(net_.get(), &p);
        // A record is at most 16 KiB and the ring 64: OpenSSL asks for more only once it
        // took what the ring had.
        if (space <= 0) throw std::logic_error("aw::net::tls_stream: OpenSSL asks for ciphertext with its input ring full");
        std::size_t n = 0;
        try {
          n = co_await transport_->receive_into(std::span<char>(p, static_cast<std::size_t>(space)));
        } catch (const end_of_stream&) {
          n = 0;
        } catch (const std::system_error&) {
          in_broken_ = true;
          std::throw_with_nested(broken_resource_error());
        } catch (const broken_resource_error&) {
          in_broken_ = true;
          throw;
        }
        ++fills_;
        if (n == 0) {
          transport_ended_ = true;
          BIO_shutdown_wr(net_.get());  // OpenSSL reads the end once the ring is empty
        } else {
          // If OpenSSL emptied the ring meanwhile, it rewound it: the bytes move to the new start.
          char* q = nullptr;
          BIO_nwrite0(net_.get(), &q);
          if (q != p) std::memmove(q, p, n);
          BIO_nwrite(net_.get(), &q, static_cast<int>(n));
        }
      }
    } catch (...) {
      error = std::current_exception();
    }
    co_await recv_lock_.release();
    if (error) std::rethrow_exception(error);
  }

  // The exception for an OpenSSL failure in `operation` ("TLS handshake", "TLS receive",
  // "TLS send"); the queue is cleared. A transport that ended
  // without close_notify is aw::broken_resource_error with the tls_error nested when
  // standard_compatible; otherwise *ended is set and the result is null.
  std::exception_ptr failure(int ssl_error, const char* operation, bool* ended) {
    unsigned long code = ERR_peek_error();
    bool ragged = ssl_error == SSL_ERROR_SYSCALL && code == 0;
    if (ragged) code = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING);
    ragged = ragged || (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
    ERR_clear_error();
    ssl_failed_ = true;  // OpenSSL forbids any further call but SSL_free after a fatal error
    if (ragged && ended && !standard_compatible_) {
      *ended = true;
      return nullptr;
    }
    long verify = X509_V_OK;
    std::string verify_message;
    if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      verify = SSL_get_verify_result(ssl_.get());
      verify_message = X509_verify_cert_error_string(verify);
    }
    // "TLS handshake with example.com", "TLS receive from a client for example.com" (the SNI).
    std::string op = operation, address = hostname_;
    bool handshake = op == "TLS handshake";
    if (server_) {
      const char* sni = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
      address = sni ? sni : "";
      op += handshake ? " with a client" : op == "TLS send" ? " to a client" : " from a client";
      if (!address.empty()) op += " for";
    } else if (!address.empty()) {
      op += handshake ? " with" : op == "TLS send" ? " to" : " from";
    }
    tls_error e(std::error_code(static_cast<int>(code), tls_category()), op, std::move(address), verify, std::move(verify_message));
    if (!ragged) return std::make_exception_ptr(std::move(e));
    try {
      throw e;
    } catch (...) {
      try {
        std::throw_with_nested(broken_resource_error());
      } catch (...) {
        return std::current_exception();
      }
    }
  }

  tls_context context_;  // keeps the SSL_CTX (and a server's ALPN list) alive
  std::unique_ptr<SSL, ssl_free_t> ssl_;
  std::unique_ptr<BIO, bio_free_t> net_;
  std::unique_ptr<tls_transport> transport_;
  std::string hostname_;
  std::string alpn_wire_;
  // A send drains the ring while a receive may be waiting on the transport: one lock per
  // direction of the transport.
  // (fast: internal locks, a yield per record would cost throughput and order nothing).
  lock send_lock_{fast_acquire};
  lock recv_lock_{fast_acquire};
  std::uint64_t fills_ = 0;
  bool server_;
  bool standard_compatible_;
  bool handshaken_ = false;
  bool closed_ = false;
  bool ended_ = false;            // close_notify received, or a bare end taken for one
  bool transport_ended_ = false;  // the transport gave its end of stream
  bool eof_sent_ = false;
  bool ssl_failed_ = false;
  bool in_broken_ = false;
  bool out_broken_ = false;
};

const std::string& server_alpn_wire(const SSL* ssl) noexcept { return static_cast<const tls_engine*>(SSL_get_app_data(ssl))->alpn_wire(); }

}  // namespace detail

// ---------------------------------------------------------------------------------------
// tls_stream

tls_stream::tls_stream() noexcept = default;
tls_stream::tls_stream(std::unique_ptr<detail::tls_engine> e) noexcept : e_(std::move(e)) {}
tls_stream::tls_stream(tls_stream&&) noexcept = default;
tls_stream& tls_stream::operator=(tls_stream&&) noexcept = default;
tls_stream::~tls_stream() = default;

task<tls_stream> tls_stream::wrap_transport(std::unique_ptr<detail::tls_transport> transport, tls_options options) {
  auto e = std::make_unique<detail::tls_engine>(std::move(transport), std::move(options));
  co_await e->handshake();
  co_return tls_stream(std::move(e));
}

detail::tls_engine& tls_stream::engine() const {
  if (!e_) throw closed_resource_error();
  return *e_;
}

detail::tls_transport* tls_stream::transport() noexcept { return e_ ? e_->transport() : nullptr; }

task<std::size_t> tls_stream::receive_into(std::span<char> buf) { return engine().receive_into(buf); }

task<std::string> tls_stream::receive(std::size_t max) {
  if (max == 0) co_return std::string();
  // One call gives at most one record's 16 KiB: a larger string would only be cut down.
  std::string out(std::min<std::size_t>(max, 16384), '\0');
  std::size_t n = co_await engine().receive_into(out);
  if (n == 0) throw end_of_stream();
  out.resize(n);
  co_return out;
}

task<> tls_stream::send(std::string_view data) { return engine().send(data); }
task<> tls_stream::send_eof() { return engine().send_eof(); }

task<> tls_stream::aclose() {
  if (e_) co_await e_->aclose(true);
}

task<> tls_stream::aexit(std::exception_ptr e) {
  // Leaving with an exception is no clean end: the peer must not take what it got for all.
  if (e_) co_await e_->aclose(e == nullptr);
}

bool tls_stream::is_open() const noexcept { return e_ && !e_->closed(); }
bool tls_stream::server_side() const { return engine().server(); }
bool tls_stream::standard_compatible() const { return engine().standard_compatible(); }

std::string tls_stream::server_hostname() const {
  auto& e = engine();
  if (!e.server()) return e.hostname();
  const char* sni = SSL_get_servername(e.ssl(), TLSEXT_NAMETYPE_host_name);
  return sni ? sni : "";
}

std::string tls_stream::alpn_protocol() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(engine().ssl(), &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string tls_stream::tls_version() const { return SSL_get_version(engine().ssl()); }

std::string tls_stream::cipher() const {
  const char* name = SSL_get_cipher_name(engine().ssl());
  return name ? name : "";
}

std::string tls_stream::peer_certificate() const {
  X509* c = SSL_get0_peer_certificate(engine().ssl());
  if (!c) return {};
  return detail::print_to_string([c](BIO* m) { return PEM_write_bio_X509(m, c) == 1; });
}

std::string tls_stream::peer_certificate_binary() const {
  X509* c = SSL_get0_peer_certificate(engine().ssl());
  if (!c) return {};
  int n = i2d_X509(c, nullptr);
  if (n <= 0) return {};
  std::string der(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(c, &p);
  return der;
}

std::string tls_stream::peer_certificate_subject() const {
  X509* c = SSL_get0_peer_certificate(engine().ssl());
  if (!c) return {};
  return detail::print_to_string([c](BIO* m) { return X509_NAME_print_ex(m, X509_get_subject_name(c), 0, XN_FLAG_RFC2253) >= 0; });
}

ssl_st* tls_stream::native_handle() const { return engine().ssl(); }

}  // namespace aw::net
