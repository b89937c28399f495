// The names the headers' examples leave to the reader, declared for check_snippets.py.
#include <chrono>
#include <cstdint>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

template <class T>
void use(const T&) {}
template <class T>
void consume(const T&) {}
template <class T>
void print(const T&) {}
void handle(const std::string&);
void log(const std::string&);
void reload_config();
void log_failure();
extern int fd, shared, rows_done;
extern char* buf;
extern unsigned len;
extern std::uint64_t offset;
extern std::size_t size;
extern std::string url, path, email, dsn;
extern std::vector<std::string> names, lines, urls;
extern std::vector<std::int32_t> ids;
extern aw::lock shared_lock;
extern aw::capacity_limiter lim;
extern aw::byte_stream in, child_stdout;
extern aw::files::file f, file, out, open_a, open_b;
extern aw::io_op op;
extern aw::send_channel<std::string> channel;
extern aw::http::session s, session;
extern aw::pg::connection conn;
extern aw::pg::pool pool;
extern aw::mongo::collection people, users;
extern aw::mongo::document user;
extern aw::net::tcp_stream stream, tcp, accepted;
extern aw::net::tcp_listener tcp_listener;
extern std::string cert, key;
inline auto body = [](auto&...) -> aw::task<> { co_return; };
inline auto fn = [] { return 1; };
struct reply {};
aw::task<reply> fetch(std::string url);
aw::task<> get(std::string url);
aw::task<> serve();
aw::task<> load();
aw::task<> heartbeat();
aw::task<> serve_on_this_core(std::size_t core);
aw::task<> update(int& shared);
std::vector<std::string> read_blocking_rows();
std::string read_whole_file(const std::string& path);
std::size_t count_lines(const std::string& path);
struct database {
  void flush();
};
void legacy_flush(database&);
extern database db;
struct job {};
extern job j;
void run(job);
struct PGconn;
extern PGconn* pgconn;
int PQsocket(const PGconn* conn);
// The generator-form example's connection.
struct connection {
  aw::task<> close();
};
aw::task<connection> open_connection(std::string dsn);

// Used by the examples of process.hpp, blocking_portal.hpp, files/os.hpp, mongo/bulk_write.hpp
// and pg/result.hpp.
extern std::vector<std::string> seq_argv, grep_argv, wc_argv;
aw::task<int> count_users();
extern std::int64_t total;
extern aw::mongo::collection coll;
extern aw::pg::row record, rec;
// pg/type_codec.hpp's example.
std::map<std::string, std::optional<std::string>> parse_hstore(std::string_view bytes);
std::string hstore_bytes(const std::map<std::string, std::optional<std::string>>& m);
void send(const std::string& email);
// http/event_hooks.hpp's example.
void log(std::string_view method, std::string_view url);
struct histogram {
  void observe(std::chrono::microseconds);
};
extern histogram metrics;
// mongo/gridfs.hpp's example: an entered client.
extern aw::mongo::client c;
