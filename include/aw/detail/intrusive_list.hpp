// The doubly linked list behind every queue and registry of the library whose elements
// live elsewhere: waiters in a primitive's queue, scopes under their parent, a task
// group's children, a thread pool's queued jobs, a session's live transfers, the debug
// mode's open managers. Internal.
//
// An element derives from intrusive_list_item<T> (its two links) and is linked into one
// intrusive_list<T> at a time, so linking allocates nothing and unlinking is O(1) from the
// element alone: whoever holds the element can take it out without knowing the list.
//
// The list is circular around a sentinel inside the list object: an empty list points at
// itself, and an element is linked exactly when its links are set, which is what
// linked() reports. Neither end is special-cased, and erasing an element that is not
// linked does nothing (a waiter woken and then abandoned, a scope that was a root).
//
// Neither destructor touches other elements: an element must be unlinked before it dies,
// and a list destroyed while elements are linked leaves them pointing at it. That is the
// contract of the hand-written lists this replaces; a coroutine frame torn down at the end
// of a loop may free the elements before the list, so walking them then would read freed
// memory.
//
// Nothing is synchronised: a list shared with other threads is guarded by its owner's mutex.
#pragma once

#include <aw/detail/assert.hpp>

#include <cstddef>
#include <iterator>
#include <type_traits>

namespace aw::detail {

template <class T>
class intrusive_list;

template <class T>
class intrusive_list_item {
 public:
  intrusive_list_item() noexcept = default;
  // Links are identity: a copy would point into its original's list.
  intrusive_list_item(const intrusive_list_item&) = delete;
  intrusive_list_item& operator=(const intrusive_list_item&) = delete;

  // In a list now.
  bool linked() const noexcept { return next_ != nullptr; }

 private:
  friend class intrusive_list<T>;

  void unlink() noexcept {
    if (!next_) return;
    next_->prev_ = prev_;
    prev_->next_ = next_;
    next_ = prev_ = nullptr;
  }
  void link_before(intrusive_list_item* at) noexcept {
    next_ = at;
    prev_ = at->prev_;
    prev_->next_ = this;
    at->prev_ = this;
  }

  intrusive_list_item* next_ = nullptr;
  intrusive_list_item* prev_ = nullptr;
};

template <class T>
class intrusive_list {
  using item = intrusive_list_item<T>;

  template <class V, class I>
  class basic_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::remove_const_t<V>;
    using difference_type = std::ptrdiff_t;
    using pointer = V*;
    using reference = V&;

    basic_iterator() noexcept = default;
    explicit basic_iterator(I* at) noexcept : at_(at) {}

    V& operator*() const noexcept { return *static_cast<V*>(at_); }
    V* operator->() const noexcept { return static_cast<V*>(at_); }
    // Reads the next link now: `T& x = *it++;` leaves `it` valid when `x` is erased.
    basic_iterator& operator++() noexcept {
      at_ = at_->next_;
      return *this;
    }
    basic_iterator operator++(int) noexcept {
      basic_iterator before = *this;
      at_ = at_->next_;
      return before;
    }
    friend bool operator==(basic_iterator a, basic_iterator b) noexcept { return a.at_ == b.at_; }

   private:
    I* at_ = nullptr;
  };

 public:
  using iterator = basic_iterator<T, item>;
  using const_iterator = basic_iterator<const T, const item>;

  intrusive_list() noexcept { head_.next_ = head_.prev_ = &head_; }
  // The elements point at the sentinel inside this object: it stays where it is.
  intrusive_list(const intrusive_list&) = delete;
  intrusive_list& operator=(const intrusive_list&) = delete;

  bool empty() const noexcept { return head_.next_ == &head_; }
  // The first (last) element, or nullptr when the list is empty.
  T* front() const noexcept { return empty() ? nullptr : static_cast<T*>(head_.next_); }
  T* back() const noexcept { return empty() ? nullptr : static_cast<T*>(head_.prev_); }

  // `x` must not be linked (in this list or another).
  void push_back(T& x) noexcept {
    AW_ASSERT(!x.linked(), "an element is in one intrusive list at a time");
    static_cast<item&>(x).link_before(&head_);
  }
  void push_front(T& x) noexcept {
    AW_ASSERT(!x.linked(), "an element is in one intrusive list at a time");
    static_cast<item&>(x).link_before(head_.next_);
  }

  // Takes `x` out of the list it is in; nothing when it is in none.
  static void erase(T& x) noexcept { static_cast<item&>(x).unlink(); }

  // Unlinks and returns the first element, or nullptr when the list is empty.
  T* pop_front() noexcept {
    T* x = front();
    if (x) erase(*x);
    return x;
  }

  iterator begin() noexcept { return iterator(head_.next_); }
  iterator end() noexcept { return iterator(&head_); }
  const_iterator begin() const noexcept { return const_iterator(head_.next_); }
  const_iterator end() const noexcept { return const_iterator(&head_); }

 private:
  item head_;  // the sentinel
};

}  // namespace aw::detail
