// aw::mongo under a CongoDB that stops answering (SIGSTOP), is killed mid-call and is
// restarted: every wait is bounded by the URI's timeouts, the caller's cancel scope or the
// client's close_timeout (a test that finishes is the proof: the URIs that matter here have a
// socket timeout longer than ctest's), errors are typed, and the client is usable again once
// the server is back. The server is this suite's own (tests/faults/mongo/CMakeLists.txt).
#include <gtest/gtest.h>
#include <aw/aw.hpp>
#include <aw/mongo.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace aw::mongo;

namespace {

std::string host() {
  const char* h = std::getenv("AW_MONGO_FAULT_HOST");
  return h ? h : "127.0.0.1:27118";
}
// Every timeout short: a call to a silent server fails in about a second.
std::string quick_uri() { return "mongodb://" + host() + "/?serverSelectionTimeoutMS=2000&connectTimeoutMS=1000&socketTimeoutMS=1000"; }
// A socket timeout longer than the test's (ctest's TIMEOUT 180): only the library's own
// bounds can end a wait on a silent server.
std::string patient_uri() { return "mongodb://" + host() + "/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=600000"; }

// The server's pid, or -1: signal it with signal_server only (kill(0 or -1, SIGSTOP) would
// stop this process's group or every process).
pid_t server_pid() {
  std::ifstream f(std::string(AW_MONGO_FAULT_DIR) + "/congodb.pid");
  pid_t pid = 0;
  f >> pid;
  if (pid <= 0) {
    ADD_FAILURE() << "no server pid in " << AW_MONGO_FAULT_DIR;
    return -1;
  }
  return pid;
}

void signal_server(pid_t pid, int sig) {
  if (pid > 0) ::kill(pid, sig);
}

// SIGSTOP to the server (stop()) until resume() or the guard's end: the kernel still accepts
// connections and takes the requests, nothing answers.
struct stopped_server {
  pid_t pid = server_pid();
  explicit stopped_server(bool now = true) {
    if (now) stop();
  }
  ~stopped_server() { resume(); }
  void stop() { signal_server(pid, SIGSTOP); }
  void resume() {
    signal_server(pid, SIGCONT);
    pid = 0;
  }
};

// The server's start script (it stops a server left running first); blocks, so off the loop.
aw::task<> start_server() {
  int rc = co_await aw::to_thread([] { return std::system(AW_MONGO_FAULT_START); });
  EXPECT_EQ(rc, 0);
}

// SIGKILL (a stopped process dies too), then wait until it is gone: the kernel closes its
// sockets, with a reset for the connections that had unread requests.
void kill_server() {
  pid_t pid = server_pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  while (::kill(pid, 0) == 0) ::usleep(10'000);
}

template <class F>
void with_client(std::string uri, client_options opts, F body) {
  aw::run([&]() -> aw::task<> {
    client c(uri, opts);
    co_await aw::async_with(c, [&](client& cl) -> aw::task<> { co_await body(cl); });
  });
}

aw::task<collection> fresh(client& c, const char* name, int n) {
  auto coll = c["aw_faults"][name];
  co_await coll.drop();
  std::vector<document> docs;
  for (int i = 0; i < n; ++i) docs.push_back(doc("i", i));
  if (n > 0) co_await coll.insert_many(std::move(docs));
  co_return coll;
}

// The server must be running for the next test whatever this one did.
class MongoFaults : public testing::Test {
 protected:
  void TearDown() override {
    pid_t pid = server_pid();
    if (pid > 0 && ::kill(pid, 0) == 0) {
      signal_server(pid, SIGCONT);
      return;
    }
    ASSERT_EQ(std::system(AW_MONGO_FAULT_START), 0);
  }
};

TEST_F(MongoFaults, CallsToAStoppedServerTimeOut) {
  with_client(quick_uri(), client_options(), [](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "stopped", 3);
    {
      stopped_server stopped;
      // The URI's socketTimeoutMS ends a call on a connection already open.
      EXPECT_THROW((void)co_await coll.find_one(doc("i", 1)), timeout_error);
      // The caller's scope ends one at once (the call is abandoned on its worker).
      bool done = co_await aw::move_on_after(200ms, [&]() -> aw::task<> { (void)co_await coll.count_documents(); });
      EXPECT_FALSE(done);
      // A call that needs a new connection: connectTimeoutMS, then server selection.
      EXPECT_THROW(co_await c.ping(), connection_error);
    }
    // Resumed: calls succeed again on the same client.
    auto d = co_await coll.find_one(doc("i", 2));
    EXPECT_TRUE(d);
    EXPECT_EQ(co_await coll.count_documents(), 3);
  });
}

// Issue 16, item 9: the cursor's exit used to send its close on the cursor's connection, behind
// the fetch the block abandoned, which holds it until the socket times out (600 s here).
TEST_F(MongoFaults, ACursorBlockEndsUnderItsScopeOnAStoppedServer) {
  client_options opts;
  opts.close_timeout(500ms);
  with_client(patient_uri(), opts, [](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "cursor", 10);
    stopped_server stopped(false);
    int seen = 0;
    bool done = co_await aw::move_on_after(1s, [&]() -> aw::task<> {
      co_await aw::async_with(coll.find(document(), find_options().batch_size(2)), [&](cursor& cur) -> aw::task<> {
        while (co_await cur.next()) {
          if (++seen == 2) stopped.stop();  // the next fetch meets a silent server
        }
      });
    });
    EXPECT_FALSE(done);
    EXPECT_EQ(seen, 2);
    // The server resumes: the abandoned fetch ends, closes the cursor and gives its connection
    // back; the client goes on (cursors included) meanwhile.
    stopped.resume();
    EXPECT_EQ(co_await coll.count_documents(), 10);
    int n = 0;
    co_await aw::async_with(coll.find(), [&](cursor& cur) -> aw::task<> {
      while (co_await cur.next()) ++n;
    });
    EXPECT_EQ(n, 10);
  });
}

// Issue 16, item 10: leaving the client used to wait for the calls stuck on its workers until
// the socket timed out (600 s here). With the default close_timeout it returns.
TEST_F(MongoFaults, LeavingTheClientDoesNotWaitForStuckCalls) {
  pid_t pid = 0;
  with_client(patient_uri(), client_options(), [&](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "leaving", 1);
    pid = server_pid();
    signal_server(pid, SIGSTOP);
    // Two calls left behind on the workers, a read and a write.
    bool done = co_await aw::move_on_after(300ms, [&]() -> aw::task<> {
      co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
        g.start_soon([&]() -> aw::task<> { (void)co_await coll.find_one(); });
        g.start_soon([&]() -> aw::task<> { (void)co_await coll.insert_one(doc("i", 1)); });
        co_return;
      });
    });
    EXPECT_FALSE(done);
  });
  signal_server(pid, SIGCONT);
  // The abandoned calls finish on their own now; a new client works meanwhile.
  with_client(quick_uri(), client_options(), [](client& c) -> aw::task<> { co_await c.ping(); });
}

TEST_F(MongoFaults, AServerKilledMidCallRaisesAndTheClientRecovers) {
  with_client(quick_uri(), client_options(), [](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "killed", 2);
    // SIGSTOP first so that the call is surely in flight when the server dies.
    signal_server(server_pid(), SIGSTOP);
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& g) -> aw::task<> {
      g.start_soon([&]() -> aw::task<> { EXPECT_THROW((void)co_await coll.find_one(doc("i", 1)), connection_error); });
      co_await aw::sleep(100ms);  // lets the call reach its worker and send
      kill_server();
    });
    // Down: refused at once, typed.
    EXPECT_THROW(co_await c.ping(), connection_error);
    co_await start_server();
    // Back (empty: CongoDB keeps its data in memory): the same client works again.
    co_await c.ping();
    auto r = co_await coll.insert_one(doc("i", 7));
    EXPECT_TRUE(r.acknowledged);
    auto d = co_await coll.find_one(doc("i", 7));
    EXPECT_TRUE(d);
    EXPECT_EQ(co_await coll.count_documents(), 1);
  });
}

TEST_F(MongoFaults, ARestartedServerServesTheSameClientAgain) {
  with_client(quick_uri(), client_options(), [](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "restarted", 3);
    // A cursor open across the restart fails typed; new calls succeed.
    co_await aw::async_with(coll.find(document(), find_options().batch_size(1)), [&](cursor& cur) -> aw::task<> {
      EXPECT_TRUE(co_await cur.next());
      co_await start_server();  // stops the running server (SIGTERM) first
      EXPECT_THROW((void)co_await cur.next(), error);
      (void)co_await coll.insert_one(doc("i", 1));
      EXPECT_EQ(co_await coll.count_documents(), 1);
    });
    EXPECT_TRUE(co_await coll.find_one(doc("i", 1)));
  });
}

}  // namespace
