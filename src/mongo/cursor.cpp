// aw::mongo::cursor: a lease held while the cursor is open, documents fetched on a worker a
// trip at a time as raw BSON, and handed out on the loop.
#include "internal.hpp"

#include <mongoc/mongoc.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <utility>
#include <vector>

namespace aw::mongo {

cursor::cursor(std::shared_ptr<detail::cursor_state> s) noexcept : s_(std::move(s)) {}
cursor::cursor(cursor&& o) noexcept = default;
cursor::~cursor() = default;

std::int64_t cursor::id() const noexcept {
  std::lock_guard g(s_->core->m);
  return s_->core->id;
}

task<cursor&> cursor::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a cursor can be entered once");
  s_->c->check_open();
  if (s_->sess) {
    s_->l = detail::lease_of(s_->sess);
  } else {
    s_->l = co_await s_->c->acquire_lease();
    s_->own_lease = true;
  }
  s_->entered = true;
  co_return *this;
}

task<> cursor::aexit(std::exception_ptr) {
  if (!s_->entered || !s_->l) co_return;
  auto l = s_->l;
  // Destroying the cursor sends killCursors when the server still holds it open.
  auto core = s_->core;
  bool closed, orphaned = false;
  {
    std::lock_guard g(core->m);
    closed = core->in_flight == 0 && !core->cur;
    if (core->in_flight > 0 && s_->own_lease) {
      // A fetch the body abandoned still runs (on a silent server, until the socket times
      // out): the exit does not queue behind it. That job closes the cursor and gives the
      // lease back when it ends.
      core->orphaned = orphaned = true;
    }
  }
  if (orphaned) {
    s_->c->orphan_lease(*l);
    s_->l.reset();
    co_return;
  }
  if (!closed) {
    auto close = [core](mongoc_client_t*) {
      if (core->cur) mongoc_cursor_destroy(core->cur);
      if (core->coll) mongoc_collection_destroy(core->coll);
      core->cur = nullptr;
      core->coll = nullptr;
      // A fetch job abandoned earlier that gets the lease after this one finds nothing to do
      // (without this it would open the query again).
      std::lock_guard g(core->m);
      core->more = false;
    };
    co_await s_->c->run(l, std::move(close));
  }
  {
    // The buffers go back to the client for the next cursor, unless a job abandoned earlier
    // may still fill one.
    std::lock_guard g(core->m);
    if (core->in_flight == 0) {
      s_->c->give_buffer(core->pending);
      s_->c->give_buffer(core->spare);
      s_->c->give_buffer(batch_);
    }
  }
  if (s_->own_lease) s_->c->release_lease(*l);
  s_->l.reset();
}

namespace {
// The loop's side of a fetch, under core.m: the fetched bytes become the batch, the used-up
// batch becomes the spare buffer (its capacity serves the next trip).
void take_pending(detail::cursor_core& core, std::vector<std::uint8_t>& batch, std::size_t& at) {
  batch.clear();
  core.spare.swap(batch);
  batch.swap(core.pending);
  at = 0;
}

// The document at `at` in a batch of raw BSON, allocated here (on the loop's thread).
document take_document(const std::vector<std::uint8_t>& batch, std::size_t& at) {
  std::uint32_t len;
  std::memcpy(&len, batch.data() + at, sizeof len);
  len = BSON_UINT32_FROM_LE(len);
  bson_t* b = bson_new_from_data(batch.data() + at, len);
  if (!b) throw std::bad_alloc();
  at += len;
  return document::adopt(b);
}
}  // namespace

task<bool> cursor::fetch() {
  if (!s_->l) throw closed_error("aw::mongo: the cursor is not open (use it inside `async with cursor`)");
  auto core = s_->core;
  {
    std::lock_guard g(core->m);
    if (!core->pending.empty() || !core->more) {
      take_pending(*core, batch_, at_);
      co_return !batch_.empty();
    }
    ++core->in_flight;
    if (core->spare.capacity() == 0) core->spare = s_->c->take_buffer();
  }
  // The job's place in in_flight was taken above, with the checks.
  auto fetch_batch = [core, l = s_->l, flight = detail::flight<detail::cursor_core>(core, std::adopt_lock)](mongoc_client_t* c) mutable {
    auto end = flight.end_on_exit(*l);
    std::vector<std::uint8_t> got;
    {
      std::lock_guard g(core->m);
      if (!core->more) {
        // Only a job the caller abandoned gets here: the one before it (also abandoned)
        // exhausted the cursor, or the cursor's exit closed it meanwhile.
        return;
      }
      got.swap(core->spare);
    }
    if (!core->cur) core->cur = core->open(c, &core->coll);
    got.clear();
    std::size_t n = 0;
    const bson_t* d;
    while (n < core->trip_docs && got.size() < detail::cursor_core::trip_bytes && mongoc_cursor_next(core->cur, &d)) {
      const std::uint8_t* p = bson_get_data(d);
      got.insert(got.end(), p, p + d->len);
      ++n;
    }
    bson_error_t err;
    const bson_t* reply = nullptr;
    const bool failed = mongoc_cursor_error_document(core->cur, &err, &reply);
    std::optional<document> r;
    if (failed && reply) r = document::copy_of(reply);
    {
      std::lock_guard g(core->m);
      if (core->pending.empty())
        core->pending.swap(got);
      else
        core->pending.insert(core->pending.end(), got.begin(), got.end());
      core->more = !failed && mongoc_cursor_more(core->cur);
      core->id = mongoc_cursor_get_id(core->cur);
      if (!core->more) {
        // Nothing left on the server (or the cursor failed): close it now, which sends
        // nothing, so that leaving the block needs no trip of its own.
        mongoc_cursor_destroy(core->cur);
        mongoc_collection_destroy(core->coll);
        core->cur = nullptr;
        core->coll = nullptr;
      }
    }
    if (failed) throw_error(err, r ? r->native() : nullptr, core->what);
  };
  co_await s_->c->run(s_->l, std::move(fetch_batch));
  std::lock_guard g(core->m);
  take_pending(*core, batch_, at_);
  co_return !batch_.empty();
}

task<std::optional<document>> cursor::next() {
  while (at_ >= batch_.size()) {
    if (!co_await fetch()) co_return std::nullopt;
  }
  // Named first: g++ 12 miscompiles `co_return take_document(...)` here (the coroutine's
  // body never runs; the caller waits forever).
  std::optional<document> d(take_document(batch_, at_));
  co_return d;
}

task<std::vector<document>> cursor::to_vector() {
  std::vector<document> out;
  do {
    while (at_ < batch_.size()) out.push_back(take_document(batch_, at_));
  } while (co_await fetch());
  co_return out;
}

}  // namespace aw::mongo
