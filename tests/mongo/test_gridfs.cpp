// GridFS: upload and download streams, by id and by name, delete, find, rename, the
// conveniences, an upload aborted by an exception or a cancellation, and cancellation at
// every wait. Small chunk sizes make a few bytes span several chunks.
#include "mongo_test.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace aw::mongo;
using namespace std::chrono_literals;
using mongo_test::with_client;

namespace {

// An empty bucket of the test database (its two collections dropped).
aw::task<gridfs_bucket> fresh_bucket(client& c, std::string name, std::int32_t chunk_size) {
  gridfs_bucket b(c["aw_test"], gridfs_bucket_options().bucket_name(name).chunk_size_bytes(chunk_size));
  co_await b.drop();
  co_return b;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

aw::task<std::int64_t> count(client& c, std::string coll, document filter = {}) {
  co_return co_await c["aw_test"][coll].count_documents(std::move(filter));
}

aw::task<std::string> download(const gridfs_bucket& b, value id) {
  auto s = b.open_download_stream(std::move(id));
  co_return co_await aw::async_with(s, [](gridfs_download_stream& d) { return d.read(); });
}

aw::task<value> upload(const gridfs_bucket& b, std::string name, std::string data) {
  auto s = b.open_upload_stream(std::move(name));
  co_await aw::async_with(s, [&](gridfs_upload_stream& u) -> aw::task<> { co_await u.write(data); });
  co_return s.file_id();
}

}  // namespace

TEST(MongoGridFS, UploadInPiecesThenDownloadInPieces) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "pieces", 1000);
    const std::string data = pattern(2500);
    upload_options o;
    o.metadata(doc("contentType", "text/plain"));
    auto up = b.open_upload_stream("a.txt", o);
    EXPECT_TRUE(up.file_id().is<object_id>());
    co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
      co_await s.write(std::string_view(data).substr(0, 700));
      co_await s.write(std::string_view(data).substr(700, 1300));  // fills the first two chunks
      EXPECT_EQ(co_await count(c, "pieces.chunks"), 2);
      EXPECT_EQ(co_await count(c, "pieces.files"), 0);  // not a file before the block ends
      co_await s.write(std::string_view(data).substr(2000));
    });
    EXPECT_TRUE(up.closed());
    EXPECT_EQ(co_await count(c, "pieces.chunks"), 3);
    EXPECT_EQ(co_await count(c, "pieces.files"), 1);

    auto down = b.open_download_stream(up.file_id());
    co_await aw::async_with(down, [&](gridfs_download_stream& s) -> aw::task<> {
      EXPECT_EQ(s.length(), 2500);
      EXPECT_EQ(s.file_id(), up.file_id());
      EXPECT_EQ(s.filename(), "a.txt");
      EXPECT_EQ(s.chunk_size(), 1000);
      EXPECT_EQ(s.metadata()->get<std::string>("contentType"), "text/plain");
      EXPECT_GT(s.upload_date().time_since_epoch().count(), 0);
      EXPECT_EQ(co_await s.read(10), data.substr(0, 10));
      EXPECT_EQ(co_await s.read(1200), data.substr(10, 1200));  // across a chunk boundary
      EXPECT_EQ(s.tell(), 1210);
      EXPECT_EQ(co_await s.read(), data.substr(1210));
      EXPECT_EQ(co_await s.read(10), "");  // at the end
      EXPECT_EQ(co_await s.read(), "");
    });
  });
}

TEST(MongoGridFS, AnEmptyFileIsAFile) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "empty", 255 * 1024);
    auto up = b.open_upload_stream("empty.bin");
    co_await aw::async_with(up, [](gridfs_upload_stream&) -> aw::task<> { co_return; });
    EXPECT_EQ(co_await count(c, "empty.files"), 1);
    EXPECT_EQ(co_await count(c, "empty.chunks"), 0);
    auto down = b.open_download_stream(up.file_id());
    co_await aw::async_with(down, [&](gridfs_download_stream& s) -> aw::task<> {
      EXPECT_EQ(s.length(), 0);
      EXPECT_EQ(co_await s.read(), "");
      // libmongoc writes an empty metadata document when none was given (pymongo omits it).
      EXPECT_TRUE(s.metadata() && s.metadata()->empty());
    });
  });
}

TEST(MongoGridFS, ByNameRevisionsCountFromBothEnds) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "revisions", 4);
    for (int i = 0; i < 3; ++i) {
      co_await upload(b, "r.txt", "revision " + std::to_string(i));
      co_await aw::sleep(5ms);  // distinct uploadDates (milliseconds)
    }
    co_await upload(b, "other.txt", "other");
    auto read_rev = [&](std::int32_t rev) -> aw::task<std::string> {
      auto s = b.open_download_stream_by_name("r.txt", rev);
      co_return co_await aw::async_with(s, [](gridfs_download_stream& d) { return d.read(); });
    };
    EXPECT_EQ(co_await read_rev(-1), "revision 2");
    EXPECT_EQ(co_await read_rev(-2), "revision 1");
    EXPECT_EQ(co_await read_rev(-3), "revision 0");
    EXPECT_EQ(co_await read_rev(0), "revision 0");
    EXPECT_EQ(co_await read_rev(1), "revision 1");
    EXPECT_EQ(co_await read_rev(2), "revision 2");
    const std::int32_t missing_revisions[] = {3, -4};
    for (std::int32_t rev : missing_revisions) {
      try {
        co_await read_rev(rev);
        ADD_FAILURE() << "revision " << rev << " was found";
      } catch (const no_file_error& e) {
        EXPECT_NE(std::string(e.what()).find("no revision"), std::string::npos) << e.what();
      }
    }
    auto missing = b.open_download_stream_by_name("nothing.txt");
    EXPECT_THROW(co_await aw::async_with(missing, [](gridfs_download_stream&) -> aw::task<> { co_return; }), no_file_error);
  });
}

TEST(MongoGridFS, MissingIdRaisesNoFile) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "missing", 10);
    auto s = b.open_download_stream(object_id::generate());
    bool entered = false;
    try {
      co_await aw::async_with(s, [&](gridfs_download_stream&) -> aw::task<> {
        entered = true;
        co_return;
      });
      ADD_FAILURE() << "a missing file was opened";
    } catch (const no_file_error& e) {
      EXPECT_TRUE(dynamic_cast<const gridfs_error*>(&e));
    }
    EXPECT_FALSE(entered);
    EXPECT_THROW(co_await b.delete_file(object_id::generate()), no_file_error);
    EXPECT_THROW(co_await b.rename(object_id::generate(), "x"), no_file_error);
    EXPECT_THROW(co_await b.download_to_stream(42, aw::byte_sink([](std::string_view) -> aw::task<> { co_return; })), no_file_error);
    // The connection the failed entries held came back: a stream can still be opened.
    auto id = co_await upload(b, "x", "ok");
    EXPECT_EQ(co_await download(b, id), "ok");
  });
}

TEST(MongoGridFS, DeleteRemovesTheFileAndItsChunks) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "deleting", 3);
    auto keep = co_await upload(b, "keep", "0123456789");
    auto gone = co_await upload(b, "gone", "0123456789");
    EXPECT_EQ(co_await count(c, "deleting.chunks"), 8);
    co_await b.delete_file(gone);
    EXPECT_EQ(co_await count(c, "deleting.files"), 1);
    EXPECT_EQ(co_await count(c, "deleting.chunks"), 4);
    EXPECT_THROW(co_await b.delete_file(gone), no_file_error);
    EXPECT_EQ(co_await download(b, keep), "0123456789");
    // Stray chunks of a file with no files document go too (pymongo's delete does this).
    co_await c["aw_test"]["deleting.chunks"].insert_one(doc("files_id", 7, "n", 0, "data", binary{}));
    EXPECT_THROW(co_await b.delete_file(7), no_file_error);
    EXPECT_EQ(co_await count(c, "deleting.chunks", doc("files_id", 7)), 0);
  });
}

// A chunk missing or cut short: the read that reaches it raises corrupt_file_error (pymongo's
// CorruptGridFile).
TEST(MongoGridFS, AMissingOrShortChunkIsACorruptFile) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "corrupt", 4);
    auto missing = co_await upload(b, "missing", "0123456789");
    auto short_one = co_await upload(b, "short", "0123456789");
    auto chunks = c["aw_test"]["corrupt.chunks"];
    co_await chunks.delete_one(doc("files_id", missing, "n", 1));
    const binary cut(std::vector<std::uint8_t>{'4', '5'});  // named: g++ 12 and initializer lists in co_await
    co_await chunks.update_one(doc("files_id", short_one, "n", 1), doc("$set", doc("data", cut)));
    auto d = b.open_download_stream(missing);
    co_await aw::async_with(d, [](gridfs_download_stream& s) -> aw::task<> {
      // Not read(4): libmongoc fetches the next chunk as soon as one is used up, so a read
      // that ends on a chunk's end fails already, and the bytes it had are not given.
      EXPECT_EQ(co_await s.read(3), "012");
      try {
        co_await s.read(4);
        ADD_FAILURE() << "a missing chunk was read";
      } catch (const corrupt_file_error& e) {
        EXPECT_NE(std::string(e.what()).find("Missing chunk 1"), std::string::npos) << e.what();
      }
    });
    auto d2 = b.open_download_stream(short_one);
    co_await aw::async_with(d2, [](gridfs_download_stream& s) -> aw::task<> { EXPECT_THROW(co_await s.read(), corrupt_file_error); });
  });
}

TEST(MongoGridFS, FindAndRename) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "finding", 16);
    auto a = co_await upload(b, "a.txt", "aaaa");
    co_await upload(b, "b.txt", "bbbbbbbb");
    co_await b.rename(a, "c.txt");
    auto all = b.find({}, find_options().sort(doc("filename", 1)));
    auto docs = co_await aw::async_with(all, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[0].get<std::string>("filename"), "b.txt");
    EXPECT_EQ(docs[1].get<std::string>("filename"), "c.txt");
    EXPECT_EQ(docs[1].get<std::int64_t>("length"), 4);
    auto big = b.find(doc("length", doc("$gt", 5)));
    auto found = co_await aw::async_with(big, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].get<std::string>("filename"), "b.txt");
    // The renamed file is found by its new name only.
    auto s = b.open_download_stream_by_name("c.txt");
    EXPECT_EQ(co_await aw::async_with(s, [](gridfs_download_stream& d) { return d.read(); }), "aaaa");
    auto old = b.open_download_stream_by_name("a.txt");
    EXPECT_THROW(co_await aw::async_with(old, [](gridfs_download_stream&) -> aw::task<> { co_return; }), no_file_error);
  });
}

TEST(MongoGridFS, ExplicitIdsAndFileExists) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "with_id", 4);
    // An ObjectId of our own: CongoDB turns any other _id into an ObjectId (a string one
    // fails), which a real server does not.
    const object_id mine = object_id::generate();
    auto up = b.open_upload_stream_with_id(mine, "named.txt");
    EXPECT_EQ(up.file_id(), value(mine));
    co_await aw::async_with(up, [](gridfs_upload_stream& s) -> aw::task<> { co_await s.write("hello"); });
    EXPECT_EQ(co_await download(b, mine), "hello");
    // The same id again: its files document collides with the stored file's, and the
    // abort that follows leaves the stored file's chunks alone. (With content, a real
    // server refuses its first chunk already, by the unique index on files_id and n;
    // CongoDB does not enforce unique indexes of several keys, so the test writes none.)
    auto again = b.open_upload_stream_with_id(mine, "again.txt");
    try {
      co_await aw::async_with(again, [](gridfs_upload_stream&) -> aw::task<> { co_return; });
      ADD_FAILURE() << "a second file with the same _id was written";
    } catch (const file_exists_error&) {
    }
    EXPECT_EQ(co_await download(b, mine), "hello");
    EXPECT_EQ(co_await count(c, "with_id.files"), 1);
  });
}

// A chunk the server (here the driver: it is larger than a document may be) refuses fails
// the write that filled it, and the block's exit aborts the upload. libmongoc alone would
// retry the insert forever when more bytes follow in the same write.
TEST(MongoGridFS, ARefusedChunkFailsTheWrite) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "refused", 17 << 20);
    auto up = b.open_upload_stream("too_big");
    bool wrote = false;
    try {
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
        co_await s.write(std::string((17 << 20) + 10, 'x'));
        wrote = true;
      });
      ADD_FAILURE() << "a chunk larger than a document was written";
    } catch (const gridfs_error& e) {
      ADD_FAILURE() << "not the driver's error: " << e.what();
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find("GridFS upload"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(wrote);
    EXPECT_EQ(co_await count(c, "refused.files"), 0);
    EXPECT_EQ(co_await count(c, "refused.chunks"), 0);
  });
}

// Leaving by an exception aborts: the chunks written are deleted, no files document is
// written, and the exception goes on unchanged.
TEST(MongoGridFS, AnExceptionAbortsTheUpload) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "aborting", 10);
    auto up = b.open_upload_stream("partial");
    try {
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
        co_await s.write(pattern(35));
        EXPECT_EQ(co_await count(c, "aborting.chunks"), 3);
        throw std::runtime_error("body failed");
      });
      ADD_FAILURE() << "the exception was lost";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "body failed");
    }
    EXPECT_EQ(co_await count(c, "aborting.chunks"), 0);
    EXPECT_EQ(co_await count(c, "aborting.files"), 0);
    EXPECT_THROW(co_await download(b, up.file_id()), no_file_error);
  });
}

TEST(MongoGridFS, AbortInsideTheBlock) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "abort_call", 10);
    auto up = b.open_upload_stream("partial");
    co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
      co_await s.write(pattern(25));
      co_await s.abort();
      EXPECT_TRUE(s.closed());
      EXPECT_THROW(co_await s.write("more"), gridfs_error);
      co_await s.abort();  // again: nothing to do
    });
    EXPECT_EQ(co_await count(c, "abort_call.chunks"), 0);
    EXPECT_EQ(co_await count(c, "abort_call.files"), 0);
  });
}

// A cancellation of the block aborts the upload, wherever it reaches it.
TEST(MongoGridFS, ACancelledBlockAbortsTheUpload) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "cancel_block", 10);
    aw::cancel_scope scope;
    value id;
    co_await aw::async_with(scope, [&](aw::cancel_scope& sc) -> aw::task<> {
      auto up = b.open_upload_stream("partial");
      id = up.file_id();
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
        co_await s.write(pattern(35));
        sc.cancel();
        co_await s.write("more");  // raises aw::cancelled; its job never starts
        ADD_FAILURE() << "the write after the cancellation went on";
      });
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_EQ(co_await count(c, "cancel_block.chunks"), 0);
    EXPECT_EQ(co_await count(c, "cancel_block.files"), 0);
    EXPECT_THROW(co_await download(b, id), no_file_error);
  });
}

// Every wait, cancelled by a zero deadline: the jobs may or may not run meanwhile, so the
// test checks what holds either way: no file is saved by a cancelled upload, a cancelled
// read leaves the stream unusable rather than wrong, and no libmongoc handle stays behind
// (the sanitizer's leak check sees the handles, and the client's exit waits for the
// connections of abandoned streams).
TEST(MongoGridFS, CancellationAtEveryWait) {
  aw::run([]() -> aw::task<> {
    client c(mongo_test::uri());
    co_await aw::async_with(c, [](client& cl) -> aw::task<> {
      auto b = co_await fresh_bucket(cl, "cancel_waits", 8);
      const auto stored = co_await upload(b, "stored", pattern(40));
      auto cancelled = [](auto body) -> aw::task<bool> { co_return !co_await aw::move_on_after(0s, std::move(body)); };
      // Entering, or the first write (taking a free connection need not wait).
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> {
        auto up = b.open_upload_stream("never");
        co_await aw::async_with(up, [](gridfs_upload_stream& s) -> aw::task<> { co_await s.write("x"); });
      }));
      EXPECT_EQ(co_await count(cl, "cancel_waits.files", doc("filename", "never")), 0);
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> {
        auto down = b.open_download_stream(stored);
        co_await aw::async_with(down, [](gridfs_download_stream&) -> aw::task<> { co_return; });
      }));
      // A write, and a read, cancelled in a block that then goes on.
      auto up = b.open_upload_stream("broken");
      co_await aw::async_with(up, [&](gridfs_upload_stream& s) -> aw::task<> {
        co_await s.write(pattern(20));
        EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> { co_await s.write(pattern(20)); }));
        EXPECT_THROW(co_await s.write("x"), gridfs_error);
      });  // leaves normally, but the upload is aborted: its content is unknown
      EXPECT_EQ(co_await count(cl, "cancel_waits.files", doc("filename", "broken")), 0);
      auto down = b.open_download_stream(stored);
      co_await aw::async_with(down, [&](gridfs_download_stream& s) -> aw::task<> {
        EXPECT_EQ(co_await s.read(3), "abc");
        EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> { co_await s.read(10); }));
        EXPECT_THROW(co_await s.read(1), gridfs_error);
      });
      // The calls and conveniences.
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> { co_await b.rename(stored, "renamed"); }));
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> {
        co_await b.upload_from_stream("from", aw::byte_source([n = 1](std::span<char> buf) mutable -> aw::task<std::size_t> {
                                        if (n-- == 0) co_return 0;
                                        buf[0] = 'x';
                                        co_return 1;
                                      }));
      }));
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> {
        co_await b.download_to_stream(stored, aw::byte_sink([](std::string_view) -> aw::task<> { co_return; }));
      }));
      EXPECT_TRUE(co_await cancelled([&]() -> aw::task<> { co_await b.delete_file(object_id::generate()); }));
      // Cancelled while a job runs (a child cancelled by its parent a moment later), many
      // times: the job is abandoned at different points, and the upload is never saved.
      for (int round = 0; round < 20; ++round) {
        aw::cancel_scope child;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(child, [&](aw::cancel_scope&) -> aw::task<> {
              auto u = b.open_upload_stream("raced");
              co_await aw::async_with(u, [&](gridfs_upload_stream& s) -> aw::task<> {
                for (;;) co_await s.write(pattern(30));
              });
            });
          });
          co_await aw::sleep(std::chrono::microseconds(100 * round));
          child.cancel();
        });
      }
      // The same for a download, opened and read a byte a job at a time.
      for (int round = 0; round < 20; ++round) {
        aw::cancel_scope child;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(child, [&](aw::cancel_scope&) -> aw::task<> {
              auto d = b.open_download_stream(stored);
              co_await aw::async_with(d, [&](gridfs_download_stream& s) -> aw::task<> {
                while (!(co_await s.read(1)).empty()) {
                }
              });
            });
          });
          co_await aw::sleep(std::chrono::microseconds(100 * round));
          child.cancel();
        });
      }
      EXPECT_EQ(co_await download(b, stored), pattern(40));
    });
    // After the client closed (its abandoned jobs finished), nothing of a cancelled upload
    // is left: no file, no chunk (the last job of an abandoned stream aborted it).
    client check(mongo_test::uri());
    co_await aw::async_with(check, [](client& cl) -> aw::task<> {
      EXPECT_EQ(co_await count(cl, "cancel_waits.files"), 1);
      auto files = cl["aw_test"]["cancel_waits.files"];
      auto only = co_await files.find_one();
      CO_ASSERT_TRUE(only.has_value());
      EXPECT_EQ(co_await count(cl, "cancel_waits.chunks", doc("files_id", doc("$ne", only->get<value>("_id")))), 0);
    });
  });
}

TEST(MongoGridFS, ConveniencesMoveWholeStreams) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "conveniences", 1000);
    const std::string data = pattern(5500);
    std::size_t at = 0;
    auto id = co_await b.upload_from_stream("whole", aw::byte_source([&](std::span<char> buf) -> aw::task<std::size_t> {
                                              const std::size_t n = std::min<std::size_t>({buf.size(), data.size() - at, 777});
                                              data.copy(buf.data(), n, at);
                                              at += n;
                                              co_return n;
                                            }));
    EXPECT_EQ(co_await count(c, "conveniences.chunks", doc("files_id", id)), 6);
    std::string got;
    co_await b.download_to_stream(id, aw::byte_sink([&](std::string_view d) -> aw::task<> {
                                    got += d;
                                    co_return;
                                  }));
    EXPECT_EQ(got, data);
  });
}

// What pymongo wrote, aw::mongo reads, and the other way round.
TEST(MongoGridFS, PymongoReadsWhatWasWrittenHere) {
  with_client([](client& c) -> aw::task<> {
    auto b = co_await fresh_bucket(c, "crosscheck", 7);
    co_await upload(b, "cross.txt", pattern(30));
  });
  const std::string cmd = std::string(
                              "/usr/bin/python3 -c \"import pymongo, gridfs; "
                              "b = gridfs.GridFSBucket(pymongo.MongoClient('") +
                          mongo_test::uri() +
                          "')['aw_test'], bucket_name='crosscheck'); "
                          "d = b.open_download_stream_by_name('cross.txt').read(); "
                          "assert d == bytes(97 + i % 26 for i in range(30)), d; "
                          "b.upload_from_stream('py.txt', b'written by pymongo', chunk_size_bytes=4)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  with_client([](client& c) -> aw::task<> {
    gridfs_bucket b(c["aw_test"], gridfs_bucket_options().bucket_name("crosscheck"));
    auto s = b.open_download_stream_by_name("py.txt");
    co_await aw::async_with(s, [](gridfs_download_stream& d) -> aw::task<> {
      EXPECT_EQ(d.chunk_size(), 4);
      EXPECT_EQ(co_await d.read(), "written by pymongo");
    });
  });
}

TEST(MongoGridFS, BadOptionsAndMisuseAreReported) {
  with_client([](client& c) -> aw::task<> {
    EXPECT_THROW((void)gridfs_bucket(c["aw_test"], gridfs_bucket_options().chunk_size_bytes(0)), configuration_error);
    EXPECT_THROW((void)gridfs_bucket(c["aw_test"], gridfs_bucket_options().bucket_name("")), configuration_error);
    EXPECT_THROW((void)gridfs_bucket(c["aw_test"], gridfs_bucket_options().bucket_name(std::string(200, 'b'))), configuration_error);
    gridfs_bucket b(c["aw_test"], gridfs_bucket_options().bucket_name("misuse"));
    EXPECT_THROW((void)b.open_upload_stream("x", upload_options().chunk_size_bytes(-1)), configuration_error);
    auto up = b.open_upload_stream("x");
    EXPECT_THROW(co_await up.write("not entered"), gridfs_error);
    auto down = b.open_download_stream(1);
    EXPECT_THROW(co_await down.read(), gridfs_error);
    EXPECT_THROW((void)down.length(), gridfs_error);
    co_await aw::async_with(up, [](gridfs_upload_stream&) -> aw::task<> { co_return; });
    EXPECT_THROW(co_await aw::async_with(up, [](gridfs_upload_stream&) -> aw::task<> { co_return; }), closed_error);
  });
}
