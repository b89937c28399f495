// aw::mongo::document: the builder, typed access and its errors, JSON both ways, nlohmann.
#include <aw/mongo/bson.hpp>
#include <aw/mongo/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace aw::mongo;

namespace {

document ada() {
  return document{{"name", "Ada"},
                  {"born", 1815},
                  {"papers", std::int64_t{3}},
                  {"height", 1.65},
                  {"alive", false},
                  {"tags", array{"math", "engines", 42}},
                  {"address", document{{"city", "London"}, {"geo", document{{"lat", 51.5}}}}},
                  {"seen", date_time(std::chrono::milliseconds(1700000000123))},
                  {"id", object_id::from_string("6b079cc636003f393ed353e3")},
                  {"price", decimal128("1.10")},
                  {"blob", binary({1, 2, 3}, 0)},
                  {"note", nullptr}};
}

TEST(MongoBson, BuilderAndTypedAccess) {
  document d = ada();
  EXPECT_EQ(d.size(), 12u);
  EXPECT_EQ(d.get<std::string>("name"), "Ada");
  EXPECT_EQ(d.get<std::string_view>("name"), "Ada");
  EXPECT_EQ(d.get<std::int32_t>("born"), 1815);
  EXPECT_EQ(d.get<std::int64_t>("born"), 1815);  // int32 widens to int64
  EXPECT_EQ(d.get<std::int64_t>("papers"), 3);
  EXPECT_DOUBLE_EQ(d.get<double>("height"), 1.65);
  EXPECT_FALSE(d.get<bool>("alive"));
  EXPECT_EQ(d.get<array>("tags").size(), 3u);
  EXPECT_EQ(d.get<array>("tags").get<std::string>(1), "engines");
  EXPECT_EQ(d.get<std::int32_t>("tags.2"), 42);
  EXPECT_EQ(d.get<std::string>("address.city"), "London");
  EXPECT_DOUBLE_EQ(d.get<double>("address.geo.lat"), 51.5);
  EXPECT_EQ(d.get<document>("address").get<std::string>("city"), "London");
  EXPECT_EQ(d.get<date_time>("seen").time_since_epoch().count(), 1700000000123);
  EXPECT_EQ(d.get<object_id>("id").to_string(), "6b079cc636003f393ed353e3");
  EXPECT_EQ(d.get<decimal128>("price").to_string(), "1.10");
  EXPECT_EQ(d.get<binary>("blob").data, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_EQ(d.get<std::nullptr_t>("note"), nullptr);
  EXPECT_EQ(d.type_of("note"), type::null);
  EXPECT_TRUE(d.contains("address.geo.lat"));
  EXPECT_FALSE(d.contains("address.zip"));
  EXPECT_EQ(d.find<std::string>("address.zip"), std::nullopt);
  EXPECT_EQ(d.find<std::int32_t>("born"), 1815);
  EXPECT_EQ(d.get<value>("born"), value(1815));
  EXPECT_EQ(d.get<value>("tags").as<array>().size(), 3u);
}

TEST(MongoBson, FieldErrorsSayWhatWasWrong) {
  document d = ada();
  try {
    (void)d.get<std::string>("born");
    FAIL();
  } catch (const field_error& e) {
    EXPECT_EQ(e.path(), "born");
    EXPECT_EQ(e.expected(), "string");
    EXPECT_EQ(e.actual(), "int32");
    EXPECT_STREQ(e.what(), "aw::mongo: field \"born\" is an int32, not a string");
  }
  try {
    (void)d.get<double>("address.zip");
    FAIL();
  } catch (const field_error& e) {
    EXPECT_EQ(e.actual(), "missing");
    EXPECT_STREQ(e.what(), "aw::mongo: field \"address.zip\" is missing (expected double)");
  }
  EXPECT_THROW((void)d.get<std::int32_t>("papers"), field_error);  // no narrowing
  EXPECT_THROW((void)d.find<bool>("name"), field_error);           // a wrong type still throws
  EXPECT_THROW((void)value(1).as<std::string>(), field_error);
  EXPECT_THROW(object_id::from_string("xyz"), std::invalid_argument);
  EXPECT_THROW(decimal128("one"), std::invalid_argument);
}

TEST(MongoBson, CanonicalJsonRoundTrip) {
  document d = ada();
  std::string json = d.to_json();
  EXPECT_NE(json.find(R"("born" : { "$numberInt" : "1815" })"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("$oid" : "6b079cc636003f393ed353e3")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("$numberDecimal" : "1.10")"), std::string::npos) << json;
  EXPECT_EQ(document::from_json(json), d);
  EXPECT_EQ(document::from_json(d.to_relaxed_json()).get<std::string>("name"), "Ada");
  EXPECT_EQ(value(std::int64_t{5}).to_json(), R"({ "$numberLong" : "5" })");
  EXPECT_THROW(document::from_json("{not json"), json_error);
}

// The BSON errors are aw::mongo errors: one handler catches the module.
TEST(MongoBson, ErrorsDeriveFromTheModulesRoot) {
  try {
    (void)document::from_json("{not json");
    ADD_FAILURE() << "no error";
  } catch (const aw::mongo::error& e) {
    EXPECT_NE(dynamic_cast<const json_error*>(&e), nullptr);
    EXPECT_EQ(e.domain(), static_cast<std::uint32_t>(BSON_ERROR_JSON)) << e.what();
  }
  try {
    (void)document{{"a", 1}}.get<std::string>("a");
    ADD_FAILURE() << "no error";
  } catch (const aw::mongo::error& e) {
    EXPECT_NE(dynamic_cast<const field_error*>(&e), nullptr);
    EXPECT_EQ(e.code(), 0);
  }
}

TEST(MongoBson, IterationInOrder) {
  document d{{"b", 1}, {"a", "x"}, {"c", nullptr}};
  std::vector<std::string> keys;
  std::vector<type> types;
  for (const element& e : d) {
    keys.emplace_back(e.key());
    types.push_back(e.type());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(types, (std::vector<type>{type::int32, type::string, type::null}));
  EXPECT_EQ(document().begin(), document().end());
  auto values = array{1, "two", 3.0}.values();
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[1].as<std::string>(), "two");
}

TEST(MongoBson, CopiesAreDeepMovesAreCheap) {
  document a{{"x", 1}};
  document b = a;
  b.append("y", 2);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 2u);
  document c = std::move(b);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(b.empty());  // NOLINT: moved-from is empty and usable
  b.append("z", 3);
  EXPECT_EQ(b.get<std::int32_t>("z"), 3);
  EXPECT_NE(a, c);
  EXPECT_EQ(object_id::generate() == object_id::generate(), false);
}

TEST(MongoBson, NlohmannJson) {
  nlohmann::json j = {{"name", "Ada"}, {"born", 1815}, {"big", 1LL << 40}, {"tags", {"a", "b"}}, {"nested", {{"x", 1.5}}}};
  document d = to_document(j);
  EXPECT_EQ(d.get<std::int32_t>("born"), 1815);
  EXPECT_EQ(d.get<std::int64_t>("big"), 1LL << 40);
  EXPECT_EQ(d.get<array>("tags").get<std::string>(0), "a");
  EXPECT_DOUBLE_EQ(d.get<double>("nested.x"), 1.5);
  nlohmann::json back = to_nlohmann(d);
  EXPECT_EQ(back, j);
  EXPECT_EQ(to_nlohmann(document{{"id", object_id::from_string("6b079cc636003f393ed353e3")}})["id"]["$oid"], "6b079cc636003f393ed353e3");
}

}  // namespace
