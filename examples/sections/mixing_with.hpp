// Tutorial: "Mixing with and async with", and its "Limitations".
//
//   with aiofiles.open("file.txt") as f:        # wrong: fails at run time
//   async with aiofiles.open("file.txt") as f:  # right
//
// C++'s `with` is a destructor, and a destructor cannot await, so an async manager is
// always entered through co_await: the block form aw::async_with or the function form
// aw::enter. A program that gets this wrong does not compile, so this example can only
// run the right forms; the wrong ones and the errors they give (clang-19; g++ says the
// same) are listed below:
//
//   aw::async_with(f, body);                      // no co_await: the block never runs
//     -> warning (an error with -Werror): ignoring return value ...
//        'a task does nothing until it is awaited: co_await it'
//   co_await aw::async_with(f, [](memory_file&) { ... });        // body not a coroutine
//     -> "aw::async_with: the body must return aw::task<T> or another awaitable (write
//         it as a coroutine lambda: [&](auto& r) -> aw::task<> { ... })"
//   co_await aw::async_with(std_lock_guard_like, body);           // a synchronous manager
//     -> "asyncwith: this type is not an async context manager: it has no aenter() member"
//   struct m { m& aenter(); void aexit(std::exception_ptr); };  // aenter/aexit not async
//     -> "asyncwith: aenter() must return an awaitable, such as aw::task<R>"
//   aw::context_manager<> g() { co_await aw::enter(f); ... }     // enter outside a task
//     -> "aw::enter can only be awaited inside a coroutine that returns aw::task"
//   ~file() { co_await close(); }                                 // awaiting in a destructor
//     -> "'co_await' cannot be used in a destructor"
#pragma once

#include "memory_file.hpp"

#include <aw/aw.hpp>

#include <cstdio>
#include <string>

namespace mixing_with {

// The function form: entered here, exited when this task ends.
inline aw::task<std::string> read_all(memory_file& file) {
  auto& f = co_await aw::enter(file);
  co_return co_await f.read();
}

inline aw::task<> demo() {
  std::string disk = "file.txt's contents";
  memory_file file{"file.txt", &disk};

  // async with aiofiles.open("file.txt") as f: print(await f.read())
  co_await aw::async_with(file, [](memory_file& f) -> aw::task<> { std::printf("  read \"%s\"\n", (co_await f.read()).c_str()); });

  std::string contents = co_await read_all(file);
  std::printf("  read_all gave \"%s\"\n", contents.c_str());

  std::printf("  (without co_await, or with a synchronous manager, this would not compile: see mixing_with.hpp)\n");
}

}  // namespace mixing_with
