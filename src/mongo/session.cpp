// aw::mongo::session: a server session on a lease of its own, started on entry and ended on
// exit.
#include "internal.hpp"

#include <mongoc/mongoc.h>

#include <exception>
#include <memory>
#include <mutex>
#include <utility>

namespace aw::mongo {

session::session(std::shared_ptr<detail::client_state> c, session_options opts) : s_(std::make_shared<detail::session_state>()) {
  s_->c = std::move(c);
  s_->opts = std::move(opts);
}
session::~session() = default;

namespace {

task<> end_session(detail::client_state& c, std::shared_ptr<detail::lease> l) {
  return c.run(l, [l](mongoc_client_t*) {
    // Aborts a transaction still in progress and gives the server session back.
    if (l->session) mongoc_client_session_destroy(l->session);
    l->session = nullptr;
  });
}

}  // namespace

task<session&> session::aenter() {
  enter_check_.entered();
  if (s_->l) throw closed_error("aw::mongo: a session can be entered once");
  auto l = co_await s_->c->acquire_lease();
  std::exception_ptr e;
  try {
    auto cc = s_->opts.causal_consistency();
    auto start = [cc, raw = l.get()](mongoc_client_t* c) {
      // Under the lease's lock (the job runs on the lease): the session is bound to its client.
      mongoc_session_opt_t* o = mongoc_session_opts_new();
      if (cc) mongoc_session_opts_set_causal_consistency(o, *cc);
      bson_error_t err;
      mongoc_client_session_t* cs = mongoc_client_start_session(c, o, &err);
      mongoc_session_opts_destroy(o);
      if (!cs) throw_error(err, nullptr, "start_session");
      raw->session = cs;
    };
    co_await s_->c->run(l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled while the job may still run: end what it started before the lease returns.
    co_await shielded([&] { return end_session(*s_->c, l); });
    s_->c->release_lease(*l);
    std::rethrow_exception(e);
  }
  s_->l = std::move(l);
  co_return *this;
}

task<> session::aexit(std::exception_ptr) {
  if (!s_->l) co_return;
  auto l = std::move(s_->l);
  s_->in_transaction = false;
  co_await end_session(*s_->c, l);
  s_->c->release_lease(*l);
}

bool session::in_transaction() const noexcept { return s_->in_transaction; }

document session::id() const {
  if (!s_->l || !s_->l->session) throw closed_error("aw::mongo: the session is not open");
  std::lock_guard g(s_->l->m);
  return document::copy_of(mongoc_client_session_get_lsid(s_->l->session));
}

}  // namespace aw::mongo
