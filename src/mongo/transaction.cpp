// aw::mongo::transaction: a transaction in a session, committed when its block ends normally
// and aborted when it raises.
#include "internal.hpp"

#include <mongoc/mongoc.h>

#include <exception>
#include <memory>

namespace aw::mongo {

namespace {

// A reply bson_t that libmongoc initialises (it always does, success or not).
struct reply_holder {
  bson_t b = BSON_INITIALIZER;
  reply_holder() = default;
  reply_holder(const reply_holder&) = delete;
  reply_holder& operator=(const reply_holder&) = delete;
  ~reply_holder() { bson_destroy(&b); }
  bson_t* operator&() noexcept { return &b; }
  document copy() const { return document::copy_of(&b); }
};

task<> abort_transaction(detail::client_state& c, std::shared_ptr<detail::lease> l) {
  return c.run(l, [l](mongoc_client_t*) {
    bson_error_t err;
    if (mongoc_client_session_in_transaction(l->session)) mongoc_client_session_abort_transaction(l->session, &err);
  });
}

}  // namespace

task<transaction&> transaction::aenter() {
  enter_check_.entered();
  auto l = detail::lease_of(s_);
  auto start = [l](mongoc_client_t*) {
    bson_error_t err;
    if (!mongoc_client_session_start_transaction(l->session, nullptr, &err)) throw_error(err, nullptr, "start_transaction");
  };
  std::exception_ptr e;
  try {
    co_await s_->c->run(l, std::move(start));
  } catch (...) {
    e = std::current_exception();
  }
  if (e) {
    // Cancelled: the job may have started the transaction anyway; no exit will run, so
    // abort it here (after the job: both lock the lease).
    co_await shielded([&] { return abort_transaction(*s_->c, l); });
    std::rethrow_exception(e);
  }
  s_->in_transaction = true;
  co_return *this;
}

task<> transaction::aexit(std::exception_ptr e) {
  auto l = detail::lease_of(s_);
  s_->in_transaction = false;
  if (!e) {
    auto commit = [l](mongoc_client_t*) {
      reply_holder reply;
      bson_error_t err;
      if (!mongoc_client_session_commit_transaction(l->session, &reply, &err)) throw_error(err, &reply.b, "commit_transaction");
    };
    co_await s_->c->run(l, std::move(commit));
  } else {
    // The block's exception goes on; an abort that fails (the server dropped the
    // transaction already) adds nothing a caller could act on, as in pymongo.
    co_await abort_transaction(*s_->c, l);
  }
}

}  // namespace aw::mongo
