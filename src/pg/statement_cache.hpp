// aw::pg's statement cache (asyncpg's): the statements query() prepared, keyed by their text
// and parameter types, least recently used out, and the server statements left to free.
#pragma once

#include <aw/pg/params.hpp>

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aw::pg::detail {

// Only bookkeeping: the wire prepares and frees the statements (statement_cache.cpp).
class statement_cache {
 public:
  struct statement {
    std::string name;
    std::list<std::string>::iterator lru;
    int params = 0;  // the highest $n of its text: more arguments are refused
  };

  explicit statement_cache(std::size_t capacity) : capacity_(capacity) {}
  // Whether statements are cached at all (statement_cache_size 0: none).
  bool enabled() const noexcept { return capacity_ != 0; }
  // The statement cached for `sql` with the parameter types of `p`, made the most recently
  // used; nullptr when there is none.
  const statement* find(std::string_view sql, const params& p);
  // Caches `name`, just prepared for `sql` with the parameter types of `p`. Past the
  // capacity the least recently used statement is evicted: freed before the next preparation.
  // Only when enabled(): with no capacity the new entry itself would be evicted.
  const statement* insert(std::string_view sql, const params& p, std::string name);
  // Forgets the statement named `name` (the schema changed under it) and frees it before the
  // next preparation.
  void forget(const std::string& name);
  // A server statement to free (DEALLOCATE) before the next preparation.
  void deallocate_later(std::string name) { evicted_.push_back(std::move(name)); }
  bool has_deallocations() const noexcept { return !evicted_.empty(); }
  std::vector<std::string> take_deallocations() noexcept { return std::exchange(evicted_, {}); }
  // Forgets every statement, freed before the next preparation (reload_schema_state).
  void forget_all();
  // The server forgot the statements (the session ended, DEALLOCATE ALL, DISCARD ALL).
  void clear() noexcept;

 private:
  void make_key(std::string_view sql, const params& p);

  std::size_t capacity_;
  std::string key_;  // the last lookup's, kept: a lookup allocates nothing
  std::unordered_map<std::string, statement> cache_;
  std::list<std::string> lru_;  // most recently used first
  std::vector<std::string> evicted_;
};

}  // namespace aw::pg::detail
