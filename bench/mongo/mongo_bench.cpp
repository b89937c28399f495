// mongo_bench: one operation at a time against one server, asyncwith vs libmongoc's own
// synchronous calls on the calling thread. The server is the bottleneck; what is measured
// is what the worker handoff (queue, worker wake-up, posted completion, loop wake-up) adds
// per operation. bench/mongo/compare runs it with repetitions, randomly interleaved, so
// both sides see the same load on a shared machine.
//   MONGODB_URL=mongodb://127.0.0.1:27119 mongo_bench
#include <aw/async_with.hpp>
#include <aw/mongo.hpp>
#include <aw/run.hpp>
#include <aw/thread_pool.hpp>

#include "../../src/mongo/workers.hpp"  // the client's internal worker path, for the floor below

#include <benchmark/benchmark.h>
#include <mongoc/mongoc.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace aw::mongo;

std::string url() {
  const char* u = std::getenv("MONGODB_URL");
  return u ? u : "mongodb://127.0.0.1:27119/?serverSelectionTimeoutMS=5000";
}

// The find_1000 collection: 1000 small documents, made once.
void ensure_thousand(mongoc_client_t* c) {
  mongoc_collection_t* coll = mongoc_client_get_collection(c, "aw_bench", "thousand");
  bson_t empty = BSON_INITIALIZER;
  bson_error_t err;
  int64_t n = mongoc_collection_estimated_document_count(coll, nullptr, nullptr, nullptr, &err);
  if (n != 1000) {
    mongoc_collection_drop_with_opts(coll, nullptr, &err);
    std::vector<document> docs;
    std::vector<const void*> ptrs;  // (bson_t's alignment attribute would be dropped in a vector<const bson_t*>)
    for (int i = 0; i < 1000; ++i) docs.push_back(doc("i", i, "name", "item " + std::to_string(i), "score", i * 0.5));
    for (auto& d : docs) ptrs.push_back(d.native());
    mongoc_collection_insert_many(coll, reinterpret_cast<const bson_t**>(ptrs.data()), ptrs.size(), nullptr, nullptr, &err);
  }
  bson_destroy(&empty);
  mongoc_collection_destroy(coll);
}

// libmongoc on the calling thread. Single-threaded (a mongoc_client_t of its own: the
// server is checked on the caller's thread, between operations), or pooled: a client popped
// from a mongoc_client_pool_t, whose background threads monitor the server, as asyncwith's
// client does. The two differ against a server that answers an awaitable hello at once
// (CongoDB did; the fixture now holds it for maxAwaitTimeMS, as mongod): the pool's monitor
// then asks again and again, and the server, a single thread, serves those hellos between
// the operations measured.
struct sync_client {
  explicit sync_client(bool pooled = false) {
    mongoc_init();
    uri = mongoc_uri_new(url().c_str());
    if (pooled) {
      pool = mongoc_client_pool_new(uri);
      c = mongoc_client_pool_pop(pool);
    } else {
      c = mongoc_client_new_from_uri(uri);
    }
    ensure_thousand(c);
  }
  ~sync_client() {
    if (pool) {
      mongoc_client_pool_push(pool, c);
      mongoc_client_pool_destroy(pool);
    } else {
      mongoc_client_destroy(c);
    }
    mongoc_uri_destroy(uri);
  }
  mongoc_uri_t* uri;
  mongoc_client_pool_t* pool = nullptr;
  mongoc_client_t* c;
};

void sync_insert_one(benchmark::State& state, bool pooled) {
  sync_client s(pooled);
  mongoc_collection_t* coll = mongoc_client_get_collection(s.c, "aw_bench", pooled ? "inserts_pooled" : "inserts_sync");
  bson_error_t err;
  mongoc_collection_drop_with_opts(coll, nullptr, &err);
  int i = 0;
  for (auto _ : state) {
    document d = doc("_id", object_id::generate(), "i", i++, "name", "x");
    if (!mongoc_collection_insert_one(coll, d.native(), nullptr, nullptr, &err)) state.SkipWithError(err.message);
  }
  mongoc_collection_destroy(coll);
}

void sync_find_one(benchmark::State& state, bool pooled) {
  sync_client s(pooled);
  mongoc_collection_t* coll = mongoc_client_get_collection(s.c, "aw_bench", "thousand");
  int i = 0;
  for (auto _ : state) {
    document filter = doc("i", i++ % 1000);
    document opts = doc("limit", 1, "singleBatch", true);
    mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, filter.native(), opts.native(), nullptr);
    const bson_t* d;
    if (!mongoc_cursor_next(cur, &d)) state.SkipWithError("find_one found nothing");
    document copy = document::copy_of(d);
    benchmark::DoNotOptimize(copy);
    mongoc_cursor_destroy(cur);
  }
  mongoc_collection_destroy(coll);
}

void sync_find_1000(benchmark::State& state, bool pooled) {
  sync_client s(pooled);
  mongoc_collection_t* coll = mongoc_client_get_collection(s.c, "aw_bench", "thousand");
  for (auto _ : state) {
    bson_t empty = BSON_INITIALIZER;
    mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, &empty, nullptr, nullptr);
    const bson_t* d;
    int n = 0;
    while (mongoc_cursor_next(cur, &d)) {
      document copy = document::copy_of(d);
      benchmark::DoNotOptimize(copy);
      ++n;
    }
    if (n != 1000) state.SkipWithError("find_1000: not 1000 documents");
    mongoc_cursor_destroy(cur);
  }
  mongoc_collection_destroy(coll);
}

// pooled_find_1000's loop on a thread of its own, the main thread blocked in join: whether
// libmongoc is slower off the main thread by itself, without aw in the way.
void thread_find_1000(benchmark::State& state) {
  std::thread t([&] { sync_find_1000(state, true); });
  t.join();
}

void sync_insert_one(benchmark::State& state) { sync_insert_one(state, false); }
void sync_find_one(benchmark::State& state) { sync_find_one(state, false); }
void sync_find_1000(benchmark::State& state) { sync_find_1000(state, false); }
void pooled_insert_one(benchmark::State& state) { sync_insert_one(state, true); }
void pooled_find_one(benchmark::State& state) { sync_find_one(state, true); }
void pooled_find_1000(benchmark::State& state) { sync_find_1000(state, true); }

template <class Body>
void with_aw_client(benchmark::State& state, Body body) {
  {
    sync_client prepare;
  }
  aw::run([&]() -> aw::task<> {
    client c(url(), client_options().max_workers(4));
    co_await aw::async_with(c, [&](client& cl) -> aw::task<> { co_await body(state, cl); });
  });
}

void aw_insert_one(benchmark::State& state) {
  with_aw_client(state, [](benchmark::State& st, client& c) -> aw::task<> {
    auto coll = c["aw_bench"]["inserts_aw"];
    co_await coll.drop();
    int i = 0;
    for (auto _ : st) co_await coll.insert_one(doc("i", i++, "name", "x"));
  });
}

void aw_find_one(benchmark::State& state) {
  with_aw_client(state, [](benchmark::State& st, client& c) -> aw::task<> {
    auto coll = c["aw_bench"]["thousand"];
    int i = 0;
    for (auto _ : st) {
      auto d = co_await coll.find_one(doc("i", i++ % 1000));
      if (!d) st.SkipWithError("find_one found nothing");
    }
  });
}

void aw_find_1000(benchmark::State& state) {
  with_aw_client(state, [](benchmark::State& st, client& c) -> aw::task<> {
    auto coll = c["aw_bench"]["thousand"];
    for (auto _ : st) {
      auto cur = coll.find();
      int n = co_await aw::async_with(cur, [](cursor& cu) -> aw::task<int> {
        int k = 0;
        while (auto d = co_await cu.next()) ++k;
        co_return k;
      });
      if (n != 1000) st.SkipWithError("find_1000: not 1000 documents");
    }
  });
}

// The floor: what one trip to a worker and back costs with no database call in it, per op,
// on an idle loop. handoff_thread: a plain std::thread woken through a condition variable,
// answering through another (two cross-thread wake-ups, no loop). handoff_pool: a no-op
// through an aw::thread_pool as the client runs its calls (abandon_on_cancel, completion by
// loop::call_soon_threadsafe). handoff_workers: the client's own path (detail::workers::run),
// which also borrows a mongoc_client_t from the pool and gives it back.
void handoff_thread(benchmark::State& state) {
  std::mutex m;
  std::condition_variable to_worker, to_caller;
  int sent = 0, answered = 0;
  bool stop = false;
  std::thread worker([&] {
    std::unique_lock lock(m);
    for (;;) {
      to_worker.wait(lock, [&] { return stop || sent > answered; });
      if (stop) return;
      ++answered;
      to_caller.notify_one();
    }
  });
  for (auto _ : state) {
    std::unique_lock lock(m);
    ++sent;
    to_worker.notify_one();
    to_caller.wait(lock, [&] { return answered == sent; });
  }
  {
    std::lock_guard lock(m);
    stop = true;
  }
  to_worker.notify_one();
  worker.join();
}

void handoff_pool(benchmark::State& state) {
  aw::thread_pool pool(4);
  aw::run([&]() -> aw::task<> {
    for (auto _ : state) co_await pool.run([] {}, aw::run_options{.abandon_on_cancel = true});
  });
}

void handoff_workers(benchmark::State& state) {
  sync_client s(true);
  {
    aw::mongo::detail::workers w(s.pool, 4);
    aw::run([&]() -> aw::task<> {
      for (auto _ : state) co_await w.run(nullptr, [](mongoc_client_t*) {});
    });
  }
}

// libmongoc's insert_one as sync_insert_one calls it, but through the client's worker path:
// the driver call plus the floor, without the rest of aw::mongo's API around it.
void workers_insert_one(benchmark::State& state) {
  sync_client s(true);
  mongoc_collection_t* coll = mongoc_client_get_collection(s.c, "aw_bench", "inserts_workers");
  bson_error_t err;
  mongoc_collection_drop_with_opts(coll, nullptr, &err);
  mongoc_collection_destroy(coll);
  {
    aw::mongo::detail::workers w(s.pool, 4);
    aw::run([&]() -> aw::task<> {
      int i = 0;
      for (auto _ : state) {
        auto job = [d = doc("_id", object_id::generate(), "i", i++, "name", "x")](mongoc_client_t* c) {
          mongoc_collection_t* cl = mongoc_client_get_collection(c, "aw_bench", "inserts_workers");
          bson_error_t e;
          bool ok = mongoc_collection_insert_one(cl, d.native(), nullptr, nullptr, &e);
          mongoc_collection_destroy(cl);
          return ok;
        };
        if (!co_await w.run(nullptr, std::move(job))) state.SkipWithError("insert failed");
      }
    });
  }
}

// sync_find_1000 through the client's worker path in one trip (the worker iterates the whole
// cursor and hands back the bytes; the documents are made on the loop): the least a find of
// 1000 can cost on workers, without aw::mongo's cursor around it.
void workers_find_1000(benchmark::State& state) {
  sync_client s(true);
  {
    aw::mongo::detail::workers w(s.pool, 4);
    aw::run([&]() -> aw::task<> {
      for (auto _ : state) {
        auto job = [](mongoc_client_t* c) {
          mongoc_collection_t* coll = mongoc_client_get_collection(c, "aw_bench", "thousand");
          bson_t empty = BSON_INITIALIZER;
          mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, &empty, nullptr, nullptr);
          std::vector<std::uint8_t> got;  // the documents' bytes back to back, as aw::mongo's cursor
          const bson_t* d;
          while (mongoc_cursor_next(cur, &d)) got.insert(got.end(), bson_get_data(d), bson_get_data(d) + d->len);
          mongoc_cursor_destroy(cur);
          mongoc_collection_destroy(coll);
          return got;
        };
        auto bytes = co_await w.run(nullptr, std::move(job));
        int n = 0;
        for (std::size_t at = 0; at < bytes.size(); ++n) {
          std::uint32_t len;
          std::memcpy(&len, bytes.data() + at, sizeof len);
          document copy = document::adopt(bson_new_from_data(bytes.data() + at, len));
          benchmark::DoNotOptimize(copy);
          at += len;
        }
        if (n != 1000) state.SkipWithError("find_1000: not 1000 documents");
      }
    });
  }
}

}  // namespace

// Fixed counts, and wall-clock time (the caller mostly waits): CongoDB's inserts slow down
// as a collection grows, so every side inserts the same number of documents into a fresh one.
BENCHMARK(sync_insert_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(pooled_insert_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(workers_insert_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(aw_insert_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(sync_find_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(pooled_find_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(aw_find_one)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(1000);
BENCHMARK(handoff_thread)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(5000);
BENCHMARK(handoff_pool)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(5000);
BENCHMARK(handoff_workers)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(5000);
BENCHMARK(sync_find_1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
BENCHMARK(pooled_find_1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
BENCHMARK(thread_find_1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
BENCHMARK(workers_find_1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
BENCHMARK(aw_find_1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);

#include "../bench_main.hpp"
