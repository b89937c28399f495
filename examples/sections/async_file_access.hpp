// Tutorial: "Example: Using aiofiles" (and the nesting example's copy a -> b, on real files).
//
//   async def read_file():
//       async with aiofiles.open("file.txt", mode='r') as f:
//           contents = await f.read()
//           print(contents)
//
// aw::files::open is an async context manager whose resource is the open file; the exit
// flushes and closes it on every path out of the block. On the io_uring backend the open,
// each read and write, and the close's flush are io_uring operations: no thread is
// involved (aiofiles hands every call to a thread). Failures are typed, with errno and the
// path, as Python's OSError subclasses.
#pragma once

#include <aw/aw.hpp>
#include <aw/files.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace async_file_access {

// The tutorial's read_file, on a path.
inline aw::task<> read_file(std::filesystem::path path) {
  co_await aw::async_with(aw::files::open(path, "r"), [](aw::files::file& f) -> aw::task<> {
    std::string contents = co_await f.read();
    std::printf("%s", contents.c_str());
  });
}

// async with aiofiles.open(a) as a, aiofiles.open(b, "w") as b: await b.write(await a.read())
inline aw::task<> copy_a_to_b(std::filesystem::path from, std::filesystem::path to) {
  co_await aw::async_with(aw::files::open(from), aw::files::open(to, "w"), [](aw::files::file& a, aw::files::file& b) -> aw::task<> {
    std::string data = co_await a.read();
    co_await b.write(data);
    std::printf("  copied %zu bytes from %s to %s\n", data.size(), a.name().filename().c_str(), b.name().filename().c_str());
  });
}

inline aw::task<> demo() {
  // A scratch directory, removed on the way out (aiofiles.tempfile.TemporaryDirectory).
  co_await aw::async_with(aw::files::temporary_directory(), [](const std::filesystem::path& dir) -> aw::task<> {
    co_await aw::async_with(aw::files::open(dir / "file.txt", "w"), [](aw::files::file& f) -> aw::task<> {
      co_await f.write("  hello from file.txt\n");
      std::vector<std::string> more{"  line 2\n", "  line 3\n"};
      co_await f.writelines(more);
    });
    std::printf("  read_file():\n");
    co_await read_file(dir / "file.txt");

    co_await copy_a_to_b(dir / "file.txt", dir / "b.txt");
    // async for line in f:
    co_await aw::async_with(aw::files::open(dir / "b.txt"), [](aw::files::file& f) -> aw::task<> {
      int n = 0;
      auto lines = f.lines();
      while (auto line = co_await lines.next()) ++n;
      std::printf("  b.txt has %d lines\n", n);
    });

    // Errors are typed and carry errno and the path (FileNotFoundError).
    try {
      co_await read_file(dir / "missing.txt");
    } catch (const aw::files::file_not_found_error& e) {
      std::printf("  caught file_not_found_error: errno %d (%s) for %s\n", e.error_number(), e.strerror().c_str(),
                  e.path().filename().c_str());
    }
  });
}

}  // namespace async_file_access
