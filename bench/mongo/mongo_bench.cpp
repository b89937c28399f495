// mongo_bench: one operation at a time against one server, asyncwith vs libmongoc's own
// synchronous calls on the calling thread. The server is the bottleneck; what is measured
// is what the worker handoff (queue, worker wake-up, posted completion, loop wake-up) adds
// per operation. bench/mongo/compare runs it with repetitions, randomly interleaved, so
// both sides see the same load on a shared machine. The GridFS lines (a 1 MiB and a 16 KiB
// file, 255 KiB chunks) upload and download through a bucket on every side, libmongoc's
// mongoc_gridfs_bucket_t underneath.
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

// GridFS: the bucket aw_bench.gfs, default chunk size (255 KiB on every side). It holds the
// two files the download lines read, under fixed _ids that peers.py uses too; the upload
// lines delete each file they upload, outside the time measured, so every upload meets the
// same bucket (these two files) on every side.
constexpr std::size_t gridfs_1m = std::size_t{1} << 20;
constexpr std::size_t gridfs_16k = std::size_t{16} << 10;

object_id gridfs_file_id(std::size_t size) {
  return object_id::from_string(size == gridfs_1m ? "000000000000000000000001" : "000000000000000000000002");
}

// The bytes of every file, uploaded or downloaded: byte i is i % 251 (as in peers.py).
std::string gridfs_payload(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

bson_value_t oid_value(const object_id& id) {
  bson_value_t v{};
  v.value_type = BSON_TYPE_OID;
  bson_oid_copy(&id.native(), &v.value.v_oid);
  return v;
}

// mongoc_gridfs_bucket_t on aw_bench.gfs, made once per client, as a libmongoc program keeps
// its bucket (it checks the indexes once, on its first upload).
struct sync_bucket {
  explicit sync_bucket(mongoc_client_t* c) : db(mongoc_client_get_database(c, "aw_bench")) {
    document opts = doc("bucketName", "gfs");
    bson_error_t err{};
    b = mongoc_gridfs_bucket_new(db, opts.native(), nullptr, &err);
    if (!b) std::abort();
  }
  ~sync_bucket() {
    mongoc_gridfs_bucket_destroy(b);
    mongoc_database_destroy(db);
  }
  sync_bucket(const sync_bucket&) = delete;
  sync_bucket& operator=(const sync_bucket&) = delete;
  mongoc_database_t* db;
  mongoc_gridfs_bucket_t* b;
};

// The download lines' two files, made once (again if one is missing or of another length).
void ensure_gridfs(mongoc_client_t* c) {
  sync_bucket bucket(c);
  mongoc_collection_t* files = mongoc_database_get_collection(bucket.db, "gfs.files");
  mongoc_collection_t* chunks = mongoc_database_get_collection(bucket.db, "gfs.chunks");
  for (std::size_t size : {gridfs_1m, gridfs_16k}) {
    const object_id oid = gridfs_file_id(size);
    document filter = doc("_id", oid);
    mongoc_cursor_t* cur = mongoc_collection_find_with_opts(files, filter.native(), nullptr, nullptr);
    const bson_t* d;
    bson_iter_t it;
    const bool ok =
        mongoc_cursor_next(cur, &d) && bson_iter_init_find(&it, d, "length") && bson_iter_as_int64(&it) == static_cast<std::int64_t>(size);
    mongoc_cursor_destroy(cur);
    if (ok) continue;
    // Whatever was there under that _id, stray chunks included (delete_by_id leaves those
    // of a file without its files document).
    bson_error_t err{};
    document of_file = doc("files_id", oid);
    mongoc_collection_delete_many(chunks, of_file.native(), nullptr, nullptr, &err);
    mongoc_collection_delete_one(files, filter.native(), nullptr, nullptr, &err);
    const bson_value_t id = oid_value(oid);
    mongoc_stream_t* up = mongoc_gridfs_bucket_open_upload_stream_with_id(bucket.b, &id, "download", nullptr, &err);
    std::string data = gridfs_payload(size);
    if (!up || mongoc_stream_write(up, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size()) || mongoc_stream_close(up) != 0)
      std::abort();
    mongoc_stream_destroy(up);
  }
  mongoc_collection_destroy(chunks);
  mongoc_collection_destroy(files);
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
    ensure_gridfs(c);
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

// One file a time: open an upload stream, write the whole file in one call, close it (which
// writes the last chunk and the files document). The delete is not timed.
void sync_gridfs_upload(benchmark::State& state, bool pooled, std::size_t size) {
  sync_client s(pooled);
  sync_bucket bucket(s.c);
  const std::string data = gridfs_payload(size);
  for (auto _ : state) {
    bson_value_t id;
    bson_error_t err{};
    mongoc_stream_t* up = mongoc_gridfs_bucket_open_upload_stream(bucket.b, "upload", nullptr, &id, &err);
    if (!up) {
      state.SkipWithError(err.message);
      break;
    }
    const bool written = mongoc_stream_write(up, const_cast<char*>(data.data()), data.size(), 0) == static_cast<ssize_t>(data.size());
    if (mongoc_stream_close(up) != 0 || !written) {
      mongoc_gridfs_bucket_stream_error(up, &err);
      state.SkipWithError(err.message);
    }
    mongoc_stream_destroy(up);
    state.PauseTiming();
    if (!mongoc_gridfs_bucket_delete_by_id(bucket.b, &id, &err)) state.SkipWithError(err.message);
    bson_value_destroy(&id);
    state.ResumeTiming();
  }
}

// The whole file into a new buffer: open a download stream by _id, read to the end.
void sync_gridfs_download(benchmark::State& state, bool pooled, std::size_t size) {
  sync_client s(pooled);
  sync_bucket bucket(s.c);
  const bson_value_t id = oid_value(gridfs_file_id(size));
  std::string last;
  for (auto _ : state) {
    bson_error_t err{};
    mongoc_stream_t* down = mongoc_gridfs_bucket_open_download_stream(bucket.b, &id, &err);
    if (!down) {
      state.SkipWithError(err.message);
      break;
    }
    std::string buf(size, '\0');
    std::size_t got = 0;
    ssize_t r;
    while (got < size && (r = mongoc_stream_read(down, buf.data() + got, size - got, size - got, 0)) > 0)
      got += static_cast<std::size_t>(r);
    mongoc_stream_destroy(down);
    if (got != size) state.SkipWithError("download: short read");
    last = std::move(buf);
  }
  if (last != gridfs_payload(size)) state.SkipWithError("download: wrong bytes");
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
void sync_gridfs_upload_1m(benchmark::State& state) { sync_gridfs_upload(state, false, gridfs_1m); }
void sync_gridfs_download_1m(benchmark::State& state) { sync_gridfs_download(state, false, gridfs_1m); }
void sync_gridfs_upload_16k(benchmark::State& state) { sync_gridfs_upload(state, false, gridfs_16k); }
void sync_gridfs_download_16k(benchmark::State& state) { sync_gridfs_download(state, false, gridfs_16k); }
void pooled_gridfs_upload_1m(benchmark::State& state) { sync_gridfs_upload(state, true, gridfs_1m); }
void pooled_gridfs_download_1m(benchmark::State& state) { sync_gridfs_download(state, true, gridfs_1m); }
void pooled_gridfs_upload_16k(benchmark::State& state) { sync_gridfs_upload(state, true, gridfs_16k); }
void pooled_gridfs_download_16k(benchmark::State& state) { sync_gridfs_download(state, true, gridfs_16k); }

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

// sync_gridfs_upload's loop: an upload stream entered, one write, left (which saves the file).
void aw_gridfs_upload(benchmark::State& state, std::size_t size) {
  with_aw_client(state, [size](benchmark::State& st, client& c) -> aw::task<> {
    gridfs_bucket fs(c["aw_bench"], gridfs_bucket_options().bucket_name("gfs"));
    const std::string data = gridfs_payload(size);
    for (auto _ : st) {
      auto up = fs.open_upload_stream("upload");
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> { co_await s.write(data); });
      st.PauseTiming();
      co_await fs.delete_file(up.file_id());
      st.ResumeTiming();
    }
  });
}

// sync_gridfs_download's loop: a download stream entered, read() to the end, left.
void aw_gridfs_download(benchmark::State& state, std::size_t size) {
  with_aw_client(state, [size](benchmark::State& st, client& c) -> aw::task<> {
    gridfs_bucket fs(c["aw_bench"], gridfs_bucket_options().bucket_name("gfs"));
    std::string last;
    for (auto _ : st) {
      auto down = fs.open_download_stream(gridfs_file_id(size));
      last = co_await aw::async_with(down, [](gridfs_download_stream& s) -> aw::task<std::string> { co_return co_await s.read(); });
      if (last.size() != size) st.SkipWithError("download: short read");
    }
    if (last != gridfs_payload(size)) st.SkipWithError("download: wrong bytes");
  });
}

void aw_gridfs_upload_1m(benchmark::State& state) { aw_gridfs_upload(state, gridfs_1m); }
void aw_gridfs_download_1m(benchmark::State& state) { aw_gridfs_download(state, gridfs_1m); }
void aw_gridfs_upload_16k(benchmark::State& state) { aw_gridfs_upload(state, gridfs_16k); }
void aw_gridfs_download_16k(benchmark::State& state) { aw_gridfs_download(state, gridfs_16k); }

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
// GridFS: fixed counts as well, so that every side makes the same number of files.
BENCHMARK(sync_gridfs_upload_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(pooled_gridfs_upload_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(aw_gridfs_upload_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(sync_gridfs_download_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(pooled_gridfs_download_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(aw_gridfs_download_1m)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(100);
BENCHMARK(sync_gridfs_upload_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);
BENCHMARK(pooled_gridfs_upload_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);
BENCHMARK(aw_gridfs_upload_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);
BENCHMARK(sync_gridfs_download_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);
BENCHMARK(pooled_gridfs_download_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);
BENCHMARK(aw_gridfs_download_16k)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(500);

#include "../bench_main.hpp"
