// Reading and writing: buffering, lines, seek/tell, flush/sync/truncate/stat, text and
// binary, large offsets, streams, many files at once, a full disk.
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/exceptions.hpp>
#include <aw/files.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace files_test;
using aw::files::file;

class ReadWrite : public scratch {};

// Concatenation through append: g++ 12's -Wrestrict misfires on chains of operator+.
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST_F(ReadWrite, ReadNGivesFewerOnlyAtEofAndEmptyAtEof) {
  put(at("f"), "0123456789");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = 4}), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(3), "012");
      EXPECT_EQ(f.tell(), 3);
      EXPECT_EQ(co_await f.read(5), "34567");  // across the 4-byte buffer
      EXPECT_EQ(co_await f.read(100), "89");
      EXPECT_EQ(co_await f.read(1), "");
      EXPECT_EQ(co_await f.read(), "");
      EXPECT_EQ(f.tell(), 10);
    });
  });
}

TEST_F(ReadWrite, BufferSizesDoNotChangeWhatIsRead) {
  const std::string data = pattern(300'000);
  put(at("f"), data);
  for (std::size_t bs : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{1} << 20}) {
    std::string got = aw::run([&]() -> aw::task<std::string> {
      std::string s;
      co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = bs}), [&](file& f) -> aw::task<> {
        for (std::size_t n = 1;; n = n * 3 % 10007 + 1) {
          std::string part = co_await f.read(n);
          if (part.empty()) break;
          s += part;
        }
      });
      co_return s;
    });
    EXPECT_EQ(got, data) << "buffer size " << bs;
  }
}

TEST_F(ReadWrite, ReadIntoFillsTheCallersBuffer) {
  const std::string data = pattern(200'000);
  put(at("f"), data);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = 1000}), [&](file& f) -> aw::task<> {
      std::string out;
      std::vector<char> buf(65536);
      for (;;) {
        std::size_t n = co_await f.read_into(buf);
        if (n == 0) break;
        out.append(buf.data(), n);
        std::size_t m = co_await f.read_into(std::span<char>(buf.data(), 10));  // small: through the buffer
        out.append(buf.data(), m);
      }
      EXPECT_EQ(out, data);
    });
  });
}

TEST_F(ReadWrite, WritesOfEverySizeLandInOrder) {
  std::string expected;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "wb", {.buffer_size = 1024}), [&](file& f) -> aw::task<> {
      for (std::size_t n : {1, 10, 1023, 1024, 1025, 5000, 3, 100'000, 7}) {
        std::string part = pattern(n);
        expected += part;
        EXPECT_EQ(co_await f.write(part), n);
        EXPECT_EQ(f.tell(), static_cast<std::int64_t>(expected.size()));
      }
    });
  });
  EXPECT_EQ(get(at("f")), expected);
}

TEST_F(ReadWrite, UnbufferedWritesReachTheFileAtOnce) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w", {.buffer_size = 0}), [&](file& f) -> aw::task<> {
      co_await f.write("now");
      EXPECT_EQ(get(at("f")), "now");
    });
  });
}

TEST_F(ReadWrite, FlushHandsBufferedWritesToTheKernel) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w"), [&](file& f) -> aw::task<> {
      co_await f.write("flushed");
      co_await f.flush();
      EXPECT_EQ(get(at("f")), "flushed");
      co_await f.write(" synced");
      co_await f.sync();
      EXPECT_EQ(get(at("f")), "flushed synced");
      co_await f.write("!");
      co_await f.sync(/*data_only=*/true);
      EXPECT_EQ(get(at("f")), "flushed synced!");
    });
  });
}

TEST_F(ReadWrite, DataFlushedBeforeTheBodyFailedIsInTheFile) {
  aw::run([&]() -> aw::task<> {
    EXPECT_THROW(co_await aw::async_with(aw::files::open(at("f"), "w"),
                                         [&](file& f) -> aw::task<> {
                                           co_await f.write("kept");
                                           co_await f.flush();
                                           co_await f.write(" and buffered");
                                           throw std::runtime_error("crash");
                                         }),
                 std::runtime_error);
  });
  // Python's close() flushes on the way out of a failed block too.
  EXPECT_EQ(get(at("f")), "kept and buffered");
}

TEST_F(ReadWrite, Readline) {
  put(at("f"), "one\ntwo\n\nlast without newline");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r", {.buffer_size = 3}), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.readline(), "one\n");
      EXPECT_EQ(co_await f.readline(2), "tw");  // Python's readline(size)
      EXPECT_EQ(co_await f.readline(), "o\n");
      EXPECT_EQ(co_await f.readline(), "\n");
      EXPECT_EQ(co_await f.readline(), "last without newline");
      EXPECT_EQ(co_await f.readline(), "");
    });
  });
}

TEST_F(ReadWrite, LinesIteratesLikeAsyncFor) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += cat({"line ", std::to_string(i), "\n"});
  put(at("f"), text);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f")), [&](file& f) -> aw::task<> {
      int n = 0;
      auto lines = f.lines();
      while (auto line = co_await lines.next()) {
        EXPECT_EQ(*line, cat({"line ", std::to_string(n), "\n"}));
        ++n;
      }
      EXPECT_EQ(n, 5000);
    });
  });
}

TEST_F(ReadWrite, ReadlinesAndWritelines) {
  aw::run([&]() -> aw::task<> {
    std::vector<std::string> lines{"a\n", "bb\n", "ccc"};
    co_await aw::async_with(aw::files::open(at("f"), "w+"), [&](file& f) -> aw::task<> {
      co_await f.writelines(lines);
      co_await f.seek(0);
      EXPECT_EQ(co_await f.readlines(), lines);
    });
  });
  EXPECT_EQ(get(at("f")), "a\nbb\nccc");
}

TEST_F(ReadWrite, SeekAndTell) {
  put(at("f"), "0123456789");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r+b", {.buffer_size = 4}), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.seek(4), 4);
      EXPECT_EQ(co_await f.read(2), "45");
      EXPECT_EQ(co_await f.seek(-3, aw::files::whence::cur), 3);
      EXPECT_EQ(co_await f.read(1), "3");
      EXPECT_EQ(co_await f.seek(-2, aw::files::whence::end), 8);
      EXPECT_EQ(co_await f.read(), "89");
      EXPECT_EQ(co_await f.seek(1), 1);  // back into what the buffer held
      EXPECT_EQ(co_await f.read(2), "12");
      co_await f.write("AB");  // at 3
      EXPECT_EQ(f.tell(), 5);
      EXPECT_EQ(co_await f.seek(0), 0);  // flushes
      EXPECT_EQ(co_await f.read(), "012AB56789");
      EXPECT_EQ(co_await f.seek(20), 20);  // past the end: writing there leaves a hole
      co_await f.write("X");
      EXPECT_EQ(co_await f.seek(0, aw::files::whence::end), 21);
      try {
        co_await f.seek(-1);
        ADD_FAILURE();
      } catch (const aw::files::os_error& e) {
        EXPECT_EQ(e.error_number(), EINVAL);
      }
    });
  });
  EXPECT_EQ(get(at("f")), std::string("012AB56789") + std::string(10, '\0') + "X");
}

TEST_F(ReadWrite, TruncateAndStat) {
  put(at("f"), "0123456789");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r+"), [](file& f) -> aw::task<> {
      EXPECT_EQ((co_await f.stat()).size, 10);
      EXPECT_TRUE((co_await f.stat()).is_file());
      EXPECT_EQ(co_await f.read(4), "0123");
      EXPECT_EQ(co_await f.truncate(), 4);  // at the position
      EXPECT_EQ(f.tell(), 4);
      EXPECT_EQ((co_await f.stat()).size, 4);
      EXPECT_EQ(co_await f.truncate(6), 6);  // extends with zeros
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), std::string("0123\0\0", 6));
      co_await f.write("xy");
      EXPECT_EQ((co_await f.stat()).size, 8) << "stat sees buffered writes (it flushes)";
    });
  });
}

TEST_F(ReadWrite, TextModeReadCountsCharacters) {
  put(at("f"), "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80!");  // héllo € 😀!
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r"), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(2), "h\xC3\xA9");  // two characters (three bytes)
      EXPECT_EQ(co_await f.read(5), "llo \xE2\x82\xAC");
      EXPECT_EQ(co_await f.read(2), " \xF0\x9F\x98\x80");
      EXPECT_EQ(co_await f.read(), "!");
    });
    co_await aw::async_with(aw::files::open(at("f"), "rb"), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(2), "h\xC3");  // binary: exactly the bytes asked
    });
  });
}

// The default is Python's newline="": endings are kept, and each of the three ends a line
// (test_text.cpp has every mode).
TEST_F(ReadWrite, TextModeKeepsNewlinesAsTheyAre) {
  put(at("f"), "a\r\nb\rc\n");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f")), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.readline(), "a\r\n");
      EXPECT_EQ(co_await f.readline(), "b\r");
      EXPECT_EQ(co_await f.readline(), "c\n");
    });
  });
}

// Offsets past 2 GiB and 4 GiB: a sparse file of 5 GiB, written and read at its end.
TEST_F(ReadWrite, OffsetsPastFourGiB) {
  const std::int64_t far = (std::int64_t{5} << 30) - 5;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("sparse"), "w+b"), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.truncate(std::int64_t{3} << 30), std::int64_t{3} << 30);
      EXPECT_EQ(co_await f.seek(far), far);
      co_await f.write("tail!");
      EXPECT_EQ(f.tell(), far + 5);
      co_await f.seek(far);
      EXPECT_EQ(co_await f.read(), "tail!");
      co_await f.seek(-5, aw::files::whence::end);
      EXPECT_EQ(co_await f.read(5), "tail!");
      co_await f.seek((std::int64_t{3} << 30) - 2);
      EXPECT_EQ(co_await f.read(3), std::string(3, '\0'));
      auto st = co_await f.stat();
      EXPECT_EQ(st.size, far + 5);
      EXPECT_LT(st.blocks * 512, 1 << 20) << "sparse";
    });
  });
  struct stat st;
  ASSERT_EQ(::stat(at("sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, far + 5);
}

// Pipes give short reads; read(n) keeps reading until n bytes or EOF.
TEST_F(ReadWrite, StreamsShortReadsAndWrites) {
  ASSERT_EQ(::mkfifo(at("fifo").c_str(), 0600), 0);
  const std::string data = pattern(1 << 20);
  std::string got;
  int fd = ::open(at("fifo").c_str(), O_RDWR);  // a writer before the reader opens: no EOF yet
  ASSERT_GE(fd, 0);
  std::thread writer([&] {
    for (std::size_t off = 0; off < data.size();) {
      ssize_t n = ::write(fd, data.data() + off, std::min<std::size_t>(1000, data.size() - off));
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(fd);
  });
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("fifo"), "rb"), [&](file& f) -> aw::task<> {
      EXPECT_FALSE(f.seekable());
      got = co_await f.read(300'000);
      EXPECT_EQ(got.size(), 300'000u);
      EXPECT_EQ(co_await f.readline(10), data.substr(300'000, 10));
      got += data.substr(300'000, 10);
      got += co_await f.read();
      try {
        co_await f.seek(0);
        ADD_FAILURE();
      } catch (const aw::files::os_error& e) {
        EXPECT_EQ(e.error_number(), ESPIPE);
      }
    });
  });
  writer.join();
  EXPECT_EQ(got, data);
}

TEST_F(ReadWrite, ManyFilesConcurrently) {
  constexpr int n = 200;
  aw::run([&]() -> aw::task<> {
    aw::task_group tg;
    co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
      for (int i = 0; i < n; ++i)
        tg.start_soon([&, i]() -> aw::task<> {
          std::string name = cat({"f", std::to_string(i)});
          co_await aw::async_with(aw::files::open(at(name), "w", {.buffer_size = 100}), [&](file& f) -> aw::task<> {
            for (int k = 0; k < 50; ++k) {
              std::string line = cat({name, ":", std::to_string(k), "\n"});  // not inside co_await: g++ 12
              co_await f.write(line);
            }
          });
          co_await aw::async_with(aw::files::open(at(name)), [&](file& f) -> aw::task<> {
            auto lines = co_await f.readlines();
            EXPECT_EQ(lines.size(), 50u);
            if (!lines.empty()) {
              EXPECT_EQ(lines.back(), cat({name, ":49\n"}));
            }
          });
        });
      co_return;
    });
  });
  for (int i = 0; i < n; i += 37) {
    std::string name = cat({"f", std::to_string(i)});
    EXPECT_EQ(get(at(name)).substr(0, name.size() + 2), cat({name, ":0"}));
  }
}

TEST_F(ReadWrite, ConcurrentCallsOnOneFileAreALogicError) {
  put(at("f"), std::string(1 << 20, 'a'));
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = 4096}), [](file& f) -> aw::task<> {
      bool second_raised = false;
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { EXPECT_EQ((co_await f.read(1 << 20)).size(), 1u << 20); });
        tg.start_soon([&]() -> aw::task<> {
          try {
            co_await f.read(10);
          } catch (const std::logic_error&) {
            second_raised = true;
          }
        });
        co_return;
      });
      EXPECT_TRUE(second_raised);
    });
  });
}

// /dev/full: every write fails with ENOSPC. The failure of the exit's flush is raised.
TEST_F(ReadWrite, FullDiskFailsTheExitsFlush) {
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::files::open("/dev/full", "w"), [](file& f) -> aw::task<> {
        co_await f.write("lost?");  // buffered: no error yet
      });
      ADD_FAILURE() << "no error";
    } catch (const aw::files::os_error& e) {
      EXPECT_EQ(e.error_number(), ENOSPC);
      EXPECT_EQ(e.path(), "/dev/full");
    }
    // The body's own exception stays reachable behind the flush's.
    try {
      co_await aw::async_with(aw::files::open("/dev/full", "w"), [](file& f) -> aw::task<> {
        co_await f.write("x");
        throw std::runtime_error("body");
      });
    } catch (const aw::files::os_error& e) {
      EXPECT_EQ(e.error_number(), ENOSPC);
      auto before = aw::exception_context(std::current_exception());
      EXPECT_TRUE(before);
      if (before) {
        EXPECT_THROW(std::rethrow_exception(before), std::runtime_error);
      }
    }
    // A direct (large) write and flush() fail at once.
    co_await aw::async_with(aw::files::open("/dev/full", "w"), [](file& f) -> aw::task<> {
      EXPECT_THROW(co_await f.write(std::string(1 << 20, 'x')), aw::files::os_error);
      co_await f.write("y");
      EXPECT_THROW(co_await f.flush(), aw::files::os_error);
      EXPECT_THROW(co_await f.close(), aw::files::os_error);  // still buffered: close reports it again
      EXPECT_TRUE(f.closed());
    });
  });
}

// A real full file system: a 1 MiB tmpfs, where mounting is allowed.
TEST_F(ReadWrite, FullTmpfs) {
  fs::create_directories(at("mnt"));
  if (::mount("tmpfs", at("mnt").c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "): the full-disk path is covered by /dev/full";
  const std::string chunk(256 * 1024, 'z');
  std::int64_t written = 0;
  int err = 0;
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::files::open(at("mnt") / "big", "w"), [&](file& f) -> aw::task<> {
        for (int i = 0; i < 8; ++i) {
          co_await f.write(chunk);
          written = f.tell();
        }
      });
    } catch (const aw::files::os_error& e) {
      err = e.error_number();
    }
  });
  ::umount2(at("mnt").c_str(), MNT_DETACH);
  EXPECT_EQ(err, ENOSPC);
  EXPECT_LE(written, 1 << 20);
}

}  // namespace
