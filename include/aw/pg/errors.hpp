// The errors of aw::pg, asyncpg's exception hierarchy in C++.
//
//   try {
//     co_await conn.execute("INSERT INTO users(email) VALUES ($1)", email);
//   } catch (const aw::pg::unique_violation& e) {
//     std::printf("%s is taken (%s on %s)\n", email.c_str(), e.constraint_name().c_str(), e.table_name().c_str());
//   }
//
// aw::pg::error is the root: every error aw::pg raises derives from it.
// - aw::pg::postgres_error (asyncpg's PostgresError): the server refused a statement. It
//   carries the fields of the server's error report (SQLSTATE, message, detail, hint,
//   schema/table/column/constraint names); what() is "message (SQLSTATE xxxxx)" plus the
//   detail. Subclasses follow the SQLSTATE classes (integrity_constraint_violation >
//   unique_violation, ...), so a handler can be as broad or as narrow as it likes;
//   sqlstate() gives the code for the rest.
// - aw::pg::connection_error: connecting failed (refused, bad password, no such database);
//   aw::pg::connect_timeout_error, a subclass, is a server that did not answer in time.
//   aw::pg::connection_lost, a subclass, is a connection that broke while in use; the
//   statement it was running may or may not have taken effect.
// - aw::pg::interface_error: the client was misused (a closed connection, fetchval of no
//   row); aw::pg::type_error, a subclass, is a value that does not convert (a column's type
//   that does not fit the C++ type, NULL into a non-optional); it names the column.
// Until 2026-12 aw::pg::error was the server's error: a handler for it that reads the
// report (sqlstate(), ...) now names postgres_error; one that only catches now catches
// connection and interface errors too.
// Messages never contain a password: connection strings in them are redacted, and so are
// libpq's own messages, which may quote a fragment of the string (aw/redact.hpp).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace aw::pg {

// The fields of a server error report (libpq's PG_DIAG_*), empty where the server sent none.
struct error_fields {
  std::string sqlstate, severity, message, detail, hint, context, schema_name, table_name, column_name, data_type_name, constraint_name;
  int position = 0;  // 1-based character position in the statement, 0 for none
};

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class postgres_error : public error {
 public:
  explicit postgres_error(error_fields f);
  const std::string& sqlstate() const noexcept { return f_->sqlstate; }
  const std::string& severity() const noexcept { return f_->severity; }
  const std::string& message() const noexcept { return f_->message; }
  const std::string& detail() const noexcept { return f_->detail; }
  const std::string& hint() const noexcept { return f_->hint; }
  const std::string& context() const noexcept { return f_->context; }
  const std::string& schema_name() const noexcept { return f_->schema_name; }
  const std::string& table_name() const noexcept { return f_->table_name; }
  const std::string& column_name() const noexcept { return f_->column_name; }
  const std::string& data_type_name() const noexcept { return f_->data_type_name; }
  const std::string& constraint_name() const noexcept { return f_->constraint_name; }
  int position() const noexcept { return f_->position; }
  const error_fields& fields() const noexcept { return *f_; }

 private:
  std::shared_ptr<const error_fields> f_;  // shared: exceptions are copied
};

// The SQLSTATEs with a class of their own, X(class, base class, SQLSTATE), bases first: a
// class ending in "000" stands for its whole SQLSTATE class (the first two characters). The
// classes below and throw_error's mapping both come from this one list. A code not listed
// raises its class's error, or aw::pg::postgres_error; asyncpg's exceptions follow the same
// tree.
#define AW_PG_SQLSTATE_ERRORS(X)                                            \
  X(feature_not_supported, postgres_error, "0A000")                         \
  X(data_exception, postgres_error, "22000")                                \
  X(numeric_value_out_of_range, data_exception, "22003")                    \
  X(division_by_zero, data_exception, "22012")                              \
  X(invalid_text_representation, data_exception, "22P02")                   \
  X(integrity_constraint_violation, postgres_error, "23000")                \
  X(not_null_violation, integrity_constraint_violation, "23502")            \
  X(foreign_key_violation, integrity_constraint_violation, "23503")         \
  X(unique_violation, integrity_constraint_violation, "23505")              \
  X(check_violation, integrity_constraint_violation, "23514")               \
  X(invalid_transaction_state, postgres_error, "25000")                     \
  X(in_failed_sql_transaction, invalid_transaction_state, "25P02")          \
  X(read_only_sql_transaction, invalid_transaction_state, "25006")          \
  X(invalid_authorization_specification, postgres_error, "28000")           \
  X(invalid_catalog_name, postgres_error, "3D000")                          \
  X(transaction_rollback, postgres_error, "40000")                          \
  X(serialization_failure, transaction_rollback, "40001")                   \
  X(deadlock_detected, transaction_rollback, "40P01")                       \
  X(syntax_error_or_access_rule_violation, postgres_error, "42000")         \
  X(insufficient_privilege, syntax_error_or_access_rule_violation, "42501") \
  X(syntax_error, syntax_error_or_access_rule_violation, "42601")           \
  X(undefined_column, syntax_error_or_access_rule_violation, "42703")       \
  X(undefined_function, syntax_error_or_access_rule_violation, "42883")     \
  X(undefined_table, syntax_error_or_access_rule_violation, "42P01")        \
  X(duplicate_table, syntax_error_or_access_rule_violation, "42P07")        \
  X(insufficient_resources, postgres_error, "53000")                        \
  X(object_not_in_prerequisite_state, postgres_error, "55000")              \
  X(lock_not_available, object_not_in_prerequisite_state, "55P03")          \
  X(operator_intervention, postgres_error, "57000")                         \
  X(query_canceled, operator_intervention, "57014")                         \
  X(admin_shutdown, operator_intervention, "57P01")

#define AW_PG_ERROR(name, base, sqlstate)                 \
  class name : public base {                              \
   public:                                                \
    explicit name(error_fields f) : base(std::move(f)) {} \
  };
AW_PG_SQLSTATE_ERRORS(AW_PG_ERROR)
// 0A000 "cached plan must not change result type": a statement cached before the schema
// changed (see connection.hpp).
AW_PG_ERROR(invalid_cached_statement, feature_not_supported, "0A000")
#undef AW_PG_ERROR

// Connecting failed. The message is libpq's, with the connection string (redacted) appended.
class connection_error : public error {
 public:
  using error::error;
};
// The connection broke while in use (the server went away, the network failed).
class connection_lost : public connection_error {
 public:
  using connection_error::connection_error;
};
// Connecting took longer than connection_options::connect_timeout, or a host took longer
// than the DSN's connect_timeout (asyncpg raises TimeoutError there).
class connect_timeout_error : public connection_error {
 public:
  using connection_error::connection_error;
};
// The library was used wrongly, or a result was not what the call needs.
class interface_error : public error {
 public:
  using error::error;
};
// A value does not convert between PostgreSQL and C++; the message names the column.
class type_error : public interface_error {
 public:
  using interface_error::interface_error;
};

// Throws the subclass of aw::pg::postgres_error that f.sqlstate names.
[[noreturn]] void throw_error(error_fields f);

// `dsn` (a URL or key=value string) with any password replaced by "***"
// (aw::redact_credentials, aw/redact.hpp).
std::string redact_dsn(const std::string& dsn);

}  // namespace aw::pg
