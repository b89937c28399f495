// aw::mongo::gridfs_bucket and its streams, on libmongoc's GridFS bucket
// (mongoc_gridfs_bucket_t): libmongoc chunks uploads, creates the indexes on the first write,
// saves the files document, aborts, reads and checks chunks, and deletes by id. Written here,
// because libmongoc's bucket has no such call:
// - the lookup by name and revision (pymongo's open_download_stream_by_name): a find on
//   <bucket>.files sorted by uploadDate, skipping `revision` documents;
// - the files document of a download stream (length, metadata, ...): libmongoc reads it to
//   open the stream but keeps it private, so the open job reads it first (one more query);
// - rename and find: an update and a find on <bucket>.files, through collection;
// - deleting the stray chunks of a missing file, as pymongo's delete does (libmongoc returns
//   "not found" before deleting chunks).
//
// A stream lives on a lease (one mongoc_client_t for its life, as a cursor: the bucket and
// its stream belong to that client). Its handles are created and destroyed by its jobs, on
// a worker under the lease's lock. Every job counts itself in gridfs_core::in_flight; a
// stream left while a job it abandoned still runs does not wait behind it: the last such job
// aborts the upload, destroys the handles and gives the lease back (flight.hpp, as for a
// cursor).
#include "internal.hpp"

#include <aw/exceptions.hpp>
#include <aw/mongo/gridfs.hpp>

#include <mongoc/mongoc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace aw::mongo {
namespace detail {

namespace {

// The GridFS errors of libmongoc, typed as pymongo's gridfs.errors; others as every call's.
[[noreturn]] void gridfs_fail(const bson_error_t& err, const std::string& what) {
  const std::string msg = "aw::mongo: " + what + ": " + err.message;
  if (err.domain == MONGOC_ERROR_GRIDFS) {
    switch (err.code) {
      case MONGOC_ERROR_GRIDFS_BUCKET_FILE_NOT_FOUND:
        throw no_file_error(msg, err.domain, err.code);
      case MONGOC_ERROR_GRIDFS_CHUNK_MISSING:
      case MONGOC_ERROR_GRIDFS_CORRUPT:
        throw corrupt_file_error(msg, err.domain, err.code);
      default:
        throw gridfs_error(msg, err.domain, err.code);
    }
  }
  // A chunk or a files document whose key is taken: the id is another file's (FileExists).
  if (err.code == 11000) throw file_exists_error(msg, err.domain, err.code);
  throw_error(err, nullptr, what);
}

// {"_id": v}: a document to hold a value whose bson_value_t libmongoc wants.
class id_holder {
 public:
  document d;
  explicit id_holder(const value& v) : d(doc("_id", v)) {}
  // Points into it_ (and d): valid while this holder lives and is not copied.
  const bson_value_t* get() const {
    bson_iter_init_find(&it_, d.native(), "_id");
    return bson_iter_value(&it_);
  }

 private:
  mutable bson_iter_t it_{};
};

}  // namespace

// What a stream's jobs share. The handles are touched on workers under the lease's lock
// only; the counters under m.
struct gridfs_core {
  // Set on the loop before the first job, read-only after.
  bool upload = false;
  std::string db_name, bucket_name, filename, what;
  document bucket_opts, upload_opts;
  std::optional<id_holder> id;
  std::int32_t file_chunk_size = 0;  // upload: this file's chunk size

  // Upload: bytes handed to libmongoc so far.
  std::int64_t written = 0;

  mongoc_database_t* db = nullptr;
  mongoc_gridfs_bucket_t* bucket = nullptr;
  mongoc_stream_t* stream = nullptr;

  // The upload's _id is another file's (a duplicate key): the chunks of that id are the
  // other file's, so aborting deletes nothing (libmongoc's abort would delete them all).
  bool id_taken = false;

  std::mutex m;
  int in_flight = 0;
  bool orphaned = false;

  bool has_handles() const noexcept { return db || bucket || stream; }
  // The last job of an orphaned stream (flight::end) aborts the upload and destroys the
  // handles.
  void release_orphaned() noexcept {
    if (upload) abort_upload();
    destroy();
  }

  void open_bucket(mongoc_client_t* c) {
    if (bucket) return;
    db = mongoc_client_get_database(c, db_name.c_str());
    bson_error_t err{};
    bucket = mongoc_gridfs_bucket_new(db, bucket_opts.native(), nullptr, &err);
    if (!bucket) {
      destroy();
      gridfs_fail(err, what);
    }
  }
  // An upload's stream, created by its first job (creating it sends nothing, so entering
  // the stream costs no trip to a worker).
  void open_upload(mongoc_client_t* c) {
    if (stream) return;
    open_bucket(c);
    bson_error_t err{};
    stream = mongoc_gridfs_bucket_open_upload_stream_with_id(bucket, id->get(), filename.c_str(), upload_opts.native(), &err);
    if (!stream) {
      destroy();
      gridfs_fail(err, what);
    }
  }
  [[noreturn]] void fail_stream() {
    bson_error_t err{};
    if (!mongoc_gridfs_bucket_stream_error(stream, &err))
      bson_set_error(&err, MONGOC_ERROR_GRIDFS, MONGOC_ERROR_GRIDFS_BUCKET_STREAM, "stream error");
    if (err.code == 11000) id_taken = true;
    gridfs_fail(err, what);
  }
  // Deletes the chunks an upload wrote (its files document is not written after that).
  bool abort_upload() noexcept {
    // Without the abort, destroying the stream does not save it either: its error stays set.
    if (!stream || id_taken) return true;
    return mongoc_gridfs_bucket_abort_upload(stream);
  }
  void destroy() noexcept {
    // Destroying an upload stream saves the file unless it was saved or aborted: callers
    // abort first when it must not be saved.
    if (stream) mongoc_stream_destroy(stream);
    if (bucket) mongoc_gridfs_bucket_destroy(bucket);
    if (db) mongoc_database_destroy(db);
    stream = nullptr;
    bucket = nullptr;
    db = nullptr;
  }
};

struct gridfs_stream_state {
  std::shared_ptr<client_state> c;
  std::shared_ptr<gridfs_core> core = std::make_shared<gridfs_core>();
  std::shared_ptr<lease> l;
  bool entered = false;
  // A write or read was cancelled or abandoned: where the stream stands is unknown.
  bool broken = false;
  bool closed = false;  // upload: saved or aborted
  // Upload.
  value file_id;
  // Download: what to open, then the files document and the position.
  std::optional<value> want_id;
  std::int32_t revision = -1;
  document file;
  value file_id_read;
  std::string filename_read;
  std::int64_t length = 0, pos = 0;
  std::int32_t chunk_size = 0;

  // body(core) on a worker, on the stream's lease.
  template <class F>
  auto run(F body) {
    auto job = [core = core, l = l, flight = flight<gridfs_core>(core), body = std::move(body)](mongoc_client_t*) mutable {
      auto end = flight.end_on_exit(*l);
      return body(*core);
    };
    return c->run(l, std::move(job));
  }
  template <class F>
  auto run_with_client(F body) {
    auto job = [core = core, l = l, flight = flight<gridfs_core>(core), body = std::move(body)](mongoc_client_t* client) mutable {
      auto end = flight.end_on_exit(*l);
      return body(client, *core);
    };
    return c->run(l, std::move(job));
  }

  // Leaves the stream: saves the upload when `save`, else aborts it (`quiet`: an abort that
  // fails raises nothing, the exception in flight stands); releases the handles and the
  // lease, or hands them to a job still running.
  task<> close(bool save, bool quiet) {
    if (!l) co_return;
    bool orphan, handles = false;
    {
      std::lock_guard g(core->m);
      orphan = core->in_flight > 0;
      if (orphan)
        core->orphaned = true;
      else
        handles = core->has_handles();  // no job runs: none writes them (with one, a worker may)
    }
    if (orphan) {
      c->orphan_lease(*l);
      l.reset();
      co_return;
    }
    std::exception_ptr err;
    if (handles || (save && core->upload)) {
      auto job = [this, save, quiet]() -> task<> {
        co_await run_with_client([save, quiet](mongoc_client_t* client, gridfs_core& k) {
          if (!k.upload) {
            k.destroy();
          } else if (save) {
            k.open_upload(client);
            if (mongoc_stream_close(k.stream) != 0) {
              bson_error_t e{};
              mongoc_gridfs_bucket_stream_error(k.stream, &e);
              if (e.code == 11000) k.id_taken = true;
              k.abort_upload();
              k.destroy();
              gridfs_fail(e, k.what);
            }
            k.destroy();
          } else {
            const bool ok = k.abort_upload();
            bson_error_t e{};
            const bool has_error = !ok && k.stream && mongoc_gridfs_bucket_stream_error(k.stream, &e);
            k.destroy();
            if (has_error && !quiet) gridfs_fail(e, k.what);
          }
        });
      };
      try {
        co_await shielded(job);
      } catch (...) {
        err = std::current_exception();
      }
    }
    c->release_lease(*l);
    l.reset();
    closed = true;
    if (err) std::rethrow_exception(err);
  }
};

}  // namespace detail

namespace {

void check_chunk_size(std::int32_t n) {
  if (n <= 0) throw configuration_error("aw::mongo: GridFS chunk size must be positive, not " + std::to_string(n), 0, 0);
}

bool is_cancellation(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const aw::cancelled&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

// ---- gridfs_upload_stream ----------------------------------------------------------------

gridfs_upload_stream::gridfs_upload_stream(std::shared_ptr<detail::gridfs_stream_state> s) noexcept : s_(std::move(s)) {}
gridfs_upload_stream::gridfs_upload_stream(gridfs_upload_stream&&) noexcept = default;
gridfs_upload_stream::~gridfs_upload_stream() = default;

const value& gridfs_upload_stream::file_id() const noexcept { return s_->file_id; }
const std::string& gridfs_upload_stream::filename() const noexcept { return s_->core->filename; }
bool gridfs_upload_stream::closed() const noexcept { return s_->closed; }

task<gridfs_upload_stream&> gridfs_upload_stream::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a GridFS upload stream can be entered once");
  s_->c->check_open();
  s_->l = co_await s_->c->acquire_lease();
  s_->entered = true;
  co_return *this;
}

task<> gridfs_upload_stream::aexit(std::exception_ptr e) {
  if (!s_->entered) co_return;
  const bool save = !e && !s_->broken && !s_->closed;
  co_await s_->close(save, e != nullptr);
}

task<> gridfs_upload_stream::write(std::string_view data) {
  if (!s_->l || s_->closed) throw gridfs_error("aw::mongo: the GridFS upload stream is closed", 0, 0);
  if (s_->broken) throw gridfs_error("aw::mongo: a write on this GridFS upload stream was cancelled: the upload can only be aborted", 0, 0);
  if (data.empty()) co_return;
  auto job = s_->run_with_client([data = std::string(data)](mongoc_client_t* c, detail::gridfs_core& k) {
    k.open_upload(c);
    // Handed to libmongoc in pieces that end where a chunk fills. Its writev ignores a chunk
    // that fails to insert: with more bytes after it in the same call, it would try the
    // insert again for each of them, forever (the buffer stays full). Ending each call at a
    // chunk boundary makes a failed insert the call's last step; the error is then on the
    // stream, and stops us.
    const auto cs = static_cast<std::size_t>(k.file_chunk_size);
    std::size_t at = 0;
    while (at < data.size()) {
      const std::size_t room = cs - static_cast<std::size_t>(k.written % k.file_chunk_size);
      const std::size_t n = std::min(room, data.size() - at);
      const ssize_t r = mongoc_stream_write(k.stream, const_cast<char*>(data.data() + at), n, 0);
      bson_error_t e{};
      if (r < 0 || mongoc_gridfs_bucket_stream_error(k.stream, &e)) k.fail_stream();
      k.written += static_cast<std::int64_t>(n);
      at += n;
    }
  });
  std::exception_ptr err;
  try {
    co_await std::move(job);
  } catch (...) {
    err = std::current_exception();
  }
  if (err) {
    if (is_cancellation(err)) s_->broken = true;
    std::rethrow_exception(err);
  }
}

task<> gridfs_upload_stream::abort() {
  if (!s_->l) throw gridfs_error("aw::mongo: the GridFS upload stream is not open", 0, 0);
  if (s_->closed) co_return;
  auto job = s_->run([](detail::gridfs_core& k) {
    const bool ok = k.abort_upload();
    bson_error_t e{};
    const bool has_error = !ok && k.stream && mongoc_gridfs_bucket_stream_error(k.stream, &e);
    k.destroy();
    if (has_error) detail::gridfs_fail(e, k.what);
  });
  // Closed whatever happens: the stream was marked aborted before the delete was sent.
  s_->closed = true;
  co_await std::move(job);
}

// ---- gridfs_download_stream --------------------------------------------------------------

gridfs_download_stream::gridfs_download_stream(std::shared_ptr<detail::gridfs_stream_state> s) noexcept : s_(std::move(s)) {}
gridfs_download_stream::gridfs_download_stream(gridfs_download_stream&&) noexcept = default;
gridfs_download_stream::~gridfs_download_stream() = default;

task<gridfs_download_stream&> gridfs_download_stream::aenter() {
  enter_check_.entered();
  if (s_->entered) throw closed_error("aw::mongo: a GridFS download stream can be entered once");
  s_->c->check_open();
  s_->l = co_await s_->c->acquire_lease();
  std::optional<document> want;
  if (s_->want_id) want = doc("_id", *s_->want_id);
  auto job = s_->run_with_client([want = std::move(want), revision = s_->revision](mongoc_client_t* c, detail::gridfs_core& k) {
    k.open_bucket(c);
    // The files document, by hand (see the top of this file).
    document filter = want ? *want : doc("filename", k.filename);
    document opts;
    if (!want) {
      // pymongo: revision >= 0 counts from the oldest, -1 is the newest.
      opts = doc("sort", doc("uploadDate", revision >= 0 ? 1 : -1), "skip",
                 static_cast<long long>(revision >= 0 ? revision : -revision - 1), "limit", 1);
    }
    mongoc_collection_t* files = mongoc_database_get_collection(k.db, (k.bucket_name + ".files").c_str());
    mongoc_cursor_t* cur = mongoc_collection_find_with_opts(files, filter.native(), opts.native(), nullptr);
    const bson_t* d = nullptr;
    std::optional<document> found;
    if (mongoc_cursor_next(cur, &d)) found = document::copy_of(d);
    bson_error_t err{};
    const bool failed = mongoc_cursor_error(cur, &err);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(files);
    if (failed) {
      k.destroy();
      detail::gridfs_fail(err, k.what);
    }
    if (!found) {
      k.destroy();
      std::string msg = want ? "aw::mongo: " + k.what + ": no file with _id " + want->get<value>("_id").to_json()
                             : "aw::mongo: " + k.what + ": no revision " + std::to_string(revision) + " of \"" + k.filename + "\"";
      throw no_file_error(msg, MONGOC_ERROR_GRIDFS, MONGOC_ERROR_GRIDFS_BUCKET_FILE_NOT_FOUND);
    }
    detail::id_holder id(found->get<value>("_id"));
    k.stream = mongoc_gridfs_bucket_open_download_stream(k.bucket, id.get(), &err);
    if (!k.stream) {
      k.destroy();
      detail::gridfs_fail(err, k.what);
    }
    return *found;
  });
  std::exception_ptr err;
  try {
    s_->file = co_await std::move(job);
    s_->file_id_read = s_->file.get<value>("_id");
    s_->filename_read = s_->file.find<std::string>("filename").value_or("");
    s_->length = s_->file.find<std::int64_t>("length").value_or(0);
    s_->chunk_size = static_cast<std::int32_t>(s_->file.find<std::int64_t>("chunkSize").value_or(0));
  } catch (...) {
    err = std::current_exception();
  }
  if (err) {
    // aexit is not called when entering fails: the handles and the lease go back here.
    co_await s_->close(false, true);
    std::rethrow_exception(err);
  }
  s_->entered = true;
  co_return *this;
}

task<> gridfs_download_stream::aexit(std::exception_ptr) {
  if (!s_->entered) co_return;
  co_await s_->close(false, true);
}

task<std::string> gridfs_download_stream::read(std::size_t n) {
  if (!s_->entered || !s_->l) throw gridfs_error("aw::mongo: the GridFS download stream is not open", 0, 0);
  if (s_->broken) throw gridfs_error("aw::mongo: a read on this GridFS download stream was cancelled: its position is unknown", 0, 0);
  const auto left = static_cast<std::size_t>(std::max<std::int64_t>(0, s_->length - s_->pos));
  n = std::min(n, left);
  if (n == 0) co_return std::string();
  auto job = s_->run([n](detail::gridfs_core& k) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = mongoc_stream_read(k.stream, out.data() + got, n - got, n - got, 0);
      if (r < 0) k.fail_stream();
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  });
  std::exception_ptr err;
  std::string out;
  try {
    out = co_await std::move(job);
  } catch (...) {
    err = std::current_exception();
  }
  if (err) {
    if (is_cancellation(err)) s_->broken = true;
    std::rethrow_exception(err);
  }
  s_->pos += static_cast<std::int64_t>(out.size());
  co_return out;
}

task<std::string> gridfs_download_stream::read() {
  if (!s_->entered) throw gridfs_error("aw::mongo: the GridFS download stream is not open", 0, 0);
  co_return co_await read(static_cast<std::size_t>(std::max<std::int64_t>(0, s_->length - s_->pos)));
}

const document& gridfs_download_stream::entered_file() const {
  if (!s_->entered) throw gridfs_error("aw::mongo: the GridFS download stream was not entered", 0, 0);
  return s_->file;
}
const value& gridfs_download_stream::file_id() const {
  entered_file();
  return s_->file_id_read;
}
const std::string& gridfs_download_stream::filename() const {
  entered_file();
  return s_->filename_read;
}
std::int64_t gridfs_download_stream::length() const {
  entered_file();
  return s_->length;
}
std::int32_t gridfs_download_stream::chunk_size() const {
  entered_file();
  return s_->chunk_size;
}
date_time gridfs_download_stream::upload_date() const { return entered_file().get<date_time>("uploadDate"); }
std::optional<document> gridfs_download_stream::metadata() const { return entered_file().find<document>("metadata"); }
const document& gridfs_download_stream::file_document() const { return entered_file(); }
std::int64_t gridfs_download_stream::tell() const noexcept { return s_->pos; }

// ---- gridfs_bucket -----------------------------------------------------------------------

gridfs_bucket::gridfs_bucket(database db, gridfs_bucket_options opts) : db_(std::move(db)), opts_(std::move(opts)) {
  // libmongoc names the collections in a 128-byte buffer and goes on, truncated, when the
  // name does not fit.
  if (opts_.bucket_name().empty() || opts_.bucket_name().size() + sizeof(".chunks") > 128)
    throw configuration_error("aw::mongo: a GridFS bucket name must have 1 to 120 characters", 0, 0);
  check_chunk_size(opts_.chunk_size_bytes());
}

namespace {
std::shared_ptr<detail::gridfs_stream_state> new_stream(const std::shared_ptr<detail::client_state>& c, const std::string& db,
                                                        const gridfs_bucket_options& b, bool upload, std::string filename,
                                                        const char* what) {
  auto s = std::make_shared<detail::gridfs_stream_state>();
  s->c = c;
  auto& k = *s->core;
  k.upload = upload;
  k.db_name = db;
  k.bucket_name = b.bucket_name();
  k.filename = std::move(filename);
  k.what = std::string(what) + " " + db + "." + b.bucket_name();
  k.bucket_opts = doc("bucketName", b.bucket_name(), "chunkSizeBytes", b.chunk_size_bytes());
  return s;
}
}  // namespace

gridfs_upload_stream gridfs_bucket::open_upload_stream(std::string filename, upload_options opts) const {
  return open_upload_stream_with_id(object_id::generate(), std::move(filename), std::move(opts));
}

gridfs_upload_stream gridfs_bucket::open_upload_stream_with_id(value file_id, std::string filename, upload_options opts) const {
  auto s = new_stream(db_.s_, db_.name(), opts_, true, std::move(filename), "GridFS upload to");
  document u;
  s->core->file_chunk_size = opts_.chunk_size_bytes();
  if (opts.chunk_size_bytes()) {
    check_chunk_size(*opts.chunk_size_bytes());
    u.append("chunkSizeBytes", *opts.chunk_size_bytes());
    s->core->file_chunk_size = *opts.chunk_size_bytes();
  }
  if (opts.metadata()) u.append("metadata", *opts.metadata());
  s->core->upload_opts = std::move(u);
  s->core->id.emplace(file_id);
  s->file_id = std::move(file_id);
  return gridfs_upload_stream(std::move(s));
}

gridfs_download_stream gridfs_bucket::open_download_stream(value file_id) const {
  auto s = new_stream(db_.s_, db_.name(), opts_, false, "", "GridFS download from");
  s->want_id = std::move(file_id);
  return gridfs_download_stream(std::move(s));
}

gridfs_download_stream gridfs_bucket::open_download_stream_by_name(std::string filename, std::int32_t revision) const {
  auto s = new_stream(db_.s_, db_.name(), opts_, false, std::move(filename), "GridFS download from");
  s->revision = revision;
  return gridfs_download_stream(std::move(s));
}

task<value> gridfs_bucket::upload_from_stream(std::string filename, byte_source source, upload_options opts) const {
  const std::size_t piece = static_cast<std::size_t>(opts.chunk_size_bytes().value_or(opts_.chunk_size_bytes()));
  auto up = open_upload_stream(std::move(filename), std::move(opts));
  std::string buf(piece, '\0');
  co_await async_with(up, [&](gridfs_upload_stream& s) -> task<> {
    while (true) {
      const std::size_t got = co_await source.receive_into(std::span<char>(buf.data(), buf.size()));
      if (got == 0) break;
      co_await s.write(std::string_view(buf.data(), got));
    }
  });
  co_return up.file_id();
}

task<> gridfs_bucket::download_to_stream(value file_id, byte_sink destination) const {
  auto down = open_download_stream(std::move(file_id));
  co_await async_with(down, [&](gridfs_download_stream& s) -> task<> {
    const auto piece = static_cast<std::size_t>(std::max<std::int32_t>(s.chunk_size(), 1));
    while (true) {
      std::string data = co_await s.read(piece);
      if (data.empty()) break;
      co_await destination.send(data);
    }
  });
}

task<> gridfs_bucket::delete_file(value file_id) const {
  auto bucket_opts = doc("bucketName", opts_.bucket_name(), "chunkSizeBytes", opts_.chunk_size_bytes());
  auto chunks = opts_.bucket_name() + ".chunks";
  return run_call(db_.s_, db_.name(), "", "GridFS delete in", document(), nullptr,
                  [id = detail::id_holder(file_id), bucket_opts = std::move(bucket_opts), chunks = std::move(chunks)](call_context& k) {
                    bson_error_t err{};
                    mongoc_gridfs_bucket_t* b = mongoc_gridfs_bucket_new(k.database(), bucket_opts.native(), nullptr, &err);
                    if (!b) detail::gridfs_fail(err, "GridFS delete");
                    const bool ok = mongoc_gridfs_bucket_delete_by_id(b, id.get(), &err);
                    mongoc_gridfs_bucket_destroy(b);
                    if (ok) return;
                    if (err.domain == MONGOC_ERROR_GRIDFS && err.code == MONGOC_ERROR_GRIDFS_BUCKET_FILE_NOT_FOUND) {
                      // pymongo deletes the chunks of a missing file too, then raises NoFile.
                      mongoc_collection_t* c = mongoc_database_get_collection(k.database(), chunks.c_str());
                      document sel = doc("files_id", id.d.get<value>("_id"));
                      bson_error_t e2{};
                      const bool deleted = mongoc_collection_delete_many(c, sel.native(), nullptr, nullptr, &e2);
                      mongoc_collection_destroy(c);
                      if (!deleted) detail::gridfs_fail(e2, "GridFS delete of chunks");
                      throw no_file_error("aw::mongo: GridFS delete: no file with _id " + id.d.get<value>("_id").to_json(), err.domain,
                                          err.code);
                    }
                    detail::gridfs_fail(err, "GridFS delete");
                  });
}

cursor gridfs_bucket::find(document filter, find_options opts) const {
  return db_[opts_.bucket_name() + ".files"].find(std::move(filter), std::move(opts));
}

task<> gridfs_bucket::rename(value file_id, std::string new_filename) const {
  auto files = db_[opts_.bucket_name() + ".files"];
  auto filter = doc("_id", file_id);
  auto update = doc("$set", doc("filename", std::move(new_filename)));
  update_result r = co_await files.update_one(std::move(filter), std::move(update));
  if (r.matched_count == 0)
    throw no_file_error("aw::mongo: GridFS rename: no file with _id " + file_id.to_json(), MONGOC_ERROR_GRIDFS,
                        MONGOC_ERROR_GRIDFS_BUCKET_FILE_NOT_FOUND);
}

task<> gridfs_bucket::drop() const {
  co_await db_[opts_.bucket_name() + ".files"].drop();
  co_await db_[opts_.bucket_name() + ".chunks"].drop();
}

}  // namespace aw::mongo
