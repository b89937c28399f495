// aw::pg's internals: the libpq helpers the module's files share.
#pragma once

#include <aw/pg/errors.hpp>

#include <libpq-fe.h>

#include <string>

namespace aw::pg::detail {

// The fields of an error or notice result.
error_fields fields_of(const PGresult* r);
// libpq's message without its trailing newline.
std::string trimmed(const char* msg);

// Clears the result it holds (if any) when the scope ends.
struct result_guard {
  PGresult* r;
  ~result_guard() {
    if (r) PQclear(r);
  }
};

}  // namespace aw::pg::detail
