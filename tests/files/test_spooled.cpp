// aw::files::spooled_temporary_file (tempfile.SpooledTemporaryFile): in memory up to
// max_size, then a temporary file, at the same position.
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/files.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace files_test;
using aw::files::spooled_file;

class Spooled : public scratch {
 protected:
  aw::files::temp_options in_dir() const {
    aw::files::temp_options o;
    o.dir = dir;
    return o;
  }
};

TEST_F(Spooled, StaysInMemoryUpToMaxSize) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(100, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.write("line 1\nline 2\n"), 14u);
      EXPECT_EQ(co_await f.write(std::string(86, 'x')), 86u);  // exactly max_size: still in memory
      EXPECT_FALSE(f.rolled());
      EXPECT_EQ(f.tell(), 100);
      EXPECT_EQ(co_await f.seek(0), 0);
      EXPECT_EQ(co_await f.readline(), "line 1\n");
      EXPECT_EQ(co_await f.read(4), "line");
      EXPECT_EQ(co_await f.seek(-2, aw::files::whence::end), 98);
      EXPECT_EQ(co_await f.read(), "xx");
      EXPECT_EQ(co_await f.read(), "");
      co_await f.seek(3);
      co_await f.write("E");  // overwrites
      co_await f.seek(0);
      EXPECT_EQ(co_await f.readline(), "linE 1\n");
      EXPECT_EQ(co_await f.truncate(7), 7);
      co_await f.seek(10);
      co_await f.write("!");  // past the end: zeros between, as a file
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), std::string("linE 1\n\0\0\0!", 11));
      EXPECT_FALSE(f.rolled());
      EXPECT_EQ(f.rolled_file(), nullptr);
    });
  });
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(Spooled, RollsOverPastMaxSizeAtTheSamePosition) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(10, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      co_await f.write("0123456789");
      co_await f.seek(4);
      EXPECT_FALSE(f.rolled());
      co_await f.write("abcdefghij");  // 14 bytes: past max_size
      EXPECT_TRUE(f.rolled());
      if (!f.rolled()) co_return;
      EXPECT_EQ(f.tell(), 14);
      EXPECT_GE(f.rolled_file()->fileno(), 0);
      co_await f.write("Z");
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "0123abcdefghijZ");
      EXPECT_EQ(co_await f.readlines(), std::vector<std::string>{});
    });
  });
}

TEST_F(Spooled, ExplicitRolloverFilenoAndNoLimit) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(0, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      co_await f.write(std::string(1 << 20, 'm'));  // 0: never by size
      EXPECT_FALSE(f.rolled());
      co_await f.seek(5);
      co_await f.rollover();
      EXPECT_TRUE(f.rolled());
      co_await f.rollover();  // nothing the second time
      EXPECT_EQ(f.tell(), 5);
      EXPECT_EQ((co_await f.read()).size(), (1u << 20) - 5);
    });
    co_await aw::async_with(aw::files::spooled_temporary_file(0, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      co_await f.write("abc");
      int fd = co_await f.fileno();
      EXPECT_TRUE(f.rolled());
      EXPECT_EQ(::lseek(fd, 0, SEEK_END), 3);
    });
  });
}

TEST_F(Spooled, TruncatePastMaxSizeRollsOver) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(10, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      co_await f.write("abc");
      EXPECT_EQ(co_await f.truncate(20), 20);
      EXPECT_TRUE(f.rolled());
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), std::string("abc") + std::string(17, '\0'));
    });
  });
}

// A rollover that cannot create its file raises the errno and the directory, and leaves the
// data in memory, usable.
TEST_F(Spooled, AFailedRolloverKeepsTheDataInMemory) {
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir / "missing";
    co_await aw::async_with(aw::files::spooled_temporary_file(4, "w+b", o), [&](spooled_file& f) -> aw::task<> {
      co_await f.write("abcd");
      try {
        co_await f.write("efgh");
        ADD_FAILURE() << "no error";
      } catch (const aw::files::file_not_found_error& e) {
        EXPECT_EQ(e.error_number(), ENOENT);
        EXPECT_EQ(e.path(), dir / "missing");
      }
      EXPECT_FALSE(f.rolled());
      EXPECT_EQ(f.tell(), 8);
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "abcdefgh");
    });
  });
}

// Cancelled, a rollover does not happen: the write raises write_cancelled with all of its
// bytes written (to memory), and the file goes on in memory.
TEST_F(Spooled, ACancelledRolloverKeepsTheDataInMemory) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(4, "w+b", in_dir()), [&](spooled_file& f) -> aw::task<> {
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        scope.cancel();
        co_await f.write("ab");  // in memory: not a cancellation point
        try {
          co_await f.write("cdef");
          ADD_FAILURE() << "not cancelled";
        } catch (const aw::files::write_cancelled& e) {
          EXPECT_EQ(e.written(), 4u);
        }
        EXPECT_THROW(co_await f.rollover(), aw::cancelled);
      });
      EXPECT_FALSE(f.rolled());
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "abcdef");
      co_await f.rollover();
      EXPECT_TRUE(f.rolled());
      EXPECT_EQ(f.tell(), 6);
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "abcdef");
    });
  });
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(Spooled, TextModesAreRejected) {
  EXPECT_THROW((void)aw::files::spooled_temporary_file(10, "w+"), std::invalid_argument);
  EXPECT_THROW((void)aw::files::spooled_temporary_file(10, "rw"), std::invalid_argument);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::spooled_temporary_file(10, "wb", in_dir()), [&](spooled_file& f) -> aw::task<> {
      co_await f.write("x");
      EXPECT_THROW(co_await f.read(), std::logic_error);  // write-only
    });
  });
}

}  // namespace
