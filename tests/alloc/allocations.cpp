// No heap allocation beyond coroutine frames on the hot path, and frames are recycled:
// in steady state, awaiting tasks, every form of async with, exit stacks and sleep(0)
// ping-pong call ::operator new not at all.
//
// This binary replaces the global operator new and delete with counting versions, which
// is why it is separate from the core suite. Under AddressSanitizer the frame allocator
// does not recycle (AW_RECYCLE_FRAMES is 0) and the tests skip.
#include <aw/aw.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <new>
#include <utility>

namespace {
std::atomic<std::size_t> operator_new_calls{0};

void* counted_alloc(std::size_t n) {
  operator_new_calls.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
  operator_new_calls.fetch_add(1, std::memory_order_relaxed);
  auto a = static_cast<std::size_t>(al);
  std::size_t rounded = n == 0 ? a : (n + a - 1) / a * a;  // aligned_alloc wants a multiple of the alignment
  return std::aligned_alloc(a, rounded);
}
// Out of line: once inlined into a caller, g++ 12 pairs the malloc behind operator new
// with the free behind operator delete and warns (-Wmismatched-new-delete).
[[gnu::noinline]] void counted_free(void* p) noexcept { std::free(p); }
}  // namespace

// The replaceable global allocation functions ([new.delete]).
void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned_alloc(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned_alloc(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return counted_aligned_alloc(n, al); }
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return counted_aligned_alloc(n, al); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }

namespace {

constexpr int warm_up = 200;
constexpr int measured = 10'000;

#define AW_SKIP_WITHOUT_RECYCLING()                                                                                     \
  do {                                                                                                                  \
    if (!AW_RECYCLE_FRAMES)                                                                                             \
      GTEST_SKIP() << "frame recycling is off under AddressSanitizer (AW_RECYCLE_FRAMES is 0): every frame is a fresh " \
                      "allocation there, so that the sanitizer sees use-after-free";                                    \
  } while (0)

// Runs `workload(warm_up)`, then counts the calls to operator new during `workload(measured)`.
template <class W>
std::size_t steady_state_allocations(W workload) {
  return aw::run([&]() -> aw::task<std::size_t> {
    co_await workload(warm_up);
    std::size_t before = operator_new_calls.load();
    co_await workload(measured);
    co_return operator_new_calls.load() - before;
  });
}

// A class manager whose aenter and aexit are coroutines.
class class_manager {
 public:
  class_manager() = default;
  aw::task<class_manager&> aenter() {
    ++enters;
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr) {
    ++exits;
    co_return;
  }
  long enters = 0;
  long exits = 0;
};

aw::context_manager<int> generator_manager(int& exits) {
  co_yield 1;
  ++exits;
}

aw::task<int> trivial() { co_return 1; }

aw::task<long> entered(class_manager& m) {
  auto& r = co_await aw::enter(m);
  co_return r.enters;
}

// The ping-pong partner: a fire-and-forget coroutine whose frame comes from the frame
// allocator too, so that starting it once per round costs nothing in steady state.
struct partner {
  struct promise_type {
    static void* operator new(std::size_t n) { return aw::detail::frame_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { aw::detail::frame_deallocate(p, n); }
    partner get_return_object() noexcept { return partner{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  explicit partner(std::coroutine_handle<promise_type> h) noexcept : handle(h) {}
  std::coroutine_handle<promise_type> handle;
};

struct finish_line {
  bool finished = false;
  std::coroutine_handle<> waiter;
  bool await_ready() const noexcept { return finished; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
};

partner ping(int n, long& count, finish_line& done) {
  for (int i = 0; i < n; ++i) {
    ++count;
    co_await aw::sleep(std::chrono::nanoseconds(0));
  }
  done.finished = true;
  if (done.waiter) aw::loop::current().schedule(std::exchange(done.waiter, nullptr));
}

// ---------------------------------------------------------------------------------------

TEST(Alloc, CountingWorks) {
  std::size_t before = operator_new_calls.load();
  // A direct call: the compiler may elide a new-expression, not a call of ::operator new.
  void* p = ::operator new(sizeof(int));
  ::operator delete(p);
  EXPECT_EQ(operator_new_calls.load() - before, 1u);
}

TEST(Alloc, FrameAllocatorRecyclesBlocks) {
  // The unit under the other tests: a freed block of a size class is handed out again,
  // while blocks beyond the largest class always come from operator new (so the count
  // does see the frame allocator's allocations).
  AW_SKIP_WITHOUT_RECYCLING();
  std::size_t before = operator_new_calls.load();
  void* big = aw::detail::frame_allocate(64 * 1024);
  aw::detail::frame_deallocate(big, 64 * 1024);
  big = aw::detail::frame_allocate(64 * 1024);
  aw::detail::frame_deallocate(big, 64 * 1024);
  EXPECT_EQ(operator_new_calls.load() - before, 2u);

  void* a = aw::detail::frame_allocate(100);
  aw::detail::frame_deallocate(a, 100);
  before = operator_new_calls.load();
  void* b = aw::detail::frame_allocate(90);  // the same 128-byte class
  EXPECT_EQ(b, a);
  aw::detail::frame_deallocate(b, 90);
  EXPECT_EQ(operator_new_calls.load() - before, 0u);
}

TEST(Alloc, AwaitTrivialTask) {
  AW_SKIP_WITHOUT_RECYCLING();
  long sum = 0;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) sum += co_await trivial();
  });
  EXPECT_EQ(sum, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, AsyncWithClassManager) {
  AW_SKIP_WITHOUT_RECYCLING();
  class_manager m;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) co_await aw::async_with(m, [](class_manager&) -> aw::task<> { co_return; });
  });
  EXPECT_EQ(m.exits, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, AsyncWithGeneratorManager) {
  AW_SKIP_WITHOUT_RECYCLING();
  int exits = 0;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) co_await aw::async_with(generator_manager(exits), [](int&) -> aw::task<> { co_return; });
  });
  EXPECT_EQ(exits, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, Enter) {
  AW_SKIP_WITHOUT_RECYCLING();
  class_manager m;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) (void)co_await entered(m);
  });
  EXPECT_EQ(m.exits, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, EnterMovedInManager) {
  // A manager moved into aw::enter lives in an exit record: from the frame allocator too.
  AW_SKIP_WITHOUT_RECYCLING();
  long exits = 0;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) {
      co_await [](long& exits) -> aw::task<> {
        class_manager local;
        auto& r = co_await aw::enter(std::move(local));
        (void)r;
        exits += 1;
      }(exits);
    }
  });
  EXPECT_EQ(exits, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, ExitStackOfTen) {
  AW_SKIP_WITHOUT_RECYCLING();
  class_manager managers[10];
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) {
      co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
        for (auto& m : managers) co_await stack.enter_context(m);
      });
    }
  });
  for (auto& m : managers) EXPECT_EQ(m.exits, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, ExitStackCallbacks) {
  AW_SKIP_WITHOUT_RECYCLING();
  long calls = 0;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations; ++i) {
      aw::exit_stack stack;
      for (int j = 0; j < 10; ++j)
        stack.callback(
            [](long* c) -> aw::task<> {
              ++*c;
              co_return;
            },
            &calls);
      co_await stack.aclose();
    }
  });
  EXPECT_EQ(calls, 10L * (warm_up + measured));
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, SleepZeroPingPong) {
  AW_SKIP_WITHOUT_RECYCLING();
  long pings = 0, pongs = 0;
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    finish_line done;
    aw::loop::current().schedule(ping(iterations, pings, done).handle);
    for (int i = 0; i < iterations; ++i) {
      ++pongs;
      co_await aw::sleep(std::chrono::nanoseconds(0));
    }
    co_await done;
  });
  EXPECT_EQ(pings, warm_up + measured);
  EXPECT_EQ(pongs, warm_up + measured);
  EXPECT_EQ(n, 0u);
}

TEST(Alloc, Timers) {
  // Arming a timer stores the awaiter itself in the heap: no allocation once the heap's
  // storage has grown.
  AW_SKIP_WITHOUT_RECYCLING();
  std::size_t n = steady_state_allocations([&](int iterations) -> aw::task<> {
    for (int i = 0; i < iterations / 100; ++i) co_await aw::sleep_until(aw::now() - std::chrono::seconds(1));
  });
  EXPECT_EQ(n, 0u);
}

}  // namespace
