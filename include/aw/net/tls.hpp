// TLS over any byte stream, on OpenSSL 3: anyio's TLSStream and TLSListener, with Python's
// ssl.SSLContext as aw::net::tls_context.
//
//   aw::net::tls_options o;                            // named first (g++ 12: README, "Known compiler bugs")
//   o.server_hostname = "example.com";                 // SNI and the name the certificate must carry
//   aw::net::tls_stream s = co_await aw::net::tls_stream::wrap(std::move(tcp), o);
//   co_await aw::async_with(s, [](aw::net::tls_stream& s) -> aw::task<> {
//     co_await s.send("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
//     std::string reply = co_await s.receive();          // aw::end_of_stream at close_notify
//   });
//
//   auto ctx = aw::net::tls_context::server("cert.pem", "key.pem");
//   aw::net::tls_options so;
//   so.context = ctx;
//   aw::net::tls_stream server_side = co_await aw::net::tls_stream::wrap(std::move(accepted), so);
//
// - wrap() takes any transport with `task<size_t> receive_into(std::span<char>)` (0 at end
//   of stream) and `task<> send(std::string_view)` (aw::byte_stream, the socket streams, a
//   tls_stream for TLS through a TLS proxy), owns it, and does the handshake; the stream is
//   a client or a server as its context is (tls_context::client() or server()). OpenSSL
//   never sees the transport: ciphertext goes through a memory BIO pair that the stream
//   moves to and from the transport, so every wait is the transport's, a cancellation
//   point. A failed or cancelled handshake destroys the transport (closing it) and raises;
//   nothing is leaked.
// - A client verifies by default: tls_context::client() trusts the system's CA store and
//   checks that the certificate names server_hostname (a DNS name, or an IP address), as
//   ssl.create_default_context() does; a client context that checks host names refuses to
//   wrap without server_hostname (std::invalid_argument, Python's ValueError). Failures are
//   aw::net::tls_error: code() is OpenSSL's error, verify_result() the X509_V_ERR_* of a
//   certificate that did not verify (18 self-signed, 20 unknown issuer, 62 host name
//   mismatch), and what() names the host.
// - receive() gives what one TLS record held (up to `max`) and raises aw::end_of_stream once
//   the peer sent close_notify; receive_into() gives 0 there. A transport that ends without
//   close_notify is aw::broken_resource_error when standard_compatible (anyio's flag, the
//   default): the data may have been cut short. Without it, that is an end of stream too.
//   Transport errors are aw::broken_resource_error with the cause nested.
// - aclose() sends close_notify when standard_compatible, without waiting for the peer's
//   (trio's choice: waiting is what lets a dead peer hang a close), then closes the
//   transport; a peer that is already gone is not an error there. Leaving `async with` on
//   success is aclose(); leaving it with an exception closes the transport without
//   close_notify, so that the peer sees a broken stream, not a clean end it could take for
//   the whole message. After aclose(), using the stream raises aw::closed_resource_error.
// - send_eof() sends close_notify and keeps receiving (TLS 1.3's half-close; before 1.3 it
//   raises std::logic_error, as anyio raises NotImplementedError).
// - One receiver and one sender may run at once (in two tasks); a receive does not wait
//   for a send to finish. Do not close the stream while another task uses it. A cancelled
//   receive loses nothing. A cancelled send may have written part of a record: the stream
//   is broken after it (later sends raise aw::broken_resource_error; aclose() skips
//   close_notify).
// - Memory: two 64 KiB ring buffers per stream (ciphertext in and out) besides OpenSSL's
//   own record buffers; nothing is allocated per record.
#pragma once

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/context.hpp>
#include <aw/exceptions.hpp>
#include <aw/memory_channel.hpp>
#include <aw/net/errors.hpp>
#include <aw/task.hpp>
#include <aw/task_group.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace aw::net {
namespace detail {
class tls_engine;
}

// Whether and how the peer's certificate is checked (Python's ssl.CERT_NONE, CERT_OPTIONAL,
// CERT_REQUIRED). On a server, `required` is "clients must present a certificate".
enum class tls_verify_mode { none, optional, required };

// TLS protocol versions, with their wire numbers.
enum class tls_version { tls1_2 = 0x0303, tls1_3 = 0x0304 };

// A handle on an OpenSSL SSL_CTX (Python's ssl.SSLContext). Copies share one context, as
// Python objects do; settings made after a stream was wrapped do not reach that stream.
// Setting it up is not thread-safe; wrapping streams with it from several threads is.
class tls_context {
 public:
  tls_context() noexcept = default;  // empty: wrap() uses a shared tls_context::client()

  // ssl.create_default_context(): a client that trusts the system's CAs, verifies the
  // server's certificate and checks its host name; TLS 1.2 at least, no compression, no
  // renegotiation.
  static tls_context client();
  // ssl.create_default_context(Purpose.CLIENT_AUTH) and load_cert_chain(cert_file, key_file):
  // a server with this certificate (a PEM chain, leaf first) and key, which does not ask
  // clients for certificates until set_verify_mode says so.
  static tls_context server(const std::string& cert_file, const std::string& key_file = {});

  // Trusts the CA certificates in `ca_file` (PEM) and/or in the hashed directory `ca_path`,
  // besides those already trusted. tls_error (naming the file) when they cannot be loaded.
  tls_context& load_verify_locations(const std::string& ca_file, const std::string& ca_path = {});
  // The certificate chain and private key this side presents: a server's, or a client
  // certificate. `key_file` empty: the key is in `cert_file`. tls_error when they cannot be
  // loaded or do not match.
  tls_context& load_cert_chain(const std::string& cert_file, const std::string& key_file = {});
  // The ALPN protocols offered (client) or accepted (server, in order of preference):
  // {"h2", "http/1.1"}. std::invalid_argument for an empty name or one over 255 bytes.
  tls_context& set_alpn_protocols(const std::vector<std::string>& protocols);
  // Python's verify_mode. `none` with check_hostname on is std::invalid_argument, as in Python.
  tls_context& set_verify_mode(tls_verify_mode mode);
  tls_verify_mode verify_mode() const noexcept;
  // Python's check_hostname (a client's: the certificate must name server_hostname).
  // Turning it on turns verify_mode `none` into `required`, as in Python.
  tls_context& set_check_hostname(bool check);
  bool check_hostname() const noexcept;
  tls_context& set_minimum_version(tls_version v);
  tls_context& set_maximum_version(tls_version v);
  // OpenSSL cipher list for TLS 1.2 (Python's set_ciphers); tls_error when nothing matches.
  tls_context& set_ciphers(const std::string& ciphers);

  bool is_server() const noexcept;
  explicit operator bool() const noexcept { return static_cast<bool>(state_); }
  ssl_ctx_st* native_handle() const noexcept;

  struct state;  // the SSL_CTX and what OpenSSL does not keep for us

 private:
  friend class detail::tls_engine;
  explicit tls_context(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}
  state& checked() const;
  std::shared_ptr<state> state_;
};

// How a stream is wrapped (anyio's TLSStream.wrap arguments). An aggregate: under g++ 12
// name it before the co_await (README, "Known compiler bugs").
struct tls_options {
  // The context; empty: a shared tls_context::client() (the system's CAs). A server context
  // makes the stream the server side.
  tls_context context;
  // Client: the name sent as SNI (not for an IP address) and checked against the
  // certificate. Empty on a client whose context checks host names: std::invalid_argument.
  std::string server_hostname;
  // Send close_notify when closing, and treat an end of the transport without one as
  // broken (anyio's standard_compatible). false suits HTTPS, whose messages carry their length.
  bool standard_compatible = true;
  // ALPN protocols for this stream instead of the context's.
  std::vector<std::string> alpn_protocols;
};

namespace detail {

// The transport behind a tls_stream, type-erased: one virtual call per transport
// operation, forwarding to the stream's own coroutine (no frame of ours).
class tls_transport {
 public:
  virtual ~tls_transport() = default;
  virtual task<std::size_t> receive_into(std::span<char> buf) = 0;
  virtual task<> send(std::string_view data) = 0;
  virtual task<> aclose() = 0;
};

template <class S>
class tls_transport_for final : public tls_transport {
 public:
  explicit tls_transport_for(S&& s) : stream(std::move(s)) {}
  task<std::size_t> receive_into(std::span<char> buf) override { return stream.receive_into(buf); }
  task<> send(std::string_view data) override { return stream.send(data); }
  task<> aclose() override {
    if constexpr (requires { stream.aclose(); }) co_await stream.aclose();
  }
  S stream;
};

}  // namespace detail

// A byte stream that a transport must provide for TLS to run over it.
template <class S>
concept tls_transport_stream = std::move_constructible<S> && requires(S& s, std::span<char> buf, std::string_view data) {
  { s.receive_into(buf) } -> std::same_as<task<std::size_t>>;
  { s.send(data) } -> std::same_as<task<>>;
};

class tls_stream {
 public:
  // What receive() asks for by default (anyio's 65536; one call gives at most one record).
  static constexpr std::size_t default_receive_size = 65536;

  // Takes `transport` and does the handshake (anyio's TLSStream.wrap). tls_error when it
  // fails; aw::broken_resource_error (standard_compatible) or aw::end_of_stream when the
  // transport ends during it; aw::cancelled when cancelled. On every failure the transport
  // is destroyed.
  template <tls_transport_stream S>
  static task<tls_stream> wrap(S transport, tls_options options) {
    return wrap_transport(std::make_unique<detail::tls_transport_for<S>>(std::move(transport)), std::move(options));
  }
  static task<tls_stream> wrap_transport(std::unique_ptr<detail::tls_transport> transport, tls_options options);

  tls_stream() noexcept;  // closed
  tls_stream(tls_stream&&) noexcept;
  tls_stream& operator=(tls_stream&&) noexcept;
  ~tls_stream();  // closes the transport without close_notify

  // Decrypts what one record holds into `buf`, waiting for it: the count; 0 at the end of
  // the stream (close_notify, or a bare end without standard_compatible) or for an empty buf.
  task<std::size_t> receive_into(std::span<char> buf);
  // Up to `max` bytes; aw::end_of_stream at the end of the stream.
  task<std::string> receive(std::size_t max = default_receive_size);
  // Encrypts and sends all of `data` (which must stay alive until the send completes).
  task<> send(std::string_view data);
  // close_notify now, receiving still allowed (TLS 1.3); later sends raise
  // aw::closed_resource_error.
  task<> send_eof();
  // close_notify (when standard_compatible), then the transport is closed. Idempotent.
  task<> aclose();

  aw::detail::ready<tls_stream&> aenter() noexcept { return {*this}; }
  task<> aexit(std::exception_ptr e);

  bool is_open() const noexcept;
  bool server_side() const;
  bool standard_compatible() const;
  // The server name: what the client asked for (SNI) on a server, server_hostname on a client.
  std::string server_hostname() const;
  // The negotiated ALPN protocol ("h2"); empty when none was.
  std::string alpn_protocol() const;
  // "TLSv1.3", "TLSv1.2".
  std::string tls_version() const;
  // The cipher suite's OpenSSL name ("TLS_AES_256_GCM_SHA384").
  std::string cipher() const;
  // The peer's certificate as PEM, its DER bytes, its subject ("CN=localhost,O=..."
  // in RFC 2253 form); empty when the peer sent none.
  std::string peer_certificate() const;
  std::string peer_certificate_binary() const;
  std::string peer_certificate_subject() const;
  ssl_st* native_handle() const;

  // The transport, when it is an S (anyio's transport_stream); null otherwise.
  template <class S>
  S* transport_as() noexcept {
    auto* t = dynamic_cast<detail::tls_transport_for<S>*>(transport());
    return t ? &t->stream : nullptr;
  }

 private:
  explicit tls_stream(std::unique_ptr<detail::tls_engine> e) noexcept;
  detail::tls_transport* transport() noexcept;
  detail::tls_engine& engine() const;
  std::unique_ptr<detail::tls_engine> e_;
};

// Serves TLS on any listener whose `accept()` gives a transport stream (anyio's
// TLSListener): serve() accepts in a loop and, in a task of its own group per connection,
// does the handshake (bounded by handshake_timeout) and then runs handler(stream). A
// handshake that fails or times out closes that connection and is reported to
// on_handshake_error (nothing by default), never to serve(): one bad client does not stop
// the server. accept() alone is one connection, handshake included, its failure raised.
//
//   aw::net::tls_listener tls(std::move(tcp_listener), aw::net::tls_context::server(cert, key));
//   co_await tls.serve([](aw::net::tls_stream& s) -> aw::task<> { co_await s.send("hi\n"); });
template <class L>
class tls_listener {
 public:
  tls_listener(L listener, tls_context context, bool standard_compatible = true)
      : listener_(std::move(listener)), context_(std::move(context)), standard_compatible_(standard_compatible) {}

  // anyio's TLSListener.handshake_timeout (30 s).
  std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(30);
  // Called with the exception of each failed handshake (anyio logs it).
  std::function<void(std::exception_ptr)> on_handshake_error;

  L& listener() noexcept { return listener_; }
  const tls_context& context() const noexcept { return context_; }
  bool standard_compatible() const noexcept { return standard_compatible_; }

  task<tls_stream> accept() {
    auto transport = co_await listener_.accept();
    co_return co_await tls_stream::wrap(std::move(transport), options());
  }

  // Runs until cancelled (or until accept() fails): handler(tls_stream&) -> task<> for each
  // connection, in a task group of its own; the stream is closed when the handler returns.
  template <class Handler>
  task<> serve(Handler handler) {
    co_await async_with(task_group{}, [&](task_group& tg) -> task<> {
      for (;;) {
        auto transport = co_await listener_.accept();
        tg.start_soon(&tls_listener::serve_one<decltype(transport), Handler>, this, std::move(transport), std::ref(handler));
      }
    });
  }

  task<> aclose() {
    if constexpr (requires { listener_.aclose(); }) co_await listener_.aclose();
  }
  aw::detail::ready<tls_listener&> aenter() noexcept { return {*this}; }
  task<> aexit(std::exception_ptr) { co_await aclose(); }

 private:
  tls_options options() const {
    tls_options o;
    o.context = context_;
    o.standard_compatible = standard_compatible_;
    return o;
  }

  template <class T, class Handler>
  static task<> serve_one(tls_listener* self, T transport, std::reference_wrapper<Handler> handler) {
    std::optional<tls_stream> stream;
    std::exception_ptr failure;
    try {
      stream.emplace(co_await fail_after(self->handshake_timeout, [&] { return tls_stream::wrap(std::move(transport), self->options()); }));
    } catch (const cancelled&) {
      throw;  // the server is being cancelled: not this client's fault
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      if (self->on_handshake_error) self->on_handshake_error(failure);
      co_return;
    }
    co_await async_with(*stream, [&](tls_stream& s) -> task<> { co_await handler.get()(s); });
  }

  L listener_;
  tls_context context_;
  bool standard_compatible_;
};

}  // namespace aw::net
