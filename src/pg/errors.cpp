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

error::error(error_fields f) : std::runtime_error(describe(f)), f_(std::make_shared<const error_fields>(std::move(f))) {}

void throw_error(error_fields f) {
  const std::string c = f.sqlstate;
  auto cls = c.substr(0, 2);
  if (c == "0A000") {
    if (f.message.find("cached plan must not change result type") != std::string::npos) throw invalid_cached_statement(std::move(f));
    throw feature_not_supported(std::move(f));
  }
  if (cls == "22") {
    if (c == "22003") throw numeric_value_out_of_range(std::move(f));
    if (c == "22012") throw division_by_zero(std::move(f));
    if (c == "22P02") throw invalid_text_representation(std::move(f));
    throw data_exception(std::move(f));
  }
  if (cls == "23") {
    if (c == "23502") throw not_null_violation(std::move(f));
    if (c == "23503") throw foreign_key_violation(std::move(f));
    if (c == "23505") throw unique_violation(std::move(f));
    if (c == "23514") throw check_violation(std::move(f));
    throw integrity_constraint_violation(std::move(f));
  }
  if (cls == "25") {
    if (c == "25P02") throw in_failed_sql_transaction(std::move(f));
    if (c == "25006") throw read_only_sql_transaction(std::move(f));
    throw invalid_transaction_state(std::move(f));
  }
  if (cls == "28") throw invalid_authorization_specification(std::move(f));
  if (cls == "3D") throw invalid_catalog_name(std::move(f));
  if (cls == "40") {
    if (c == "40001") throw serialization_failure(std::move(f));
    if (c == "40P01") throw deadlock_detected(std::move(f));
    throw transaction_rollback(std::move(f));
  }
  if (cls == "42") {
    if (c == "42501") throw insufficient_privilege(std::move(f));
    if (c == "42601") throw syntax_error(std::move(f));
    if (c == "42703") throw undefined_column(std::move(f));
    if (c == "42883") throw undefined_function(std::move(f));
    if (c == "42P01") throw undefined_table(std::move(f));
    if (c == "42P07") throw duplicate_table(std::move(f));
    throw syntax_error_or_access_rule_violation(std::move(f));
  }
  if (cls == "53") throw insufficient_resources(std::move(f));
  if (cls == "55") {
    if (c == "55P03") throw lock_not_available(std::move(f));
    throw object_not_in_prerequisite_state(std::move(f));
  }
  if (cls == "57") {
    if (c == "57014") throw query_canceled(std::move(f));
    if (c == "57P01") throw admin_shutdown(std::move(f));
    throw operator_intervention(std::move(f));
  }
  throw error(std::move(f));
}

std::string redact_dsn(const std::string& dsn) { return aw::redact_credentials(dsn); }

}  // namespace aw::pg
