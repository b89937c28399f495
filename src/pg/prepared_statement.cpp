// aw::pg::prepared_statement: a named server-side statement outside the statement cache.
#include <aw/cancel_scope.hpp>
#include <aw/pg/prepared_statement.hpp>

#include "wire.hpp"

#include <libpq-fe.h>

#include <string>
#include <utility>

namespace aw::pg {

void prepared_statement::release() noexcept {
  // Freed with the connection's next preparation (a destructor cannot wait for the server).
  if (conn_ && !name_.empty() && detail::wire::of(*conn_).conn_) detail::wire::of(*conn_).cache_.deallocate_later(std::move(name_));
  name_.clear();
  conn_ = nullptr;
}

task<> detail::wire::prepare_named(prepared_statement& st) {
  if (cache_.has_deallocations()) co_await deallocate_evicted();
  std::string name = "aw_p" + std::to_string(++next_statement_);
  if (!PQsendPrepare(conn_, name.c_str(), st.sql_.c_str(), 0, nullptr)) throw_lost("sending the query");
  (void)co_await collect();
  st.name_ = std::move(name);  // from here on the destructor frees it
  if (!PQsendDescribePrepared(conn_, st.name_.c_str())) throw_lost("sending the query");
  st.desc_ = co_await collect();
  const int n = PQnparams(st.desc_.native());
  st.param_types_.clear();
  for (int i = 0; i < n; ++i) st.param_types_.push_back(PQparamtype(st.desc_.native(), i));
}

task<prepared_statement> connection::prepare(std::string sql) {
  detail::check_sql(sql);
  detail::wire& w = *wire_;
  co_await w.acquire_exclusive();
  detail::wire::busy_hold g{&w.busy_};
  w.check_open();
  std::exception_ptr cancel;
  try {
    prepared_statement st(*this, std::move(sql));
    co_await w.prepare_named(st);
    co_return st;
  } catch (const aw::cancelled&) {
    cancel = std::current_exception();
  }
  co_await w.cancel_and_drain();
  std::rethrow_exception(cancel);
}

// What a prepared statement's arguments must be, checked before anything is sent.
void detail::wire::check_arguments(const prepared_statement& st) const {
  if (st.conn_ != &owner_) throw interface_error("aw::pg::prepared_statement: the statement was moved from");
  if (static_cast<std::size_t>(params_.size()) != st.param_types_.size())
    throw interface_error("aw::pg::prepared_statement: the statement takes " + std::to_string(st.param_types_.size()) + " arguments, " +
                          std::to_string(params_.size()) + " given (" + st.sql_ + ")");
  for (int i = 0; i < params_.size(); ++i) {
    // Binary values must be of the parameter's type; text (format 0) fits any.
    if (params_.formats()[i] == 1 && params_.types()[i] != st.param_types_[static_cast<std::size_t>(i)])
      throw type_error("aw::pg::prepared_statement: parameter $" + std::to_string(i + 1) + " is of type oid " +
                       std::to_string(st.param_types_[static_cast<std::size_t>(i)]) + ", the argument is of type oid " +
                       std::to_string(params_.types()[i]) + " (give the C++ type of the parameter's type, or cast it in the SQL)");
  }
}

}  // namespace aw::pg
