// c-ares on the loop: one request at a time on a channel of its own, driven by fd waits and
// a loop timer from the coroutine that awaits it.
//
//   ares_request req(config);                      // leases an idle channel (or makes one)
//   ares_getaddrinfo(req.channel(), ..., callback, &result);   // the callback calls req.finish()
//   co_await req.drive();                           // until the callback has run
//
// Why a channel per request rather than one shared by the thread's requests: c-ares 1.18
// can only cancel every query of a channel (ares_cancel), and a cancelled lookup must take
// its query and its sockets with it, not leave them to a neighbour. Channels are pooled per
// thread (ares_init_options reads resolv.conf and costs tens of microseconds), and an idle
// channel holds no socket: c-ares closes a channel's sockets when its last query ends, so no
// fd wait outlives the drive() that armed it, and a pooled channel is not tied to a loop
// (aw::run may make a new loop for every call on the thread).
//
// How drive() runs c-ares:
//   c-ares --sock_state_cb(fd, read, write)--> a socket record: one-shot fd waits armed for
//     what c-ares wants, cancelled when it no longer does or closes the socket
//   a wait completes, or the ares_timeout() timer fires --> the awaiting coroutine wakes and
//     calls ares_process_fd for what is ready (ARES_SOCKET_BAD twice: timeouts only)
// Nothing but bookkeeping happens in c-ares's callbacks, and c-ares runs only in the
// coroutine, so it is never re-entered from its own callbacks.
//
// CAUTION, lifetimes: a wait's completion arrives after it was started, even when it was
// cancelled, maybe after c-ares closed the socket (its number may be reused by then). The
// socket records stay in the request until drive() has seen every completion; drive() ends
// by waiting for them (not a cancellation point), on every path.
#pragma once

#include <aw/detail/cancellation.hpp>
#include <aw/loop.hpp>
#include <aw/task.hpp>

#include <ares.h>

#include <sys/types.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace aw::net::detail {

// Identifies one version of a file (resolv.conf, the hosts file): a change, or its
// appearance, makes what was read from it stale, as glibc re-reads resolv.conf when it changes.
struct file_stamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::timespec mtime{};
  friend bool operator==(const file_stamp& a, const file_stamp& b) noexcept {
    return a.exists == b.exists && a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec &&
           a.mtime.tv_nsec == b.mtime.tv_nsec;
  }
};
file_stamp stamp_of(const char* path) noexcept;

// The channel-level options of one lookup; the key of the per-thread pool.
struct channel_config {
  std::string servers;  // ares_set_servers_ports_csv's format; empty: resolv.conf's
  int timeout_ms = 0;   // 0: resolv.conf's
  int tries = 0;        // 0: resolv.conf's
  bool operator==(const channel_config&) const = default;
};

struct channel_slot;
class ares_request;

// One fd c-ares uses, with a wait for each direction.
struct socket_record {
  struct wait : fd_wait {
    socket_record* rec = nullptr;
    bool pending = false;     // started, completion not delivered yet
    bool cancelling = false;  // cancel_fd_wait was called
    bool fired = false;       // ready, not yet handed to ares_process_fd
  };
  socket_record(ares_request* r, int fd) noexcept;
  // Cancels the waits c-ares no longer wants; with `start`, starts those it wants.
  void sync(bool start);
  static void on_ready(io_op* op, int result);

  ares_request* req;
  int fd;
  wait in, out;
  bool want_read = false, want_write = false;
  bool closed = false;  // c-ares closed the fd: only completions are awaited
};

class ares_request : aw::detail::cancellable {
 public:
  explicit ares_request(const channel_config& config);
  ~ares_request();
  ares_request(const ares_request&) = delete;
  ares_request& operator=(const ares_request&) = delete;

  ares_channel channel() const noexcept;
  // From the c-ares callback of the request: it is over (successfully or not).
  void finish() noexcept { done_ = true; }
  bool done() const noexcept { return done_; }

  // Runs c-ares until finish() was called. Cancelled, it cancels the query (its callback runs
  // with ARES_ECANCELLED), waits for its fd waits to be gone and raises aw::cancelled.
  task<> drive();

  // From sock_state_cb (through the channel's slot).
  void on_socket_state(int fd, bool read, bool write) noexcept;

 private:
  friend struct socket_record;
  struct event_awaiter;
  struct drain_awaiter;
  struct ares_timer : timer_node {
    ares_request* req = nullptr;
  };

  void process();
  void arm_timer();
  void wake() noexcept;
  bool has_events() const noexcept;
  void wait_completed(bool fired) noexcept;  // a wait's completion was delivered

  std::unique_ptr<channel_slot> slot_;
  loop* loop_;
  std::vector<std::unique_ptr<socket_record>> sockets_;
  std::size_t pending_waits_ = 0;
  ares_timer timer_;
  bool timed_out_ = false;
  bool done_ = false;
  bool out_of_memory_ = false;
  aw::detail::task_context* ctx_ = nullptr;
  std::coroutine_handle<> waiter_;  // drive(), suspended for an event or for the drain
  bool draining_ = false;
};

// ares_library_init, once per process.
void ares_init_once();

}  // namespace aw::net::detail
