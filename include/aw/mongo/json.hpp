// nlohmann::json in and out of aw::mongo::document, where that is the convenient form.
//
//   nlohmann::json j = {{"name", "Ada"}, {"born", 1815}};
//   aw::mongo::document d = aw::mongo::to_document(j);     // born: int32
//   nlohmann::json back = aw::mongo::to_nlohmann(d);        // == j
//
// The conversion goes through relaxed extended JSON: integers become int32 when they fit,
// else int64; other BSON types (ObjectId, dates, decimals, binary) come out as their
// extended-JSON objects, e.g. {"$oid": "..."}, and such objects go back in as those types.
#pragma once

#include <aw/mongo/bson.hpp>

#include <nlohmann/json.hpp>

namespace aw::mongo {

inline document to_document(const nlohmann::json& j) { return document::from_json(j.dump()); }
inline nlohmann::json to_nlohmann(const document& d) { return nlohmann::json::parse(d.to_relaxed_json()); }

}  // namespace aw::mongo
