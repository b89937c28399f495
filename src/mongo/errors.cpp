// aw::mongo's errors: libmongoc's error domains and codes, and the server's reply, mapped
// to the typed exceptions of errors.hpp.
#include <aw/mongo/errors.hpp>

#include <mongoc/mongoc.h>

#include <string_view>

namespace aw::mongo {

std::optional<document> duplicate_key_error::key_pattern() const {
  if (failures().empty()) return std::nullopt;
  return failures().front().details.find<document>("keyPattern");
}
std::optional<document> duplicate_key_error::key_value() const {
  if (failures().empty()) return std::nullopt;
  return failures().front().details.find<document>("keyValue");
}

namespace detail {

void throw_error(const bson_error_t& err, const bson_t* reply, const std::string& what) {
  document r = reply && !bson_empty(reply) ? document::copy_of(reply) : document();
  std::string msg = "aw::mongo: " + what + ": " + err.message;
  const std::string_view m = err.message;

  std::vector<write_failure> failures;
  if (auto errors = r.find<array>("writeErrors")) {
    for (const element& e : *errors) {
      document d = e.get<document>();
      write_failure f;
      f.index = static_cast<std::int32_t>(d.find<std::int64_t>("index").value_or(0));
      f.code = static_cast<std::int32_t>(d.find<std::int64_t>("code").value_or(0));
      f.message = d.find<std::string>("errmsg").value_or("");
      f.details = std::move(d);
      failures.push_back(std::move(f));
    }
  }
  auto server_code = [&] {
    std::string s = " (code " + std::to_string(err.code);
    if (auto name = r.find<std::string>("codeName")) s += " " + *name;
    return s + ")";
  };

  switch (err.domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
      throw server_selection_error(msg, err.domain, err.code);
    case MONGOC_ERROR_STREAM:
      if (m.find("timed out") != m.npos || m.find("Timeout") != m.npos || m.find("timeout") != m.npos)
        throw timeout_error(msg, err.domain, err.code);
      throw connection_error(msg, err.domain, err.code);
    case MONGOC_ERROR_CLIENT:
      if (err.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) throw connection_error(msg, err.domain, err.code);
      break;
    case MONGOC_ERROR_WRITE_CONCERN:
      throw write_concern_error(msg + server_code(), err.domain, err.code, std::move(r));
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COLLECTION:
      break;
    default:
      if (failures.empty()) throw error(msg, err.domain, err.code);
  }
  if (!failures.empty()) {
    const bool dup = err.code == 11000 || failures.front().code == 11000;
    if (failures.size() > 1) msg += " (and " + std::to_string(failures.size() - 1) + " more failed writes)";
    if (dup) throw duplicate_key_error(msg, err.domain, 11000, std::move(r), std::move(failures));
    throw write_error(msg + server_code(), err.domain, err.code, std::move(r), std::move(failures));
  }
  if (err.domain == MONGOC_ERROR_SERVER || err.domain == MONGOC_ERROR_QUERY) {
    if (err.code == 50) throw timeout_error(msg + server_code(), err.domain, err.code);  // MaxTimeMSExpired
    if (err.code == 11000) throw duplicate_key_error(msg, err.domain, err.code, std::move(r), {});
    throw command_error(msg + server_code(), err.domain, err.code, std::move(r));
  }
  throw error(msg, err.domain, err.code);
}

}  // namespace detail
}  // namespace aw::mongo
