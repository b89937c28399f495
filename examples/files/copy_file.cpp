// examples/copy_file [A B]: the tutorial's nesting example on real files (default: a -> b).
//
//   async with aiofiles.open("a") as a, aiofiles.open("b", "w") as b:
//       data = await a.read()
//       await b.write(data)
#include "sections/async_file_access.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 1 && argc != 3) {
    std::fprintf(stderr, "usage: copy_file [A B]   (default: a b, as the tutorial)\n");
    return 2;
  }
  const char* a = argc == 3 ? argv[1] : "a";
  const char* b = argc == 3 ? argv[2] : "b";
  try {
    aw::run(async_file_access::copy_a_to_b(a, b));
  } catch (const aw::files::os_error& e) {
    std::fprintf(stderr, "copy_file: %s\n", e.what());
    return 1;
  }
}
