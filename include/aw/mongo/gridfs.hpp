// aw::mongo::gridfs_bucket: files larger than a document, stored in chunks, as motor's
// AsyncIOMotorGridFSBucket (pymongo's GridFSBucket) has them. A bucket named "fs" keeps each
// file's description in fs.files and its bytes in fs.chunks, 255 KiB a chunk by default;
// libmongoc's GridFS bucket does the chunking, the indexes and the reads, on the client's
// worker threads. Upload and download streams are async context managers:
//
//   using namespace aw::mongo;
//   gridfs_bucket fs(c["app"]);                                   // c: an entered client
//   upload_options up;
//   up.metadata(doc("contentType", "text/plain"));
//   auto in = fs.open_upload_stream("notes.txt", up);
//   co_await aw::async_with(in, [&](gridfs_upload_stream& s) -> aw::task<> {
//     co_await s.write("first part, ");
//     co_await s.write("second part");
//   });                                                           // the file exists from here
//   auto out = fs.open_download_stream_by_name("notes.txt");      // the newest revision
//   co_await aw::async_with(out, [&](gridfs_download_stream& s) -> aw::task<> {
//     std::string head = co_await s.read(5);                      // "first"
//     std::string rest = co_await s.read();                       // up to the end
//   });
//   co_await fs.delete_file(in.file_id());                        // no_file_error if missing
//
// - Leaving an upload block normally writes the last chunk and the files document: only then
//   does the file exist. Leaving it by an exception or a cancellation aborts the upload and
//   deletes the chunks written so far (libmongoc's abort). pymongo's GridIn.__aexit__ only
//   marks the stream closed there, leaving those chunks behind with no file to own them;
//   here they are removed, as abort() would in pymongo. One exception: an upload whose _id
//   another file has (file_exists_error) deletes nothing, since the chunks of that _id are
//   the other file's.
// - Every call is a cancellation point. A cancelled write or read leaves the stream in an
//   unknown place (its job may still run on its worker): later writes and reads on it raise
//   gridfs_error, and the upload is aborted when its block is left, however it is left. A
//   stream's handles are always released: by its exit or, if a job the block abandoned still
//   runs (a silent server), by that job when it ends.
// - A stream holds one of the client's connections while it is open (libmongoc binds a
//   stream to one client), as a cursor does. Streams take no session (libmongoc's GridFS
//   API has none).
// - By name: revision -1 is the newest upload of that name, -2 the one before, 0 the oldest,
//   1 the next (pymongo's open_download_stream_by_name); no such revision: no_file_error.
#pragma once

#include <aw/byte_source.hpp>
#include <aw/mongo/bson.hpp>
#include <aw/mongo/client.hpp>
#include <aw/mongo/errors.hpp>
#include <aw/task.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aw::mongo {

// gridfs.errors.GridFSError: a GridFS stream used wrongly, or a file the bucket cannot give.
class gridfs_error : public error {
 public:
  using error::error;
};
// gridfs.errors.NoFile: no file with that id, or no such revision of that name.
class no_file_error : public gridfs_error {
 public:
  using gridfs_error::gridfs_error;
};
// gridfs.errors.CorruptGridFile: a chunk is missing or has the wrong size.
class corrupt_file_error : public gridfs_error {
 public:
  using gridfs_error::gridfs_error;
};
// gridfs.errors.FileExists: an upload with an id some file already has.
class file_exists_error : public gridfs_error {
 public:
  using gridfs_error::gridfs_error;
};

namespace detail {
struct gridfs_stream_state;
}

class gridfs_bucket_options {
 public:
  gridfs_bucket_options() = default;
  // The collections are <name>.files and <name>.chunks (default "fs").
  gridfs_bucket_options& bucket_name(std::string name) {
    bucket_name_ = std::move(name);
    return *this;
  }
  // Bytes per chunk of new files (default 255 KiB).
  gridfs_bucket_options& chunk_size_bytes(std::int32_t n) {
    chunk_size_ = n;
    return *this;
  }
  const std::string& bucket_name() const noexcept { return bucket_name_; }
  std::int32_t chunk_size_bytes() const noexcept { return chunk_size_; }

 private:
  std::string bucket_name_ = "fs";
  std::int32_t chunk_size_ = 255 * 1024;
};

class upload_options {
 public:
  upload_options() = default;
  // This file's chunk size, instead of the bucket's.
  upload_options& chunk_size_bytes(std::int32_t n) {
    chunk_size_ = n;
    return *this;
  }
  // Stored as the files document's "metadata" field.
  upload_options& metadata(document m) {
    metadata_ = std::move(m);
    return *this;
  }
  std::optional<std::int32_t> chunk_size_bytes() const noexcept { return chunk_size_; }
  const std::optional<document>& metadata() const noexcept { return metadata_; }

 private:
  std::optional<std::int32_t> chunk_size_;
  std::optional<document> metadata_;
};

// A file being written (pymongo's GridIn): an async context manager. Entering it takes a
// connection; write() sends each full chunk as it fills; leaving the block normally saves the
// file, leaving it otherwise aborts it (above).
class [[nodiscard(
    "enter it: co_await aw::async_with(bucket.open_upload_stream(...), body); nothing is written until then")]] gridfs_upload_stream {
 public:
  gridfs_upload_stream(gridfs_upload_stream&&) noexcept;
  gridfs_upload_stream& operator=(gridfs_upload_stream&&) = delete;
  ~gridfs_upload_stream();

  task<gridfs_upload_stream&> aenter();
  // Saves the file (e == nullptr, and no write failed or was cancelled), or aborts it.
  // A failure to save raises, after the upload's chunks were deleted.
  task<> aexit(std::exception_ptr e);

  // Appends `data` to the file (copied: it need not outlive the call).
  task<> write(std::string_view data);
  // Deletes the chunks written so far; leaving the block then saves nothing (GridIn.abort).
  task<> abort();

  // The file's _id (an ObjectId unless given), known before anything is written.
  const value& file_id() const noexcept;
  const std::string& filename() const noexcept;
  // Whether the stream was saved or aborted.
  bool closed() const noexcept;

 private:
  friend class gridfs_bucket;
  explicit gridfs_upload_stream(std::shared_ptr<detail::gridfs_stream_state> s) noexcept;
  std::shared_ptr<detail::gridfs_stream_state> s_;
  aw::detail::enter_check<gridfs_upload_stream> enter_check_;
};

// A stored file being read (pymongo's GridOut): an async context manager. Entering it finds
// the file (no_file_error when there is none) and takes a connection; reads fetch the chunks
// they need.
class [[nodiscard(
    "enter it: co_await aw::async_with(bucket.open_download_stream(...), body); nothing is read until then")]] gridfs_download_stream {
 public:
  gridfs_download_stream(gridfs_download_stream&&) noexcept;
  gridfs_download_stream& operator=(gridfs_download_stream&&) = delete;
  ~gridfs_download_stream();

  task<gridfs_download_stream&> aenter();
  task<> aexit(std::exception_ptr e);

  // Up to n bytes, fewer only at the end of the file; empty at the end.
  task<std::string> read(std::size_t n);
  // The rest of the file.
  task<std::string> read();

  // What the files document says, once entered.
  const value& file_id() const;
  const std::string& filename() const;
  std::int64_t length() const;
  std::int32_t chunk_size() const;
  date_time upload_date() const;
  std::optional<document> metadata() const;
  const document& file_document() const;
  // Bytes read so far.
  std::int64_t tell() const noexcept;

 private:
  friend class gridfs_bucket;
  explicit gridfs_download_stream(std::shared_ptr<detail::gridfs_stream_state> s) noexcept;
  const document& entered_file() const;
  std::shared_ptr<detail::gridfs_stream_state> s_;
  aw::detail::enter_check<gridfs_download_stream> enter_check_;
};

class gridfs_bucket {
 public:
  // A bucket of `db`. A bucket name too long for a collection name, or a chunk size that is
  // not positive, raises configuration_error.
  explicit gridfs_bucket(database db, gridfs_bucket_options opts = {});

  const std::string& bucket_name() const noexcept { return opts_.bucket_name(); }
  std::int32_t chunk_size_bytes() const noexcept { return opts_.chunk_size_bytes(); }

  // A new file named `filename` with a fresh ObjectId.
  gridfs_upload_stream open_upload_stream(std::string filename, upload_options opts = {}) const;
  // A new file with the _id `file_id`; file_exists_error if a file has it already.
  gridfs_upload_stream open_upload_stream_with_id(value file_id, std::string filename, upload_options opts = {}) const;
  // Uploads what `source` gives up to its end and gives the new file's _id.
  task<value> upload_from_stream(std::string filename, byte_source source, upload_options opts = {}) const;

  gridfs_download_stream open_download_stream(value file_id) const;
  gridfs_download_stream open_download_stream_by_name(std::string filename, std::int32_t revision = -1) const;
  // Hands the file's bytes to `destination`, a chunk at a time.
  task<> download_to_stream(value file_id, byte_sink destination) const;

  // Deletes the file and its chunks (pymongo's delete); no_file_error when no file has that
  // _id (its stray chunks, if any, are deleted all the same, as pymongo does).
  task<> delete_file(value file_id) const;
  // The files documents matching `filter`, e.g. find(doc("filename", "a.txt")).
  cursor find(document filter = {}, find_options opts = {}) const;
  // Gives the file a new name; no_file_error when no file has that _id.
  task<> rename(value file_id, std::string new_filename) const;
  // Drops both collections.
  task<> drop() const;

 private:
  database db_;
  gridfs_bucket_options opts_;
};

}  // namespace aw::mongo
