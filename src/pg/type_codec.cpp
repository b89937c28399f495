// connection::set_type_codec: looking the type up, the connection's registry, and the libpq
// event procedure that gives each result the codecs it is read with.
#include <aw/pg/connection.hpp>
#include <aw/pg/type_codec.hpp>

#include "wire.hpp"

#include <libpq-events.h>
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace aw::pg {

namespace detail {
namespace {

using registry_ptr = std::shared_ptr<const codec_registry>;

// The connection's instance data is its wire's registry pointer; a result's is a copy of it
// made when libpq creates the result (the result may outlive the connection).
int codec_events(PGEventId id, void* info, void*) noexcept {
  switch (id) {
    case PGEVT_RESULTCREATE: {
      auto* e = static_cast<PGEventResultCreate*>(info);
      auto* current = static_cast<const registry_ptr*>(PQinstanceData(e->conn, codec_events));
      if (current && *current) PQresultSetInstanceData(e->result, codec_events, new registry_ptr(*current));
      return 1;
    }
    case PGEVT_RESULTCOPY: {
      auto* e = static_cast<PGEventResultCopy*>(info);
      if (auto* r = static_cast<registry_ptr*>(PQresultInstanceData(e->src, codec_events)))
        PQresultSetInstanceData(e->dest, codec_events, new registry_ptr(*r));
      return 1;
    }
    case PGEVT_RESULTDESTROY: {
      auto* e = static_cast<PGEventResultDestroy*>(info);
      delete static_cast<registry_ptr*>(PQresultInstanceData(e->result, codec_events));
      return 1;
    }
    default:
      return 1;
  }
}

// The send functions whose output is the value's text: a codec in text format reads them.
bool binary_is_text(std::string_view send) {
  static constexpr std::array<std::string_view, 10> text_like{"textsend",   "varcharsend", "bpcharsend", "namesend",  "unknownsend",
                                                              "citextsend", "json_send",   "xml_send",   "enum_send", "charsend"};
  return std::find(text_like.begin(), text_like.end(), send) != text_like.end();
}

}  // namespace

const runtime_codec* codec_registry::decoder(oid type, std::type_index cpp) const noexcept {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->type == type && it->cpp == cpp && it->decode) return &*it;
  return nullptr;
}
const runtime_codec* codec_registry::encoder(std::type_index cpp) const noexcept {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->cpp == cpp && it->encode) return &*it;
  return nullptr;
}

const codec_registry* registry_of(const pg_result* r) noexcept {
  auto* reg = static_cast<const registry_ptr*>(PQresultInstanceData(r, codec_events));
  return reg ? reg->get() : nullptr;
}
const runtime_codec* runtime_decoder(const pg_result* r, oid type, std::type_index cpp) noexcept {
  const codec_registry* reg = registry_of(r);
  return reg ? reg->decoder(type, cpp) : nullptr;
}

// Registered when the connection opens, before its first result: a result gets the event
// procedure (and so can be given a registry) only if its connection had it when libpq made
// the result, and the types of a result are looked up after it came.
void register_result_events(wire& w) {
  if (!PQregisterEventProc(w.conn_, codec_events, "aw::pg type codecs", nullptr))
    throw interface_error("aw::pg: libpq refused the event procedure of type codecs");
  w.codec_events_ = true;
  if (w.codecs_) PQsetInstanceData(w.conn_, codec_events, &w.codecs_);
}
void publish_registry(wire& w, std::shared_ptr<const codec_registry> next) {
  w.codecs_ = std::move(next);
  PQsetInstanceData(w.conn_, codec_events, &w.codecs_);
  w.params_.use_codecs(w.codecs_);
}
void attach_registry(pg_result* r, const std::shared_ptr<const codec_registry>& reg) {
  delete static_cast<registry_ptr*>(PQresultInstanceData(r, codec_events));
  PQresultSetInstanceData(r, codec_events, reg ? new registry_ptr(reg) : nullptr);
}

void no_runtime_decoder(const pg_result* r, int col, const std::string& cpp) {
  std::string msg = describe_column(r, col);
  msg += " does not read into ";
  msg += cpp;
  msg += ", which has no aw::pg::codec and no decoder registered for this type with connection::set_type_codec";
  throw type_error(msg);
}

}  // namespace detail

std::shared_ptr<const detail::codec_registry> connection::codecs() const noexcept { return wire_->codecs_; }

task<> connection::add_type_codec(std::string name, std::string schema, detail::runtime_codec c) {
  std::optional<record> found = co_await fetchrow(
      "SELECT t.oid, t.typsend::text FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
      "WHERE t.typname = $1 AND n.nspname = $2",
      name, schema);
  std::string qualified = schema;
  qualified += '.';
  qualified += name;
  if (!found) {
    std::string msg("aw::pg::connection::set_type_codec: unknown type: ");
    msg += qualified;
    throw unknown_type_error(msg);
  }
  auto [type, send] = found->as<std::uint32_t, std::string>();
  if (c.format == codec_format::text && !detail::binary_is_text(send)) {
    std::string msg("aw::pg::connection::set_type_codec: ");
    msg += qualified;
    msg += "'s binary form (";
    msg += send;
    msg += ") is not its text, and aw::pg reads results in binary: register it with codec_format::binary";
    throw interface_error(msg);
  }
  c.type = type;
  c.name = std::move(qualified);
  detail::wire& w = *wire_;
  auto next = std::make_shared<detail::codec_registry>();
  if (w.codecs_) *next = *w.codecs_;
  std::erase_if(next->entries, [&](const detail::runtime_codec& e) { return e.type == c.type && e.cpp == c.cpp; });
  next->entries.push_back(std::move(c));
  detail::publish_registry(w, std::move(next));
  detail::runtime_codecs_registered.store(true, std::memory_order_relaxed);
}

}  // namespace aw::pg
