// Dynamic records, as asyncpg's Record: row[i] and row["name"] give an aw::pg::value that
// tests for NULL, names its PostgreSQL type, prints, converts; a row gives keys and items.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pg_test.hpp"

using pg_test::with_connection;

namespace {

TEST(PgRecord, ValuesTestForNullNameTheirTypePrintAndConvert) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto r = co_await c.fetchrow(
        "SELECT 1::int4 AS id, 'ann' AS name, NULL::text AS email, ARRAY[1, 2] AS tags, 2.50::numeric AS price, "
        "'10.0.0.1'::inet AS host");
    PG_CO_ASSERT_TRUE(r);
    aw::pg::value id = (*r)["id"];
    EXPECT_FALSE(id.is_null());
    EXPECT_EQ(id.type(), aw::pg::oids::int4);
    EXPECT_EQ(id.type_name(), "integer");
    EXPECT_EQ(id.name(), "id");
    EXPECT_EQ(id.as<std::int32_t>(), 1);
    EXPECT_EQ(id.as<std::int64_t>(), 1);
    EXPECT_EQ(id.to_string(), "1");
    aw::pg::value email = (*r)[2];
    EXPECT_TRUE(email.is_null());
    EXPECT_EQ(email.type_name(), "text");
    EXPECT_EQ(email.to_string(), "NULL");
    EXPECT_EQ(email.as<std::optional<std::string>>(), std::nullopt);
    try {
      (void)email.as<std::string>();
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("NULL in column 2 (\"email\", type text)"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("std::string"), std::string::npos) << e.what();
    }
    try {
      (void)(*r)["name"].as<std::int32_t>();
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {  // the PostgreSQL type and the C++ type asked for
      EXPECT_NE(std::string(e.what()).find("column 1 (\"name\", type text) does not read into std::int32_t"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ((*r)["tags"].type_name(), "integer[]");
    EXPECT_EQ((*r)["price"].as<aw::pg::decimal>(), aw::pg::decimal::parse("2.5"));
    EXPECT_EQ((*r)["host"].as<aw::pg::inet>().to_string(), "10.0.0.1");
    std::ostringstream os;
    os << (*r)["tags"] << " " << (*r)["price"] << " " << email;
    EXPECT_EQ(os.str(), "{1,2} 2.50 NULL");
    EXPECT_THROW((void)(*r)["no_such_column"], aw::pg::type_error);
    EXPECT_THROW((void)(*r)[6], aw::pg::type_error);
  });
}

TEST(PgRecord, KeysItemsAndIterationInColumnOrder) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::pg::result rows =
        co_await c.fetch("SELECT n AS num, n * 2 AS twice, CASE WHEN n = 2 THEN NULL ELSE 'x' END AS tag FROM generate_series(1, 2) n");
    PG_CO_ASSERT_EQ(rows.size(), 2u);
    auto keys = rows[0].keys();
    EXPECT_EQ(keys, (std::vector<std::string_view>{"num", "twice", "tag"}));
    std::string seen;
    for (aw::pg::row row : rows)
      for (auto [name, v] : row.items()) seen += std::string(name) + "=" + v.to_string() + " ";
    EXPECT_EQ(seen, "num=1 twice=2 tag=x num=2 twice=4 tag=NULL ");
    std::vector<std::string> texts;
    for (aw::pg::value v : rows[1]) texts.push_back(v.to_string());
    EXPECT_EQ(texts, (std::vector<std::string>{"2", "4", "NULL"}));
    EXPECT_EQ(rows[0].values().size(), 3u);
    // A record (fetchrow's) is a row too, and its values outlive nothing they need.
    auto rec = co_await c.fetchrow("SELECT 'v' AS k");
    PG_CO_ASSERT_TRUE(rec);
    EXPECT_EQ(rec->items().at(0).second.as<std::string>(), "v");
  });
}

}  // namespace
