// Networking: anyio's TCP streams and listeners, and TLS, with aw::net.
//
//   async def echo(client):
//       async with client:
//           async for data in client:
//               await client.send(data)
//
//   async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
//       async with anyio.create_task_group() as tg:
//           tg.start_soon(listener.serve, echo)
//           async with await anyio.connect_tcp("127.0.0.1", port) as client:
//               await client.send(b"hello")
//               print(await client.receive())
//           tg.cancel_scope.cancel()
//
// The same again over TLS, with a self-signed certificate the demo makes with the openssl
// command (run as a child process, awaited like everything else) in a scratch directory,
// which the client trusts as its CA, as anyio's tutorial does with trustme.
#pragma once

#include <aw/aw.hpp>
#include <aw/net.hpp>

#include <stdlib.h>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace networking {

// Works for any stream: a TCP stream here, a TLS stream below.
template <class Stream>
aw::task<> echo(Stream& client) {
  char buf[4096];
  for (;;) {
    std::size_t n = co_await client.receive_into(buf);  // 0: the client closed its side
    if (n == 0) co_return;
    co_await client.send(std::string_view(buf, n));
  }
}

// Sends each line and reads back the echo; leaving the block closes the stream.
template <class Stream>
aw::task<> talk(Stream& s, const char* who) {
  aw::net::buffered_byte_stream in(s);
  for (std::string_view line : {"hello\n", "goodbye\n"}) {
    co_await s.send(line);
    std::string reply = co_await in.receive_until("\n", 1024);
    std::printf("  %s: sent %.*s, got back %s\n", who, int(line.size() - 1), line.data(), reply.c_str());
  }
}

inline aw::task<> plain_echo() {
  co_await aw::async_with(co_await aw::net::create_tcp_listener("127.0.0.1", 0), [](aw::net::tcp_listener& l) -> aw::task<> {
    const std::uint16_t port = l.local_address().port();  // port 0: the kernel chose a free one
    std::printf("  echo server listening on 127.0.0.1:%u\n", unsigned(port));
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await l.serve(echo<aw::net::tcp_stream>); });
      co_await aw::async_with(co_await aw::net::connect_tcp("127.0.0.1", port),
                              [](aw::net::tcp_stream& s) -> aw::task<> { co_await talk(s, "tcp client"); });
      tg.cancel();  // stops serve(): the listener closes when its block ends
    });
  });
}

// A scratch directory, removed on every path out.
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "aw-tour-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp " + t);
    path = t;
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

inline aw::task<> tls_echo() {
  scratch_dir dir;
  const std::string cert = (dir.path / "cert.pem").string(), key = (dir.path / "key.pem").string();
  // clang-format off
  std::vector<std::string> make_cert{"openssl", "req", "-x509", "-nodes", "-days", "1",
                                     "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                     "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                                     "-keyout", key, "-out", cert};
  // clang-format on
  co_await aw::run_process(make_cert);  // raises aw::process_error if openssl fails
  std::printf("  made a self-signed certificate for localhost\n");

  aw::net::tls_listener server(co_await aw::net::create_tcp_listener("127.0.0.1", 0), aw::net::tls_context::server(cert, key));
  co_await aw::async_with(server, [&](aw::net::tls_listener<aw::net::tcp_listener>& l) -> aw::task<> {
    const std::uint16_t port = l.listener().local_address().port();
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> { co_await l.serve(echo<aw::net::tls_stream>); });
      aw::net::tls_connect_options o;  // named first (g++ 12)
      o.tls.context = aw::net::tls_context::client();
      o.tls.context.load_verify_locations(cert);  // trust our certificate, as a CA
      o.tls.server_hostname = "localhost";        // SNI, and the name the certificate must carry
      aw::net::tls_stream s = co_await aw::net::connect_tls("127.0.0.1", port, o);
      co_await aw::async_with(s, [](aw::net::tls_stream& s) -> aw::task<> { co_await talk(s, "tls client"); });
      tg.cancel();
    });
  });
}

inline aw::task<> demo() {
  co_await plain_echo();
  co_await tls_echo();
}

}  // namespace networking
