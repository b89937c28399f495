// aw::pg's statement cache (statement_cache.hpp), and the wire's preparing for it and
// freeing of what it evicted.
#include <aw/pg/params.hpp>

#include "statement_cache.hpp"
#include "wire.hpp"

#include <libpq-fe.h>

#include <string>
#include <utility>
#include <vector>

namespace aw::pg::detail {

// The SQL text, a NUL (which a statement's text cannot hold), and the parameter types' oids.
void statement_cache::make_key(std::string_view sql, const params& p) {
  key_.assign(sql);
  key_.push_back('\0');
  key_.append(reinterpret_cast<const char*>(p.types()), sizeof(oid) * static_cast<std::size_t>(p.size()));
}

const statement_cache::statement* statement_cache::find(std::string_view sql, const params& p) {
  make_key(sql, p);
  auto it = cache_.find(key_);
  if (it == cache_.end()) return nullptr;
  if (it->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

const statement_cache::statement* statement_cache::insert(std::string_view sql, const params& p, std::string name) {
  make_key(sql, p);
  lru_.push_front(key_);
  const statement* st = &cache_.emplace(key_, statement{std::move(name), lru_.begin(), highest_placeholder(sql)}).first->second;
  if (cache_.size() > capacity_) {
    std::string victim = lru_.back();
    evicted_.push_back(std::move(cache_.at(victim).name));
    cache_.erase(victim);
    lru_.pop_back();
  }
  return st;
}

void statement_cache::forget(const std::string& name) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it)
    if (it->second.name == name) {
      evicted_.push_back(std::move(it->second.name));
      lru_.erase(it->second.lru);
      cache_.erase(it);
      break;
    }
}

void statement_cache::forget_all() {
  for (auto& [key, st] : cache_) evicted_.push_back(std::move(st.name));
  cache_.clear();
  lru_.clear();
}

void statement_cache::clear() noexcept {
  cache_.clear();
  lru_.clear();
  evicted_.clear();
}

// The cached statement for `sql` with the parameter types in params_, prepared now if new.
task<const statement_cache::statement*> wire::prepare_cached(std::string_view sql) {
  if (const statement_cache::statement* st = cache_.find(sql, params_)) co_return st;
  if (cache_.has_deallocations()) co_await deallocate_evicted();
  std::string name = "aw_s" + std::to_string(++next_statement_);
  std::string text(sql);
  if (!PQsendPrepare(conn_, name.c_str(), text.c_str(), params_.size(), params_.types())) throw_lost("sending the query");
  (void)co_await collect();
  co_return cache_.insert(sql, params_, std::move(name));
}

task<> wire::deallocate_evicted() {
  std::vector<std::string> names = cache_.take_deallocations();
  std::string sql;
  for (auto& n : names) sql += "DEALLOCATE " + n + ";";
  if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
  try {
    (void)co_await collect();
  } catch (const postgres_error&) {  // already gone (a DEALLOCATE the cache did not see): nothing to free
  }
}

}  // namespace aw::pg::detail
