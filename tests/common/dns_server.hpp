// A DNS server over UDP on 127.0.0.1 for the resolver tests, so that no test asks the
// network: it answers from a zone the test gives (A, AAAA, CNAME, PTR records), with
// NXDOMAIN for a name it does not know and an empty answer for a known name without a
// record of the asked type. A silent one reads and counts the queries and never answers.
//
//   test_dns_server server({dns_record::a("db.test", "10.1.2.3")});
//   options.servers = server.address();          // c-ares asks it
//   co_await server.serve();                      // in a task, until cancelled
//
// Written by hand: the tests need a resolver they control, and a zone of four record types
// takes less code than configuring a real one.
#pragma once

#include <aw/task.hpp>
#include <aw/wait_fd.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct dns_record {
  static constexpr unsigned A = 1, CNAME = 5, PTR = 12, AAAA = 28;

  std::string name;
  unsigned type;
  std::string rdata;  // as sent on the wire

  static dns_record a(std::string name, const char* address) {
    std::string v4(4, '\0');
    ::inet_pton(AF_INET, address, v4.data());
    return {std::move(name), A, std::move(v4)};
  }
  static dns_record aaaa(std::string name, const char* address) {
    std::string v6(16, '\0');
    ::inet_pton(AF_INET6, address, v6.data());
    return {std::move(name), AAAA, std::move(v6)};
  }
  static dns_record cname(std::string name, const std::string& target) { return {std::move(name), CNAME, encode_name(target)}; }
  static dns_record ptr(std::string name, const std::string& target) { return {std::move(name), PTR, encode_name(target)}; }

  static std::string encode_name(const std::string& name) {
    std::string out;
    std::istringstream in(name);
    for (std::string label; std::getline(in, label, '.');) out += static_cast<char>(label.size()) + label;
    return out + '\0';
  }
};

class test_dns_server {
 public:
  explicit test_dns_server(std::vector<dns_record> zone, bool silent = false) : zone_(std::move(zone)), silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("test_dns_server: cannot bind 127.0.0.1");
    port_ = ntohs(a.sin_port);
  }
  ~test_dns_server() { ::close(fd_); }
  test_dns_server(const test_dns_server&) = delete;
  test_dns_server& operator=(const test_dns_server&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool silent() const { return silent_; }
  int queries() const { return queries_; }

  // Reads (and answers, unless silent) until cancelled.
  aw::task<> serve() {
    while (true) {
      co_await aw::wait_readable(fd_);
      char buf[1500];
      sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (n <= 0) continue;
      ++queries_;
      if (silent_) continue;
      std::string reply = answer(std::string(buf, static_cast<std::size_t>(n)));
      if (!reply.empty()) ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), plen);
    }
  }

 private:
  static void put16(std::string& s, unsigned v) {
    s += static_cast<char>((v >> 8) & 0xff);
    s += static_cast<char>(v & 0xff);
  }
  static void add_record(std::string& s, const dns_record& r) {
    s += dns_record::encode_name(r.name);
    put16(s, r.type);
    put16(s, 1);  // IN
    put16(s, 0);
    put16(s, 60);  // TTL
    put16(s, static_cast<unsigned>(r.rdata.size()));
    s += r.rdata;
  }
  // The records of `name` of type `qtype`, through one CNAME.
  unsigned add_answers(std::string& records, const std::string& name, unsigned qtype, bool& known) const {
    unsigned count = 0;
    for (const dns_record& r : zone_) {
      if (r.name != name) continue;
      known = true;
      if (r.type == dns_record::CNAME && qtype != dns_record::CNAME) {
        add_record(records, r);
        ++count;
        std::string target;
        for (std::size_t p = 0; p < r.rdata.size() && r.rdata[p] != 0; p += 1 + static_cast<unsigned char>(r.rdata[p])) {
          if (!target.empty()) target += '.';
          target.append(r.rdata, p + 1, static_cast<unsigned char>(r.rdata[p]));
        }
        for (const dns_record& t : zone_)
          if (t.name == target && t.type == qtype) add_record(records, t), ++count;
      } else if (r.type == qtype) {
        add_record(records, r);
        ++count;
      }
    }
    return count;
  }

  std::string answer(const std::string& q) const {
    if (q.size() < 12) return {};
    std::size_t pos = 12;
    std::string name;
    while (pos < q.size() && q[pos] != 0) {
      std::size_t len = static_cast<unsigned char>(q[pos]);
      if (!name.empty()) name += '.';
      name += q.substr(pos + 1, len);
      pos += len + 1;
    }
    if (pos + 5 > q.size()) return {};
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const unsigned qtype = (static_cast<unsigned char>(q[pos + 1]) << 8) | static_cast<unsigned char>(q[pos + 2]);
    const std::string question = q.substr(12, pos + 5 - 12);
    std::string records;
    bool known = false;
    const unsigned count = add_answers(records, name, qtype, known);
    const unsigned rcode = known ? 0 : 3;                                                  // NXDOMAIN
    std::string r = q.substr(0, 2);                                                        // the id
    put16(r, 0x8000 | ((static_cast<unsigned char>(q[2]) & 0x01) << 8) | 0x0080 | rcode);  // QR, RD as asked, RA
    put16(r, 1);
    put16(r, count);
    put16(r, 0);
    put16(r, 0);
    return r + question + records;
  }

  std::vector<dns_record> zone_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  bool silent_;
  int queries_ = 0;
};
