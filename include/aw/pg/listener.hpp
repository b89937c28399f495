// aw::pg::listener: LISTEN/NOTIFY as an async stream of notifications (asyncpg's
// add_listener, as a stream rather than a callback).
//
//   co_await aw::async_with(conn.listen("jobs"), [&](aw::pg::listener& jobs) -> aw::task<> {
//     while (std::optional<aw::pg::notification> n = co_await jobs.next())
//       handle(n->payload);  // NOTIFY jobs, 'payload' / SELECT pg_notify('jobs', 'payload')
//   });
//
// Entering runs LISTEN, leaving runs UNLISTEN (unless another listener of the same
// connection still listens to that channel). Notifications are kept by libpq as they
// arrive, also while other statements run on the connection, and handed to the listeners
// of their channel in order; none is lost between next() calls.
//
// next() waits for the connection's socket and holds the connection while it does: a
// statement on the same connection waits until a notification arrives. Listen on a
// connection of its own (as asyncpg advises), or bound the wait (aw::move_on_after): a
// cancelled next() leaves the connection usable and loses nothing. next() gives
// std::nullopt once the listener was left or the connection closed, and raises
// aw::pg::connection_lost when the connection is lost.
#pragma once

#include <aw/task.hpp>

#include <deque>
#include <exception>
#include <optional>
#include <string>

namespace aw::pg {

class connection;
namespace detail {
class wire;
}

struct notification {
  // A constructor, not an aggregate: g++ 12 miscompiles aggregate temporaries with string
  // members inside co_await expressions.
  notification(std::string c, std::string p, int sender) : channel(std::move(c)), payload(std::move(p)), pid(sender) {}
  std::string channel;
  std::string payload;
  int pid;  // the backend process that sent it
};

class [[nodiscard(
    "enter it: co_await aw::async_with(conn.listen(channel), body) or aw::enter(conn.listen(channel)); nothing listens until "
    "then")]] listener {
 public:
  listener(connection& c, std::string channel) : conn_(&c), channel_(std::move(channel)) {}
  listener(listener&& o) noexcept  // before entering only
      : conn_(o.conn_), channel_(std::move(o.channel_)), enter_check_(std::move(o.enter_check_)) {}
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener();

  task<listener&> aenter();
  task<> aexit(std::exception_ptr e);

  // The next notification on this channel, waiting for one; std::nullopt once the listener
  // was left or the connection closed.
  task<std::optional<notification>> next();
  // A notification already received, without waiting (reads what the socket holds).
  std::optional<notification> poll();
  const std::string& channel() const noexcept { return channel_; }

 private:
  friend class detail::wire;
  connection* conn_;
  std::string channel_;
  std::deque<notification> queue_;
  bool active_ = false;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<listener> enter_check_;
};

}  // namespace aw::pg
