// Exit records: the type-erased list of pending exits behind aw::enter and aw::exit_stack,
// and the unwinding algorithm they share (Python's AsyncExitStack.__aexit__).
//
// A record is allocated from the frame allocator and owns what its exit needs: a manager
// moved into it (or a pointer to one that outlives it), the resource aenter gave when
// that is a value, or a callback and its arguments. Records form a singly linked list,
// most recent first, so walking it is exiting in reverse order of entering.
#pragma once

#include <aw/context.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <memory>
#include <optional>
#include <tuple>
#include <typeinfo>

namespace aw::detail {

struct exit_record {
  exit_record* next = nullptr;
  task<bool> (*run)(exit_record* self, std::exception_ptr e) = nullptr;  // true: suppress
  void (*destroy)(exit_record* self) noexcept = nullptr;
  debug_entry* debug = nullptr;
};

inline void destroy_exit_records(exit_record* head) noexcept {
  while (head) {
    exit_record* next = head->next;
    // head->debug stays in the debug mode's list: the shutdown report names it as never exited.
    head->destroy(head);
    head = next;
  }
}

// Awaits an exit awaitable and says whether it suppressed. The common exit type,
// aw::task<bool>, is handed through as is: no extra frame.
template <class A>
task<bool> exit_as_bool_task(A a) {
  if constexpr (std::is_void_v<await_result_t<A>>) {
    co_await std::move(a);
    co_return false;
  } else {
    co_return static_cast<bool>(co_await std::move(a));
  }
}

template <class M>
task<bool> call_aexit(M& m, std::exception_ptr e) {
  if constexpr (std::is_same_v<aexit_awaitable_t<M>, task<bool>>)
    return m.aexit(std::move(e));
  else
    return exit_as_bool_task(m.aexit(std::move(e)));
}

template <class Self>
Self* allocate_record() {
  return static_cast<Self*>(frame_allocate(sizeof(Self)));
}

template <class Self>
void destroy_record(exit_record* r) noexcept {
  auto* self = static_cast<Self*>(r);
  self->~Self();
  frame_deallocate(self, sizeof(Self));
}

// A manager entered through aw::enter or exit_stack::enter_context. M is the manager's
// type when the record owns it (it was passed as an rvalue), or M& when it only refers to it.
template <class M>
struct manager_record final : exit_record {
  using manager_type = std::remove_reference_t<M>;
  using resource = resource_t<manager_type>;
  // A resource given by value lives in the record; a reference is handed through.
  using stored_resource = std::conditional_t<std::is_reference_v<resource> || std::is_void_v<resource>, char, std::optional<resource>>;

  explicit manager_record(M&& m) : manager(hold(std::forward<M>(m))) {
    run = &run_exit;
    destroy = &destroy_record<manager_record>;
  }

  static task<bool> run_exit(exit_record* self, std::exception_ptr e) {
    return call_aexit(static_cast<manager_record*>(self)->get(), std::move(e));
  }
  manager_type& get() noexcept {
    if constexpr (std::is_reference_v<M>)
      return *manager;
    else
      return manager;
  }

  std::conditional_t<std::is_reference_v<M>, manager_type*, manager_type> manager;
  stored_resource value{};

 private:
  static decltype(auto) hold(M&& m) {
    if constexpr (std::is_reference_v<M>)
      return std::addressof(m);
    else
      return std::move(m);
  }
};

template <class M>
manager_record<M>* new_manager_record(M&& m) {
  using record = manager_record<M>;
  void* p = frame_allocate(sizeof(record));
  try {
    return ::new (p) record(std::forward<M>(m));
  } catch (...) {
    frame_deallocate(p, sizeof(record));
    throw;
  }
}

template <class R>
struct entered {
  using type = std::remove_reference_t<R>&;
};
template <>
struct entered<void> {
  using type = void;
};
// What entering M through an exit record gives: a reference to the resource, or void.
template <class M>
using entered_t = typename entered<resource_t<std::remove_reference_t<M>>>::type;

// Enters a manager into a list of records: awaits aenter on the manager as stored in the
// record, then links the record. When aenter throws, nothing is linked and the manager
// is never exited (Python: a failed __aenter__ has no __aexit__).
// M is M& for an lvalue (referenced) and the manager's type for an rvalue, which is then
// moved into this frame when enter_into is called, not when it is first resumed: the task
// is lazy, and `auto t = stack.enter_context(make_manager()); co_await std::move(t);` must
// not refer to a temporary that died with the first statement.
template <class M>
task<entered_t<M>> enter_into(exit_record*& head, M m) {
  using record = manager_record<M>;
  using resource = typename record::resource;
  std::unique_ptr<record, void (*)(record*)> r(new_manager_record<M>(std::forward<M>(m)), [](record* x) { destroy_record<record>(x); });
  auto& manager = r->get();
  debug_entry* entry = debug_on ? debug_enter_manager(manager, "enter") : nullptr;
  std::conditional_t<std::is_void_v<resource>, char, std::remove_reference_t<resource>*> res{};
  try {
    if constexpr (std::is_void_v<resource>)
      co_await manager.aenter();
    else if constexpr (std::is_reference_v<resource>)
      res = std::addressof(co_await manager.aenter());
    else
      res = std::addressof(r->value.emplace(co_await manager.aenter()));
  } catch (...) {
    if (entry) debug_exit(entry, std::current_exception(), false, std::current_exception());
    throw;
  }
  record* raw = r.release();
  raw->debug = entry;
  raw->next = head;
  head = raw;
  if constexpr (!std::is_void_v<resource>) co_return *res;
}

struct unwind_result {
  std::exception_ptr raised;  // to propagate (the original or a replacement); null if none
  bool suppressed = false;    // the exception passed in was suppressed
};

// Exits every record, most recent first. Each exit sees the exception current at that
// point; an exit that suppresses clears it, one that throws replaces it (and the old one
// becomes the new one's aw::exception_context). This is AsyncExitStack.__aexit__.
inline task<unwind_result> unwind(exit_record*& head, std::exception_ptr e) {
  const bool received = static_cast<bool>(e);
  bool suppressed = false;
  while (exit_record* r = head) {
    head = r->next;
    std::exception_ptr in_flight = e;
    bool suppress = false;
    std::exception_ptr thrown;
    try {
      suppress = co_await r->run(r, e);
    } catch (...) {
      thrown = std::current_exception();
    }
    if (debug_on && r->debug) [[unlikely]]
      debug_exit(r->debug, in_flight, suppress && !thrown, thrown);
    r->destroy(r);
    if (thrown) {
      set_exception_context(thrown, e);
      e = thrown;
      suppressed = false;
    } else if (suppress && e) {
      e = nullptr;
      suppressed = true;
    }
  }
  co_return unwind_result{e, received && suppressed && !e};
}

// Runs the exits aw::enter registered on a finished task, then resumes its awaiter.
template <class P>
task<void> deferred_exits(P& p) {
  try {
    std::exception_ptr body = p.exception_;
    unwind_result r = co_await unwind(p.exits_, body);
    if (r.raised) {
      if (r.raised != body) {  // an exit raised: its exception replaces the task's value or exception
        p.reset_value();
        p.exception_ = r.raised;
      }
    } else if (body) {
      // An exit suppressed the task's exception (or one that replaced it). A task with a
      // value to give has none: that is aw::no_result_error, never an empty value.
      p.exception_ = nullptr;
      if (!p.has_value()) {
        p.exception_ = std::make_exception_ptr(no_result_error{});
        set_exception_context(p.exception_, body);
      }
    }
  } catch (...) {
    p.reset_value();
    p.exception_ = std::current_exception();
  }
}

template <class P>
std::coroutine_handle<> start_deferred_exits(std::coroutine_handle<P> h) noexcept {
  P& p = h.promise();
  auto driver = deferred_exits(p).release();  // a failed allocation here terminates
  driver.promise().continuation_ = p.continuation_;
  p.exit_driver_ = driver;
  return driver;
}

}  // namespace aw::detail
