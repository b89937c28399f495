// The names the README's examples leave to the reader, declared for check_snippets.py.
// A section headed `// after: <text>` follows the first example that contains <text>.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

template <class T>
void use(const T&) {}
void handle(const std::string&);
void reload();
extern int fd;
extern std::string url, path, name, email, dsn, row;
extern aw::pg::pool_options options;
extern aw::pg::connection conn;
extern aw::send_channel<std::string> channel;
extern aw::task_group& tg;
aw::task<> worker(std::string name, std::chrono::milliseconds period);
aw::task<> heartbeat();
aw::task<> serve();
struct reply {};
aw::task<reply> fetch(std::string url);
std::size_t count_lines(const std::string& path);
extern std::vector<std::string> seq_argv, grep_argv, wc_argv;  // the pipeline's
aw::task<int> count_users();
struct search_index {
  void vacuum();
};
struct bound_listener {
  int port() const;
};
aw::task<bound_listener> bind(int port);
aw::task<> accept_forever(bound_listener& listener);
template <class T>
aw::task<> take(T);
inline auto body = []() -> aw::task<> { co_return; };
struct flaky {
  aw::task<> aenter();
  aw::task<> aexit(std::exception_ptr);
};

// after: struct async_timer {
struct async_timer {  // the first example's, which is compiled as a program of its own
  aw::task<async_timer&> aenter();
  aw::task<> aexit(std::exception_ptr);
};

// after: struct connection {
aw::task<connection> open_connection(std::string name);
aw::task<> close_connection(connection& c);
aw::task<> rollback(connection& c);

// after: struct pool {
extern pool a, b, db;
extern std::vector<pool> pools;

// locals:
std::shared_ptr<search_index> cache;
