// Reading values of the types a connection looked up (user_types.hpp): the scope that makes a
// result's catalog the current one while a value is read, and what the catalog says of a type.
#include "user_types.hpp"

#include <aw/pg/result.hpp>
#include <aw/pg/type_codec.hpp>

namespace aw::pg::detail {

namespace {
// Decoding is synchronous (no coroutine suspends inside it), so a thread's current catalog
// is the one of the value it is reading now.
thread_local const type_catalog* current = nullptr;
}  // namespace

const type_catalog* current_catalog() noexcept { return current; }

types_scope::types_scope(const pg_result* r) noexcept : saved_(current) {
  const codec_registry* reg = registry_of(r);
  current = reg && reg->types ? reg->types.get() : nullptr;
}
types_scope::~types_scope() { current = static_cast<const type_catalog*>(saved_); }

oid user_decoding_oid(oid t) noexcept {
  for (int depth = 0; current && depth < 16; ++depth) {  // (a domain over a domain ...)
    const user_type* u = current->find(t);
    if (!u) return t;
    switch (u->kind) {
      case user_type::domain:
        t = u->element;
        if (t < oids::first_normal) return t;
        continue;
      case user_type::enum_:
        return oids::text;
      case user_type::composite:
        return oids::record;
      case user_type::base:
        return u->text_form ? oids::text : t;
      default:
        return t;
    }
  }
  return t;
}

}  // namespace aw::pg::detail
