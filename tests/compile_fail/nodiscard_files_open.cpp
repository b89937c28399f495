// Misuse: aw::files::open without entering the file it gives: nothing would be opened.
// expect: enter it: co_await aw::async_with\(aw::files::open\(\.\.\.\), body\) or .*; nothing is opened until then
// flags: -Werror=unused-result -Werror=unused-value
// module: files
#include <aw/files.hpp>

aw::task<> misuse() {
  aw::files::open("log.txt", "w");
  co_return;
}
