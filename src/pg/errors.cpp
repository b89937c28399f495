// aw::pg errors: the SQLSTATE to class mapping.
#include <aw/pg/errors.hpp>
#include <aw/redact.hpp>

#include <string>
#include <utility>

namespace aw::pg {

namespace {
std::string describe(const error_fields& f) {
  std::string s = f.message.empty() ? std::string("PostgreSQL error") : f.message;
  if (!f.sqlstate.empty()) s += " (SQLSTATE " + f.sqlstate + ")";
  if (!f.detail.empty()) s += "\nDETAIL: " + f.detail;
  if (!f.hint.empty()) s += "\nHINT: " + f.hint;
  return s;
}
}  // namespace

postgres_error::postgres_error(error_fields f) : error(describe(f)), f_(std::make_shared<const error_fields>(std::move(f))) {}

void throw_error(error_fields f) {
  const std::string& c = f.sqlstate;
  if (c == "0A000" && f.message.find("cached plan must not change result type") != std::string::npos)
    throw invalid_cached_statement(std::move(f));
  // The code itself, then its class (its first two characters and "000").
#define AW_PG_THROW_IF(name, base, sqlstate) \
  if (c == sqlstate) throw name(std::move(f));
  AW_PG_SQLSTATE_ERRORS(AW_PG_THROW_IF)
  if (c.size() == 5 && c.compare(2, 3, "000") != 0) {
    const std::string cls = c.substr(0, 2) + "000";
#define AW_PG_THROW_IF_CLASS(name, base, sqlstate) \
  if (cls == sqlstate) throw name(std::move(f));
    AW_PG_SQLSTATE_ERRORS(AW_PG_THROW_IF_CLASS)
#undef AW_PG_THROW_IF_CLASS
  }
#undef AW_PG_THROW_IF
  throw postgres_error(std::move(f));
}

std::string redact_dsn(const std::string& dsn) { return aw::redact_credentials(dsn); }

}  // namespace aw::pg
