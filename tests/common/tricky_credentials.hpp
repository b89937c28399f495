// Connection strings and URLs whose passwords are easy to leak, for every module's tests:
// the core test redacts and scrubs them, and aw::pg, aw::http and aw::mongo each hand them
// to their own connect or request and check that nothing they raise holds a password.
// Hosts do not resolve (.invalid) or refuse at once (port 1 on 127.0.0.1).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aw_test {

struct tricky_credentials {
  std::string_view text;
  // What must not appear in anything the library raises or logs about `text`.
  std::vector<std::string_view> secrets;
};

inline const std::vector<tricky_credentials>& tricky_credentials_table() {
  static const std::vector<tricky_credentials> t = {
      // URLs in libpq's schemes
      {"postgresql://app:Sekr3tPw@127.0.0.1:1/shop", {"Sekr3tPw"}},
      {"postgres://app:Sekr3tPw@db.invalid/shop", {"Sekr3tPw"}},
      {"postgresql://app:Sekr%zz3tPw@127.0.0.1:1/shop", {"Sekr%zz3tPw", "zz3tPw"}},
      {"postgresql://app:Sekr3tPw@[]/postgres", {"Sekr3tPw"}},
      {"postgresql://app:Sekr%2F3tPw@127.0.0.1:1/shop", {"Sekr%2F3tPw", "Sekr/3tPw"}},
      {"postgresql://app:Sekr/3tPw@127.0.0.1:1/shop", {"Sekr/3tPw", "Sekr"}},
      {"postgresql://app:Sekr@3tPw@127.0.0.1:1/shop", {"Sekr@3tPw", "Sekr", "3tPw"}},
      {"postgresql://app:Sekr?3tPw@127.0.0.1:1/shop", {"Sekr?3tPw", "Sekr", "3tPw"}},
      {"postgresql://app:Sekr#3tPw@127.0.0.1:1/shop", {"Sekr#3tPw", "Sekr", "3tPw"}},
      {"postgresql://app:Sekr:3tPw@127.0.0.1:1/shop", {"Sekr:3tPw"}},
      {"postgresql://:Sekr3tPw@127.0.0.1:1/shop", {"Sekr3tPw"}},
      {"postgresql://app:Sekr3tPw@127.0.0.1:1,db.invalid:5433/shop", {"Sekr3tPw"}},
      {"postgresql://app:Sekr3tPw@[::1]:1/shop", {"Sekr3tPw"}},
      {"postgresql://app:Sekr3tPw@/shop?host=/nonexistent", {"Sekr3tPw"}},
      {"postgresql://127.0.0.1:1/shop?user=app&password=Sekr3tPw", {"Sekr3tPw"}},
      {"postgresql://127.0.0.1:1/shop?user=app&PASSWORD=Sekr3tPw", {"Sekr3tPw"}},
      {"postgresql://127.0.0.1:1/shop?user=app&pass%77ord=Sekr3tPw", {"Sekr3tPw"}},
      {"postgresql://127.0.0.1:1/shop?password=Sekr%zz3tPw&sslmode=disable", {"Sekr%zz3tPw", "zz3tPw"}},
      {"postgresql://127.0.0.1:1/shop?sslpassword=Sekr3tPw", {"Sekr3tPw"}},
      {"postgresql://127.0.0.1:1/shop?password=Sekr@3tPw", {"Sekr@3tPw"}},
      {"postgresql://app:Sekr3tPw@127.0.0.1:1/shop?bogus_option=1", {"Sekr3tPw"}},
      // key=value strings
      {"host=127.0.0.1 port=1 user=app password=Sekr3tPw dbname=shop", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=1 user=app PASSWORD=Sekr3tPw", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=1 user=app pass%77ord=Sekr3tPw", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=1 password = 'Sekr3t Pw' dbname=shop", {"Sekr3t Pw", "Sekr3t"}},
      {R"(host=127.0.0.1 port=1 password='Sekr\'3tPw' dbname=shop)", {R"(Sekr\'3tPw)", "Sekr'3tPw", "3tPw"}},
      {"password=Sekr3tPw", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=1 password='Sekr3tPw", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=bogus password=Sekr3tPw", {"Sekr3tPw"}},
      {"host=127.0.0.1 port=1 sslpassword=Sekr3tPw", {"Sekr3tPw"}},
      // MongoDB
      {"mongodb://user:Sekr3tPw@db.invalid/", {"Sekr3tPw"}},
      {"mongodb://user:Sekr/3tPw@db.invalid/", {"Sekr/3tPw", "Sekr"}},
      {"mongodb://user:Sekr@3tPw@db.invalid/", {"Sekr@3tPw", "Sekr", "3tPw"}},
      {"mongodb+srv://user:Sekr3tPw@cluster.invalid/db", {"Sekr3tPw"}},
      {"mongodb://user:Sekr3tPw@h1.invalid:27017,h2.invalid:27017/db?replicaSet=rs", {"Sekr3tPw"}},
      {"mongodb://user:Sekr%zz3tPw@db.invalid/", {"Sekr%zz3tPw", "zz3tPw"}},
      // HTTP
      {"http://user:Sekr3tPw@127.0.0.1:1/path", {"Sekr3tPw"}},
      {"https://user:Sekr3tPw@127.0.0.1:1/p?q=1", {"Sekr3tPw"}},
      {"http://user:Sekr/3tPw@127.0.0.1:1/", {"Sekr/3tPw", "Sekr"}},
      {"http://user:Sekr@3tPw@127.0.0.1:1/", {"Sekr@3tPw", "Sekr", "3tPw"}},
      {"HTTP://user:Sekr3tPw@127.0.0.1:1/", {"Sekr3tPw"}},
      {"http://user:Sekr%zz3tPw@127.0.0.1:1/", {"Sekr%zz3tPw", "zz3tPw"}},
  };
  return t;
}

// Whether `s` holds none of the entry's secrets (for EXPECT_TRUE with a message).
inline bool holds_no_secret(std::string_view s, const tricky_credentials& e) {
  for (std::string_view secret : e.secrets)
    if (s.find(secret) != std::string_view::npos) return false;
  return true;
}

}  // namespace aw_test
