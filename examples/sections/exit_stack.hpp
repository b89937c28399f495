// contextlib.AsyncExitStack: a number of managers known only at run time.
//
//   async with AsyncExitStack() as stack:
//       files = [await stack.enter_async_context(aiofiles.open(n)) for n in names]
//       stack.push_async_callback(log, "all files closed")
//       ...
//
// aw::exit_stack is itself a manager. enter_context enters a manager now and pushes its
// exit; callback pushes an awaitable call; on leaving the block every exit runs, most
// recent first, each seeing the exception current at its turn. pop_all moves the exits
// to a new stack: the "open all or none" idiom.
#pragma once

#include "memory_file.hpp"

#include <aw/aw.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace exit_stack {

inline aw::task<> log(const char* message) {
  co_await aw::yield();
  std::printf("  %s\n", message);
}

// Opens every file or none. When one fails, the files already open are closed and the
// exception propagates; on success pop_all() hands their exits to the caller.
inline aw::task<aw::exit_stack> open_all(std::vector<memory_file>& files) {
  // std::optional<aw::exit_stack>: the block's result is optional because an exit_stack's
  // exit may suppress an exception (then there is no value). These files never do.
  auto opened = co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<aw::exit_stack> {
    for (memory_file& f : files) co_await stack.enter_context(f);
    co_return stack.pop_all();
  });
  co_return std::move(opened).value();
}

inline aw::task<> demo() {
  std::string one = "1", two = "22", three = "333";
  std::vector<memory_file> files{{"one", &one}, {"two", &two}, {"three", &three}};

  co_await aw::async_with(aw::exit_stack{}, [&](aw::exit_stack& stack) -> aw::task<> {
    std::vector<memory_file*> open;
    for (memory_file& f : files) open.push_back(&co_await stack.enter_context(f));
    stack.callback(log, "all files closed");  // pushed last: runs first
    std::size_t total = 0;
    for (memory_file* f : open) total += (co_await f->read()).size();
    std::printf("  read %zu bytes from %zu files\n", total, open.size());
  });

  std::vector<memory_file> with_missing{{"one", &one}, {"missing", nullptr}, {"two", &two}};
  try {
    aw::exit_stack opened = co_await open_all(with_missing);
    co_await opened.aclose();
  } catch (const std::exception& e) {
    std::printf("  open_all failed: %s\n", e.what());
  }

  aw::exit_stack opened = co_await open_all(files);
  std::printf("  open_all handed over %zu files; closing them now\n", files.size());
  co_await opened.aclose();
}

}  // namespace exit_stack
