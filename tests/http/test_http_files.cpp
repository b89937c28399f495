// Streamed request bodies read from real files of aw::files (aiohttp's data=open(...) and
// FormData with a file object). Built only with the files module (AW_BUILD_FILES), which
// aw::http itself does not depend on.
#ifdef AW_HAVE_FILES

#include <aw/async_with.hpp>
#include <aw/byte_source.hpp>
#include <aw/files.hpp>
#include <aw/http.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>
#include <zlib.h>

#include "common.hpp"

#include <unistd.h>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace aw_http_test;

// A file of `size` bytes in the scratch dir; its crc32.
std::uint32_t make_file(const std::string& path, std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 7919) >> 5);
  std::ofstream(path, std::ios::binary) << data;
  return static_cast<std::uint32_t>(crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(size)));
}

TEST(HttpFiles, AFileIsStreamedAsTheBody) {
  const std::size_t size = (5u << 20) + 3;
  std::string path = scratch + "/upload-" + std::to_string(::getpid()) + ".bin";
  std::uint32_t crc = make_file(path, size);
  with_session([&](http::session& s) -> aw::task<> {
    co_await aw::async_with(aw::files::open(path, "rb"), [&](aw::files::file& f) -> aw::task<> {
      http::request_options o;
      o.body = http::body::stream(aw::byte_source(f), "application/octet-stream", size);
      auto j = co_await (co_await s.put(scripted + "/upload-hash", std::move(o))).json();
      EXPECT_EQ(j["length"], size);
      EXPECT_EQ(j["crc32"].get<std::uint32_t>(), crc);
      EXPECT_EQ(j["content_length"], std::to_string(size));
    });
  });
  std::filesystem::remove(path);
}

TEST(HttpFiles, AFileAsAMultipartPart) {
  std::string path = scratch + "/part-" + std::to_string(::getpid()) + ".txt";
  std::ofstream(path) << "hello from a file\n";
  with_session([&](http::session& s) -> aw::task<> {
    co_await aw::async_with(aw::files::open(path, "rb"), [&](aw::files::file& f) -> aw::task<> {
      std::vector<http::part> parts;
      parts.push_back({.name = "comment", .data = "a file follows"});
      parts.push_back({.name = "file", .filename = "part.txt", .content_type = "text/plain", .source = aw::byte_source(f)});
      http::request_options o;
      o.body = http::body::multipart(std::move(parts));
      auto got = co_await (co_await s.post(scripted + "/multipart", std::move(o))).json();
      EXPECT_EQ(got.size(), 2u);
      if (got.size() != 2u) co_return;
      EXPECT_EQ(got[1]["filename"], "part.txt");
      EXPECT_EQ(got[1]["content_type"], "text/plain");
      EXPECT_EQ(got[1]["data"], "hello from a file\n");
    });
  });
  std::filesystem::remove(path);
}

}  // namespace

#endif  // AW_HAVE_FILES
