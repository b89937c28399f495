// examples/read_file [PATH]: the tutorial's first example, on PATH (default: file.txt).
//
//   async with aiofiles.open("file.txt", mode='r') as f:
//       contents = await f.read()
//       print(contents)
#include "sections/async_file_access.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "file.txt";
  try {
    aw::run(async_file_access::read_file(path));
  } catch (const aw::files::os_error& e) {
    std::fprintf(stderr, "read_file: %s\n", e.what());  // e.g. "open 'file.txt': No such file or directory"
    return 1;
  }
}
