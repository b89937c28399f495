// aw::files on a full disk: a write the kernel refuses with ENOSPC raises os_error with that
// errno and the path (from the write that reaches the kernel, or from the exit's flush for
// buffered bytes), the bytes reported written are in the file and nothing else is, and the
// file is closed either way (no descriptor leaks). /dev/full is the stand-in that works
// anywhere; a 1 MiB tmpfs is the real thing where the test may mount one.
#include <gtest/gtest.h>
#include <aw/aw.hpp>
#include <aw/files.hpp>

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace aw::files;

namespace {

int open_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

std::string contents(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(FilesFullDisk, AWriteToDevFullRaisesEnospcWithThePath) {
  const int before = open_fds();
  aw::run([]() -> aw::task<> {
    // Larger than the buffer: the write goes to the kernel and raises there.
    bool raised = false;
    try {
      co_await aw::async_with(open("/dev/full", "wb"), [](file& f) -> aw::task<> { (void)co_await f.write(pattern(1 << 20)); });
    } catch (const os_error& e) {
      raised = true;
      EXPECT_EQ(e.code().value(), ENOSPC) << e.what();
      EXPECT_EQ(e.path(), "/dev/full");
    }
    EXPECT_TRUE(raised);
    // Smaller than the buffer: write() succeeds, the exit's flush raises (never swallowed).
    raised = false;
    bool body_done = false;
    try {
      co_await aw::async_with(open("/dev/full", "w"), [&](file& f) -> aw::task<> {
        (void)co_await f.write("a line\n");
        body_done = true;
      });
    } catch (const os_error& e) {
      raised = true;
      EXPECT_EQ(e.code().value(), ENOSPC) << e.what();
      EXPECT_EQ(e.path(), "/dev/full");
    }
    EXPECT_TRUE(body_done);
    EXPECT_TRUE(raised);
    // An explicit flush raises too, and the file still closes on the way out.
    raised = false;
    try {
      co_await aw::async_with(open("/dev/full", "w"), [&](file& f) -> aw::task<> {
        (void)co_await f.write("x");
        co_await f.flush();
      });
    } catch (const os_error& e) {
      raised = e.code().value() == ENOSPC;
    }
    EXPECT_TRUE(raised);
  });
  EXPECT_EQ(open_fds(), before);
}

// A 1 MiB tmpfs, mounted for the test's life; skipped where mounting is not allowed.
class FilesFullTmpfs : public testing::Test {
 protected:
  void SetUp() override {
    dir = fs::path(AW_FILES_FAULT_SCRATCH) / ("tmpfs." + std::to_string(::getpid()));
    fs::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) {
      const int err = errno;
      fs::remove(dir);
      GTEST_SKIP() << "cannot mount a tmpfs on " << dir << " (" << std::strerror(err)
                   << "): needs root outside a container that forbids mount; /dev/full covers ENOSPC";
    }
    mounted = true;
  }
  void TearDown() override {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove(dir, ec);
  }
  fs::path dir;
  bool mounted = false;
};

TEST_F(FilesFullTmpfs, FillingItRaisesEnospcAndKeepsWhatWasWritten) {
  const int before = open_fds();
  const fs::path path = dir / "big";
  const std::string data = pattern(2 << 20);
  std::int64_t reached = -1;
  aw::run([&]() -> aw::task<> {
    bool raised = false;
    std::size_t sent = 0;
    try {
      co_await aw::async_with(open(path, "wb"), [&](file& f) -> aw::task<> {
        // 48 KiB at a time, under the buffer's 64 KiB: flushes by the buffer and the exit.
        for (; sent < data.size(); sent += 48 << 10) (void)co_await f.write(data.substr(sent, 48 << 10));
      });
    } catch (const os_error& e) {
      raised = true;
      EXPECT_EQ(e.code().value(), ENOSPC) << e.what();
      EXPECT_EQ(e.path(), path);
    }
    EXPECT_TRUE(raised);
    EXPECT_LT(sent, data.size());  // raised from a write, before the end of the data
  });
  EXPECT_EQ(open_fds(), before);
  // What reached the file is a prefix of the data: nothing reordered, nothing invented.
  const std::string got = contents(path);
  reached = static_cast<std::int64_t>(got.size());
  EXPECT_GT(reached, 0);
  EXPECT_LE(reached, 1 << 20);
  EXPECT_EQ(got, data.substr(0, got.size()));
  // The disk is full, not broken: removing the file gives the space back.
  fs::remove(path);
  aw::run(
      [&]() -> aw::task<> { co_await aw::async_with(open(path, "w"), [](file& f) -> aw::task<> { (void)co_await f.write("fits\n"); }); });
  EXPECT_EQ(contents(path), "fits\n");
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
