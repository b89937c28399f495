// aw::pg::decimal: numeric as an exact value, there and back in binary, and its parsing,
// printing, conversion and order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg_test.hpp"

using aw::pg::decimal;
using pg_test::with_connection;

namespace {

TEST(PgDecimal, ParsesAndPrints) {
  EXPECT_EQ(decimal::parse("12.50").to_string(), "12.50");
  EXPECT_EQ(decimal::parse("12.50").scale(), 2);
  EXPECT_EQ(decimal::parse("-0.001").to_string(), "-0.001");
  EXPECT_EQ(decimal::parse("+7").to_string(), "7");
  EXPECT_EQ(decimal::parse(".5").to_string(), "0.5");
  EXPECT_EQ(decimal::parse("5.").to_string(), "5");
  EXPECT_EQ(decimal::parse("000123.4500").to_string(), "123.4500");
  EXPECT_EQ(decimal::parse("1.5e3").to_string(), "1500");
  EXPECT_EQ(decimal::parse("1E-3").to_string(), "0.001");
  EXPECT_EQ(decimal::parse("-0").to_string(), "0");  // no negative zero, as in PostgreSQL
  EXPECT_EQ(decimal::parse("0.00").to_string(), "0.00");
  EXPECT_EQ(decimal::parse("nan").to_string(), "NaN");
  EXPECT_EQ(decimal::parse("Infinity").to_string(), "Infinity");
  EXPECT_EQ(decimal::parse("-inf").to_string(), "-Infinity");
  EXPECT_TRUE(decimal::parse("NaN").is_nan());
  EXPECT_TRUE(decimal::infinity(true).is_negative());
  for (const char* bad : {"", "-", ".", "1.2.3", " 1", "1 ", "1e", "1e+", "abc", "12a", "--1", "0x10", "1e999999999", "-nan"})
    EXPECT_THROW(decimal::parse(bad), std::invalid_argument) << '"' << bad << '"';
}

TEST(PgDecimal, ConvertsBetweenIntegersAndDoublesAndOrders) {
  EXPECT_EQ(decimal(42).to_string(), "42");
  EXPECT_EQ(decimal(std::numeric_limits<std::int64_t>::min()).to_string(), "-9223372036854775808");
  EXPECT_EQ(decimal(std::numeric_limits<std::uint64_t>::max()).to_string(), "18446744073709551615");
  EXPECT_EQ(decimal(0).to_string(), "0");
  EXPECT_EQ(decimal::parse("0.1").to_double(), 0.1);
  EXPECT_EQ(static_cast<double>(decimal::parse("-2.5e-3")), -0.0025);
  EXPECT_TRUE(std::isnan(decimal::nan().to_double()));
  EXPECT_EQ(decimal::infinity().to_double(), std::numeric_limits<double>::infinity());
  // By value: the scale does not count.
  EXPECT_EQ(decimal::parse("12.5"), decimal::parse("12.500"));
  EXPECT_EQ(decimal::parse("0.00"), decimal(0));
  EXPECT_LT(decimal::parse("-1"), decimal::parse("-0.5"));
  EXPECT_LT(decimal::parse("0.09"), decimal::parse("0.1"));
  EXPECT_LT(decimal::parse("99.99"), decimal(100));
  EXPECT_GT(decimal::parse("-99.99"), decimal(-100));
  EXPECT_LT(decimal::infinity(true), decimal::parse("-1e100"));
  EXPECT_LT(decimal::parse("1e100"), decimal::infinity());
  EXPECT_LT(decimal::infinity(), decimal::nan());  // PostgreSQL's order: NaN above all
  EXPECT_EQ(decimal::nan(), decimal::nan());
}

TEST(PgDecimal, RoundTripsInBinaryExactly) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    const std::vector<std::string> values = {"0",         "1",
                                             "-1",        "12.50",
                                             "-0.0001",   "123456789012345678901234567890.123456789",
                                             "10000",     "100000000",
                                             "0.1",       "0.00001000",
                                             "NaN",       "Infinity",
                                             "-Infinity", "100000000.00000001",
                                             "9999.9999", "0.00",
                                             "-12345.678"};
    for (const std::string& v : values) {
      decimal d = decimal::parse(v);
      auto back = co_await c.fetchval<decimal>("SELECT $1::numeric", d);
      EXPECT_EQ(back.to_string(), v);
      // The server reads the same value: its own text of the parameter.
      EXPECT_EQ(co_await c.fetchval<std::string>("SELECT $1::numeric::text", d), v);
    }
    EXPECT_EQ((co_await c.fetchval<decimal>("SELECT 3.14::numeric(10,4)")).to_string(), "3.1400");
    EXPECT_EQ((co_await c.fetchval<decimal>("SELECT 1e-20::numeric")).to_string(), "0.00000000000000000001");
    EXPECT_EQ(co_await c.fetchval<decimal>("SELECT 7::int8"), decimal(7));
    EXPECT_TRUE(co_await c.fetchval<bool>("SELECT $1 = 12.5::numeric", decimal::parse("12.50")));
    auto many = [] { return std::vector<std::optional<decimal>>{decimal(1), std::nullopt, decimal::parse("-2.5")}; }();
    EXPECT_EQ(co_await c.fetchval<std::vector<std::optional<decimal>>>("SELECT $1::numeric[]", many), many);
    aw::pg::range<decimal> r{decimal::parse("1.5"), decimal::parse("2.5"), true, true, false};
    EXPECT_EQ(co_await c.fetchval<aw::pg::range<decimal>>("SELECT $1::numrange", r), r);
    co_await c.execute("CREATE TEMP TABLE prices (p numeric(8,2))");
    co_await c.execute("INSERT INTO prices VALUES ($1)", decimal::parse("19.999"));  // the column rounds
    EXPECT_EQ((co_await c.fetchval<decimal>("SELECT p FROM prices")).to_string(), "20.00");
    // A value the column cannot hold is the server's error; text is not a decimal.
    EXPECT_THROW(co_await c.execute("INSERT INTO prices VALUES ($1)", decimal::parse("1e10")), aw::pg::postgres_error);
    EXPECT_THROW(co_await c.fetchval<decimal>("SELECT 'x'::text"), aw::pg::type_error);
    EXPECT_THROW(co_await c.fetchval<decimal>("SELECT NULL::numeric"), aw::pg::type_error);
  });
}

}  // namespace
