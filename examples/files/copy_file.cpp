// examples/copy_file A B: the tutorial's nesting example on real files.
//
//   async with aiofiles.open("a") as a, aiofiles.open("b", "w") as b:
//       data = await a.read()
//       await b.write(data)
#include "sections/async_file_access.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: copy_file A B\n");
    return 2;
  }
  try {
    aw::run(async_file_access::copy_a_to_b(argv[1], argv[2]));
  } catch (const aw::files::os_error& e) {
    std::fprintf(stderr, "copy_file: %s\n", e.what());
    return 1;
  }
}
