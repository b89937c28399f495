// The session: libcurl's multi handle, its sockets and its timer on the loop.
#include "internal.hpp"

#include <aw/http/session.hpp>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace aw::http {
namespace detail {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw error("aw::http: curl_global_init failed", {});
  });
}

// Waits for the session's closed sockets to see their last completion.
struct drain_awaiter {
  session_state* s;
  bool await_ready() const noexcept { return s->draining == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { s->drain_waiter = h; }
  void await_resume() const noexcept {}
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Sockets.

void socket_record::sync() {
  for (wait* w : {&in, &out}) {
    bool wanted = !closed && (want & (w == &in ? CURL_POLL_IN : CURL_POLL_OUT));
    if (wanted && !w->pending) {
      w->complete = &socket_record::on_ready;
      w->pending = true;
      w->cancelling = false;
      s->lp->start_fd_wait(*w);
    } else if (!wanted && w->pending && !w->cancelling) {
      // Not wanted any more (or the socket is closing): cancel now, while the fd is still
      // open, so the kernel's interest goes before the number can be reused.
      w->cancelling = true;
      s->lp->cancel_fd_wait(*w);
    }
  }
}

void socket_record::close() {
  closed = true;
  want = 0;
  sync();
  s->forget(this);
  ++s->draining;
  free_if_idle();
}

void socket_record::free_if_idle() noexcept {
  if (!closed || busy || in.pending || out.pending) return;
  session_state* st = s;
  delete this;
  if (--st->draining == 0 && st->drain_waiter) st->lp->schedule(std::exchange(st->drain_waiter, {}));
}

void socket_record::on_ready(io_op* op, int result) {
  auto* w = static_cast<wait*>(static_cast<fd_wait*>(op));
  socket_record* r = w->rec;
  w->pending = false;
  w->cancelling = false;
  if (r->closed) {
    r->free_if_idle();
    return;
  }
  bool wanted = r->want & (w == &r->in ? CURL_POLL_IN : CURL_POLL_OUT);
  if (result != -ECANCELED && wanted) {
    int mask = w == &r->in ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    if (result < 0 || (result & POLLERR)) mask |= CURL_CSELECT_ERR;
    r->busy = true;
    r->s->action(r->fd, mask);
    r->busy = false;
    if (r->closed) {
      r->free_if_idle();
      return;
    }
  }
  r->sync();  // one-shot: re-arm what libcurl still wants
}

int session_state::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* s = static_cast<session_state*>(userp);
  auto* r = static_cast<socket_record*>(socketp);
  try {
    if (what == CURL_POLL_REMOVE) {
      if (r) {
        curl_multi_assign(s->multi, fd, nullptr);
        r->close();
      }
      return 0;
    }
    if (!r) {
      if (!s->is_open) return 0;  // closing: no new sockets
      r = new socket_record(s, fd);
      r->index = s->sockets.size();
      s->sockets.push_back(r);
      curl_multi_assign(s->multi, fd, r);
    }
    r->want = what;
    r->sync();
    return 0;
  } catch (...) {
    return -1;  // out of memory: libcurl fails the transfers on this socket
  }
}

void session_state::forget(socket_record* r) noexcept {
  socket_record* last = sockets.back();
  sockets[r->index] = last;
  last->index = r->index;
  sockets.pop_back();
}

int session_state::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* s = static_cast<session_state*>(userp);
  s->lp->remove_timer(s->timer);
  if (timeout_ms >= 0) {
    s->timer.deadline = aw::now() + std::chrono::milliseconds(timeout_ms);
    s->lp->add_timer(s->timer);
  }
  return 0;
}

void session_state::action(curl_socket_t fd, int mask) noexcept {
  int running = 0;
  curl_multi_socket_action(multi, fd, mask, &running);
  check_messages();
}

void session_state::check_messages() noexcept {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    void* p = nullptr;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
    CURLcode rc = m->data.result;  // `m` is invalid once the handle is removed
    static_cast<transfer*>(p)->finish(rc);
  }
}

void session_state::link(transfer* t) noexcept { live.push_front(*t); }

void session_state::unlink(transfer* t) noexcept { live.erase(*t); }

void session_state::open() {
  global_init();
  lp = &loop::current();
  timer.fire = [](timer_node* n) {
    session_state* s = static_cast<curl_timer*>(n)->s;
    s->action(CURL_SOCKET_TIMEOUT, 0);
  };
  multi = curl_multi_init();
  if (!multi) throw error("aw::http: curl_multi_init failed", {});
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &session_state::on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &session_state::on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts.limit));
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(opts.limit_per_host));
  // Idle connections kept for reuse: at least as many as may be open at once.
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(opts.limit ? opts.limit : 1000));
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  share = curl_share_init();
  if (!share) throw error("aw::http: curl_share_init failed", {});
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (opts.cookies) curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  for (const char* var : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(var);
    env_proxies = env_proxies || (v && *v);
  }
  is_open = true;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// The session.

session::session() : session(session_options{}) {}
session::session(session_options options) : state_(std::make_unique<detail::session_state>(std::move(options))) {}
session::session(session&&) noexcept = default;

session::~session() {
  // Entered sessions are closed by aexit; one that never was holds nothing but spares.
}

aw::task<session&> session::aenter() {
  enter_check_.entered();
  if (!state_) throw std::logic_error("aw::http::session: moved from");
  if (state_->is_open || state_->multi) throw std::logic_error("aw::http::session: entered twice");
  state_->open();
  co_return *this;
}

aw::task<> session::aexit(std::exception_ptr) {
  detail::session_state* s = state_.get();
  if (!s || !s->multi) co_return;
  s->is_open = false;
  // Responses that outlive the block become unusable; their handles leave the multi now.
  while (detail::transfer* t = s->live.front()) {
    t->abort(std::make_exception_ptr(error("aw::http: the session was closed", detail::redact(t->request_url))));
    s->unlink(t);
    curl_easy_setopt(t->easy, CURLOPT_SHARE, nullptr);  // else the share cannot be freed
    t->s = nullptr;
  }
  for (detail::transfer* t : s->spare) delete t;
  s->spare.clear();
  // Cancel the waits while libcurl's sockets are still open, and detach the records so that
  // the cleanup's own CURL_POLL_REMOVE calls find nothing.
  while (!s->sockets.empty()) {
    detail::socket_record* r = s->sockets.back();
    curl_multi_assign(s->multi, r->fd, nullptr);
    r->close();
  }
  curl_multi_cleanup(s->multi);  // closes the pooled connections
  s->multi = nullptr;
  s->lp->remove_timer(s->timer);
  if (s->share) curl_share_cleanup(s->share);
  s->share = nullptr;
  co_await detail::drain_awaiter{s};
}

}  // namespace aw::http
