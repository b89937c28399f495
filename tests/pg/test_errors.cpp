// The SQLSTATE to class mapping (aw/pg/errors.hpp): a listed code raises its own class, an
// unlisted one its SQLSTATE class's, an unknown class aw::pg::postgres_error itself.
#include <aw/pg.hpp>

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <typeinfo>

namespace {

aw::pg::error_fields with_code(std::string code, std::string message = "m") {
  aw::pg::error_fields f;
  f.sqlstate = std::move(code);
  f.message = std::move(message);
  return f;
}

// The dynamic type of what throw_error raises for these fields.
const std::type_info& raised(aw::pg::error_fields f) {
  try {
    aw::pg::throw_error(std::move(f));
  } catch (const aw::pg::error& e) {
    return typeid(e);
  }
  return typeid(void);
}

TEST(PgErrors, AListedCodeRaisesItsOwnClass) {
  EXPECT_EQ(raised(with_code("23505")), typeid(aw::pg::unique_violation));
  EXPECT_EQ(raised(with_code("40P01")), typeid(aw::pg::deadlock_detected));
  EXPECT_EQ(raised(with_code("57014")), typeid(aw::pg::query_canceled));
  EXPECT_EQ(raised(with_code("22000")), typeid(aw::pg::data_exception));
}

TEST(PgErrors, AnUnlistedCodeRaisesItsSqlstateClass) {
  EXPECT_EQ(raised(with_code("23P01")), typeid(aw::pg::integrity_constraint_violation));         // exclusion_violation
  EXPECT_EQ(raised(with_code("42804")), typeid(aw::pg::syntax_error_or_access_rule_violation));  // datatype_mismatch
  EXPECT_EQ(raised(with_code("53200")), typeid(aw::pg::insufficient_resources));                 // out_of_memory
}

// One handler catches the module: the server's errors, connecting's and the client's.
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::postgres_error>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::unique_violation>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::connection_error>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::connect_timeout_error>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::connection_lost>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::interface_error>);
static_assert(std::is_base_of_v<aw::pg::error, aw::pg::type_error>);
static_assert(!std::is_base_of_v<aw::pg::postgres_error, aw::pg::connection_error>);

TEST(PgErrors, AnUnknownClassIsThePlainServerError) {
  EXPECT_EQ(raised(with_code("XX000")), typeid(aw::pg::postgres_error));  // internal_error
  EXPECT_EQ(raised(with_code("")), typeid(aw::pg::postgres_error));
}

TEST(PgErrors, AStaleCachedPlanIsInvalidCachedStatement) {
  EXPECT_EQ(raised(with_code("0A000", "cached plan must not change result type")), typeid(aw::pg::invalid_cached_statement));
  EXPECT_EQ(raised(with_code("0A000", "something else")), typeid(aw::pg::feature_not_supported));
}

TEST(PgErrors, TheMessageCarriesTheSqlstate) {
  try {
    aw::pg::throw_error(with_code("23505", "duplicate key"));
  } catch (const aw::pg::unique_violation& e) {
    EXPECT_EQ(std::string(e.what()), "duplicate key (SQLSTATE 23505)");
    EXPECT_EQ(e.sqlstate(), "23505");
  }
}

}  // namespace
