// epoll backend: the fallback where io_uring is not allowed (containers with seccomp
// filters, io_uring_disabled=2). One registration per fd, level-triggered and
// EPOLLONESHOT, armed with the union of the pending waits on it; a wait completes once and
// is then forgotten. Several waits may share an fd and a direction: readiness completes
// every one of them. The registration stays when the waits end (the event disarmed it), so
// the next wait on the fd costs one EPOLL_CTL_MOD instead of an ADD and a DEL: a socket
// read in a loop makes one epoll_ctl per wait, not two.
//
// An fd closed while registered leaves the epoll set by itself (the kernel drops it with
// the last reference to the file) or, when another descriptor still refers to the file,
// stays there disarmed. The next file to get the number is re-added: MOD answers ENOENT,
// which starts a new generation of the number's entry, and every registration carries its
// generation, so an event queued for the old file is never delivered to the new one's waits.
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

  void watch_wakeup(int fd) override {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wakeup_key;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) throw std::system_error(errno, std::generic_category(), "epoll_ctl(wake-up eventfd)");
    wake_fd_ = fd;
  }

  void start_fd_wait(fd_wait& w) override {
    entry& e = fds_[w.fd];
    fd_wait*& list = (w.events & POLLOUT) ? ((w.events & POLLIN) ? e.either : e.writers) : e.readers;
    w.next_waiter = list;
    list = &w;
    int err = update(w.fd, e);
    if (err) {
      // Not pollable (EPERM: a regular file is always ready) or not an fd (EBADF):
      // complete at once, as io_uring's POLL_ADD does.
      list = w.next_waiter;
      erase_if_idle(w.fd);
      pending_now(w, err == EPERM ? static_cast<int>(w.events) : -err);
    }
  }

  void cancel_fd_wait(fd_wait& w) noexcept override {
    auto it = fds_.find(w.fd);
    if (it == fds_.end()) return;
    entry& e = it->second;
    if (!unlink(e.readers, w) && !unlink(e.writers, w) && !unlink(e.either, w)) return;
    if (e.readers || e.writers || e.either) {
      update(w.fd, e);
    } else {
      // The last wait: left armed in the kernel, cheaper than a MOD now (the one event it
      // may bring finds no waiter, and disarms it). Counted as disarmed, so the next wait
      // re-arms with a MOD, which also finds out whether the number has a new file.
      e.armed = 0;
    }
    pending_now(w, -ECANCELED);
  }

  std::size_t poll(const timespec* timeout) override {
    std::size_t delivered = flush_immediate();
    epoll_event events[64];
    // Completions delivered already (EBADF, regular files) must not wait: a null timeout
    // would block until some other fd became ready, possibly forever.
    int n = epoll_pwait2(epfd_, events, 64, delivered ? &zero_ : timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) return delivered;
      throw std::system_error(errno, std::generic_category(), "epoll_pwait2");
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t key = events[i].data.u64;
      if (key == wakeup_key) {
        woken(loop_);
        continue;
      }
      const int fd = static_cast<int>(key & 0xffffffffu);
      auto it = fds_.find(fd);
      if (it == fds_.end() || it->second.generation != key >> 32) continue;  // for a file closed since
      entry& e = it->second;
      e.armed = 0;  // EPOLLONESHOT disarmed it
      std::uint32_t ev = events[i].events;
      fd_wait* r = (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? std::exchange(e.readers, nullptr) : nullptr;
      fd_wait* w = (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? std::exchange(e.writers, nullptr) : nullptr;
      fd_wait* rw = std::exchange(e.either, nullptr);         // any of the events wakes these
      if (e.readers || e.writers || e.either) update(fd, e);  // re-arm for the waits left
      delivered += complete_all(r, static_cast<int>(ev & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)));
      delivered += complete_all(w, static_cast<int>(ev & (POLLOUT | POLLERR | POLLHUP)));
      delivered += complete_all(rw, static_cast<int>(ev & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP)));
    }
    return delivered;
  }

 private:
  struct entry {
    fd_wait* readers = nullptr;  // linked through fd_wait::next_waiter
    fd_wait* writers = nullptr;
    fd_wait* either = nullptr;  // waits for POLLIN | POLLOUT: whichever comes first
    std::uint32_t armed = 0;    // the interest armed in the kernel; 0 once an event disarmed it
    std::uint32_t generation = 0;
    bool in_set = false;  // added to the epoll set (perhaps dropped since, with its file)
  };
  static constexpr std::uint64_t wakeup_key = ~std::uint64_t{0};

  static bool unlink(fd_wait*& list, fd_wait& w) noexcept {
    for (fd_wait** p = &list; *p; p = &(*p)->next_waiter)
      if (*p == &w) {
        *p = w.next_waiter;
        return true;
      }
    return false;
  }

  std::size_t complete_all(fd_wait* list, int result) {
    std::size_t n = 0;
    while (list) {
      fd_wait* next = list->next_waiter;  // completing may reuse the record for a new wait
      completed(loop_, list, result);
      list = next;
      ++n;
    }
    return n;
  }

  // Arms the registration with the pending waits' interest; returns an errno or 0. With no
  // wait pending it leaves the registration as it is (see cancel_fd_wait).
  int update(int fd, entry& e) noexcept {
    std::uint32_t want = (e.readers || e.either ? EPOLLIN | EPOLLRDHUP : 0u) | (e.writers || e.either ? EPOLLOUT : 0u);
    if (want == 0 || want == e.armed) return 0;
    epoll_event ev{};
    ev.events = want | EPOLLONESHOT;
    int r = -1;
    if (e.in_set) {
      ev.data.u64 = key(fd, e.generation);
      r = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
      if (r < 0 && errno != ENOENT) return errno;
    }
    if (r < 0) {  // not in the set yet, or its file was closed and the number reused
      ++e.generation;
      ev.data.u64 = key(fd, e.generation);
      r = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
      if (r < 0 && errno == EEXIST) r = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
      if (r < 0) return errno;
      e.in_set = true;
    }
    e.armed = want;
    return 0;
  }
  static std::uint64_t key(int fd, std::uint32_t generation) noexcept {
    return std::uint64_t{generation} << 32 | static_cast<std::uint32_t>(fd);
  }

  void erase_if_idle(int fd) {
    auto it = fds_.find(fd);
    if (it != fds_.end() && !it->second.readers && !it->second.writers && !it->second.either && !it->second.in_set) fds_.erase(it);
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
  int wake_fd_ = -1;
  std::unordered_map<int, entry> fds_;
  std::vector<std::pair<fd_wait*, int>> immediate_;
  const timespec zero_{};
};

}  // namespace

std::unique_ptr<backend> make_epoll_backend(loop& l) { return std::make_unique<epoll_backend>(l); }

}  // namespace aw::detail
