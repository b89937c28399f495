// The session: libcurl's multi handle, its sockets and its timer on the loop.
#include "internal.hpp"

#include <aw/http/session.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

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
  if (!share) {  // kept by a session entered again, with its cookies
    share = curl_share_init();
    if (!share) throw error("aw::http: curl_share_init failed", {});
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (opts.cookie_jar) {
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
      jar = curl_easy_init();
      if (!jar) throw std::bad_alloc();
      curl_easy_setopt(jar, CURLOPT_SHARE, share);
      for (const auto& [k, v] : opts.cookies) add_cookie(k, v, {});
    }
  }
  for (const char* var : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(var);
    env_proxies = env_proxies || (v && *v);
  }
  is_open = true;
}

void session_state::add_cookie(const std::string& name, const std::string& value, const std::string& host) {
  if (!valid_cookie(name, value) || host.find_first_of("\t\r\n") != std::string::npos)
    throw std::invalid_argument("aw::http: invalid cookie " + name + " (an empty name, or a ';', '=', blank or line break in it)");
  if (!jar) return;
  if (host.empty()) {
    auto same = std::ranges::find_if(every_host, [&](const auto& kv) { return kv.first == name; });
    if (same != every_host.end())
      same->second = value;
    else
      every_host.emplace_back(name, value);
    return;
  }
  // A Netscape line for one host (not its subdomains, path "/", not secure, no expiry).
  std::string line = host + "\tFALSE\t/\tFALSE\t0\t" + name + "\t" + value;
  if (curl_easy_setopt(jar, CURLOPT_COOKIELIST, line.c_str()) != CURLE_OK) throw std::bad_alloc();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// The cookie jar.

namespace {

detail::session_state* entered(const std::unique_ptr<detail::session_state>& s) {
  if (!s || !s->share) throw std::logic_error("aw::http::session: the cookie jar is there once the session has been entered");
  return s.get();
}

// The jar's cookies as libcurl writes them (Netscape lines).
std::vector<std::string> cookie_lines(detail::session_state* s) {
  std::vector<std::string> out;
  if (!s->jar) return out;
  curl_slist* list = nullptr;
  if (curl_easy_getinfo(s->jar, CURLINFO_COOKIELIST, &list) != CURLE_OK) throw std::bad_alloc();
  try {
    for (curl_slist* l = list; l; l = l->next) out.emplace_back(l->data);
  } catch (...) {
    curl_slist_free_all(list);
    throw;
  }
  curl_slist_free_all(list);
  return out;
}

}  // namespace

std::vector<http::cookie> session::cookies() const {
  std::vector<http::cookie> out;
  for (const std::string& line : cookie_lines(entered(state_))) {
    std::vector<std::string_view> f;
    std::string_view rest = line;
    for (std::size_t tab; f.size() < 6 && (tab = rest.find('\t')) != std::string_view::npos; rest.remove_prefix(tab + 1))
      f.push_back(rest.substr(0, tab));
    f.push_back(rest);
    if (f.size() != 7) continue;
    http::cookie c;
    std::string_view domain = f[0];
    if (domain.starts_with("#HttpOnly_")) {
      c.http_only = true;
      domain.remove_prefix(10);
    }
    if (domain.starts_with('.')) domain.remove_prefix(1);
    if (domain != "unknown") c.domain = domain;  // what libcurl writes for a cookie of every host
    c.include_subdomains = f[1] == "TRUE";
    c.path = f[2];
    c.secure = f[3] == "TRUE";
    std::from_chars(f[4].data(), f[4].data() + f[4].size(), c.expires);
    c.name = f[5];
    c.value = f[6];
    out.push_back(std::move(c));
  }
  for (const auto& [k, v] : state_->every_host) {
    http::cookie c;
    c.path = "/";
    c.name = k;
    c.value = v;
    out.push_back(std::move(c));
  }
  return out;
}

void session::update_cookies(const std::vector<std::pair<std::string, std::string>>& cookies, std::string_view url) {
  detail::session_state* s = entered(state_);
  std::string host;
  if (!url.empty()) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
    char* h = nullptr;
    std::string target(url);
    if (!u || curl_url_set(u.get(), CURLUPART_URL, target.c_str(), 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_HOST, &h, 0) != CURLUE_OK) {
      std::string shown = detail::redact(target);
      throw invalid_url("aw::http: update_cookies: invalid URL " + shown, shown);
    }
    host = h;
    curl_free(h);
  }
  for (const auto& [k, v] : cookies) s->add_cookie(k, v, host);
}

void session::clear_cookies() {
  detail::session_state* s = entered(state_);
  if (s->jar) curl_easy_setopt(s->jar, CURLOPT_COOKIELIST, "ALL");
  s->every_host.clear();
}

void session::save_cookies(const std::string& path) const {
  std::vector<std::string> lines = cookie_lines(entered(state_));
  // The header libcurl writes (curl -c), then its lines.
  std::string text =
      "# Netscape HTTP Cookie File\n"
      "# https://curl.se/docs/http-cookies.html\n"
      "# This file was generated by libcurl! Edit at your own risk.\n\n";
  for (const std::string& l : lines) text += l + "\n";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::system_error(errno, std::generic_category(), "aw::http: save_cookies " + path);
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) throw std::system_error(err, std::generic_category(), "aw::http: save_cookies " + path);
}

void session::load_cookies(const std::string& path) {
  detail::session_state* s = entered(state_);
  std::ifstream in(path);
  if (!in) throw std::system_error(errno, std::generic_category(), "aw::http: load_cookies " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line.front() == '#' && !line.starts_with("#HttpOnly_"))) continue;
    if (s->jar && curl_easy_setopt(s->jar, CURLOPT_COOKIELIST, line.c_str()) != CURLE_OK) throw std::bad_alloc();
  }
  if (in.bad()) throw std::system_error(errno, std::generic_category(), "aw::http: load_cookies " + path);
}

// ---------------------------------------------------------------------------------------
// The session.

session::session() : state_(std::make_unique<detail::session_state>(session_options())) {}
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
  co_await detail::drain_awaiter{s};
}

}  // namespace aw::http
