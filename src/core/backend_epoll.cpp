// epoll backend: the fallback where io_uring is not allowed (containers with seccomp
// filters, io_uring_disabled=2). One registration per fd, level-triggered, whose interest
// is the union of the pending waits on it; a wait completes once and is then forgotten.
#include "backend.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aw::detail {
namespace {

class epoll_backend final : public backend {
 public:
  explicit epoll_backend(loop& l) : loop_(l), epfd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  ~epoll_backend() override { ::close(epfd_); }

  const char* name() const noexcept override { return "epoll"; }

  void start_fd_wait(fd_wait& w) override {
    entry& e = fds_[w.fd];
    fd_wait*& slot = (w.events & POLLOUT) ? e.writer : e.reader;
    if (slot) {
      if (e.reader == nullptr && e.writer == nullptr) fds_.erase(w.fd);
      throw std::logic_error("asyncwith: two tasks wait for the same fd in the same direction (fd " + std::to_string(w.fd) + ")");
    }
    slot = &w;
    int err = update(w.fd, e);
    if (err) {
      // Not pollable (EPERM: a regular file is always ready) or not an fd (EBADF):
      // complete at once, as io_uring's POLL_ADD does.
      slot = nullptr;
      erase_if_idle(w.fd);
      pending_now(w, err == EPERM ? static_cast<int>(w.events) : -err);
    }
  }

  void cancel_fd_wait(fd_wait& w) noexcept override {
    auto it = fds_.find(w.fd);
    if (it == fds_.end()) return;
    entry& e = it->second;
    if (e.reader == &w)
      e.reader = nullptr;
    else if (e.writer == &w)
      e.writer = nullptr;
    else
      return;
    update(w.fd, e);
    erase_if_idle(w.fd);
    pending_now(w, -ECANCELED);
  }

  std::size_t poll(const timespec* timeout) override {
    std::size_t delivered = flush_immediate();
    epoll_event events[64];
    int n = epoll_pwait2(epfd_, events, 64, (delivered && timeout) ? &zero_ : timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) return delivered;
      throw std::system_error(errno, std::generic_category(), "epoll_pwait2");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      auto it = fds_.find(fd);
      if (it == fds_.end()) continue;
      entry& e = it->second;
      std::uint32_t ev = events[i].events;
      fd_wait* r = (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? std::exchange(e.reader, nullptr) : nullptr;
      fd_wait* w = (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? std::exchange(e.writer, nullptr) : nullptr;
      update(fd, e);
      erase_if_idle(fd);
      if (r) completed(loop_, r, static_cast<int>(ev & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)));
      if (w) completed(loop_, w, static_cast<int>(ev & (POLLOUT | POLLERR | POLLHUP)));
      delivered += (r != nullptr) + (w != nullptr);
    }
    return delivered;
  }

 private:
  struct entry {
    fd_wait* reader = nullptr;
    fd_wait* writer = nullptr;
    std::uint32_t registered = 0;
  };

  // Makes the kernel's interest match the pending waits; returns an errno or 0.
  int update(int fd, entry& e) noexcept {
    std::uint32_t want = (e.reader ? EPOLLIN | EPOLLRDHUP : 0u) | (e.writer ? EPOLLOUT : 0u);
    if (want == e.registered) return 0;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    int r;
    if (want == 0) {
      r = epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      if (r < 0 && (errno == ENOENT || errno == EBADF)) r = 0;  // closed since: nothing to remove
    } else if (e.registered == 0) {
      r = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
      if (r < 0 && errno == EEXIST) r = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
    } else {
      r = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
      if (r < 0 && errno == ENOENT) r = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);  // fd was closed and reused
    }
    if (r < 0) return errno;
    e.registered = want;
    return 0;
  }

  void erase_if_idle(int fd) {
    auto it = fds_.find(fd);
    if (it != fds_.end() && !it->second.reader && !it->second.writer && it->second.registered == 0) fds_.erase(it);
  }

  // Completions decided without the kernel are delivered on the next poll, like every other.
  void pending_now(fd_wait& w, int result) { immediate_.push_back({&w, result}); }
  std::size_t flush_immediate() {
    std::size_t n = 0;
    while (!immediate_.empty()) {
      auto batch = std::move(immediate_);
      immediate_.clear();
      for (auto [w, result] : batch) completed(loop_, w, result);
      n += batch.size();
    }
    return n;
  }

  loop& loop_;
  int epfd_;
  std::unordered_map<int, entry> fds_;
  std::vector<std::pair<fd_wait*, int>> immediate_;
  const timespec zero_{};
};

}  // namespace

std::unique_ptr<backend> make_epoll_backend(loop& l) { return std::make_unique<epoll_backend>(l); }

}  // namespace aw::detail
