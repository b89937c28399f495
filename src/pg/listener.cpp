// aw::pg::listener: LISTEN/NOTIFY. libpq queues the notifications it parses (while any
// statement runs, too); they are moved to the listeners' queues when a listener looks.
#include <aw/pg/connection.hpp>

#include "wire.hpp"

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

void detail::wire::deliver_notifications() {
  if (!conn_) return;
  while (PGnotify* n = PQnotifies(conn_)) {
    std::unique_ptr<PGnotify, void (*)(void*)> g(n, PQfreemem);
    for (listener* l : listeners_)
      if (l->channel_ == n->relname) l->queue_.emplace_back(n->relname, n->extra ? n->extra : "", n->be_pid);
  }
}

listener::~listener() {
  if (active_) std::erase(detail::wire::of(*conn_).listeners_, this);
}

task<listener&> listener::aenter() {
  enter_check_.entered();
  if (active_) throw interface_error("aw::pg::listener: this listener is already entered");
  detail::wire& w = detail::wire::of(*conn_);
  w.check_open();
  std::string sql = "LISTEN " + quoted_identifier(w.conn_, channel_);
  co_await w.simple_query(sql);
  // Registered after LISTEN succeeded; notifications sent before it are not ours anyway.
  w.listeners_.push_back(this);
  active_ = true;
  co_return *this;
}

task<> listener::aexit(std::exception_ptr) {
  if (!active_) co_return;
  detail::wire& w = detail::wire::of(*conn_);
  active_ = false;
  std::erase(w.listeners_, this);
  queue_.clear();
  bool shared = std::any_of(w.listeners_.begin(), w.listeners_.end(), [&](listener* l) { return l->channel_ == channel_; });
  if (shared || w.is_closed()) co_return;
  std::string sql = "UNLISTEN " + quoted_identifier(w.conn_, channel_);
  co_await w.simple_query(sql);
}

std::optional<notification> listener::poll() {
  detail::wire& w = detail::wire::of(*conn_);
  if (queue_.empty() && active_ && !w.is_closed()) {
    // Only when no statement is running: its results are not ours to read.
    if (w.busy_.value() > 0 && !PQconsumeInput(w.conn_)) w.throw_lost("receiving");
    w.deliver_notifications();
  }
  if (queue_.empty()) return std::nullopt;
  std::optional<notification> n(std::move(queue_.front()));
  queue_.pop_front();
  return n;
}

task<std::optional<notification>> listener::next() {
  detail::wire& w = detail::wire::of(*conn_);
  for (;;) {
    if (std::optional<notification> n = poll()) co_return n;
    if (!active_ || !w.conn_) co_return std::nullopt;
    co_await w.acquire_exclusive();
    detail::wire::busy_hold g{&w.busy_};
    if (!active_ || !w.conn_) co_return std::nullopt;
    w.check_open();
    w.deliver_notifications();  // what a statement that ran meanwhile received
    if (!queue_.empty()) continue;
    co_await detail::wire::socket_wait(w, POLLIN);
    if (!PQconsumeInput(w.conn_)) w.throw_lost("receiving");
    w.deliver_notifications();
  }
}

}  // namespace aw::pg
