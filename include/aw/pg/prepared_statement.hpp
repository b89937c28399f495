// aw::pg::prepared_statement: a statement prepared once on a connection and run many times
// (asyncpg's Connection.prepare()).
//
//   aw::pg::prepared_statement by_id = co_await conn.prepare("SELECT name FROM users WHERE id = $1");
//   for (std::int32_t id : ids) names.push_back(co_await by_id.fetchval<std::string>(id));
//   by_id.parameter_types();   // {23}: the types the server chose for $1..$n
//   by_id.column_name(0);      // "name", and column_type(0), before any row is fetched
//
// The server infers the parameter types from the SQL text; arguments are sent in binary,
// so each must be of the C++ type of the parameter's PostgreSQL type (std::int32_t for an
// integer, not std::int64_t; aw/pg/types.hpp has the table), else aw::pg::type_error
// before anything is sent; strings go as text and fit any type. A cast in the SQL
// ($1::bigint) picks a type. When the schema changes under the statement (a column added
// to a table it reads), it is prepared again and run once more, outside a transaction;
// inside one, aw::pg::invalid_cached_statement is raised, as for the statement cache.
//
// The statement belongs to its connection and must not outlive it; destroying it frees
// the server's statement with the connection's next preparation. Cancellation works as
// for the connection's own queries (cancelled on the server, connection usable after), and
// so does pipelining: runs from several tasks go out without waiting for each other.
#pragma once

#include <aw/pg/connection.hpp>

#include <string>
#include <utility>
#include <vector>

namespace aw::pg {

class prepared_statement {
 public:
  prepared_statement(prepared_statement&& o) noexcept
      : conn_(std::exchange(o.conn_, nullptr)),
        sql_(std::move(o.sql_)),
        name_(std::move(o.name_)),
        desc_(std::move(o.desc_)),
        param_types_(std::move(o.param_types_)) {}
  prepared_statement& operator=(prepared_statement&& o) noexcept {
    if (this != &o) {
      release();
      conn_ = std::exchange(o.conn_, nullptr);
      sql_ = std::move(o.sql_);
      name_ = std::move(o.name_);
      desc_ = std::move(o.desc_);
      param_types_ = std::move(o.param_types_);
    }
    return *this;
  }
  ~prepared_statement() { release(); }

  // The statement's command tag.
  template <class... A>
  task<std::string> execute(const A&... args) {
    std::tuple<const A&...> t(args...);
    result r = co_await owner().query(sql_, detail::make_encoder(t), this);
    co_return std::string(r.status());
  }
  template <class... A>
  task<result> fetch(const A&... args) {
    std::tuple<const A&...> t(args...);
    co_return co_await owner().query(sql_, detail::make_encoder(t), this);
  }
  template <class... A>
  task<std::optional<record>> fetchrow(const A&... args) {
    std::tuple<const A&...> t(args...);
    result r = co_await owner().query(sql_, detail::make_encoder(t), this);
    if (r.empty()) co_return std::nullopt;
    co_return record(std::move(r));
  }
  template <class T, class... A>
  task<T> fetchval(const A&... args) {
    std::tuple<const A&...> t(args...);
    result r = co_await owner().query(sql_, detail::make_encoder(t), this);
    if (r.empty()) {
      if constexpr (detail::is_optional<T>::value)
        co_return std::nullopt;
      else
        throw interface_error("aw::pg::prepared_statement::fetchval: the query returned no rows");
    }
    co_return r[0].template get<T>(0);
  }

  const std::string& query() const noexcept { return sql_; }
  // The server's statement name (for EXPLAIN EXECUTE and the like).
  const std::string& name() const noexcept { return name_; }
  // The types of $1..$n, as the server inferred them.
  const std::vector<oid>& parameter_types() const noexcept { return param_types_; }
  // The columns a run gives (none for a statement without rows).
  std::size_t columns() const noexcept { return desc_.columns(); }
  std::string_view column_name(std::size_t i) const { return desc_.column_name(i); }
  oid column_type(std::size_t i) const { return desc_.column_type(i); }

 private:
  friend class connection;
  friend class detail::wire;
  prepared_statement(connection& c, std::string sql) : conn_(&c), sql_(std::move(sql)) {}
  void release() noexcept;
  connection& owner() const {
    if (!conn_) throw interface_error("aw::pg::prepared_statement: the statement was moved from");
    return *conn_;
  }

  connection* conn_;
  std::string sql_;
  std::string name_;
  result desc_;
  std::vector<oid> param_types_;
};

}  // namespace aw::pg
