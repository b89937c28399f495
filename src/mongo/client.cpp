// aw::mongo::client: libmongoc's pool of clients and the client's worker threads, from the
// connection string to the bounded close; and ping.
#include "internal.hpp"

#include <aw/redact.hpp>
#include <aw/to_thread.hpp>

#include <mongoc/mongoc.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace aw::mongo {

namespace detail {

namespace {

void init_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // libmongoc logs to stderr by default (e.g. a warning per failed server check); the
    // errors reach the caller as exceptions instead.
    mongoc_log_set_handler(nullptr, nullptr);
  });
}

}  // namespace

client_state::client_state(std::string_view uri_text, const client_options& opts)
    : redacted(redact_credentials(uri_text)), close_timeout(opts.close_timeout()) {
  init_driver();
  bson_error_t err;
  uri = mongoc_uri_new_with_error(std::string(uri_text).c_str(), &err);
  if (!uri)
    throw configuration_error("aw::mongo: invalid connection string \"" + redacted + "\": " + scrub_credentials(err.message, uri_text),
                              err.domain, err.code);
  n_workers = std::max<std::size_t>(1, opts.max_workers());
  // The pool serves the workers (one client each while a call runs) and the open cursors
  // and sessions (one each while open).
  const auto max_pool = static_cast<std::size_t>(std::max(1, mongoc_uri_get_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, 100)));
  const std::size_t pool_size = std::max(max_pool, n_workers + 1);
  max_leases = pool_size - n_workers;
  pool = mongoc_client_pool_new_with_error(uri, &err);
  if (!pool) {
    mongoc_uri_destroy(uri);
    throw configuration_error("aw::mongo: cannot create a client for \"" + redacted + "\": " + scrub_credentials(err.message, uri_text),
                              err.domain, err.code);
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool, static_cast<std::uint32_t>(pool_size));
  for (std::size_t i = 0; i < max_leases; ++i) lease_slots.release();
}

client_state::~client_state() {
  // An entered client that was never exited (a misuse): its loop may be gone, the jobs the
  // workers still run must not post to it.
  returns->stop();
  home = nullptr;
  w.reset();  // waits for those jobs
  // A cursor or session still open would hold a pooled client: leak the pool rather
  // than free it under them (only a misuse gets here).
  collect_returned();
  returns->detach(returns);
  if (open_leases == 0 && pool) mongoc_client_pool_destroy(pool);
  mongoc_uri_destroy(uri);
}

void lease_returns::deliver(posted_call* c) noexcept {
  auto* self = static_cast<lease_returns*>(c);
  {
    std::lock_guard g(self->m_);
    self->posted_ = false;
  }
  if (self->owner_) self->owner_->collect_returned();
  auto keep = std::move(self->keep_);  // may free the record: the last use of it
}

}  // namespace detail

client::client(std::string_view uri, client_options opts) : s_(std::make_shared<detail::client_state>(uri, opts)) {}
client::~client() = default;

task<client&> client::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a client can be entered once");
  s_->w = std::make_unique<detail::workers>(s_->pool, s_->n_workers);
  s_->home = &loop::current();
  s_->returns->listen(*s_->home, *s_);
  s_->entered = true;
  co_return *this;
}

task<> client::aexit(std::exception_ptr) {
  if (s_->closed) co_return;
  s_->closed = true;
  s_->collect_returned();
  // The close collects what is given back from here (the loop may end before the last of
  // it). A give-back posted before this runs before the wait below returns, which the loop
  // learns of later (posted calls run in order).
  s_->returns->stop();
  // Destroying the workers waits for every job, the calls cancelled tasks abandoned too
  // (they use the pool's clients; only the driver's socket timeout bounds a call to a silent
  // server), and destroying the pool joins its monitor threads and ends the server sessions.
  // Both block: they run on a thread of their own, which the exit waits for close_timeout at
  // most (motor's close() does not wait at all). What is left finishes there, its results
  // dropped: the jobs own what they use, and the pool goes only after the last of them. The
  // leases still open then are orphaned ones, which their jobs give back first.
  mongoc_client_pool_t* pool = s_->open_leases == s_->orphaned_leases ? std::exchange(s_->pool, nullptr) : nullptr;
  struct closing {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  auto state = std::make_shared<closing>();
  std::thread([w = std::move(s_->w), pool, state]() mutable {
    w.reset();
    if (pool) mongoc_client_pool_destroy(pool);  // closes the connections and the monitors
    std::lock_guard g(state->m);
    state->done = true;
    state->cv.notify_all();
  }).detach();
  auto wait = [state, timeout = s_->close_timeout] {
    std::unique_lock g(state->m);
    state->cv.wait_for(g, timeout, [&] { return state->done; });
  };
  // Shielded (an exit is, inside async_with; this holds when called directly too): the
  // wait is bounded by close_timeout itself.
  cancel_scope shield(clock::time_point::max(), true);
  co_await async_with(shield, [&](cancel_scope&) -> task<> { co_await aw::to_thread(std::move(wait)); });
  s_->returns->detach(s_->returns);
  s_->collect_returned();
  // Orphaned leases whose jobs still run after close_timeout: the loop no longer waits for them.
  if (s_->orphaned_leases > 0) s_->home->release_external_ref();
  s_->home = nullptr;
}

const std::string& client::redacted_uri() const noexcept { return s_->redacted; }

task<> client::ping() const {
  return run_call(s_, "admin", "", "ping", document(), nullptr, [](call_context& k) {
    document cmd{{"ping", 1}};
    k.check(mongoc_client_command_simple(k.client, "admin", cmd.native(), nullptr, k.reply(), k.error()));
  });
}

}  // namespace aw::mongo
