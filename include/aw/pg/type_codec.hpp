// Codecs registered at run time for a type known by name (asyncpg's
// Connection.set_type_codec): an extension's type (hstore, citext), an enum, a domain, a
// type of your own, read into and written from a C++ type of your choice.
//
//   aw::pg::type_codec<std::map<std::string, std::optional<std::string>>> hstore;
//   hstore.format = aw::pg::codec_format::binary;
//   hstore.decoder = [](std::string_view bytes) { return parse_hstore(bytes); };
//   hstore.encoder = [](const auto& m) { return hstore_bytes(m); };
//   co_await conn.set_type_codec("hstore", hstore);            // schema "public" unless hstore.schema says
//   auto m = co_await conn.fetchval<std::map<std::string, std::optional<std::string>>>("SELECT 'a=>1'::hstore");
//
// set_type_codec looks the type up on the server (pg_type by name and schema; a query, so a
// cancellation point) and raises aw::pg::unknown_type_error when there is none; it
// registers nothing then, nor when it is cancelled. From then on, on that connection, a
// column of that type read as T goes through the decoder, and a T given as a parameter
// through the encoder, sent with the type's OID (a type registered for T twice: the last
// one encodes). The codec is the connection's, kept across pool resets; a pool registers it
// on each of its connections from pool_options::init. A registered codec comes before the
// built-in one for the same column type and C++ type (citext read as std::string), as in
// asyncpg. What a decoder or an encoder throws reaches the caller as it is, from the read
// (or the query, for an encoder); the connection stays usable.
//
// The format is what the functions see: codec_format::binary, the type's binary form
// (its typsend function's output); codec_format::text, its text form (typoutput's). aw::pg
// reads results in binary (libpq asks one format for all columns of a result), so the text
// format reads the types whose binary form is their text (text-like types: citext, varchar
// and text domains, json, xml); for any other type set_type_codec(..., text) raises
// aw::pg::interface_error naming it: register it in binary (hstore's binary form is a
// count, then each key and value as a 4-byte length and bytes, -1 for a NULL value).
// Parameters go in the format given. Codecs apply to a result's columns and to parameters,
// not to array elements, composite fields or range bounds, and not to COPY. Only a class or
// an enum can have a runtime codec: reading into or sending any other type that has no
// codec of its own (std::size_t, a pointer) does not compile.
#pragma once

#include <aw/pg/errors.hpp>
#include <aw/pg/types.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

struct pg_result;

namespace aw::pg {

enum class codec_format { text, binary };

template <class T>
struct type_codec {
  std::function<std::string(const T&)> encoder{};  // empty: T is not accepted as a parameter
  std::function<T(std::string_view)> decoder{};    // empty: the type's columns do not read into T
  std::string schema = "public";
  codec_format format = codec_format::text;
};

// No type of that name in that schema (asyncpg's ValueError "unknown type").
class unknown_type_error : public interface_error {
 public:
  using interface_error::interface_error;
};

namespace detail {
// Whether T has a compile-time codec (aw::pg::codec<T>).
template <class T>
concept has_static_codec = requires { codec<T>::type_oid; };
// A type without a codec of its own goes through the connection's runtime codecs
// (set_type_codec), which are for types of the user's own: a class or an enum. Any other
// type (std::size_t, a pointer) cannot have one, and is refused when it is compiled.
template <class T>
inline constexpr bool runtime_codec_allowed = std::is_class_v<T> || std::is_enum_v<T>;

// One registered codec, its C++ type erased.
struct runtime_codec {
  oid type = 0;
  std::string name;  // "public.hstore", for errors
  codec_format format = codec_format::text;
  std::type_index cpp = typeid(void);
  std::function<void(const void* value, std::string& out)> encode;
  std::function<void(std::string_view in, void* optional_out)> decode;
};
struct type_catalog;  // the types made after initdb a connection looked up (user_types.hpp)
// A connection's codecs and the types it looked up on the server; replaced, never changed,
// when one is added: a result keeps the ones it was read with.
struct codec_registry {
  std::vector<runtime_codec> entries;
  std::shared_ptr<const type_catalog> types;
  const runtime_codec* decoder(oid type, std::type_index cpp) const noexcept;
  const runtime_codec* encoder(std::type_index cpp) const noexcept;
};
// The registry a result was made with (nullptr: none, the connection had no codec and had
// looked no type up then).
const codec_registry* registry_of(const pg_result* r) noexcept;
// Set once any connection of the process registers a codec: until then reading a column
// skips the lookup of a registered decoder (a call into libpq per field) altogether.
inline std::atomic<bool> runtime_codecs_registered{false};
// The decoder for a column of `type` read as `cpp` from a result of a connection that
// registered one; nullptr otherwise.
const runtime_codec* runtime_decoder(const pg_result* r, oid type, std::type_index cpp) noexcept;

template <class T>
runtime_codec make_runtime_codec(type_codec<T>&& c) {
  runtime_codec r;
  r.format = c.format;
  r.cpp = typeid(T);
  if (c.encoder) r.encode = [f = std::move(c.encoder)](const void* v, std::string& out) { out.append(f(*static_cast<const T*>(v))); };
  if (c.decoder)
    r.decode = [f = std::move(c.decoder)](std::string_view in, void* out) { static_cast<std::optional<T>*>(out)->emplace(f(in)); };
  return r;
}
}  // namespace detail

}  // namespace aw::pg
