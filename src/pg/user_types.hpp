// The types made after initdb that a connection looked up in pg_catalog (introspection.cpp),
// as asyncpg's introspection keeps them: what each is made of, so that values of it are
// named and decoded by what the server says they are rather than by the shape of their bytes.
#pragma once

#include <aw/pg/types.hpp>

#include <string>
#include <unordered_map>
#include <vector>

namespace aw::pg::detail {

struct user_type {
  enum kind_t { base, enum_, composite, domain, array, range, other } kind = other;
  std::string name;        // format_type's: "mood", "mood[]", "other_schema.pair"
  oid element = 0;         // array: the element type; range: the subtype; domain: the base type
  bool text_form = false;  // base: its binary form is its text (citext)
};

// Replaced, never changed: a result keeps the catalog it was read with.
struct type_catalog {
  std::unordered_map<oid, user_type> types;
  const user_type* find(oid t) const noexcept {
    auto it = types.find(t);
    return it == types.end() ? nullptr : &it->second;
  }
};

// The catalog of the result being read (types_scope), nullptr outside one.
const type_catalog* current_catalog() noexcept;
// The text of a value of a looked-up type (to_text's part for them); false when t is not
// in the current catalog.
bool user_type_text(oid t, const char* p, int len, std::string& out);

}  // namespace aw::pg::detail
