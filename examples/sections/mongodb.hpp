// MongoDB: the tutorial's motor row.
//
//   async with AsyncIOMotorClient(url) as client:           # motor: pymongo on a thread pool
//       people = client.tour.people
//       await people.insert_many([...])
//       async for doc in people.find({"born": {"$lt": 1900}}).sort("born"): ...
//       async with await client.start_session() as s:
//           async with s.start_transaction(): ...           # commit, or abort on an exception
//
// aw::mongo does the same with libmongoc on the client's own worker threads. With a
// connection string (the program's argument, or MONGODB_URL) it uses that server; without
// one it starts the test suite's in-memory server (CongoDB, on node) on 127.0.0.1:27119 and
// stops it at the end, when node is there.
#pragma once

#include <aw/aw.hpp>
#include <aw/mongo.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mongodb {

using namespace std::chrono_literals;
using namespace aw::mongo;

// The test server, started and stopped by the suite's fixture scripts (found from this
// file's place in the source tree).
class local_server {
 public:
  local_server() {
    std::string here = __FILE__;
    fixture_ = here.substr(0, here.rfind("/examples/")) + "/tests/fixtures/congodb/";
    dir_ = "/tmp/aw-tour-congodb-" + std::to_string(::getpid());
    std::string cmd = "command -v node >/dev/null && '" + fixture_ + "start' '" + dir_ + "' 27119 >/dev/null";
    ok_ = std::system(cmd.c_str()) == 0;  // before the loop does anything: a blocking start is fine
  }
  ~local_server() {
    if (!ok_) return;
    std::string cmd = "'" + fixture_ + "stop' '" + dir_ + "'; rm -rf '" + dir_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  bool ok() const { return ok_; }

 private:
  std::string fixture_, dir_;
  bool ok_ = false;
};

inline aw::task<> use(std::string url) {
  client mongo(url, client_options().max_workers(4));
  std::printf("client on %s (%zu workers, libmongoc)\n", mongo.redacted_uri().c_str(), std::size_t{4});
  co_await aw::async_with(mongo, [](client& c) -> aw::task<> {
    auto people = c["tour"]["people"];
    co_await people.drop();
    std::vector<document> docs;
    docs.push_back(document{{"name", "Ada"}, {"born", 1815}, {"field", "mathematics"}});
    docs.push_back(document{{"name", "Grace"}, {"born", 1906}, {"field", "compilers"}});
    docs.push_back(document{{"name", "Alan"}, {"born", 1912}, {"field", "computability"}});
    docs.push_back(document{{"name", "Charles"}, {"born", 1791}, {"field", "engines"}});
    auto inserted = co_await people.insert_many(std::move(docs));
    std::printf("insert_many: %zu ids, the first %s\n", inserted.inserted_ids.size(), inserted.inserted_ids[0].to_json().c_str());

    // doc(...) builds a document inside a co_await (g++ 12 rejects braces there).
    auto ada = co_await people.find_one(doc("name", "Ada"), find_options().projection(doc("_id", 0)));
    std::printf("find_one: %s\n", ada ? ada->to_relaxed_json().c_str() : "none");

    // async for doc in people.find(...): batches of 2 fetched on the workers; leaving the
    // block closes the cursor on every path.
    auto before_1900 = people.find(doc("born", doc("$lt", 1900)), find_options().sort(doc("born", 1)).batch_size(2));
    co_await aw::async_with(before_1900, [](cursor& cur) -> aw::task<> {
      std::printf("born before 1900:");
      while (auto d = co_await cur.next()) std::printf(" %s (%d)", d->get<std::string>("name").c_str(), d->get<std::int32_t>("born"));
      std::printf("\n");
    });

    auto u = co_await people.update_many(doc("born", doc("$gte", 1900)), doc("$set", doc("century", 20)));
    std::printf("update_many: matched %lld, modified %lld\n", static_cast<long long>(u.matched_count),
                static_cast<long long>(u.modified_count));

    // Typed errors: a duplicate _id is duplicate_key_error (code 11000) with the key.
    auto first_id = inserted.inserted_ids[0];
    try {
      co_await people.insert_one(doc("_id", first_id, "name", "Ada again"));
    } catch (const duplicate_key_error& e) {
      std::printf("duplicate_key_error: code %d, key %s\n", e.code(), e.key_value() ? e.key_value()->to_relaxed_json().c_str() : "?");
    }

    // Cancellation: the call returns at once; its worker finishes or drops the job.
    bool done = co_await aw::move_on_after(0s, [&]() -> aw::task<> { co_await people.count_documents(); });
    std::printf("count_documents under move_on_after(0s): %s\n", done ? "finished" : "cancelled at once");

    // A session and a transaction: commit on success, abort on an exception.
    auto s = c.start_session();
    co_await aw::async_with(s, [&](session& sess) -> aw::task<> {
      auto t = sess.start_transaction();
      co_await aw::async_with(t, [&](transaction&) -> aw::task<> {
        co_await people.insert_one(doc("name", "Barbara", "born", 1939), write_options().session(sess));
      });
    });
    std::printf("after the transaction: %lld people\n", static_cast<long long>(co_await people.count_documents()));
    co_await people.drop();
  });
  std::printf("client closed: its workers have stopped\n");
}

inline aw::task<> demo(std::string url = "") {
  if (url.empty())
    if (const char* env = std::getenv("MONGODB_URL")) url = env;
  if (!url.empty()) {
    co_await use(url);
    co_return;
  }
  std::printf("no MONGODB_URL: starting the test server (CongoDB, in memory) on 127.0.0.1:27119\n");
  local_server server;
  if (!server.ok()) {
    std::printf("could not start it (is node installed? see tests/fixtures/congodb/start); skipped\n");
    co_return;
  }
  co_await use("mongodb://127.0.0.1:27119/?serverSelectionTimeoutMS=5000");
}

}  // namespace mongodb
