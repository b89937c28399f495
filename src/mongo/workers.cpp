#include "workers.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace aw::mongo::detail {

namespace {
int make_eventfd() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "aw::mongo: eventfd");
  return fd;
}
void signal(int fd) noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);  // cannot fail short of overflow
}
}  // namespace

job::job() : fd_(make_eventfd()) {}
job::~job() { ::close(fd_); }

void job::execute(mongoc_client_t* worker_client) noexcept {
  int expected = queued;
  if (!state_.compare_exchange_strong(expected, running, std::memory_order_acq_rel)) return;  // abandoned
  try {
    if (on_lease) {
      std::lock_guard g(on_lease->m);
      run(on_lease->client);
    } else {
      run(worker_client);
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  expected = running;
  state_.compare_exchange_strong(expected, done, std::memory_order_acq_rel);
  // The eventfd write publishes the result: the loop reads it after the wait completes.
  signal(fd_);
}

workers::workers(mongoc_client_pool_t* pool, std::size_t n) : exited_fd_(make_eventfd()) {
  threads_.reserve(n);
  alive_.store(n);
  try {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, pool] { main(pool); });
  } catch (...) {
    alive_.fetch_sub(n - threads_.size());
    shutdown();
    for (auto& t : threads_) t.join();
    ::close(exited_fd_);
    throw;
  }
}

workers::~workers() {
  shutdown();
  for (auto& t : threads_) t.join();
  ::close(exited_fd_);
}

void workers::submit(std::shared_ptr<job> j) {
  {
    std::lock_guard g(m_);
    if (stop_) throw closed_error("aw::mongo: the client is closed (use it inside its async with block)");
    queue_.push_back(std::move(j));
  }
  cv_.notify_one();
}

void workers::shutdown() noexcept {
  {
    std::lock_guard g(m_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool workers::stopping() const noexcept {
  std::lock_guard g(m_);
  return stop_;
}

void workers::main(mongoc_client_pool_t* pool) {
  mongoc_client_t* c = mongoc_client_pool_pop(pool);
  for (;;) {
    std::shared_ptr<job> j;
    {
      std::unique_lock g(m_);
      cv_.wait(g, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and nothing left
      j = std::move(queue_.front());
      queue_.pop_front();
    }
    j->execute(c);
  }
  mongoc_client_pool_push(pool, c);
  if (alive_.fetch_sub(1) == 1) signal(exited_fd_);
}

}  // namespace aw::mongo::detail
