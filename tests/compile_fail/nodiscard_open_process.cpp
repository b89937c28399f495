// Misuse: aw::open_process without entering the manager it gives: no process would start.
// expect: enter it: co_await aw::async_with\(aw::open_process\(\.\.\.\), body\); the process starts when it is entered
// flags: -Werror=unused-result -Werror=unused-value
#include <aw/process.hpp>

aw::task<> misuse() {
  std::vector<std::string> argv{"true"};
  aw::open_process(argv);
  co_return;
}
