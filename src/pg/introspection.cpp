// Looking up the types made after initdb that a result has (asyncpg's introspection): once
// per connection, with the types they are made of, kept until reload_schema_state().
#include <aw/pg/connection.hpp>

#include "user_types.hpp"
#include "wire.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aw::pg {
namespace detail {
namespace {

// The wanted types, and what they are made of, recursively: an array's element, a domain's
// base type, a range's subtype, a composite's fields. Built-in types are made of built-in
// types only, so the walk stops at them.
constexpr std::string_view lookup_sql =
    "WITH RECURSIVE wanted(oid) AS ("
    " SELECT unnest($1::int8[])::oid"
    " UNION"
    " SELECT c.child FROM wanted w JOIN pg_catalog.pg_type t ON t.oid = w.oid CROSS JOIN LATERAL ("
    "  SELECT t.typelem WHERE t.typelem <> 0"
    "  UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0"
    "  UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid"
    "  UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a"
    "   WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) c(child)"
    " WHERE w.oid >= 16384)"
    " SELECT t.oid::int8, t.typtype::text, pg_catalog.format_type(t.oid, NULL), t.typsend::text,"
    "  (CASE t.typtype WHEN 'd' THEN t.typbasetype WHEN 'r' THEN r.rngsubtype ELSE t.typelem END)::int8"
    " FROM wanted w JOIN pg_catalog.pg_type t ON t.oid = w.oid LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid"
    " WHERE w.oid >= 16384";

// The send functions whose output is the value's text (as set_type_codec's text format).
bool send_is_text(std::string_view send) {
  if (auto dot = send.rfind('.'); dot != std::string_view::npos) send.remove_prefix(dot + 1);
  for (std::string_view t : {"textsend", "varcharsend", "bpcharsend", "citextsend", "json_send", "xml_send"})
    if (send == t) return true;
  return false;
}

user_type describe(std::string_view typtype, std::string name, std::string_view send, oid element) {
  user_type u;
  u.name = std::move(name);
  u.element = element;
  if (typtype == "e")
    u.kind = user_type::enum_;
  else if (typtype == "c")
    u.kind = user_type::composite;
  else if (typtype == "d")
    u.kind = user_type::domain;
  else if (typtype == "r")
    u.kind = user_type::range;
  else if (typtype == "b" && send.ends_with("array_send"))
    u.kind = user_type::array;
  else if (typtype == "b") {
    u.kind = user_type::base;
    u.text_form = send_is_text(send);
  }
  return u;
}

const type_catalog* catalog_of(const codec_registry* reg) noexcept { return reg && reg->types ? reg->types.get() : nullptr; }

}  // namespace

// Whether the registry the result was made with describes every column's type made after
// initdb (a built-in type needs nothing: the common case, no call into the registry).
bool wire::knows_types(const PGresult* r) const noexcept {
  const int n = r ? PQnfields(r) : 0;
  const type_catalog* known = nullptr;
  bool looked = false;
  for (int i = 0; i < n; ++i) {
    const oid t = PQftype(r, i);
    if (t < oids::first_normal) continue;
    if (!looked) {
      known = catalog_of(registry_of(r));
      looked = true;
    }
    if (!known || !known->find(t)) return false;
  }
  return true;
}

// A query of its own (a cancellation point, pipelined as any statement): the connection's
// catalog grows by what it finds only when it completes, and the result is given the
// catalog current then (a statement pipelined behind another may find its types looked up
// by that one meanwhile, and then runs no query).
task<> wire::look_up_types(result& r) {
  std::vector<std::int64_t> wanted;
  const type_catalog* known = catalog_of(codecs_.get());
  for (int i = 0, n = PQnfields(r.native()); i < n; ++i) {
    const oid t = PQftype(r.native(), i);
    if (t >= oids::first_normal && !(known && known->find(t)) && std::find(wanted.begin(), wanted.end(), t) == wanted.end())
      wanted.push_back(t);
  }
  if (!wanted.empty()) {
    result rows = co_await owner_.fetch(lookup_sql, wanted);
    auto catalog = std::make_shared<type_catalog>();
    if (const type_catalog* now = catalog_of(codecs_.get())) *catalog = *now;
    for (row x : rows) {
      auto [id, typtype, name, send, element] = x.as<std::int64_t, std::string, std::string, std::string, std::int64_t>();
      catalog->types[static_cast<oid>(id)] = describe(typtype, std::move(name), send, static_cast<oid>(element));
    }
    auto next = codecs_ ? std::make_shared<codec_registry>(*codecs_) : std::make_shared<codec_registry>();
    next->types = std::move(catalog);
    publish_registry(*this, std::move(next));
  }
  attach_registry(r.native(), codecs_);
}

}  // namespace detail

void connection::reload_schema_state() {
  detail::wire& w = *wire_;
  if (w.codecs_ && w.codecs_->types) {
    auto next = std::make_shared<detail::codec_registry>(*w.codecs_);
    next->types = nullptr;
    detail::publish_registry(w, std::move(next));
  }
  w.cache_.forget_all();
}

}  // namespace aw::pg
