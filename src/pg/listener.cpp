// aw::pg::listener: LISTEN/NOTIFY. libpq queues the notifications it parses (while any
// statement runs, too); they are moved to the listeners' queues when a listener looks.
#include <aw/pg/connection.hpp>

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace aw::pg {

namespace {

std::string quoted_identifier(pg_conn* c, const std::string& name) {
  std::unique_ptr<char, void (*)(void*)> q(PQescapeIdentifier(c, name.data(), name.size()), PQfreemem);
  if (!q) throw interface_error("aw::pg::listener: cannot quote the channel name \"" + name + "\": " + PQerrorMessage(c));
  return q.get();
}
}  // namespace

void connection::deliver_notifications() {
  if (!conn_) return;
  while (PGnotify* n = PQnotifies(conn_)) {
    std::unique_ptr<PGnotify, void (*)(void*)> g(n, PQfreemem);
    for (listener* l : listeners_)
      if (l->channel_ == n->relname) l->queue_.emplace_back(n->relname, n->extra ? n->extra : "", n->be_pid);
  }
}

listener::~listener() {
  if (active_) std::erase(conn_->listeners_, this);
}

task<listener&> listener::aenter() {
  enter_check_.entered();
  if (active_) throw interface_error("aw::pg::listener: this listener is already entered");
  conn_->check_open();
  std::string sql = "LISTEN " + quoted_identifier(conn_->conn_, channel_);
  co_await conn_->simple_query(sql);
  // Registered after LISTEN succeeded; notifications sent before it are not ours anyway.
  conn_->listeners_.push_back(this);
  active_ = true;
  co_return *this;
}

task<> listener::aexit(std::exception_ptr) {
  if (!active_) co_return;
  active_ = false;
  std::erase(conn_->listeners_, this);
  queue_.clear();
  bool shared = std::any_of(conn_->listeners_.begin(), conn_->listeners_.end(), [&](listener* l) { return l->channel_ == channel_; });
  if (shared || conn_->is_closed()) co_return;
  std::string sql = "UNLISTEN " + quoted_identifier(conn_->conn_, channel_);
  co_await conn_->simple_query(sql);
}

std::optional<notification> listener::poll() {
  if (queue_.empty() && active_ && !conn_->is_closed()) {
    // Only when no statement is running: its results are not ours to read.
    if (conn_->busy_.value() > 0 && !PQconsumeInput(conn_->conn_)) conn_->throw_lost("receiving");
    conn_->deliver_notifications();
  }
  if (queue_.empty()) return std::nullopt;
  std::optional<notification> n(std::move(queue_.front()));
  queue_.pop_front();
  return n;
}

task<std::optional<notification>> listener::next() {
  for (;;) {
    if (std::optional<notification> n = poll()) co_return n;
    if (!active_ || !conn_->conn_) co_return std::nullopt;
    co_await conn_->acquire_exclusive();
    connection::busy_hold g{&conn_->busy_};
    if (!active_ || !conn_->conn_) co_return std::nullopt;
    conn_->check_open();
    conn_->deliver_notifications();  // what a statement that ran meanwhile received
    if (!queue_.empty()) continue;
    co_await connection::socket_wait(*conn_, POLLIN);
    if (!PQconsumeInput(conn_->conn_)) conn_->throw_lost("receiving");
    conn_->deliver_notifications();
  }
}

}  // namespace aw::pg
