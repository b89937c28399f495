// Every type reads: as std::string (asyncpg's text fallback, compared with the server's own
// text output), and through the codecs for oid, time, timetz, inet/cidr, point, ranges,
// multi-dimensional arrays and composites; parameters as text with an explicit type.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::round_trip;
using pg_test::with_connection;

namespace {

// Types that live as long as the session: enum, composite, domain.
aw::task<> make_types(aw::pg::connection& c) {
  co_await c.execute("SET TimeZone = 'UTC'");
  co_await c.execute("CREATE TYPE pg_temp.mood AS ENUM ('sad', 'ok', 'happy ü')");
  co_await c.execute("CREATE TYPE pg_temp.pair AS (a int, b text)");
}

TEST(PgEveryType, EachReadsAsTheServersText) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c);
    const std::vector<std::string> exprs = {
        // numbers
        "(-32768)::int2", "(-2147483648)::int4", "9223372036854775807::int8", "0::oid", "4294967295::oid", "'12345'::xid8",
        "'16/B374D848'::pg_lsn",
        // floats in their shortest form, and where the exponent form starts
        "0.1::float8", "(-1.5)::float8", "1e15::float8", "1e14::float8", "123456789012345::float8", "1e-5::float8", "0.0001::float8",
        "1e308::float8", "'NaN'::float8", "'-Infinity'::float8", "1000000::float8", "100::float8", "3.4028235e38::float4", "0.1::float4",
        "1234567::float4", "123456::float4", "5e-324::float8",
        // money in the C locale
        "1234567.89::money", "(-0.05)::money", "0::money", "12::money",
        // numeric
        "12.50::numeric", "(-0.0001)::numeric", "'NaN'::numeric", "1e30::numeric",
        // dates and times
        "'2024-02-29'::date", "'0044-03-15 BC'::date", "'infinity'::date", "'-infinity'::date", "'13:14:15'::time", "'13:14:15.5'::time",
        "'00:00:00.000001'::time", "'24:00:00'::time", "'12:34:56.789+05:30'::timetz", "'12:00-03'::timetz", "'01:02:03+00'::timetz",
        "'2024-02-29 13:14:15.123456'::timestamp", "'2024-01-01 00:00:00'::timestamp", "'0044-03-15 12:00:00 BC'::timestamp",
        "'infinity'::timestamp", "'1960-06-01 23:59:59.9+00'::timestamptz", "'-infinity'::timestamptz",
        "'1 year 2 mons 3 days 04:05:06.5'::interval", "'-1 day +02:00'::interval", "'0'::interval", "'-00:00:01'::interval",
        "'1 mon -1 day'::interval", "'25:00:00'::interval", "'-1 year -2 mons'::interval", "'1 day -00:00:00.000001'::interval",
        "'3 years'::interval", "'100 hours'::interval",
        // network, geometry, bits
        "'192.168.0.1/24'::inet", "'10.0.0.0/8'::cidr", "'2001:db8::/32'::cidr", "'2001:db8::1/64'::inet", "'08:00:2b:01:02:03'::macaddr",
        "'08:00:2b:01:02:03:04:05'::macaddr8", "point(1.5, -2)", "'[(1,2),(3,4)]'::lseg", "'((1,2),(3,4))'::box", "'{1,2,3}'::line",
        "'<(1,2),3>'::circle", "'((1,2),(3,4))'::path", "'[(1,2),(3,4),(5,6)]'::path", "'((0,0),(1,1),(1,0))'::polygon", "B'10110'",
        "B'1'::varbit", "''::varbit",
        // text-like
        "'<a>ü</a>'::xml", "'{\"k\": [1, 2]}'::jsonb", "'{\"k\": 1}'::json", "'$.a[*]'::jsonpath", "'x'::\"char\"",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "'\\x00ff10'::bytea", "''::bytea",
        // ranges
        "int4range(1, 10)", "'[1,5]'::int4range", "'empty'::int4range", "'(,5)'::int4range", "'[3,)'::int8range",
        "numrange(1.5, 2.5, '[]')", "daterange('2024-01-01', '2024-02-01')", "tsrange('2024-01-01 10:00', '2024-01-01 11:00')",
        "tstzrange('2024-01-01 10:00+00', NULL)", "'(,)'::int4range",
        // arrays
        "ARRAY[1, 2, NULL]", "ARRAY[[1, 2], [3, 4]]", "ARRAY[[[1], [2]], [[3], [4]]]", "'{}'::int[]", "'[0:1]={5,6}'::int[]",
        "'[1:2][3:4]={{1,2},{3,4}}'::int[]", "ARRAY['a b', '', 'NULL', 'null', 'x\"y', 'q\\z', 'c,d', '{e}', NULL, 'plain']",
        "ARRAY['2024-01-01 10:00'::timestamp]", "ARRAY[1.5, NULL]::numeric[]", "ARRAY['sad', 'happy ü']::pg_temp.mood[]",
        "ARRAY[ROW(1, 'a'), ROW(2, NULL)]::pg_temp.pair[]", "ARRAY[int4range(1, 3)]", "ARRAY[point(1,2)]", "ARRAY['{\"a\": 1}'::jsonb]",
        "ARRAY[B'101']",
        // composites and enums
        "ROW(1, 'a b', NULL, '', 'x\"y', 'q\\z', '(p)', 'c,d')", "ROW(1, ROW(2, 'x y'))", "ROW()", "ROW(1, 'x')::pg_temp.pair",
        "'happy ü'::pg_temp.mood", "ROW(ARRAY[1, 2], int4range(1, 2))"};
    for (const std::string& e : exprs) {
      auto r = co_await c.fetchrow("SELECT " + e + ", (" + e + ")::text");
      PG_CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->get<std::string>(0), r->get<std::string>(1)) << e;
    }
    // The output functions, which the casts to text above do not all use: boolean's and
    // inet's casts spell out what their output leaves short.
    auto r = co_await c.fetchrow("SELECT true, false, '192.168.0.1'::inet, '::1'::inet, '::ffff:1.2.3.4'::inet");
    PG_CO_ASSERT_TRUE(r);
    EXPECT_EQ(
        (r->as<std::string, std::string, std::string, std::string, std::string>()),
        std::make_tuple(std::string("t"), std::string("f"), std::string("192.168.0.1"), std::string("::1"), std::string("::ffff:1.2.3.4")));
  });
}

TEST(PgEveryType, EnumsCompositesAndDomainsReadAsText) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c);
    co_await c.execute("CREATE DOMAIN pg_temp.label AS text CHECK (VALUE <> '')");
    co_await c.execute("CREATE TEMP TABLE moods (m pg_temp.mood, p pg_temp.pair, l pg_temp.label)");
    // Untyped text parameters take the column's type: an enum label, a composite's text.
    co_await c.execute("INSERT INTO moods VALUES ($1, $2, $3)", "happy ü", "(7,seven)", "lbl");
    auto r = co_await c.fetchrow("SELECT m, p, l FROM moods");
    PG_CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->get<std::string>("m"), "happy ü");
    EXPECT_EQ(r->get<std::string>("p"), "(7,seven)");
    EXPECT_EQ(r->get<std::string>("l"), "lbl");
    EXPECT_EQ((r->get<std::tuple<std::int32_t, std::string>>("p")), std::make_tuple(7, std::string("seven")));
    auto moods = co_await c.fetchval<std::vector<std::string>>("SELECT ARRAY['sad', 'ok']::pg_temp.mood[]");
    EXPECT_EQ(moods, (std::vector<std::string>{"sad", "ok"}));
    // A label that is not the enum's is the server's error.
    EXPECT_THROW(co_await c.execute("INSERT INTO moods (m) VALUES ($1)", "angry"), aw::pg::postgres_error);
  });
}

TEST(PgEveryType, UnknownBinaryFormIsATypeErrorSayingCastToText) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    try {
      (void)co_await c.fetchval<std::string>("SELECT 'a b'::tsvector");
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("::text"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("3614"), std::string::npos) << e.what();
    }
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT 'a b'::tsvector::text"), "'a' 'b'");
  });
}

TEST(PgEveryType, OidTimeTimetzInetPoint) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    EXPECT_EQ(co_await c.fetchval<std::uint32_t>("SELECT 'pg_class'::regclass"), 1259u);
    EXPECT_EQ(co_await c.fetchval<std::uint32_t>("SELECT 'int4'::regtype::oid"), aw::pg::oids::int4);
    EXPECT_EQ(co_await round_trip(c, "oid", std::uint32_t{4294967295u}), 4294967295u);

    aw::pg::time_of_day t = 13h + 14min + 15s + 500us;
    EXPECT_EQ(co_await round_trip(c, "time", t), t);
    EXPECT_EQ(co_await c.fetchval<aw::pg::time_of_day>("SELECT '23:59:59.999999'::time"), 24h - 1us);
    aw::pg::timetz tz{12h + 34min, 5 * 3600 + 30 * 60};
    EXPECT_EQ(co_await round_trip(c, "timetz", tz), tz);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::timetz::text", tz), "12:34:00+05:30");
    EXPECT_EQ(co_await c.fetchval<aw::pg::timetz>("SELECT '01:00-03'::timetz"), (aw::pg::timetz{1h, -3 * 3600}));

    auto a = aw::pg::inet::parse("192.168.0.1/24");
    EXPECT_EQ(a.to_string(), "192.168.0.1/24");
    EXPECT_EQ(co_await round_trip(c, "inet", a), a);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::inet::text", a), "192.168.0.1/24");
    auto v6 = aw::pg::inet::parse("2001:db8::1");
    EXPECT_EQ(v6.family, 6);
    EXPECT_EQ(v6.prefix, 128);
    EXPECT_EQ(co_await round_trip(c, "inet", v6), v6);
    auto net = co_await c.fetchval<aw::pg::inet>("SELECT '10.0.0.0/8'::cidr");
    EXPECT_TRUE(net.cidr);
    EXPECT_EQ(net.to_string(), "10.0.0.0/8");
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1::inet << '10.0.0.0/8'::cidr", aw::pg::inet::parse("10.1.2.3")));
    EXPECT_THROW(aw::pg::inet::parse("10.0.0.256"), std::invalid_argument);
    EXPECT_THROW(aw::pg::inet::parse("10.0.0.1/33"), std::invalid_argument);
    EXPECT_THROW(aw::pg::inet::parse("10.0.0.1/"), std::invalid_argument);

    EXPECT_EQ(co_await round_trip(c, "point", aw::pg::point{1.5, -2}), (aw::pg::point{1.5, -2}));
    auto pts = [] { return std::vector<aw::pg::point>{{0, 0}, {1, 1}}; }();
    EXPECT_EQ(co_await round_trip(c, "point[]", pts), pts);
  });
}

TEST(PgEveryType, Ranges) {
  using aw::pg::range;
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("SET TimeZone = 'UTC'");
    range<std::int32_t> r{1, 10, true, false, false};
    EXPECT_EQ(co_await round_trip(c, "int4range", r), r);
    // Discrete ranges come back canonical, [lower, upper).
    auto closed = co_await c.fetchval<range<std::int32_t>>("SELECT '[1,5]'::int4range");
    EXPECT_EQ(closed, (range<std::int32_t>{1, 6, true, false, false}));
    auto empty = co_await c.fetchval<range<std::int32_t>>("SELECT 'empty'::int4range");
    EXPECT_TRUE(empty.empty);
    EXPECT_FALSE(empty.lower);
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT isempty($1::int4range)", empty));
    auto below = co_await c.fetchval<range<std::int32_t>>("SELECT '(,5)'::int4range");
    EXPECT_FALSE(below.lower);
    EXPECT_FALSE(below.lower_inc);
    EXPECT_EQ(below.upper, 5);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::int4range::text", (range<std::int32_t>{std::nullopt, 5, false, false, false})),
              "(,5)");
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1::int4range @> 7", r));
    // A wider element type reads a narrower range.
    EXPECT_EQ(co_await c.fetchval<range<std::int64_t>>("SELECT int4range(2, 3)"), (range<std::int64_t>{2, 3, true, false, false}));
    range<std::int64_t> big{std::nullopt, std::int64_t{1} << 40, false, true, false};
    EXPECT_EQ(co_await round_trip(c, "int8range", big),
              (range<std::int64_t>{std::nullopt, (std::int64_t{1} << 40) + 1, false, false, false}));

    using namespace std::chrono;
    range<aw::pg::timestamptz> during{aw::pg::timestamptz(sys_days(year(2024) / 1 / 1)),
                                      aw::pg::timestamptz(sys_days(year(2024) / 1 / 1) + 1h), true, true, false};
    EXPECT_EQ(co_await round_trip(c, "tstzrange", during), during);
    range<aw::pg::date> days{aw::pg::date(year(2024) / 1 / 1), aw::pg::date(year(2024) / 2 / 1), true, false, false};
    EXPECT_EQ(co_await round_trip(c, "daterange", days), days);
    range<aw::pg::timestamp> local{aw::pg::timestamp(local_days(year(2024) / 1 / 1)), std::nullopt, false, false, false};
    EXPECT_EQ(co_await round_trip(c, "tsrange", local), local);
    auto many = [] { return std::vector<range<std::int32_t>>{{1, 2, true, false, false}, {{}, {}, false, false, true}}; }();
    EXPECT_EQ(co_await round_trip(c, "int4range[]", many), many);
    // A range of another element type is a type_error naming both types.
    try {
      (void)co_await c.fetchval<range<std::int32_t>>("SELECT daterange('2024-01-01', '2024-01-02')");
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("daterange"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("range<"), std::string::npos) << e.what();
    }
  });
}

TEST(PgEveryType, MultiDimensionalArrays) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    using grid = std::vector<std::vector<std::int32_t>>;
    auto g = [] { return grid{{1, 2, 3}, {4, 5, 6}}; }();
    EXPECT_EQ(co_await round_trip(c, "int4[]", g), g);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::int4[]::text", g), "{{1,2,3},{4,5,6}}");
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT array_ndims($1::int4[])", g), 2);
    auto g2 = [] { return grid{{1, 2}, {3, 4}}; }();  // (g++ 12: no initializer lists in a coroutine frame)
    EXPECT_EQ(co_await c.fetchval<grid>("SELECT ARRAY[[1, 2], [3, 4]]"), g2);
    using cube = std::vector<std::vector<std::vector<std::optional<std::string>>>>;
    auto k = [] { return cube{{{"a", std::nullopt}}, {{"", "d e"}}}; }();
    EXPECT_EQ(co_await round_trip(c, "text[]", k), k);
    EXPECT_EQ(co_await c.fetchval<grid>("SELECT '{}'::int4[]"), grid{});
    auto empties = [] { return grid(2); }();
    EXPECT_EQ(co_await round_trip(c, "int4[]", empties), grid{});
    // Ragged vectors are no array: refused before anything is sent.
    auto ragged = [] { return grid{{1, 2}, {3}}; }();
    EXPECT_THROW(co_await round_trip(c, "int4[]", ragged), aw::pg::type_error);
    auto ragged_empty = [] { return grid{{1}, {}}; }();
    EXPECT_THROW(co_await round_trip(c, "int4[]", ragged_empty), aw::pg::type_error);
    // The dimensions must match the nesting.
    try {
      (void)co_await c.fetchval<std::vector<std::int32_t>>("SELECT ARRAY[[1, 2], [3, 4]]");
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("2-dimensional"), std::string::npos) << e.what();
    }
    EXPECT_THROW(co_await c.fetchval<grid>("SELECT ARRAY[1, 2]"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<grid>("SELECT ARRAY[[1, NULL]]"), aw::pg::type_error);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT ARRAY[[1, NULL]]"), "{{1,NULL}}");
  });
}

TEST(PgEveryType, CompositesReadIntoTuples) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c);
    using row3 = std::tuple<std::int32_t, std::string, std::optional<std::string>>;
    EXPECT_EQ(co_await c.fetchval<row3>("SELECT ROW(1, 'x', NULL::text)"), (row3{1, "x", std::nullopt}));
    using pair = std::tuple<std::int32_t, std::string>;
    EXPECT_EQ(co_await c.fetchval<pair>("SELECT ROW(2, 'two')::pg_temp.pair"), (pair{2, "two"}));
    using nested = std::tuple<std::int64_t, std::tuple<bool, std::vector<std::int32_t>>>;
    auto want_nested = [] { return nested{5, {true, {1, 2}}}; }();  // (g++ 12: see the arrays test)
    EXPECT_EQ(co_await c.fetchval<nested>("SELECT ROW(5::int8, ROW(true, ARRAY[1, 2]))"), want_nested);
    auto pairs = co_await c.fetchval<std::vector<pair>>("SELECT ARRAY[ROW(1, 'a'), ROW(2, 'b')]::pg_temp.pair[]");
    auto want_pairs = [] { return std::vector<pair>{{1, "a"}, {2, "b"}}; }();
    EXPECT_EQ(pairs, want_pairs);
    // A table's rows are composites too.
    co_await c.execute("CREATE TEMP TABLE people (id int, name text)");
    co_await c.execute("INSERT INTO people VALUES (1, 'ann')");
    EXPECT_EQ(co_await c.fetchval<pair>("SELECT p FROM people p"), (pair{1, "ann"}));

    EXPECT_THROW(co_await c.fetchval<pair>("SELECT ROW(1, 'x', 3)"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<pair>("SELECT ROW(1, NULL::text)"), aw::pg::type_error);
    try {
      (void)co_await c.fetchval<pair>("SELECT ROW('x'::text, 'y')");
      ADD_FAILURE() << "no type_error";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("composite field of type text"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("std::int32_t"), std::string::npos) << e.what();
    }
    EXPECT_THROW(co_await c.fetchval<pair>("SELECT 1"), aw::pg::type_error);
  });
}

TEST(PgEveryType, TypedTextParameters) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await make_types(c);
    using aw::pg::typed_text;
    // The parameter has the type given: the statement needs no cast.
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT pg_typeof($1)::text", typed_text(aw::pg::oids::inet, "10.1.2.3")), "inet");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1", typed_text(aw::pg::oids::inet, "10.1.2.3")), "10.1.2.3");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1", typed_text(aw::pg::oids::money, "12.5")), "$12.50");
    auto mood = co_await c.fetchval<std::uint32_t>("SELECT 'pg_temp.mood'::regtype::oid");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT pg_typeof($1)::text", typed_text(mood, "ok")), "mood");
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::text", typed_text(0, "untyped")), "untyped");
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1::text IS NULL", std::optional<typed_text>{}));
    // Text the type does not take is the server's error.
    EXPECT_THROW(co_await c.fetchval<std::string>("SELECT $1", typed_text(aw::pg::oids::inet, "not an address")), aw::pg::postgres_error);
    EXPECT_THROW(co_await c.fetchval<std::string>("SELECT $1", typed_text(mood, "angry")), aw::pg::postgres_error);
  });
}

}  // namespace
