// aw::memory_channel<T>: a FIFO channel between tasks with a send half and a receive half
// (anyio's create_memory_object_stream, trio's open_memory_channel).
//
//   auto [tx, rx] = aw::memory_channel<std::string>(64);   // buffer of 64 items
//   co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
//     tg.start_soon([&]() -> aw::task<> {
//       co_await aw::async_with(tx, [&](aw::send_channel<std::string>& out) -> aw::task<> {
//         for (auto& line : lines) co_await out.send(line);
//       });                                                // closing: end of stream
//     });
//     // async for item in rx: ...
//     while (auto item = co_await rx.next()) consume(*item);
//   });
//
// Semantics (anyio's memory object streams):
// - capacity is the number of items the channel buffers. send() waits while the buffer is
//   full; 0 (the default, as in anyio) makes every send wait for a receiver (a rendezvous);
//   aw::unbounded_capacity never waits. receive() waits while the buffer is empty.
// - FIFO everywhere: items arrive in the order they were sent, waiting senders and waiting
//   receivers are served in the order they started waiting.
// - Each half is closed by close(), by leaving `async with half`, or by its destructor.
//   clone() gives another reference to the same end; the end is closed when every one of
//   its references is. Every send half closed: receivers drain the buffer, then get
//   aw::end_of_stream (next() gives an empty optional). Every receive half closed: the
//   buffer is dropped and send() raises aw::broken_resource_error. Using a half that is
//   itself closed raises aw::closed_resource_error; so does a wait on a half that another
//   task closes meanwhile.
// - send_nowait/receive_nowait never wait: aw::would_block when they would have to.
// - send() and receive() are cancellation points. A cancelled send never delivers its item
//   (and leaves no trace in the channel). A cancelled receive never loses one: an item
//   handed to a receiver that is cancelled before it resumes goes to the next waiting
//   receiver, or back to the front of the buffer. A send whose item was taken before the
//   cancellation arrived completes normally: the item is delivered, which cannot be undone;
//   the next wait raises.
// - An operation that can complete at once does so without yielding to the loop (anyio
//   yields once per call). A producer on an unbounded channel therefore never yields by
//   itself: add aw::yield() where other tasks must get turns. For the same reason a channel
//   used as a lock (send to acquire, receive to release) is not fair to a task that takes it
//   in a loop, as trio's and anyio's are: use aw::lock or aw::semaphore, which are.
// - Do not move a half while a task waits on it (AW_ASSERT aborts in Debug builds).
//
// The buffer is a ring that grows by doubling; waiting allocates nothing (each waiter is
// a record in the waiting frame).
#pragma once

#include <aw/detail/assert.hpp>
#include <aw/detail/wait_queue.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <coroutine>
#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace aw {

// Every send half is closed and the buffer is empty (anyio.EndOfStream).
class end_of_stream : public std::runtime_error {
 public:
  end_of_stream() : std::runtime_error("aw::end_of_stream: every send half is closed and nothing is left") {}
  // The same errors for other streams (aw::net's sockets): `what` names the stream and the cause.
  explicit end_of_stream(const std::string& what) : std::runtime_error(what) {}
};
// The other end is gone: every receive half is closed (anyio.BrokenResourceError).
class broken_resource_error : public std::runtime_error {
 public:
  broken_resource_error() : std::runtime_error("aw::broken_resource_error: every receive half is closed") {}
  explicit broken_resource_error(const std::string& what) : std::runtime_error(what) {}
};
// This half was closed (anyio.ClosedResourceError).
class closed_resource_error : public std::runtime_error {
 public:
  closed_resource_error() : std::runtime_error("aw::closed_resource_error: the channel half is closed") {}
  explicit closed_resource_error(const std::string& what) : std::runtime_error(what) {}
};
// send_nowait/receive_nowait would have had to wait (anyio.WouldBlock).
class would_block : public std::runtime_error {
 public:
  would_block() : std::runtime_error("aw::would_block: the operation would have to wait") {}
};

// A capacity for a channel whose send() never waits (anyio: max_buffer_size=math.inf).
inline constexpr std::size_t unbounded_capacity = std::numeric_limits<std::size_t>::max();

// anyio's MemoryObjectStreamStatistics.
struct memory_channel_statistics {
  std::size_t current_buffer_used = 0;
  std::size_t max_buffer_size = 0;
  std::size_t open_send_streams = 0;
  std::size_t open_receive_streams = 0;
  std::size_t tasks_waiting_send = 0;
  std::size_t tasks_waiting_receive = 0;
};

template <class T>
class send_channel;
template <class T>
class receive_channel;

namespace detail {

// A FIFO of T in a power-of-two ring that grows by doubling; push_front is for an item a
// cancelled receiver gives back.
template <class T>
class ring {
 public:
  ring() noexcept = default;
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;
  ~ring() {
    clear();
    if (data_) std::allocator<T>{}.deallocate(data_, cap_);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& front() noexcept { return data_[head_]; }

  template <class U>
  void push_back(U&& v) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(data_ + ((head_ + size_) & (cap_ - 1)))) T(std::forward<U>(v));
    ++size_;
  }
  template <class U>
  void push_front(U&& v) {
    if (size_ == cap_) grow();
    const std::size_t at = (head_ + cap_ - 1) & (cap_ - 1);
    ::new (static_cast<void*>(data_ + at)) T(std::forward<U>(v));
    head_ = at;
    ++size_;
  }
  void drop_front() noexcept {
    data_[head_].~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }
  void clear() noexcept {
    while (size_) drop_front();
  }

 private:
  void grow() {
    const std::size_t cap = cap_ ? cap_ * 2 : 16;
    T* data = std::allocator<T>{}.allocate(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      T& from = data_[(head_ + i) & (cap_ - 1)];
      ::new (static_cast<void*>(data + i)) T(std::move(from));
      from.~T();
    }
    if (data_) std::allocator<T>{}.deallocate(data_, cap_);
    data_ = data;
    cap_ = cap;
    head_ = 0;
  }

  T* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

enum class channel_outcome : unsigned char { pending, done, end_of_stream, broken, closed };

// The waiter records of the two queues.
template <class T>
struct send_waiter : waiter {
  T* item = nullptr;  // taken by a receiver (moved from) when the send completes
  const void* half = nullptr;
  channel_outcome outcome = channel_outcome::pending;
};
template <class T>
struct receive_waiter : waiter {
  std::optional<T>* slot = nullptr;  // where a sender puts the item
  const void* half = nullptr;
  channel_outcome outcome = channel_outcome::pending;
};

template <class T>
class channel_state {
 public:
  explicit channel_state(std::size_t capacity) noexcept : capacity_(capacity) {}

  enum class send_result { sent, full, broken };
  enum class receive_result { received, empty, end };

  // Sends `v` if that needs no waiting; `v` is moved from only when sent.
  template <class U>
  send_result try_send(U&& v) {
    if (open_receivers_ == 0) return send_result::broken;
    if (!receivers_.empty()) {
      deliver(static_cast<receive_waiter<T>*>(receivers_.front()), std::forward<U>(v));
      return send_result::sent;
    }
    if (buffer_.size() < capacity_) {
      buffer_.push_back(std::forward<U>(v));
      return send_result::sent;
    }
    return send_result::full;
  }

  receive_result try_receive(std::optional<T>& out) {
    if (!buffer_.empty()) {
      out.emplace(std::move(buffer_.front()));
      buffer_.drop_front();
      // Room in the buffer: the longest-waiting senders' items move in, in order.
      while (buffer_.size() < capacity_ && !senders_.empty()) {
        auto* s = static_cast<send_waiter<T>*>(senders_.pop_front());
        buffer_.push_back(std::move(*s->item));
        complete(s, channel_outcome::done);
      }
      return receive_result::received;
    }
    if (!senders_.empty()) {  // capacity 0, or a buffer drained below a waiting sender
      auto* s = static_cast<send_waiter<T>*>(senders_.pop_front());
      out.emplace(std::move(*s->item));
      complete(s, channel_outcome::done);
      return receive_result::received;
    }
    return open_senders_ == 0 ? receive_result::end : receive_result::empty;
  }

  // An item a receiver got and could not keep (it was cancelled before resuming): the next
  // waiting receiver gets it, else it goes back to the front of the buffer. The buffer may
  // then hold one item more than its capacity, until a receive takes it: the sender of that
  // item completed already and cannot be made to wait again.
  void give_back(T&& v) {
    if (open_receivers_ == 0) return;  // nobody can ever receive it
    if (!receivers_.empty())
      deliver(static_cast<receive_waiter<T>*>(receivers_.front()), std::move(v));
    else
      buffer_.push_front(std::move(v));
  }

  void close_sender(const void* half) {
    wake_half<send_waiter<T>>(senders_, half);
    if (--open_senders_ == 0)
      while (waiter* r = receivers_.front()) complete(static_cast<receive_waiter<T>*>(r), channel_outcome::end_of_stream, &receivers_);
  }
  void close_receiver(const void* half) {
    wake_half<receive_waiter<T>>(receivers_, half);
    if (--open_receivers_ == 0) {
      buffer_.clear();
      while (waiter* s = senders_.front()) complete(static_cast<send_waiter<T>*>(s), channel_outcome::broken, &senders_);
    }
  }

  memory_channel_statistics statistics() const noexcept {
    return {buffer_.size(), capacity_, open_senders_, open_receivers_, senders_.size(), receivers_.size()};
  }

  // Whether a task waits on `half` (for the rule: do not move a half while a task waits on it).
  bool waited_on(const void* half) noexcept {
    for (waiter& w : senders_)
      if (static_cast<send_waiter<T>&>(w).half == half) return true;
    for (waiter& w : receivers_)
      if (static_cast<receive_waiter<T>&>(w).half == half) return true;
    return false;
  }

  void add_ref() noexcept { ++refs_; }
  static void release_ref(channel_state* s) noexcept {
    if (s && --s->refs_ == 0) delete s;
  }

  wait_queue& senders() noexcept { return senders_; }
  wait_queue& receivers() noexcept { return receivers_; }
  std::size_t& open_senders() noexcept { return open_senders_; }
  std::size_t& open_receivers() noexcept { return open_receivers_; }

 private:
  template <class U>
  void deliver(receive_waiter<T>* r, U&& v) {
    r->slot->emplace(std::forward<U>(v));
    receivers_.remove(*r);
    r->granted = true;
    r->outcome = channel_outcome::done;
    r->wake();
  }
  template <class W>
  static void complete(W* w, channel_outcome o, wait_queue* q = nullptr) {
    if (q) q->remove(*w);
    w->outcome = o;
    if (o == channel_outcome::done) w->granted = true;
    w->wake();
  }
  // Waits on a half that is being closed end with aw::closed_resource_error.
  template <class W>
  static void wake_half(wait_queue& q, const void* half) {
    for (auto it = q.begin(); it != q.end();) {
      waiter& w = *it++;  // complete() unlinks it
      if (static_cast<W&>(w).half == half) complete(static_cast<W*>(&w), channel_outcome::closed, &q);
    }
  }

  ring<T> buffer_;
  std::size_t capacity_;
  wait_queue senders_;
  wait_queue receivers_;
  std::size_t open_senders_ = 1;
  std::size_t open_receivers_ = 1;
  std::size_t refs_ = 2;
};

}  // namespace detail

template <class T>
class send_channel {
 public:
  send_channel() noexcept = default;  // refers to no channel: every operation raises closed_resource_error
  send_channel(send_channel&& o) noexcept : st_(std::exchange(o.st_, nullptr)), closed_(o.closed_) {
    AW_ASSERT(!st_ || !st_->waited_on(&o), "do not move a send_channel while a task waits on it");
  }
  send_channel& operator=(send_channel&& o) noexcept {
    if (this != &o) {
      AW_ASSERT(!o.st_ || !o.st_->waited_on(&o), "do not move a send_channel while a task waits on it");
      reset();
      st_ = std::exchange(o.st_, nullptr);
      closed_ = o.closed_;
    }
    return *this;
  }
  send_channel(const send_channel&) = delete;  // clone() says what a copy would hide
  send_channel& operator=(const send_channel&) = delete;
  ~send_channel() { reset(); }

  // Another reference to the send end; the end closes when every reference is closed.
  send_channel clone() const {
    if (!st_ || closed_) throw closed_resource_error{};
    ++st_->open_senders();
    st_->add_ref();
    return send_channel(st_);
  }
  // Closes this reference (idempotent). Waits on it raise aw::closed_resource_error; when it
  // was the last open send reference, receivers get end of stream once the buffer is empty.
  void close() {
    if (!st_ || closed_) return;
    closed_ = true;
    st_->close_sender(this);
  }
  bool closed() const noexcept { return !st_ || closed_; }

  // Sends without waiting: aw::would_block when the buffer is full and no receiver waits
  // (the item is then left untouched), aw::broken_resource_error when every receive half is
  // closed, aw::closed_resource_error when this half is.
  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  void send_nowait(U&& item) {
    if (closed()) throw closed_resource_error{};
    switch (st_->try_send(std::forward<U>(item))) {
      case detail::channel_state<T>::send_result::sent:
        return;
      case detail::channel_state<T>::send_result::broken:
        throw broken_resource_error{};
      case detail::channel_state<T>::send_result::full:
        break;
    }
    throw would_block{};
  }

  class [[nodiscard("co_await it: without co_await nothing is sent")]] send_awaiter : detail::send_waiter<T> {
    using base = detail::send_waiter<T>;

   public:
    send_awaiter(send_channel& half, T&& item) noexcept(std::is_nothrow_move_constructible_v<T>) : half_(&half), item_(std::move(item)) {}
    send_awaiter(const send_awaiter&) = delete;
    send_awaiter& operator=(const send_awaiter&) = delete;
    ~send_awaiter() { detail::abandon(st_ ? &st_->senders() : nullptr, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      this->ctx = detail::context_of(h);
      if (this->ctx && this->ctx->cancelled()) return false;
      if (half_->closed()) {
        this->outcome = detail::channel_outcome::closed;
        return false;
      }
      st_ = half_->st_;
      switch (st_->try_send(std::move(item_))) {
        case detail::channel_state<T>::send_result::sent:
          this->outcome = detail::channel_outcome::done;
          return false;
        case detail::channel_state<T>::send_result::broken:
          this->outcome = detail::channel_outcome::broken;
          return false;
        case detail::channel_state<T>::send_result::full:
          break;
      }
      this->item = &item_;
      this->half = half_;
      detail::suspend_in(
          st_->senders(), *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<send_awaiter*>(c);
            detail::abort_wait(self->st_->senders(), *self);
          },
          "channel send");
      return true;
    }
    void await_resume() const {
      using detail::channel_outcome;
      // Delivered is delivered, cancelled or not: the item cannot be taken back.
      if (this->outcome == channel_outcome::done) return;
      if (this->aborted || (this->ctx && this->ctx->cancelled())) throw cancelled{};
      if (this->outcome == channel_outcome::broken) throw broken_resource_error{};
      throw closed_resource_error{};
    }

   private:
    send_channel* half_;
    detail::channel_state<T>* st_ = nullptr;
    T item_;
  };

  // co_await tx.send(item): waits while the buffer is full. aw::broken_resource_error when
  // every receive half is closed, aw::closed_resource_error when this half is.
  send_awaiter send(T item) { return send_awaiter(*this, std::move(item)); }

  memory_channel_statistics statistics() const {
    if (!st_) throw closed_resource_error{};
    return st_->statistics();
  }

  // The async context manager: async with send_stream (leaving closes it).
  detail::ready<send_channel&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) {
    close();
    return {};
  }

 private:
  template <class>
  friend struct memory_channel;
  explicit send_channel(detail::channel_state<T>* st) noexcept : st_(st) {}
  void reset() noexcept {
    if (!st_) return;
    if (!closed_) {
      closed_ = true;
      st_->close_sender(this);
    }
    detail::channel_state<T>::release_ref(std::exchange(st_, nullptr));
  }

  detail::channel_state<T>* st_ = nullptr;
  bool closed_ = false;
};

template <class T>
class receive_channel {
 public:
  receive_channel() noexcept = default;  // refers to no channel: every operation raises closed_resource_error
  receive_channel(receive_channel&& o) noexcept : st_(std::exchange(o.st_, nullptr)), closed_(o.closed_) {
    AW_ASSERT(!st_ || !st_->waited_on(&o), "do not move a receive_channel while a task waits on it");
  }
  receive_channel& operator=(receive_channel&& o) noexcept {
    if (this != &o) {
      AW_ASSERT(!o.st_ || !o.st_->waited_on(&o), "do not move a receive_channel while a task waits on it");
      reset();
      st_ = std::exchange(o.st_, nullptr);
      closed_ = o.closed_;
    }
    return *this;
  }
  receive_channel(const receive_channel&) = delete;  // clone() says what a copy would hide
  receive_channel& operator=(const receive_channel&) = delete;
  ~receive_channel() { reset(); }

  // Another reference to the receive end; the end closes when every reference is closed.
  receive_channel clone() const {
    if (!st_ || closed_) throw closed_resource_error{};
    ++st_->open_receivers();
    st_->add_ref();
    return receive_channel(st_);
  }
  // Closes this reference (idempotent). Waits on it raise aw::closed_resource_error; when it
  // was the last open receive reference, the buffer is dropped and senders get
  // aw::broken_resource_error.
  void close() {
    if (!st_ || closed_) return;
    closed_ = true;
    st_->close_receiver(this);
  }
  bool closed() const noexcept { return !st_ || closed_; }

  // Receives without waiting: aw::would_block when nothing is there, aw::end_of_stream when
  // nothing ever will be, aw::closed_resource_error when this half is closed.
  T receive_nowait() {
    if (closed()) throw closed_resource_error{};
    std::optional<T> out;
    switch (st_->try_receive(out)) {
      case detail::channel_state<T>::receive_result::received:
        return std::move(*out);
      case detail::channel_state<T>::receive_result::end:
        throw end_of_stream{};
      case detail::channel_state<T>::receive_result::empty:
        break;
    }
    throw would_block{};
  }

  // receive() and next() share this awaiter: `Optional` turns end of stream into nullopt.
  template <bool Optional>
  class [[nodiscard("co_await it: without co_await nothing is received")]] receive_awaiter : detail::receive_waiter<T> {
   public:
    explicit receive_awaiter(receive_channel& half) noexcept : half_(&half) {}
    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() { detail::abandon(st_ ? &st_->receivers() : nullptr, *this); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      this->ctx = detail::context_of(h);
      if (this->ctx && this->ctx->cancelled()) return false;
      if (half_->closed()) {
        this->outcome = detail::channel_outcome::closed;
        return false;
      }
      st_ = half_->st_;
      switch (st_->try_receive(slot_)) {
        case detail::channel_state<T>::receive_result::received:
          this->outcome = detail::channel_outcome::done;
          return false;
        case detail::channel_state<T>::receive_result::end:
          this->outcome = detail::channel_outcome::end_of_stream;
          return false;
        case detail::channel_state<T>::receive_result::empty:
          break;
      }
      this->slot = &slot_;
      this->half = half_;
      detail::suspend_in(
          st_->receivers(), *this, h,
          [](detail::cancellable* c) noexcept {
            auto* self = static_cast<receive_awaiter*>(c);
            detail::abort_wait(self->st_->receivers(), *self);
          },
          "channel receive");
      return true;
    }
    std::conditional_t<Optional, std::optional<T>, T> await_resume() {
      using detail::channel_outcome;
      if (this->aborted || (this->ctx && this->ctx->cancelled())) [[unlikely]] {
        // Handed an item, then cancelled before resuming: the item is not lost.
        if (this->granted) st_->give_back(std::move(*slot_));
        throw cancelled{};
      }
      switch (this->outcome) {
        case channel_outcome::done:
          return std::move(*slot_);
        case channel_outcome::end_of_stream:
          if constexpr (Optional)
            return std::nullopt;
          else
            throw end_of_stream{};
        default:
          throw closed_resource_error{};
      }
    }

   private:
    receive_channel* half_;
    detail::channel_state<T>* st_ = nullptr;
    std::optional<T> slot_;
  };

  // co_await rx.receive(): the next item, waiting while there is none. aw::end_of_stream
  // when every send half is closed and the buffer is empty.
  receive_awaiter<false> receive() noexcept { return receive_awaiter<false>(*this); }

  // co_await rx.next(): like receive(), but end of stream gives an empty optional. It is
  // `async for item in receive_stream` spelled in C++:
  //   while (auto item = co_await rx.next()) use(*item);
  receive_awaiter<true> next() noexcept { return receive_awaiter<true>(*this); }

  memory_channel_statistics statistics() const {
    if (!st_) throw closed_resource_error{};
    return st_->statistics();
  }

  // The async context manager: async with receive_stream (leaving closes it).
  detail::ready<receive_channel&> aenter() noexcept { return {*this}; }
  std::suspend_never aexit(std::exception_ptr) {
    close();
    return {};
  }

 private:
  template <class>
  friend struct memory_channel;
  explicit receive_channel(detail::channel_state<T>* st) noexcept : st_(st) {}
  void reset() noexcept {
    if (!st_) return;
    if (!closed_) {
      closed_ = true;
      st_->close_receiver(this);
    }
    detail::channel_state<T>::release_ref(std::exchange(st_, nullptr));
  }

  detail::channel_state<T>* st_ = nullptr;
  bool closed_ = false;
};

// A new channel buffering up to `capacity` items (0: rendezvous; aw::unbounded_capacity).
// Take it apart with a structured binding: auto [tx, rx] = aw::memory_channel<T>(n);
template <class T>
struct memory_channel {
  static_assert(std::is_move_constructible_v<T>, "aw::memory_channel<T>: T must be move-constructible");
  explicit memory_channel(std::size_t capacity = 0) : memory_channel(adopt{}, new detail::channel_state<T>(capacity)) {}

  send_channel<T> send;
  receive_channel<T> receive;

 private:
  struct adopt {};  // (a literal 0 capacity must not read as a null state pointer)
  memory_channel(adopt, detail::channel_state<T>* st) noexcept : send(st), receive(st) {}
};

}  // namespace aw
