// c-ares driven by the loop: the per-thread pool of channels, and one request's sockets and
// timer (see ares_driver.hpp for the design).
#include "ares_driver.hpp"

#include <aw/exceptions.hpp>
#include <aw/net/errors.hpp>

#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

namespace aw::net::detail {

struct channel_slot {
  ares_channel channel = nullptr;
  channel_config config;
  file_stamp resolv_conf;
  ares_request* active = nullptr;  // the request running on the channel, if any

  channel_slot() = default;
  channel_slot(const channel_slot&) = delete;
  channel_slot& operator=(const channel_slot&) = delete;
  ~channel_slot() {
    if (channel) ares_destroy(channel);
  }

  static void on_socket_state(void* data, ares_socket_t fd, int read, int write) {
    auto* slot = static_cast<channel_slot*>(data);
    if (slot->active) slot->active->on_socket_state(fd, read != 0, write != 0);
  }
};

namespace {

// Idle channels of this thread. A handful is enough: concurrent lookups beyond it make
// channels that are dropped when they end.
constexpr std::size_t max_idle_channels = 8;
constexpr const char* resolv_conf_path = "/etc/resolv.conf";

struct channel_pool {
  file_stamp resolv_conf;
  std::vector<std::unique_ptr<channel_slot>> idle;
};

channel_pool& pool() {
  thread_local channel_pool p;
  return p;
}

std::unique_ptr<channel_slot> make_slot(const channel_config& config, const file_stamp& resolv_conf) {
  ares_init_once();
  auto slot = std::make_unique<channel_slot>();
  slot->config = config;
  slot->resolv_conf = resolv_conf;
  ares_options o{};
  // Files, then DNS, as glibc does by default: fixed here, not read from nsswitch.conf,
  // whose other sources (mdns, myhostname, resolve) c-ares cannot consult anyway.
  char lookups[] = "fb";
  o.lookups = lookups;
  o.sock_state_cb = &channel_slot::on_socket_state;
  o.sock_state_cb_data = slot.get();
  int mask = ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
  if (config.timeout_ms > 0) {
    o.timeout = config.timeout_ms;
    mask |= ARES_OPT_TIMEOUTMS;
  }
  if (config.tries > 0) {
    o.tries = config.tries;
    mask |= ARES_OPT_TRIES;
  }
  ares_channel ch = nullptr;
  int status = ares_init_options(&ch, &o, mask);
  if (status == ARES_ENOMEM) throw std::bad_alloc();
  if (status != ARES_SUCCESS) throw error(std::error_code(status, resolver_category()), "initialise the resolver", resolv_conf_path);
  slot->channel = ch;
  if (!config.servers.empty()) {
    status = ares_set_servers_ports_csv(ch, config.servers.c_str());
    if (status == ARES_ENOMEM) throw std::bad_alloc();
    if (status != ARES_SUCCESS) throw std::invalid_argument("aw::net: not a list of DNS servers: '" + config.servers + "'");
  }
  return slot;
}

std::unique_ptr<channel_slot> take_slot(const channel_config& config) {
  channel_pool& p = pool();
  file_stamp now = stamp_of(resolv_conf_path);
  if (!(now == p.resolv_conf)) {
    p.idle.clear();
    p.resolv_conf = now;
  }
  for (auto it = p.idle.rbegin(); it != p.idle.rend(); ++it)
    if ((*it)->config == config) {
      std::unique_ptr<channel_slot> slot = std::move(*it);
      p.idle.erase(std::next(it).base());
      return slot;
    }
  return make_slot(config, now);
}

void give_back(std::unique_ptr<channel_slot> slot) noexcept {
  channel_pool& p = pool();
  if (p.idle.size() >= max_idle_channels || !(slot->resolv_conf == p.resolv_conf)) return;
  try {
    p.idle.push_back(std::move(slot));
  } catch (...) {  // out of memory: the channel goes, the lookup is done anyway
  }
}

}  // namespace

file_stamp stamp_of(const char* path) noexcept {
  struct stat st;
  file_stamp s;
  if (::stat(path, &st) != 0) return s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  return s;
}

void ares_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) throw error(std::error_code(status, resolver_category()), "initialise c-ares", "");
  });
}

// ---------------------------------------------------------------------------------------
// Sockets.

socket_record::socket_record(ares_request* r, int fd) noexcept : req(r), fd(fd) {
  in.rec = out.rec = this;
  in.fd = out.fd = fd;
  in.events = POLLIN;
  out.events = POLLOUT;
}

void socket_record::sync(bool start) {
  for (wait* w : {&in, &out}) {
    bool wanted = !closed && (w == &in ? want_read : want_write);
    if (wanted && start && !w->pending && !w->fired) {
      w->complete = &socket_record::on_ready;
      w->pending = true;
      w->cancelling = false;
      ++req->pending_waits_;
      req->loop_->start_fd_wait(*w);
    } else if (!wanted && w->pending && !w->cancelling) {
      // Now, while the fd is still open: c-ares closes it right after telling us, and the
      // kernel's interest must go before the number can be reused.
      w->cancelling = true;
      req->loop_->cancel_fd_wait(*w);
    }
  }
}

void socket_record::on_ready(io_op* op, int result) {
  auto* w = static_cast<wait*>(static_cast<fd_wait*>(op));
  socket_record* s = w->rec;
  w->pending = false;
  w->cancelling = false;
  // An error (POLLERR, or a negative result) counts as ready: c-ares's read reports it.
  bool wanted = !s->closed && (w == &s->in ? s->want_read : s->want_write);
  if (wanted && result != -ECANCELED) w->fired = true;
  s->req->wait_completed(w->fired);
}

// ---------------------------------------------------------------------------------------
// The request.

struct ares_request::event_awaiter {
  ares_request* r;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    r->ctx_ = aw::detail::context_of(h);
    if ((r->ctx_ && r->ctx_->cancelled()) || r->has_events()) return false;
    r->waiter_ = h;
    if (r->ctx_) r->ctx_->waiting = r;
    return true;
  }
  void await_resume() const {
    if (r->ctx_ && r->ctx_->cancelled()) throw cancelled{};
  }
};

// Not a cancellation point: it only waits for the completions of waits already cancelled.
struct ares_request::drain_awaiter {
  ares_request* r;
  bool await_ready() const noexcept { return r->pending_waits_ == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { r->waiter_ = h; }
  void await_resume() const noexcept {}
};

ares_request::ares_request(const channel_config& config) : slot_(take_slot(config)), loop_(&loop::current()) {
  slot_->active = this;
  timer_.req = this;
  timer_.fire = [](timer_node* n) {
    ares_request* r = static_cast<ares_timer*>(n)->req;
    r->timed_out_ = true;
    r->wake();
  };
  interrupt = [](cancellable* c) noexcept { static_cast<ares_request*>(c)->wake(); };
}

ares_request::~ares_request() {
  loop_->remove_timer(timer_);
  slot_->active = nullptr;
  bool clean = done_ && pending_waits_ == 0;
  for (const auto& s : sockets_) clean = clean && s->closed;
  // A channel that still has a query or a socket is destroyed with them (ares_destroy runs a
  // live query's callback with ARES_EDESTRUCTION and closes its sockets).
  if (clean)
    give_back(std::move(slot_));
  else
    slot_.reset();  // here, while the members the callback may touch are alive
}

ares_channel ares_request::channel() const noexcept { return slot_->channel; }

void ares_request::on_socket_state(int fd, bool read, bool write) noexcept {
  socket_record* rec = nullptr;
  for (const auto& s : sockets_)
    if (!s->closed && s->fd == fd) {
      rec = s.get();
      break;
    }
  if (!read && !write) {  // c-ares is about to close it
    if (rec) {
      rec->closed = true;
      rec->sync(false);
    }
    return;
  }
  if (!rec) {
    try {
      sockets_.push_back(std::make_unique<socket_record>(this, fd));
    } catch (...) {
      out_of_memory_ = true;  // drive() fails the request: this socket would never be watched
      return;
    }
    rec = sockets_.back().get();
  }
  rec->want_read = read;
  rec->want_write = write;
  rec->sync(false);  // waits start in drive(), the only place that can see them complete
}

bool ares_request::has_events() const noexcept {
  if (timed_out_) return true;
  for (const auto& s : sockets_)
    if (!s->closed && (s->in.fired || s->out.fired)) return true;
  return false;
}

void ares_request::wake() noexcept {
  if (!waiter_) return;
  if (ctx_ && ctx_->waiting == this) ctx_->waiting = nullptr;
  loop_->schedule(std::exchange(waiter_, {}));
}

void ares_request::wait_completed(bool fired) noexcept {
  --pending_waits_;
  if (draining_ ? pending_waits_ == 0 : fired) wake();
}

void ares_request::arm_timer() {
  loop_->remove_timer(timer_);
  timeval buf;
  timeval* tv = ares_timeout(slot_->channel, nullptr, &buf);
  if (!tv) return;  // no query waits for an answer with a deadline
  timer_.deadline = aw::now() + std::chrono::seconds(tv->tv_sec) + std::chrono::microseconds(tv->tv_usec);
  loop_->add_timer(timer_);
}

void ares_request::process() {
  ares_channel ch = slot_->channel;
  if (std::exchange(timed_out_, false)) ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  // By index: c-ares may open sockets (new records) while it processes.
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    socket_record& s = *sockets_[i];
    bool r = std::exchange(s.in.fired, false);
    bool w = std::exchange(s.out.fired, false);
    if (s.closed || (!r && !w)) continue;
    ares_process_fd(ch, r ? s.fd : ARES_SOCKET_BAD, w ? s.fd : ARES_SOCKET_BAD);
  }
}

task<> ares_request::drive() {
  std::exception_ptr failure;
  try {
    while (!done_) {
      if (out_of_memory_) throw std::bad_alloc();
      for (const auto& s : sockets_) s->sync(true);
      arm_timer();
      co_await event_awaiter{this};
      process();
    }
  } catch (...) {
    failure = std::current_exception();
  }
  // The query's callback runs now with ARES_ECANCELLED; c-ares then closes its sockets.
  if (!done_) ares_cancel(slot_->channel);
  loop_->remove_timer(timer_);
  for (const auto& s : sockets_) {
    // A socket c-ares keeps is not watched any more: the destructor sees it is not closed
    // and destroys the channel rather than pool it.
    s->want_read = s->want_write = false;
    s->sync(false);
  }
  draining_ = true;
  co_await drain_awaiter{this};
  draining_ = false;
  if (failure) std::rethrow_exception(failure);
}

}  // namespace aw::net::detail
