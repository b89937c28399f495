// Every supported type, there and back in binary: NULL, extremes, empty and unicode values,
// arrays; and the errors for what does not convert.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::round_trip;
using pg_test::with_connection;

namespace {

TEST(PgTypes, Integers) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    for (std::int16_t v :
         {std::numeric_limits<std::int16_t>::min(), std::int16_t{-1}, std::int16_t{0}, std::numeric_limits<std::int16_t>::max()})
      EXPECT_EQ(co_await round_trip(c, "int2", v), v);
    for (std::int32_t v : {std::numeric_limits<std::int32_t>::min(), -1, 0, std::numeric_limits<std::int32_t>::max()})
      EXPECT_EQ(co_await round_trip(c, "int4", v), v);
    for (std::int64_t v :
         {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0}, std::numeric_limits<std::int64_t>::max()})
      EXPECT_EQ(co_await round_trip(c, "int8", v), v);
    // A wider C++ type reads a narrower column.
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT 5::int2"), 5);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT -5::int4"), -5);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 300::int2"), 300);
    // An int4 parameter goes into a bigint column.
    co_await c.execute("CREATE TEMP TABLE big (v bigint)");
    co_await c.execute("INSERT INTO big VALUES ($1)", 42);
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT v FROM big"), 42);
  });
}

TEST(PgTypes, FloatsAndBool) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    for (double v : {0.0, -1.5, 1e308, std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()})
      EXPECT_EQ(co_await round_trip(c, "float8", v), v);
    EXPECT_TRUE(std::isnan(co_await round_trip(c, "float8", std::nan(""))));
    EXPECT_EQ(co_await round_trip(c, "float4", 3.25f), 3.25f);
    EXPECT_EQ(co_await c.fetchval<double>("SELECT 0.5::float4"), 0.5);
    EXPECT_TRUE(co_await round_trip(c, "bool", true));
    EXPECT_FALSE(co_await round_trip(c, "bool", false));
  });
}

TEST(PgTypes, Text) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    for (std::string v : {std::string(""), std::string("plain"), std::string("ünïcødé ✓ 日本語 🐘"), std::string(100000, 'x'),
                          std::string("quote ' and backslash \\")})
      EXPECT_EQ(co_await round_trip(c, "text", v), v);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::varchar(10)", std::string_view("view")), "view");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1", "literal"), "literal");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 'ab'::char(4)"), "ab  ");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 'pg_class'::name"), "pg_class");
    // Untyped text parameters take the type the statement gives them.
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1 = 5", "5"));
    EXPECT_EQ(co_await c.fetchval<aw::pg::date>("SELECT $1::date", "2024-02-29"), aw::pg::date(std::chrono::year(2024) / 2 / 29));
  });
}

TEST(PgTypes, Bytea) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::pg::bytea v;
    for (int i = 0; i < 256; ++i) v.push_back(static_cast<std::byte>(i));
    EXPECT_EQ(co_await round_trip(c, "bytea", v), v);
    EXPECT_EQ(co_await round_trip(c, "bytea", aw::pg::bytea{}), aw::pg::bytea{});
  });
}

TEST(PgTypes, Numeric) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    for (const char* v : {"0", "1", "-1", "12.50", "-0.0001", "123456789012345678901234567890.123456789", "10000", "0.1", "NaN", "Infinity",
                          "-Infinity", "100000000.00000001"})
      EXPECT_EQ((co_await round_trip(c, "numeric", aw::pg::numeric{v})).text, v);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 3.14::numeric(10,4)"), "3.1400");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 0::numeric(5,2)"), "0.00");
  });
}

TEST(PgTypes, DatesAndTimes) {
  using namespace std::chrono;
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("SET TimeZone = 'UTC'");
    for (aw::pg::date d : {aw::pg::date(year(2000) / 1 / 1), aw::pg::date(year(1970) / 1 / 1), aw::pg::date(year(1999) / 12 / 31),
                           aw::pg::date(year(2262) / 4 / 11), aw::pg::date(year(-4000) / 1 / 1), aw::pg::date::max(), aw::pg::date::min()})
      EXPECT_EQ(co_await round_trip(c, "date", d), d);
    EXPECT_EQ(co_await c.fetchval<aw::pg::date>("SELECT '2024-02-29'::date"), aw::pg::date(year(2024) / 2 / 29));
    EXPECT_EQ(co_await c.fetchval<aw::pg::date>("SELECT 'infinity'::date"), aw::pg::date::max());

    aw::pg::timestamptz t = sys_days(year(2024) / 2 / 29) + 13h + 14min + 15s + 123456us;
    EXPECT_EQ(co_await round_trip(c, "timestamptz", t), t);
    EXPECT_EQ(co_await c.fetchval<aw::pg::timestamptz>("SELECT '2024-02-29 13:14:15.123456+00'::timestamptz"), t);
    EXPECT_EQ(co_await c.fetchval<aw::pg::timestamptz>("SELECT '1960-01-01 00:00:00+00'::timestamptz"),
              aw::pg::timestamptz(sys_days(year(1960) / 1 / 1)));
    EXPECT_EQ(co_await c.fetchval<aw::pg::timestamptz>("SELECT '-infinity'::timestamptz"), aw::pg::timestamptz::min());
    EXPECT_EQ(co_await round_trip(c, "timestamptz", aw::pg::timestamptz::max()), aw::pg::timestamptz::max());

    aw::pg::timestamp lt = local_days(year(2024) / 7 / 1) + 8h;
    EXPECT_EQ(co_await round_trip(c, "timestamp", lt), lt);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::text", lt), "2024-07-01 08:00:00");

    aw::pg::interval iv{14, 3, 4h + 5min + 6s + 7us};
    EXPECT_EQ(co_await round_trip(c, "interval", iv), iv);
    auto parsed = co_await c.fetchval<aw::pg::interval>("SELECT '1 year 2 mons 3 days 04:05:06.000007'::interval");
    EXPECT_EQ(parsed, iv);
    EXPECT_EQ(co_await round_trip(c, "interval", aw::pg::interval{-1, -2, -3us}), (aw::pg::interval{-1, -2, -3us}));
  });
}

TEST(PgTypes, UuidAndJson) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto u = aw::pg::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    EXPECT_EQ(u.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    EXPECT_EQ(co_await round_trip(c, "uuid", u), u);
    EXPECT_EQ((co_await c.fetchval<aw::pg::uuid>("SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid")), u);
    EXPECT_THROW(aw::pg::uuid::parse("not-a-uuid"), std::invalid_argument);

    aw::pg::json j{R"({"a": [1, 2, {"b": "ü"}]})"};
    EXPECT_EQ(co_await round_trip(c, "json", j), j);
    aw::pg::jsonb jb{R"({"a": [1, 2, {"b": "ü"}]})"};
    EXPECT_EQ((co_await round_trip(c, "jsonb", jb)).text, R"({"a": [1, 2, {"b": "ü"}]})");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT '{\"k\": 1}'::jsonb"), R"({"k": 1})");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT ($1::jsonb ->> 'k')::int", aw::pg::jsonb{R"({"k": 42})"}), 42);
  });
}

TEST(PgTypes, NullIsOptional) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await round_trip(c, "int8", std::optional<std::int64_t>{}), std::nullopt);
    EXPECT_EQ(co_await round_trip(c, "int8", std::optional<std::int64_t>{7}), 7);
    EXPECT_EQ(co_await round_trip(c, "text", std::optional<std::string>{}), std::nullopt);
    EXPECT_EQ(co_await round_trip(c, "uuid", std::optional<aw::pg::uuid>{}), std::nullopt);
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1::int IS NULL", std::optional<std::int32_t>{}));
  });
}

TEST(PgTypes, Arrays) {
  // The vectors are built by plain lambdas: g++ 12 cannot keep an initializer list's array
  // in a coroutine frame ("array used as initializer").
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto ints = [] { return std::vector<std::int32_t>{1, -2, 3, std::numeric_limits<std::int32_t>::max()}; }();
    EXPECT_EQ(co_await round_trip(c, "int4[]", ints), ints);
    EXPECT_EQ(co_await round_trip(c, "int4[]", std::vector<std::int32_t>{}), std::vector<std::int32_t>{});
    auto longs = [] { return std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 0}; }();
    EXPECT_EQ(co_await round_trip(c, "int8[]", longs), longs);
    auto texts = [] { return std::vector<std::string>{"a", "", "ü ✓", "with,comma", "{brace}"}; }();
    EXPECT_EQ(co_await round_trip(c, "text[]", texts), texts);
    auto nullable = [] { return std::vector<std::optional<std::string>>{"x", std::nullopt, "z"}; }();
    EXPECT_EQ(co_await round_trip(c, "text[]", nullable), nullable);
    auto doubles = [] { return std::vector<double>{0.5, -1e10}; }();
    EXPECT_EQ(co_await round_trip(c, "float8[]", doubles), doubles);
    auto bools = [] { return std::vector<bool>{true, false, true}; }();
    EXPECT_EQ(co_await round_trip(c, "bool[]", bools), bools);
    std::vector<aw::pg::uuid> uuids(2);
    uuids[0] = aw::pg::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    EXPECT_EQ(co_await round_trip(c, "uuid[]", uuids), uuids);
    auto dates = [] { return std::vector<aw::pg::date>{aw::pg::date(std::chrono::year(2020) / 1 / 1)}; }();
    EXPECT_EQ(co_await round_trip(c, "date[]", dates), dates);
    std::vector<aw::pg::jsonb> docs;  // (push_back: g++ 12 cannot keep an initializer list of these in a coroutine frame)
    docs.push_back(aw::pg::jsonb{R"({"a": 1})"});
    docs.push_back(aw::pg::jsonb{"[]"});
    EXPECT_EQ(co_await round_trip(c, "jsonb[]", docs), docs);
    auto small = co_await c.fetchval<std::vector<std::int64_t>>("SELECT ARRAY[1, 2, 3]::int4[]");
    EXPECT_EQ(small.size(), 3u);
    EXPECT_EQ(small.at(2), 3);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT cardinality($1::int4[])", ints), 4);
    EXPECT_THROW(co_await c.fetchval<std::vector<std::string>>("SELECT ARRAY['a', NULL]"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<std::vector<std::int32_t>>("SELECT ARRAY[[1, 2], [3, 4]]"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<std::vector<std::int32_t>>("SELECT ARRAY['a']"), aw::pg::type_error);
  });
}

struct person {
  std::int64_t id;
  std::string name;
  std::optional<std::string> email;
};

TEST(PgRows, ByIndexByNameAsTupleAsStruct) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto r = co_await c.fetchrow("SELECT 1::int8 AS id, 'ann' AS name, NULL::text AS email, 2 AS \"Mixed\"");
    EXPECT_TRUE(r);
    if (!r) co_return;
    EXPECT_EQ(r->size(), 4u);
    EXPECT_EQ(r->get<std::int64_t>(0), 1);
    EXPECT_EQ(r->get<std::string>("name"), "ann");
    EXPECT_EQ(r->get<std::optional<std::string>>("email"), std::nullopt);
    EXPECT_TRUE((*r)["email"].is_null());
    EXPECT_EQ((*r)[0].type(), aw::pg::oids::int8);
    EXPECT_EQ(r->get<std::int32_t>("Mixed"), 2);
    auto [id, name, email] = r->as<std::int64_t, std::string, std::optional<std::string>>();
    EXPECT_EQ(id, 1);
    EXPECT_EQ(name, "ann");
    EXPECT_FALSE(email);
    auto p = r->to<person, std::int64_t, std::string, std::optional<std::string>>();
    EXPECT_EQ(p.name, "ann");
  });
}

TEST(PgRows, MismatchesNameTheColumn) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    auto r = co_await c.fetchrow("SELECT 1::int4 AS num, NULL::text AS nothing");
    try {
      (void)r->get<bool>("num");
      ADD_FAILURE();
    } catch (const aw::pg::type_error& e) {  // names the column, its type and the C++ type
      EXPECT_NE(std::string(e.what()).find("\"num\""), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("type integer"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("into bool"), std::string::npos) << e.what();
    }
    EXPECT_EQ(r->get<std::string>("num"), "1");  // any column reads as its text
    try {
      (void)r->get<std::string>(1);
      ADD_FAILURE();
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("\"nothing\""), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("NULL"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("std::string"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)r->get<std::int16_t>("num"), aw::pg::type_error);  // narrower C++ type
    EXPECT_THROW((void)r->get<std::int32_t>("no_such_column"), aw::pg::type_error);
    EXPECT_THROW((void)r->get<std::int32_t>(5), aw::pg::type_error);
    EXPECT_THROW((void)(r->as<std::int32_t, std::string, std::string>()), aw::pg::type_error);
  });
}

}  // namespace
