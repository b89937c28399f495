// aw::files::open: modes, the typed errors, read/write/close as an async context manager.
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/debug.hpp>
#include <aw/enter.hpp>
#include <aw/files.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace {

using namespace files_test;
using aw::files::file;

class Open : public scratch {};

TEST_F(Open, ReadsAWholeFile) {
  put(at("a.txt"), "hello, file\nsecond line\n");
  std::string got = aw::run([&]() -> aw::task<std::string> {
    std::string s;
    co_await aw::async_with(aw::files::open(at("a.txt")), [&](file& f) -> aw::task<> { s = co_await f.read(); });
    co_return s;
  });
  EXPECT_EQ(got, "hello, file\nsecond line\n");
}

TEST_F(Open, WritesAndTheExitFlushes) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("out.txt"), "w"), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.write("abc"), 3u);
      co_await f.write("def");
      EXPECT_EQ(get(at("out.txt")), "") << "buffered until the exit";
    });
  });
  EXPECT_EQ(get(at("out.txt")), "abcdef");
}

TEST_F(Open, EnterFormClosesWhenTheTaskEnds) {
  put(at("in.txt"), "x");
  int fd = aw::run([&]() -> aw::task<int> {
    int seen = co_await [&]() -> aw::task<int> {
      auto& f = co_await aw::enter(aw::files::open(at("in.txt")));
      EXPECT_EQ(co_await f.read(), "x");
      co_return f.fileno();
    }();
    co_return seen;
  });
  EXPECT_LT(::fcntl(fd, F_GETFD), 0) << "the descriptor is closed";
}

TEST_F(Open, ModesFollowPython) {
  put(at("f"), "0123456789");
  aw::run([&]() -> aw::task<> {
    // "w" truncates
    co_await aw::async_with(aw::files::open(at("f"), "w"), [](file& f) -> aw::task<> {
      EXPECT_TRUE(f.writable());
      EXPECT_FALSE(f.readable());
      co_await f.write("new");
    });
    EXPECT_EQ(get(at("f")), "new");
    // "a" appends and tell() starts at the end
    co_await aw::async_with(aw::files::open(at("f"), "a"), [](file& f) -> aw::task<> {
      EXPECT_EQ(f.tell(), 3);
      co_await f.write("+more");
      EXPECT_EQ(f.tell(), 8);
    });
    EXPECT_EQ(get(at("f")), "new+more");
    // "r+" reads and writes in place, without truncating
    co_await aw::async_with(aw::files::open(at("f"), "r+"), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(3), "new");
      co_await f.write("!");
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "new!more");
    });
    // "w+" truncates and reads back
    co_await aw::async_with(aw::files::open(at("f"), "w+b"), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(), "");
      co_await f.write(std::string("\0\1\2", 3));
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), std::string("\0\1\2", 3));
    });
    // "a+" reads from where seek puts it, writes at the end
    co_await aw::async_with(aw::files::open(at("f"), "a+"), [](file& f) -> aw::task<> {
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(1), std::string(1, '\0'));
      co_await f.write("Z");
    });
    EXPECT_EQ(get(at("f")), std::string("\0\1\2Z", 4));
    // "x" creates
    co_await aw::async_with(aw::files::open(at("new"), "x"), [](file& f) -> aw::task<> { co_await f.write("created"); });
    EXPECT_EQ(get(at("new")), "created");
  });
}

// AW_DEBUG: a manager of aw::files made and never entered is reported; one entered (the
// file a temporary file opens for itself included) is not.
TEST_F(Open, TheDebugModeReportsAFileNeverEntered) {
  bool was = aw::debug_enabled();
  aw::set_debug(true);
  auto before = aw::debug_report_counts();
  testing::internal::CaptureStderr();
  aw::run([&]() -> aw::task<> {
    {
      auto forgotten = aw::files::open(at("f"), "w");
    }
    co_await aw::async_with(aw::files::open(at("g"), "w"), [](file&) -> aw::task<> { co_return; });
    co_await aw::async_with(aw::files::named_temporary_file(), [](file&) -> aw::task<> { co_return; });
    co_await aw::async_with(aw::files::tempfile(), [](file&) -> aw::task<> { co_return; });
    {
      auto forgotten = aw::files::temporary_directory();
    }
  });
  std::string err = testing::internal::GetCapturedStderr();
  aw::set_debug(was);
  EXPECT_EQ(aw::debug_report_counts().managers_never_entered, before.managers_never_entered + 2);
  EXPECT_NE(err.find("aw: manager aw::files::file was created but never entered\n"), std::string::npos) << err;
  EXPECT_NE(err.find("aw: manager aw::files::temporary_directory_manager was created but never entered\n"), std::string::npos) << err;
}

TEST_F(Open, InvalidModesAreRejectedBeforeOpening) {
  for (const char* mode : {"", "rw", "rr", "q", "r++", "bt", "rbt", "wbb"}) {
    EXPECT_THROW((void)aw::files::open(at("f"), mode), std::invalid_argument) << mode;
  }
  EXPECT_NO_THROW((void)aw::files::open(at("f"), "rb+"));
  EXPECT_NO_THROW((void)aw::files::open(at("f"), "+w"));
  EXPECT_NO_THROW((void)aw::files::open(at("f"), "xt"));
}

template <class Error>
void expect_open_error(const fs::path& p, const char* mode, int err) {
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::files::open(p, mode), [](file&) -> aw::task<> {
        ADD_FAILURE() << "the body ran";
        co_return;
      });
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.error_number(), err);
      EXPECT_EQ(e.code().value(), err);
      EXPECT_EQ(e.path(), p);
      EXPECT_EQ(e.operation(), "open");
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
  });
}

TEST_F(Open, MissingFileIsFileNotFound) { expect_open_error<aw::files::file_not_found_error>(at("missing"), "r", ENOENT); }

TEST_F(Open, ExistingFileWithXIsFileExists) {
  put(at("there"), "");
  expect_open_error<aw::files::file_exists_error>(at("there"), "x", EEXIST);
}

TEST_F(Open, DirectoryIsIsADirectory) {
  expect_open_error<aw::files::is_a_directory_error>(dir, "r", EISDIR);
  expect_open_error<aw::files::is_a_directory_error>(dir, "w", EISDIR);
}

TEST_F(Open, NoPermissionIsPermissionError) {
  if (::geteuid() == 0) {
    // root passes permission checks; a file under a file is the error root still gets.
    put(at("plain"), "");
    expect_open_error<aw::files::not_a_directory_error>(at("plain") / "below", "r", ENOTDIR);
    GTEST_SKIP() << "running as root: file permissions do not apply (checked ENOTDIR instead)";
  }
  put(at("secret"), "s");
  ::chmod(at("secret").c_str(), 0);
  expect_open_error<aw::files::permission_error>(at("secret"), "r", EACCES);
}

TEST_F(Open, OsErrorIsASystemError) {
  aw::run([&]() -> aw::task<> {
    try {
      co_await aw::async_with(aw::files::open(at("nope")), [](file&) -> aw::task<> { co_return; });
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    }
  });
}

// One handler catches the module: every error it raises is an aw::files::error, whose
// code() is the errno (EBADF for a closed file, EILSEQ for text that is not UTF-8).
TEST_F(Open, EveryErrorIsAFilesError) {
  put(at("bad.txt"), "ab\xff");
  auto code_of = [](auto body) {
    std::error_code got;
    aw::run([&]() -> aw::task<> {
      try {
        co_await body();
        ADD_FAILURE() << "no error";
      } catch (const aw::files::error& e) {
        got = e.code();
      }
    });
    return got;
  };
  EXPECT_EQ(code_of([&]() -> aw::task<> { co_await aw::async_with(aw::files::open(at("nope")), [](file&) -> aw::task<> { co_return; }); }),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(code_of([&]() -> aw::task<> {
              co_await aw::async_with(aw::files::open(at("bad.txt")), [](file& f) -> aw::task<> { (void)co_await f.read(); });
            }),
            std::errc::illegal_byte_sequence);
  EXPECT_EQ(code_of([&]() -> aw::task<> {
              co_await aw::async_with(aw::files::open(at("bad.txt"), "rb"), [](file& f) -> aw::task<> {
                co_await f.close();
                (void)co_await f.read();
              });
            }),
            std::errc::bad_file_descriptor);
}

TEST_F(Open, UsingAClosedFileIsAnError) {
  put(at("f"), "data");
  aw::run([&]() -> aw::task<> {
    aw::files::file* kept = nullptr;
    co_await aw::async_with(aw::files::open(at("f"), "r+"), [&](file& f) -> aw::task<> {
      co_await f.close();
      EXPECT_TRUE(f.closed());
      co_await f.close();  // a second close does nothing
      kept = &f;
      EXPECT_THROW(co_await f.read(), aw::files::closed_file_error);
      EXPECT_THROW(co_await f.write("x"), aw::files::closed_file_error);
      EXPECT_THROW(f.tell(), aw::files::closed_file_error);
    });
    EXPECT_NE(kept, nullptr);
  });
}

TEST_F(Open, ReadingAWriteOnlyFileIsEBADF) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("w"), "w"), [](file& f) -> aw::task<> {
      try {
        co_await f.read();
        ADD_FAILURE();
      } catch (const aw::files::os_error& e) {
        EXPECT_EQ(e.error_number(), EBADF);
      }
    });
    put(at("r"), "");
    co_await aw::async_with(aw::files::open(at("r")),
                            [](file& f) -> aw::task<> { EXPECT_THROW(co_await f.write("x"), aw::files::os_error); });
  });
}

}  // namespace
