// aw::pg::pool: connections borrowed and given back, made clean in between.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/pg/pool.hpp>

#include "wire.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace aw::pg {

namespace {
std::size_t checked_max(const pool_options& o) {
  if (o.max_size == 0) throw std::invalid_argument("aw::pg::create_pool: max_size must be at least 1");
  if (o.min_size > o.max_size) throw std::invalid_argument("aw::pg::create_pool: min_size must not exceed max_size");
  return o.max_size;
}
}  // namespace

pool::pool(std::string dsn, pool_options o) : dsn_(std::move(dsn)), opts_(std::move(o)), slots_(checked_max(opts_)) {}
pool::pool(pool&& o) : dsn_(std::move(o.dsn_)), opts_(std::move(o.opts_)), slots_(opts_.max_size), enter_check_(std::move(o.enter_check_)) {
  if (!o.closed_) std::terminate();  // moving an open pool: borrowed connections point at it
}
pool::~pool() { disarm_reaper(); }

// The reaper: a loop timer, armed while some idle connection above min_size may expire,
// for the moment the oldest one does.
void pool::arm_reaper() {
  if (closed_ || opts_.max_inactive_connection_lifetime.count() <= 0 || reaper_.armed() || idle_.empty() || open_ <= opts_.min_size) return;
  clock::time_point oldest = idle_.front().since;  // idle_ is in release order
  reaper_.owner = this;
  reaper_.fire = &pool::reaper_fired;
  reaper_.deadline = oldest + opts_.max_inactive_connection_lifetime;
  loop_ = &loop::current();
  loop_->add_timer(reaper_);
}

void pool::disarm_reaper() noexcept {
  if (loop_ && reaper_.armed()) loop_->remove_timer(reaper_);
}

void pool::reaper_fired(timer_node* t) {
  pool& p = *static_cast<reaper_timer*>(t)->owner;
  const auto cutoff = aw::now() - p.opts_.max_inactive_connection_lifetime;
  // Oldest first (idle_ is in release order: the front is the oldest), while more than
  // min_size are open. Closing does not wait (libpq sends its goodbye without blocking on
  // a non-blocking connection).
  std::size_t n = 0;
  while (n < p.idle_.size() && p.open_ > p.opts_.min_size && p.idle_[n].since <= cutoff) {
    ++n;
    --p.open_;
  }
  p.idle_.erase(p.idle_.begin(), p.idle_.begin() + static_cast<std::ptrdiff_t>(n));
  p.arm_reaper();
}

task<std::unique_ptr<connection>> pool::open_connection() {
  auto c = std::make_unique<connection>(opts_.connection);
  co_await c->open(dsn_);
  if (opts_.init) co_await opts_.init(*c);
  co_return c;
}

task<pool&> pool::aenter() {
  enter_check_.entered();
  if (!closed_) throw interface_error("aw::pg::pool: entered twice");
  closed_ = false;
  std::exception_ptr failure;
  try {
    for (std::size_t i = 0; i < opts_.min_size; ++i) {
      auto c = co_await open_connection();
      ++open_;
      idle_.push_back({std::move(c), aw::now()});
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    idle_.clear();
    open_ = 0;
    closed_ = true;
    std::rethrow_exception(failure);
  }
  co_return *this;
}

task<> pool::aexit(std::exception_ptr) {
  disarm_reaper();
  closed_ = true;
  open_ -= idle_.size();
  idle_.clear();  // closes them; borrowed ones are closed when they come back
  co_return;
}

task<std::unique_ptr<connection>> pool::take(std::optional<std::chrono::milliseconds> timeout) {
  if (closed_) throw interface_error("aw::pg::pool: the pool is closed");
  if (!timeout) co_return co_await take_now();
  // The timeout covers the whole acquisition, as asyncpg's does: the wait for a slot,
  // opening a connection (a server that does not answer), setup.
  std::unique_ptr<connection> c;
  cancel_scope scope(aw::now() + *timeout);
  co_await async_with(scope, [&](cancel_scope&) -> task<> { c = co_await take_now(); });
  if (!c) throw timeout_error();
  co_return c;
}

task<std::unique_ptr<connection>> pool::take_now() {
  if (!slots_.try_acquire()) co_await slots_.acquire();
  // From here on we hold a slot: give it back on every failure.
  std::unique_ptr<connection> c;
  std::exception_ptr failure;
  try {
    while (!idle_.empty() && !c) {
      idle_connection ic = std::move(idle_.back());
      idle_.pop_back();
      const auto idle_for = aw::now() - ic.since;
      bool stale = opts_.max_inactive_connection_lifetime.count() > 0 && idle_for > opts_.max_inactive_connection_lifetime;
      // A connection given back within the last millisecond is lent without the probe (a
      // recv syscall, a third of a short query's syscalls): a busy pool passes connections
      // straight from task to task. A server that closed it in that millisecond shows as
      // connection_lost on its first statement; a restart takes far longer than that.
      if (stale || (idle_for >= std::chrono::milliseconds(1) && !ic.conn->probe())) {
        --open_;
        continue;  // dropping it closes it
      }
      c = std::move(ic.conn);
    }
    if (!c) {
      ++open_;
      try {
        c = co_await open_connection();
      } catch (...) {
        --open_;
        throw;
      }
    }
    if (opts_.setup) co_await opts_.setup(*c);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    if (c)
      co_await release_shielded(std::move(c));
    else
      slots_.release();
    std::rethrow_exception(failure);
  }
  co_return c;
}

task<> pool::release(std::unique_ptr<connection> c) { co_await release_shielded(std::move(c)); }

bool pool::reusable(const connection& c) const noexcept {
  return !closed_ && !c.is_closed() && (opts_.max_queries == 0 || c.queries() < opts_.max_queries);
}

// A connection given back into the idle list, and its slot with it.
void pool::keep_idle(std::unique_ptr<connection> c) {
  idle_.push_back({std::move(c), aw::now()});
  arm_reaper();
  slots_.release();
}

task<> pool::release_shielded(std::unique_ptr<connection> c) {
  if (!c) co_return;
  detail::wire::of(*c).log_listeners_.clear();  // the borrower's, as asyncpg's pool does
  if (reusable(*c) && c->is_clean()) {
    // Nothing to reset, so nothing to wait for: no shield needed (the common case; the
    // shielded scope costs more than the rest of the release).
    keep_idle(std::move(c));
    co_return;
  }
  // Exits run shielded already; a direct release() is shielded here, so a cancellation
  // cannot leave the slot taken or the connection half reset.
  cancel_scope shield(clock::time_point::max(), true);
  co_await async_with(shield, [&](cancel_scope&) -> task<> {
    bool keep = reusable(*c);
    if (keep) {
      std::exception_ptr failure;
      try {
        co_await c->reset();
      } catch (...) {
        failure = std::current_exception();
      }
      keep = !failure && !c->is_closed();
    }
    if (keep) {
      keep_idle(std::move(c));
    } else {
      c.reset();
      --open_;
      slots_.release();
    }
  });
}

// Multiplex: a place on a shared connection for a statement that may share. An idle
// connection comes first (or a new one), spreading statements over server processes; with
// none left, the joinable shared connection with the fewest users. Nobody joins while a task
// waits for a connection of its own (acquire(), a statement that may not share), so that
// one drains.
task<pool::lease> pool::lend_shared() {
  if (closed_) throw interface_error("aw::pg::pool: the pool is closed");
  lease l;
  l.is_shared = true;
  if (slots_.value() == 0 && slots_.tasks_waiting() == 0) {
    auto best = shared_.end();
    for (auto it = shared_.begin(); it != shared_.end(); ++it)
      if (joinable(*it->conn) && (best == shared_.end() || it->users < best->users)) best = it;
    if (best != shared_.end()) {
      ++best->users;
      l.shared = best;
      co_return l;
    }
  }
  auto c = co_await take();
  shared_.push_back({std::move(c), 1});
  l.shared = std::prev(shared_.end());
  co_return l;
}

// Session state changed (a statement's command tag said so), broken, or due to be replaced:
// nobody else joins; the last user gives it back, and the release resets or drops it.
bool pool::joinable(const connection& c) const noexcept { return !detail::wire::of(c).dirty_ && reusable(c); }

task<> pool::leave_shared(shared_list::iterator it) {
  if (--it->users != 0) co_return;
  std::unique_ptr<connection> c = std::move(it->conn);
  shared_.erase(it);
  co_await release_shielded(std::move(c));
}

namespace {
bool blank(char ch) noexcept { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }
bool letter(char ch) noexcept { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
bool same_word(std::string_view word, std::string_view upper) noexcept {
  if (word.size() != upper.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if ((word[i] & ~0x20) != upper[i]) return false;
  return true;
}
}  // namespace

bool pool::shareable(std::string_view sql) noexcept {
  std::size_t i = 0;
  for (;;) {
    while (i < sql.size() && (blank(sql[i]) || sql[i] == '(')) ++i;
    if (sql.substr(i, 2) == "--") {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) return false;
    } else if (sql.substr(i, 2) == "/*") {  // PostgreSQL's block comments nest
      int depth = 0;
      do {
        if (sql.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (sql.substr(i, 2) == "*/") {
          --depth;
          i += 2;
        } else if (++i > sql.size()) {
          return false;
        }
      } while (depth > 0);
    } else {
      break;
    }
  }
  std::size_t end = i;
  while (end < sql.size() && letter(sql[end])) ++end;
  const std::string_view word = sql.substr(i, end - i);
  for (std::string_view w : {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE"})
    if (same_word(word, w)) return true;
  return false;
}

task<connection&> pool::acquire_manager::aenter() {
  enter_check_.entered();
  conn_ = co_await pool_->take(timeout_);
  co_return *conn_;
}

task<> pool::acquire_manager::aexit(std::exception_ptr) { co_await pool_->release_shielded(std::move(conn_)); }

}  // namespace aw::pg
