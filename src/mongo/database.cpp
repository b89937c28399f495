// aw::mongo::database: commands run on a database, its collections' names, and its drop.
#include "internal.hpp"

#include <mongoc/mongoc.h>

#include <string>
#include <utility>
#include <vector>

namespace aw::mongo {

task<document> database::command(document cmd, write_options opts) const {
  return run_call(s_, name_, "", "command on", std::move(opts).opts(), opts.session_state(), [cmd = std::move(cmd)](call_context& k) {
    k.check(mongoc_database_command_with_opts(k.database(), cmd.native(), nullptr, k.opts(), k.reply(), k.error()));
    return k.reply_document();
  });
}

task<std::vector<std::string>> database::list_collection_names() const {
  return run_call(s_, name_, "", "list_collection_names on", document(), nullptr, [](call_context& k) {
    char** names = mongoc_database_get_collection_names_with_opts(k.database(), k.opts(), k.error());
    k.check(names != nullptr);
    std::vector<std::string> out;
    for (char** p = names; *p; ++p) out.emplace_back(*p);
    bson_strfreev(names);
    return out;
  });
}

task<> database::drop() const {
  return run_call(s_, name_, "", "drop of", document(), nullptr, [](call_context& k) {
    bool ok = mongoc_database_drop_with_opts(k.database(), k.opts(), k.error());
    k.check(ok || k.error()->code == 26);  // 26: NamespaceNotFound
  });
}

}  // namespace aw::mongo
