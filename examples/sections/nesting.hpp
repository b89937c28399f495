// Tutorial: "Nesting Async Contexts".
//
//   async with aiofiles.open("a") as a, aiofiles.open("b", "w") as b:
//       data = await a.read()
//       await b.write(data)
//
// aw::async_with takes several managers before the body: entered left to right, exited
// right to left, as if nested. The body gets one reference per manager that gives a
// resource. The real aiofiles version arrives with aw::files; until then memory_file
// stands in for a file.
#pragma once

#include "memory_file.hpp"

#include <aw/aw.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace nesting {

inline aw::task<> demo() {
  std::string disk_a = "hello from a", disk_b;

  co_await aw::async_with(memory_file{"a", &disk_a}, memory_file{"b", &disk_b}, [](memory_file& a, memory_file& b) -> aw::task<> {
    std::string data = co_await a.read();
    co_await b.write(data);
    std::printf("  copied %zu bytes\n", data.size());
  });
  std::printf("  b now holds \"%s\"\n", disk_b.c_str());

  // Python's nesting semantics hold on every path: an exception in the body reaches both
  // exits, innermost first, and then the caller.
  try {
    co_await aw::async_with(memory_file{"a", &disk_a}, memory_file{"b", &disk_b}, [](memory_file&, memory_file&) -> aw::task<> {
      throw std::runtime_error("bad data");
      co_return;
    });
  } catch (const std::exception& e) {
    std::printf("  caught: %s\n", e.what());
  }
}

}  // namespace nesting
