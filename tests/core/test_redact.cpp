// aw::redact_credentials and aw::scrub_credentials over the shared table of connection
// strings and URLs that are easy to leak (tests/common/tricky_credentials.hpp).
#include <gtest/gtest.h>
#include <aw/redact.hpp>

#include <string>

#include "../common/tricky_credentials.hpp"

namespace {

TEST(Redact, NoSecretSurvivesRedaction) {
  for (const auto& e : aw_test::tricky_credentials_table()) {
    std::string r = aw::redact_credentials(e.text);
    EXPECT_TRUE(aw_test::holds_no_secret(r, e)) << e.text << " -> " << r;
    EXPECT_NE(r.find("***"), std::string::npos) << e.text << " -> " << r;
  }
}

TEST(Redact, ScrubRemovesEveryReadingFromAMessage) {
  for (const auto& e : aw_test::tricky_credentials_table()) {
    // A driver that quotes the string, or the password as written in it.
    std::string msg = "driver: bad \"" + std::string(e.text) + "\" token: \"" + std::string(e.secrets.front()) + "\"";
    std::string r = aw::scrub_credentials(msg, e.text);
    EXPECT_TRUE(aw_test::holds_no_secret(r, e)) << e.text << " -> " << r;
    EXPECT_EQ(r.rfind("driver: bad \"", 0), 0u) << r;
  }
}

TEST(Redact, KeepsWhatIsNotSecret) {
  EXPECT_EQ(aw::redact_credentials("postgresql://app:Sekr3tPw@db:5432/shop?sslmode=require"),
            "postgresql://app:***@db:5432/shop?sslmode=require");
  EXPECT_EQ(aw::redact_credentials("postgresql://app@db/shop"), "postgresql://app@db/shop");
  EXPECT_EQ(aw::redact_credentials("host=db password='a b\\' c' dbname=shop"), "host=db password=*** dbname=shop");
  EXPECT_EQ(aw::redact_credentials("host=db PassWord = x user=u"), "host=db PassWord = *** user=u");
  EXPECT_EQ(aw::redact_credentials("mongodb://app:Sekr/3tPw@db/"), "mongodb://***@db/");
  EXPECT_EQ(aw::redact_credentials("http://example.com/a@b?to=x@y"), "http://example.com/a@b?to=x@y");
  EXPECT_EQ(aw::redact_credentials("http://example.com:8080/a@b"), "http://example.com:8080/a@b");
  EXPECT_EQ(aw::redact_credentials("https://u:p@[::1]:8443/x"), "https://u:***@[::1]:8443/x");
  EXPECT_EQ(aw::redact_credentials("shop"), "shop");
  EXPECT_EQ(aw::redact_credentials(""), "");
  EXPECT_EQ(aw::scrub_credentials("connection refused", "postgresql://app:Sekr3tPw@db/"), "connection refused");
  EXPECT_EQ(aw::scrub_credentials("bad token \"Sekr%zz\"", "postgresql://app:Sekr%zz@db/"), "bad token \"***\"");
}

}  // namespace
