// examples/tour: the tutorial, section by section. Each section's demo lives in
// sections/<name>.hpp and also builds as the program examples/<name>; adding a section is
// adding its header and one line to `sections` below. Each runs on a loop of its own.
#include "sections/async_timer_class.hpp"
#include "sections/async_timer_generator.hpp"
#include "sections/background_tasks.hpp"
#include "sections/blocking_portal.hpp"
#include "sections/debugging.hpp"
#include "sections/exit_stack.hpp"
#include "sections/mixing_with.hpp"
#include "sections/nesting.hpp"
#include "sections/timeouts.hpp"
#include "sections/tracing.hpp"
#ifdef AW_HAVE_FILES
#include "sections/async_file_access.hpp"
#endif
#ifdef AW_HAVE_MONGO
#include "sections/mongodb.hpp"
#endif
#ifdef AW_HAVE_HTTP
#include "sections/web_clients.hpp"
#endif
#ifdef AW_HAVE_PG
#include "sections/db_connections.hpp"
#endif
#ifdef AW_HAVE_NET
#include "sections/networking.hpp"
#endif

#include <aw/aw.hpp>

#include <cstdio>

namespace {

struct section {
  const char* name;
  const char* explanation;
  aw::task<> (*demo)();
};

constexpr section sections[] = {
#ifdef AW_HAVE_FILES
    {"async_file_access", "aw::files::open: the file is the resource, the exit flushes and closes it; io_uring, no threads (aiofiles.open)",
     async_file_access::demo},
#endif
#ifdef AW_HAVE_PG
    {"db_connections", "aw::pg: connection, transaction and pool are async managers; a timeout cancels the query on the server (asyncpg)",
     db_connections::demo},
#endif
#ifdef AW_HAVE_HTTP
    {"web_clients", "aw::http::session owns a keep-alive pool; a response is awaited whole or entered and streamed (aiohttp, httpx)",
     web_clients::demo},
#endif
#ifdef AW_HAVE_NET
    {"networking", "aw::net: TCP listeners serve each connection in a task group; streams and TLS are async managers (anyio)",
     networking::demo},
#endif
    {"async_timer_class", "a class with aenter()/aexit() members, used with aw::async_with and aw::enter (__aenter__/__aexit__)",
     async_timer_class::demo},
    {"async_timer_generator", "a coroutine returning aw::context_manager<> that co_yields once (@asynccontextmanager)",
     async_timer_generator::demo},
    {"nesting", "several managers in one aw::async_with: entered left to right, exited right to left (async with a, b)", nesting::demo},
    {"mixing_with", "async managers are entered with co_await; the wrong forms are compile errors (with vs async with)", mixing_with::demo},
    {"exit_stack", "aw::exit_stack: a run-time number of managers and callbacks, pop_all to hand them over (AsyncExitStack)",
     exit_stack::demo},
    {"background_tasks",
     "aw::task_group: children run concurrently, the block waits for all, a failure cancels the rest (anyio task groups)",
     background_tasks::demo},
    {"timeouts", "aw::move_on_after and aw::fail_after cancel a block; its exits still run to their end (anyio cancel scopes)",
     timeouts::demo},
#ifdef AW_HAVE_MONGO
    {"mongodb", "aw::mongo: client, cursors, sessions and transactions are async managers; libmongoc on worker threads (motor)",
     [] { return mongodb::demo(); }},
#endif
    {"blocking_portal",
     "aw::blocking_portal: synchronous code calls coroutines and holds async managers open on a loop of its own (anyio portals)",
     blocking_portal::demo},
    {"debugging", "the debug mode logs enters and exits, slow steps and forgotten tasks to stderr (debugging tips)", debugging::demo},
};

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);  // keep stdout in step with the debug log on stderr
  const char* backend = aw::run([]() -> aw::task<const char*> { co_return aw::loop::current().backend_name(); });
  std::printf("asyncwith tour: the Python async-with tutorial in C++ (backend: %s)\n", backend);
  for (const section& s : sections) {
    std::printf("\n== %s: %s\n", s.name, s.explanation);
    aw::run(s.demo());
  }
  std::printf("\n== tracing: a run written as a timeline for Perfetto or chrome://tracing (AW_TRACE=path.json)\n");
  tracing::run_traced();
}
