// A job's place in the count of jobs in flight on a lease's owner: a cursor (cursor_core) or
// a GridFS stream (gridfs_core). An owner whose block is left while a job still runs does not
// wait for it (the job may be stuck on a silent server): it marks itself orphaned, and its
// last job cleans up and gives the lease back, from its worker.
//
// Core has, under its mutex `m`: `int in_flight` and `bool orphaned` (set by the loop when it
// leaves the block with jobs in flight); and `void release_orphaned() noexcept`, which the
// last job of an orphaned core runs on its worker, under the lease's lock, before it gives
// the lease back. With no job in flight (in_flight == 0 under m) no worker touches the core:
// the loop may then read what the jobs write.
#pragma once

#include "workers.hpp"

#include <memory>
#include <mutex>
#include <utility>

namespace aw::mongo::detail {

template <class Core>
class flight {
 public:
  // Takes a place, on the loop when the job is made.
  explicit flight(std::shared_ptr<Core> c) : core_(std::move(c)) {
    std::lock_guard g(core_->m);
    ++core_->in_flight;
  }
  // Adopts the place the caller took under core->m.
  flight(std::shared_ptr<Core> c, std::adopt_lock_t) noexcept : core_(std::move(c)) {}
  flight(flight&&) noexcept = default;
  flight(const flight&) = delete;
  flight& operator=(const flight&) = delete;
  flight& operator=(flight&&) = delete;
  // A job dropped unrun (its closure destroyed) gives its place back here.
  ~flight() {
    if (!core_) return;
    std::lock_guard g(core_->m);
    --core_->in_flight;
  }

  // On the worker, under the lease's lock, at the end of the job: gives the place back; the
  // last job of an orphaned core releases it and gives the lease back.
  void end(lease& l) noexcept {
    auto c = std::move(core_);
    bool last;
    {
      std::lock_guard g(c->m);
      last = --c->in_flight == 0 && c->orphaned;
    }
    if (!last) return;
    c->release_orphaned();
    l.give_back_from_worker();
  }

  // Calls end(l) when it goes: made first in the job, it ends the flight on every path out
  // of the job, an error's included.
  class ending {
   public:
    ending(flight& f, lease& l) noexcept : f_(f), l_(l) {}
    ~ending() { f_.end(l_); }
    ending(const ending&) = delete;
    ending& operator=(const ending&) = delete;

   private:
    flight& f_;
    lease& l_;
  };
  [[nodiscard]] ending end_on_exit(lease& l) noexcept { return ending(*this, l); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace aw::mongo::detail
