// aw::mongo::error, the root of every error aw::mongo raises (pymongo's PyMongoError). It has
// a header of its own because the BSON errors in <aw/mongo/bson.hpp> derive from it and
// <aw/mongo/errors.hpp>, where the rest of the tree is, needs bson.hpp. Include errors.hpp.
//
//   try { ... } catch (const aw::mongo::error& e) { std::printf("%s (code %d)\n", e.what(), e.code()); }
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace aw::mongo {

class error : public std::runtime_error {
 public:
  // domain/code: libmongoc's bson_error_t (for command errors, code is the server's).
  error(const std::string& message, std::uint32_t domain, std::uint32_t code) : std::runtime_error(message), domain_(domain), code_(code) {}
  std::uint32_t domain() const noexcept { return domain_; }
  std::int32_t code() const noexcept { return static_cast<std::int32_t>(code_); }

 private:
  std::uint32_t domain_;
  std::uint32_t code_;
};

}  // namespace aw::mongo
