// Exit records: the type-erased list of pending exits behind aw::enter and aw::exit_stack,
// and the unwinding algorithm they share (Python's AsyncExitStack.__aexit__).
//
// A record is allocated from the frame allocator and owns what its exit needs: a manager
// moved into it (or a pointer to one that outlives it), the resource aenter gave when
// that is a value, or a callback and its arguments. Records form a singly linked list,
// most recent first, so walking it is exiting in reverse order of entering.
#pragma once

#include <aw/context.hpp>
#include <aw/detail/assert.hpp>
#include <aw/detail/cancellation.hpp>
#include <aw/exceptions.hpp>
#include <aw/task.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <typeinfo>

namespace aw::detail {

inline std::coroutine_handle<>* run_in_place(std::coroutine_handle<> h, promise_base& p, task_context* ctx) noexcept;
template <class Record, class P>
std::coroutine_handle<> run_lone_exit(exit_record* r, void* task_frame) noexcept;

// Awaited after run_in_place gave a slot: suspends, to be resumed when the child has finished.
struct await_child {
  std::coroutine_handle<>* slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept { *slot = h; }
  void await_resume() const noexcept {}
};

// An exit's frame as an exit record's `run` hands it over, unowned until an exit_call takes
// it: trivially copyable, so that it comes back in two registers rather than through memory.
struct exit_frame {
  void* address;
  bool gives_bool;
};

// What running an exit gives: the frame of an aw::task<bool> or aw::task<void>, awaited
// as a bool (a void exit never suppresses). Erasing the two task types here, instead of
// wrapping a void exit in a coroutine that returns false, saves a frame per exit.
class [[nodiscard]] exit_call {
 public:
  exit_call(task<bool>&& t) noexcept : h_(t.release()), gives_bool_(true) {}
  exit_call(task<void>&& t) noexcept : h_(t.release()), gives_bool_(false) {}
  explicit exit_call(exit_frame f) noexcept : h_(std::coroutine_handle<>::from_address(f.address)), gives_bool_(f.gives_bool) {}
  exit_call(exit_call&& o) noexcept : h_(std::exchange(o.h_, nullptr)), gives_bool_(o.gives_bool_) {}
  exit_call& operator=(exit_call&&) = delete;
  ~exit_call() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
    promise_base* p = &exit_promise();
    inherit_context(*p, awaiting);
    p->continuation_ = awaiting;
    return h_;
  }
  [[gnu::always_inline]] bool await_resume() {
    if (gives_bool_) return bool_handle().promise().take();
    void_handle().promise().take();
    return false;
  }
  // The outcome of an exit that has finished, for a driver that collects it without
  // rethrowing: what the exit raised is moved to `raised` (then false), else whether it
  // suppressed. Rethrowing only to catch it again costs microseconds per raising exit.
  [[gnu::always_inline]] bool settle(std::exception_ptr& raised) noexcept {
    promise_base& p = exit_promise();
    if (!p.exception_) [[likely]]
      return gives_bool_ && bool_handle().promise().value();
    raised = std::move(p.exception_);
    return false;
  }

  // For a driver that resumes the exit's frame itself (start_deferred_exits).
  promise_base& exit_promise() const noexcept {
    return gives_bool_ ? static_cast<promise_base&>(bool_handle().promise()) : void_handle().promise();
  }
  std::coroutine_handle<> release() noexcept { return std::exchange(h_, nullptr); }
  exit_frame release_frame() noexcept { return {std::exchange(h_, nullptr).address(), gives_bool_}; }
  // run_in_place for the erased frame (a driver that runs the exit in place: unwind).
  std::coroutine_handle<>* run_in(task_context* ctx) const noexcept { return run_in_place(h_, exit_promise(), ctx); }

 private:
  std::coroutine_handle<promise<bool>> bool_handle() const noexcept {
    return std::coroutine_handle<promise<bool>>::from_address(h_.address());
  }
  std::coroutine_handle<promise<void>> void_handle() const noexcept {
    return std::coroutine_handle<promise<void>>::from_address(h_.address());
  }

  std::coroutine_handle<> h_;
  bool gives_bool_;
};

struct exit_record {
  exit_record* next = nullptr;
  exit_frame (*run)(exit_record* self, const std::exception_ptr& e) = nullptr;  // awaits to true: suppress
  void (*destroy)(exit_record* self) noexcept = nullptr;
  // Runs the exit as the lone exit of the task whose frame is `task_frame`, with no exception
  // to hand it (start_deferred_exits), then gives the coroutine to resume. Typed for the
  // manager and the task's promise, so that the common case makes no other indirect call;
  // set by aw::enter when it links the record to a task, null for an exit stack's records.
  std::coroutine_handle<> (*run_lone)(exit_record* self, void* task_frame) noexcept = nullptr;
  debug_entry* debug = nullptr;
  std::uint32_t trace = 0;  // the manager's span in the trace (aw/trace.hpp)
};

// A task's lone exit, run in place when the task finishes (run_lone_exit): what the exit
// needs until it has finished, the shield it runs under, its record and, once it has
// suspended, its frame. It is built in the room its record keeps for it, so running the
// exit allocates nothing but the exit's own frame. Everything but the shield is trivially
// destructible, so that the path where the exit finishes at once tests nothing more.
struct direct_exit {
  direct_exit(task_context* ctx, exit_record* r) noexcept : shielded(ctx), record(r) {}
  // Frees the exit's frame, leaves the shield, then frees the record, and this with it.
  void end() noexcept {
    if (frame.address) std::coroutine_handle<>::from_address(frame.address).destroy();
    exit_record* r = record;
    this->~direct_exit();
    r->destroy(r);
  }

  shield_guard shielded;
  exit_record* record;
  exit_frame frame{};  // the exit's frame, owned here while it runs suspended
};

inline void destroy_exit_records(exit_record* head) noexcept {
  while (head) {
    exit_record* next = head->next;
    if (head->debug) [[unlikely]]
      debug_drop(head->debug);  // never exited: the shutdown report names it (or did)
    head->destroy(head);
    head = next;
  }
}

// Awaits any other exit awaitable and says whether it suppressed.
template <class A>
task<bool> exit_as_bool_task(A a) {
  if constexpr (std::is_void_v<await_result_t<A>>) {
    co_await std::move(a);
    co_return false;
  } else {
    co_return static_cast<bool>(co_await std::move(a));
  }
}

// An exit's awaitable as an exit_call: aw::task<bool> and aw::task<> as they are, anything
// else through a coroutine.
template <class A>
exit_call as_exit_call(A&& a) {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, task<bool>> || std::is_same_v<std::remove_cvref_t<A>, task<void>>)
    return exit_call(std::move(a));
  else
    return exit_call(exit_as_bool_task(std::forward<A>(a)));
}

template <class M>
exit_call call_aexit(M& m, const std::exception_ptr& e) {
  return as_exit_call(m.aexit(e));
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

// The room a record of aw::enter keeps for running its exit as a task's lone exit.
struct lone_exit_room {
  alignas(direct_exit) unsigned char bytes[sizeof(direct_exit)];
};
struct no_room {};

// A manager entered through aw::enter (Lone) or exit_stack::enter_context. M is the manager's
// type when the record owns it (it was passed as an rvalue), or M& when it only refers to it.
template <class M, bool Lone = false>
struct manager_record final : exit_record {
  using manager_type = std::remove_reference_t<M>;
  using resource = resource_t<manager_type>;
  // A resource given by value lives in the record; a reference is handed through.
  using stored_resource = std::conditional_t<std::is_reference_v<resource> || std::is_void_v<resource>, char, std::optional<resource>>;

  explicit manager_record(M&& m) : manager(hold(std::forward<M>(m))) {
    run = &run_exit;
    destroy = &destroy_record<manager_record>;
  }

  static exit_frame run_exit(exit_record* self, const std::exception_ptr& e) {
    return call_aexit(static_cast<manager_record*>(self)->get(), e).release_frame();
  }
  manager_type& get() noexcept {
    if constexpr (std::is_reference_v<M>)
      return *manager;
    else
      return manager;
  }

  std::conditional_t<std::is_reference_v<M>, manager_type*, manager_type> manager;
  stored_resource value{};
  [[no_unique_address]] std::conditional_t<Lone, lone_exit_room, no_room> room;

 private:
  static decltype(auto) hold(M&& m) {
    if constexpr (std::is_reference_v<M>)
      return std::addressof(m);
    else
      return std::move(m);
  }
};

template <class M, bool Lone = false>
manager_record<M, Lone>* new_manager_record(M&& m) {
  using record = manager_record<M, Lone>;
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

// The frame of an aenter that is an aw::task, owned by the entering that runs it in place:
// the handle alone, without the task object's bookkeeping or an awaiter.
template <class A>
struct aenter_frame {};
template <class T>
struct aenter_frame<task<T>> {
  std::coroutine_handle<promise<T>> h = nullptr;
  aenter_frame() noexcept = default;
  aenter_frame(const aenter_frame&) = delete;
  aenter_frame& operator=(const aenter_frame&) = delete;
  ~aenter_frame() {
    if (h) h.destroy();
  }
};

// Enters a manager into a list of records without a coroutine of its own. Constructing it
// allocates the record (an rvalue manager moves in at once: it may be a temporary of the
// caller's statement, and the awaiter may be awaited later); awaiting it calls aenter on
// the manager as stored in the record and awaits aenter's awaiter in place. On success
// the record is linked at `head` and the resource given (by reference: a value resource
// lives in the record). When aenter throws, the record is destroyed unlinked: a failed
// __aenter__ has no __aexit__. It can be moved until it is awaited, not after.
// `head` is given at construction (exit_stack) or by bind() before suspending (aw::enter,
// which learns it from the awaiting task's promise).
template <class M, bool Lone = false>
class entering {
  using record = manager_record<M, Lone>;
  using resource = typename record::resource;
  using aenter_type = aenter_awaitable_t<typename record::manager_type>;
  using raw_awaiter = decltype(get_awaiter(std::declval<aenter_type>()));
  static constexpr bool self_awaiter = std::is_reference_v<raw_awaiter>;  // aenter's result is its own awaiter
  using inner_type = std::remove_reference_t<raw_awaiter>;

  struct owner {
    record* r;
    ~owner() {
      if (r) destroy_record<record>(r);
    }
  };
  // Lets optional::emplace construct aenter's result in place, even when it cannot move.
  struct call_aenter {
    record* r;
    operator aenter_type() const { return r->get().aenter(); }
  };

 public:
  entering(exit_record** head, M&& m) : head_(head), owner_{new_manager_record<M, Lone>(std::forward<M>(m))} {}
  entering(entering&& o) noexcept : head_(o.head_), owner_{std::exchange(o.owner_.r, nullptr)} {
    AW_ASSERT(!o.started(), "an entering record can be moved until it is awaited, not after");
  }
  entering& operator=(entering&&) = delete;
  [[gnu::always_inline]] ~entering() {
    if (debug_ && owner_.r) [[unlikely]]
      debug_exit(debug_, nullptr, false, nullptr);  // destroyed before aenter finished: nothing entered
    if (trace_ && owner_.r) [[unlikely]]
      trace_exit(trace_, nullptr, false, nullptr);
  }

  // Links the record, once entered, to the exits of the task whose frame is `h`.
  template <class P>
  void bind(std::coroutine_handle<P> h) noexcept {
    static_assert(Lone, "only aw::enter links a record to a task");
    head_ = &h.promise().exits_;
    owner_.r->run_lone = &run_lone_exit<record, P>;
  }

  // An aenter that is an aw::task runs in place (run_in_place), through start(); any other
  // awaitable through ready() and suspend(), as co_await would.
  static constexpr bool runs_in_place = is_task_v<aenter_type>;

  [[gnu::always_inline]] bool ready() {
    observe();
    awaitable_.emplace(call_aenter{owner_.r});
    if constexpr (!self_awaiter) awaiter_.emplace(get_awaiter(std::move(*awaitable_)));
    return inner().await_ready();
  }
  template <class H>
  decltype(auto) suspend(H h) {
    return inner().await_suspend(h);
  }
  // For await_suspend(h): runs aenter; true when it has finished, so that h goes on without
  // having been suspended, else aenter resumes h when it finishes.
  template <class P>
  [[gnu::always_inline]] bool start(std::coroutine_handle<P> h) {
    observe();
    frame_.h = owner_.r->get().aenter().release();
    std::coroutine_handle<>* slot = run_in_place(frame_.h, context_of(h));
    if (!slot) [[likely]]
      return true;
    *slot = h;
    return false;
  }

  [[gnu::always_inline]] entered_t<M> resume() {
    try {
      if constexpr (std::is_void_v<resource>) {
        aenter_result();
        link();
      } else if constexpr (std::is_reference_v<resource>) {
        resource r = aenter_result();
        link();
        return r;
      } else {
        record* rec = owner_.r;
        auto& r = rec->value.emplace(aenter_result());
        link();
        return r;
      }
    } catch (...) {
      if (debug_) debug_exit(std::exchange(debug_, nullptr), std::current_exception(), false, std::current_exception());
      if (trace_) trace_exit(std::exchange(trace_, 0), std::current_exception(), false, std::current_exception());
      throw;
    }
  }

 private:
  [[gnu::always_inline]] void observe() {
    if (debug_on) [[unlikely]]
      debug_ = debug_enter_manager(owner_.r->get(), "enter", true);
    if (trace_on) [[unlikely]]
      trace_ = trace_enter_manager(owner_.r->get());
  }
  bool started() const noexcept {
    if constexpr (runs_in_place)
      return static_cast<bool>(frame_.h);
    else
      return awaitable_.has_value();
  }
  inner_type& inner() noexcept {
    if constexpr (self_awaiter)
      return *awaitable_;
    else
      return *awaiter_;
  }
  [[gnu::always_inline]] decltype(auto) aenter_result() {
    if constexpr (runs_in_place)
      return frame_.h.promise().take();
    else
      return inner().await_resume();
  }

  void link() noexcept {
    record* r = std::exchange(owner_.r, nullptr);
    r->debug = std::exchange(debug_, nullptr);
    r->trace = std::exchange(trace_, 0);
    r->next = *head_;
    *head_ = r;
  }

  exit_record** head_;
  owner owner_;
  // aenter's frame when it runs in place; else its awaitable and that one's awaiter.
  [[no_unique_address]] aenter_frame<aenter_type> frame_;
  [[no_unique_address]] std::conditional_t<runs_in_place, char, std::optional<aenter_type>> awaitable_{};
  [[no_unique_address]] std::conditional_t<self_awaiter || runs_in_place, char, std::optional<inner_type>> awaiter_{};
  debug_entry* debug_ = nullptr;
  std::uint32_t trace_ = 0;
};

struct unwind_result {
  std::exception_ptr raised;  // to propagate (the original or a replacement); null if none
  bool suppressed = false;    // the exception passed in was suppressed
};

// unwind's `finish` for exits run with no exception in flight (exit_stack::aclose): the
// driver itself raises what the last raising exit raised, and its caller needs no frame.
struct rethrow_raised {};

// Exits every record, most recent first, then hands the outcome to `finish` (called
// synchronously, in this frame, so the caller needs no frame of its own to collect it).
// Each exit sees the exception current at that point; an exit that suppresses clears it,
// one that throws replaces it (and the old one becomes the new one's
// aw::exception_context, that of its latest raise). This is AsyncExitStack.__aexit__.
template <class Finish>
task<void> unwind(exit_record*& head, std::exception_ptr e, Finish finish) {
  const bool received = static_cast<bool>(e);
  bool suppressed = false;
  // Exits run shielded from the cancellation that may have caused them.
  task_context* const ctx = co_await current_context{};
  shield_guard shielded(ctx);
  // The record whose exit is running: unlinked, it belongs to this frame until its exit has
  // run, so destroying the frame while the exit is suspended (the task being unwound was
  // destroyed) frees it, after the exit's frame, which is a temporary of the co_await.
  // Declared once for the loop, as is `thrown`: per exit, each cost a constructor and a
  // destructor on the path where nothing is raised.
  struct running_record {
    exit_record* r = nullptr;
    ~running_record() {
      if (r) [[unlikely]] {
        r->next = nullptr;
        destroy_exit_records(r);
      }
    }
  } running;
  std::exception_ptr thrown;  // what the running exit raised; empty between exits
  while (exit_record* r = head) {
    head = r->next;
    running.r = r;
    bool suppress = false;
    const std::uint64_t mark = e || received ? exception_context_mark() : 0;
    try {
      // Run in place (run_in_place): most exits finish without suspending.
      exit_call call{r->run(r, e)};
      if (std::coroutine_handle<>* slot = call.run_in(ctx)) [[unlikely]]
        co_await await_child{slot};
      suppress = call.await_resume();
    } catch (...) {
      thrown = std::current_exception();
    }
    if (r->debug) [[unlikely]]
      debug_exit(r->debug, e, suppress && !thrown, thrown);
    if (r->trace) [[unlikely]]
      trace_exit(r->trace, e, suppress && !thrown, thrown);
    running.r = nullptr;
    r->destroy(r);
    if (thrown) [[unlikely]] {
      // AsyncExitStack: the exception in flight, or none once an exit suppressed the
      // block's. With neither, the link stays as it was: Python's raise sets __context__
      // only while an exception is being handled.
      if (e || received) set_exception_context(thrown, e, mark);
      e = std::move(thrown);  // leaves `thrown` empty for the next exit
      suppressed = false;
    } else if (suppress && e) {
      e = nullptr;
      suppressed = true;
    }
  }
  if constexpr (std::is_same_v<Finish, rethrow_raised>) {
    if (e) std::rethrow_exception(e);
  } else {
    finish(unwind_result{e, received && suppressed && !e});
  }
}

// What a task does with the outcome of the exits aw::enter registered on it.
// The task's own exception is read from the promise: nothing changes it while the exits
// run. (Holding a copy here made constructing the functor a store-forwarding stall.)
template <class P>
struct settle_task {
  P* p;
  void operator()(unwind_result r) noexcept {
    if (r.raised) {
      if (r.raised != p->exception_) {  // an exit raised: its exception replaces the task's value or exception
        p->reset_value();
        p->exception_ = std::move(r.raised);
      }
    } else if (p->exception_) {
      // An exit suppressed the task's exception (or one that replaced it). A task with a
      // value to give has none: that is aw::no_result_error, never an empty value.
      std::exception_ptr body = std::move(p->exception_);
      p->exception_ = nullptr;
      if (!p->has_value()) {
        p->exception_ = std::make_exception_ptr(no_result_error{});
        set_exception_context(p->exception_, body);
      }
    }
  }
};

// Where the coroutine that resumes when frame `h` (promise `p`) has finished is stored: its
// own continuation while it runs, that of the driver of the exits aw::enter left running
// when it has ended (start_deferred_exits), or null when all of it has finished.
inline std::coroutine_handle<>* pending_continuation(std::coroutine_handle<> h, promise_base& p) noexcept {
  if (!h.done()) return &p.continuation_;
  if (!p.exit_driver_) [[likely]]
    return nullptr;
  if (!p.exit_driver_.done()) return &std::coroutine_handle<promise<void>>::from_address(p.exit_driver_.address()).promise().continuation_;
  return nullptr;
}

// Runs task frame `h` (promise `p`) now, in task `ctx`, with the no-op coroutine as its
// continuation, so that resuming it returns here once it has finished: null then, else the
// slot where to store the coroutine to resume when it finishes (it suspended). Cheaper than
// awaiting it when it finishes at once, as most aenter and aexit do: the awaiting frame is
// neither suspended nor resumed through its jump table. It runs on this stack, nested.
inline std::coroutine_handle<>* run_in_place(std::coroutine_handle<> h, promise_base& p, task_context* ctx) noexcept {
  p.ctx_ = ctx;
  p.continuation_ = std::noop_coroutine();
  h.resume();
  return pending_continuation(h, p);
}
template <class P>
std::coroutine_handle<>* run_in_place(std::coroutine_handle<P> h, task_context* ctx) noexcept {
  return run_in_place(h, h.promise(), ctx);
}

// The outcome of a task's lone exit, which had no exception to handle: one it raised
// replaces the task's value. Frees the exit's state.
template <class P>
[[gnu::always_inline]] inline void settle_direct_exit(P& p, direct_exit* d) noexcept {
  std::exception_ptr raised;
  (void)exit_call(std::exchange(d->frame, {})).settle(raised);  // and frees the exit's frame
  d->end();
  if (raised) [[unlikely]] {
    p.reset_value();
    p.exception_ = std::move(raised);
  }
}

// Owns a direct exit: as a parameter of finish_direct_exit, it lives in that frame from
// its creation, so destroying the frame before it has run (the task destroyed mid-exit)
// frees the exit's state.
struct direct_exit_owner {
  direct_exit* d;
  explicit direct_exit_owner(direct_exit* x) noexcept : d(x) {}
  direct_exit_owner(direct_exit_owner&& o) noexcept : d(std::exchange(o.d, nullptr)) {}
  direct_exit_owner& operator=(direct_exit_owner&&) = delete;
  ~direct_exit_owner() {
    if (d) d->end();
  }
};

// Settles a lone exit that suspended: the exit resumes this frame once it has finished,
// and this frame then resumes the task's awaiter.
template <class P>
task<void> finish_direct_exit(P& p, direct_exit_owner own) {
  settle_direct_exit(p, std::exchange(own.d, nullptr));
  co_return;
}

// A lone exit (its frame in d->frame) suspended at `slot`: a frame of its own settles it
// when it finishes, then resumes the task's awaiter. Until then the task's frame owns that
// frame (exit_driver_).
template <class P>
[[gnu::noinline]] void defer_direct_exit(P& p, direct_exit* d, std::coroutine_handle<>* slot) noexcept {
  auto driver = finish_direct_exit(p, direct_exit_owner(d)).release();
  driver.promise().continuation_ = p.continuation_;
  driver.promise().ctx_ = p.ctx_;
  p.exit_driver_ = driver;
  *slot = driver;  // it starts once the exit has finished
}

// The aexit of a manager, called with no exception (an aexit that takes the exception by
// value gets it built in place, with nothing to copy or release afterwards).
template <class Mgr>
decltype(auto) call_aexit_without_exception(Mgr& m) {
  if constexpr (requires { m.aexit(std::exception_ptr()); }) {
    return m.aexit(std::exception_ptr());
  } else {
    const std::exception_ptr none;
    return m.aexit(none);
  }
}

// exit_record::run_lone for the records of aw::enter (Record, a manager_record<M, true>) on
// a task with promise P. The exit runs in place under a shield kept in the record's room;
// when it finishes without suspending, as most do, it is settled here and the task's
// awaiter goes on with no driver frame (unwind() does no more for one record and no
// exception). An aexit that is an aw::task<> or aw::task<bool> is run through its typed
// frame, with no type-erased call.
template <class Record, class P>
std::coroutine_handle<> run_lone_exit(exit_record* r, void* task_frame) noexcept {
  P& p = std::coroutine_handle<P>::from_address(task_frame).promise();
  auto* rec = static_cast<Record*>(r);
  auto* d = ::new (static_cast<void*>(rec->room.bytes)) direct_exit(p.ctx_, r);
  using aexit_type = decltype(call_aexit_without_exception(rec->get()));
  std::exception_ptr raised;
  if constexpr (std::is_same_v<aexit_type, task<void>> || std::is_same_v<aexit_type, task<bool>>) {
    std::coroutine_handle<typename aexit_type::promise_type> exit;
    try {
      exit = call_aexit_without_exception(rec->get()).release();
    } catch (...) {
      raised = std::current_exception();  // calling aexit raised before its body began
    }
    if (exit) [[likely]] {
      std::coroutine_handle<>* slot = run_in_place(exit, p.ctx_);
      if (slot) [[unlikely]] {
        d->frame = {exit.address(), std::is_same_v<aexit_type, task<bool>>};
        defer_direct_exit(p, d, slot);
        return std::noop_coroutine();
      }
      raised = std::move(exit.promise().exception_);
      exit.destroy();
    }
    d->~direct_exit();
    destroy_record<Record>(rec);
  } else {
    std::optional<exit_call> call;
    try {
      call.emplace(as_exit_call(call_aexit_without_exception(rec->get())));
    } catch (...) {
      raised = std::current_exception();  // calling aexit, or making its awaitable a task, raised
    }
    if (call) {
      std::coroutine_handle<>* slot = call->run_in(p.ctx_);
      d->frame = call->release_frame();
      if (slot) {
        defer_direct_exit(p, d, slot);
        return std::noop_coroutine();
      }
      settle_direct_exit(p, d);
      return p.continuation_;
    }
    d->end();
  }
  if (raised) [[unlikely]] {
    p.reset_value();
    p.exception_ = std::move(raised);
  }
  return p.continuation_;
}

// The exits of a task that has more than one, or an exception to hand them, or is
// observed: one frame runs every exit and settles the task. A failed allocation here
// terminates.
template <class P>
[[gnu::noinline]] std::coroutine_handle<> start_exit_driver(std::coroutine_handle<P> h) noexcept {
  P& p = h.promise();
  auto driver = unwind(p.exits_, p.exception_, settle_task<P>{&p}).release();
  driver.promise().continuation_ = p.continuation_;
  driver.promise().ctx_ = p.ctx_;
  p.exit_driver_ = driver;
  return driver;
}

// Runs the exits aw::enter registered on a finished task, then resumes its awaiter.
template <class P>
std::coroutine_handle<> start_deferred_exits(std::coroutine_handle<P> h) noexcept {
  P& p = h.promise();
  exit_record* const r = p.exits_;
  if (!r->next && !r->debug && !r->trace && !p.exception_) [[likely]] {
    // The common case, one exit and no exception to hand it. Only aw::enter links records
    // to a task, and each says how to run its exit alone.
    AW_ASSERT(r->run_lone, "a record linked to a task can run its exit alone");
    p.exits_ = nullptr;
    return r->run_lone(r, h.address());
  }
  return start_exit_driver(h);
}

}  // namespace aw::detail
