// aw::files::os (aiofiles.os) and aw::files tempfile / named_temporary_file /
// temporary_directory (aiofiles.tempfile).
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/files.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>
#include <aw/wait_fd.hpp>

#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace files_test;
using aw::files::file;
namespace os = aw::files::os;

class Os : public scratch {};

// "f<i>", through append: g++ 12 -O3 warns falsely (-Wrestrict) on "f" + std::to_string(i).
std::string numbered(int i) {
  std::string name = "f";
  name.append(std::to_string(i));
  return name;
}

template <class Error, class Body>
void expect_error(Body body, int err, const fs::path& p, const fs::path& p2 = {}) {
  aw::run([&]() -> aw::task<> {
    try {
      co_await body();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.error_number(), err) << e.what();
      EXPECT_EQ(e.path(), p);
      EXPECT_EQ(e.path2(), p2);
    }
  });
}

TEST_F(Os, StatAndExists) {
  put(at("f"), "12345");
  aw::run([&]() -> aw::task<> {
    auto st = co_await os::stat(at("f"));
    EXPECT_EQ(st.size, 5);
    EXPECT_TRUE(st.is_file());
    EXPECT_TRUE((co_await os::stat(dir)).is_dir());
    EXPECT_TRUE(co_await os::exists(at("f")));
    EXPECT_FALSE(co_await os::exists(at("missing")));
    EXPECT_FALSE(co_await os::exists(at("f") / "below"));  // ENOTDIR is "does not exist" too
    EXPECT_TRUE(co_await os::is_file(at("f")));
    EXPECT_FALSE(co_await os::is_file(dir));
    EXPECT_TRUE(co_await os::is_dir(dir));
    EXPECT_FALSE(co_await os::is_dir(at("missing")));
  });
  expect_error<aw::files::file_not_found_error>([&] { return os::stat(at("missing")); }, ENOENT, at("missing"));
}

TEST_F(Os, RemoveRenameReplace) {
  put(at("a"), "A");
  put(at("b"), "B");
  aw::run([&]() -> aw::task<> {
    co_await os::rename(at("a"), at("c"));
    EXPECT_EQ(get(at("c")), "A");
    co_await os::replace(at("c"), at("b"));  // over an existing file
    EXPECT_EQ(get(at("b")), "A");
    EXPECT_FALSE(fs::exists(at("c")));
    co_await os::remove(at("b"));
    EXPECT_FALSE(fs::exists(at("b")));
    put(at("u"), "");
    co_await os::unlink(at("u"));
    EXPECT_FALSE(fs::exists(at("u")));
  });
  expect_error<aw::files::file_not_found_error>([&] { return os::rename(at("x"), at("y")); }, ENOENT, at("x"), at("y"));
  expect_error<aw::files::file_not_found_error>([&] { return os::remove(at("x")); }, ENOENT, at("x"));
  expect_error<aw::files::is_a_directory_error>([&] { return os::remove(dir); }, EISDIR, dir);
}

TEST_F(Os, Directories) {
  aw::run([&]() -> aw::task<> {
    co_await os::mkdir(at("d"));
    EXPECT_TRUE(fs::is_directory(at("d")));
    co_await os::makedirs(at("x/y/z"));
    EXPECT_TRUE(fs::is_directory(at("x/y/z")));
    co_await os::makedirs(at("x/y/z"), 0777, /*exist_ok=*/true);
    co_await os::makedirs(dir / "x/y/z/", 0777, /*exist_ok=*/true);
    co_await os::rmdir(at("d"));
    EXPECT_FALSE(fs::exists(at("d")));
  });
  expect_error<aw::files::file_exists_error>([&] { return os::mkdir(at("x")); }, EEXIST, at("x"));
  expect_error<aw::files::file_exists_error>([&] { return os::makedirs(at("x/y")); }, EEXIST, at("x/y"));
  put(at("file"), "");
  expect_error<aw::files::file_exists_error>([&] { return os::makedirs(at("file"), 0777, true); }, EEXIST, at("file"));
  expect_error<aw::files::os_error>([&] { return os::rmdir(at("x")); }, ENOTEMPTY, at("x"));
}

TEST_F(Os, ListdirAndScandir) {
  put(at("f1"), "");
  put(at("f2"), "");
  fs::create_directory(at("sub"));
  fs::create_symlink("f1", at("ln"));
  aw::run([&]() -> aw::task<> {
    auto names = co_await os::listdir(dir);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"f1", "f2", "ln", "sub"}));
    auto entries = co_await os::scandir(dir);
    EXPECT_EQ(entries.size(), 4u);
    for (const auto& e : entries) {
      EXPECT_EQ(e.path, dir / e.name);
      EXPECT_EQ(e.is_dir(), e.name == "sub");
      EXPECT_EQ(e.is_file(), e.name == "f1" || e.name == "f2");
      EXPECT_EQ(e.is_symlink(), e.name == "ln");
    }
  });
  expect_error<aw::files::file_not_found_error>([&] { return os::listdir(at("none")); }, ENOENT, at("none"));
  expect_error<aw::files::not_a_directory_error>([&] { return os::scandir(at("f1")); }, ENOTDIR, at("f1"));
}

TEST_F(Os, ScandirIteratesInBatchesWithStatOnDemand) {
  for (int i = 0; i < 300; ++i) put(at(numbered(i)), std::string(static_cast<std::size_t>(i), 'x'));
  fs::create_directory(at("sub"));
  fs::create_symlink("f7", at("ln"));
  aw::run([&]() -> aw::task<> {
    std::vector<std::string> names;
    std::int64_t bytes = 0;
    co_await aw::async_with(os::scandir(dir), [&](os::scandir_iterator& it) -> aw::task<> {
      while (auto e = co_await it.next()) {
        EXPECT_EQ(e->path, dir / e->name);
        EXPECT_NE(e->ino, 0u);
        if (e->is_file()) bytes += (co_await e->stat()).size;
        if (e->name == "ln") {
          EXPECT_TRUE(e->is_symlink());
          EXPECT_FALSE(e->is_file());                           // the entry itself, see os.hpp
          EXPECT_EQ((co_await e->stat()).size, 7);              // followed
          EXPECT_TRUE((co_await e->stat(false)).is_symlink());  // not followed
        }
        EXPECT_EQ(e->is_dir(), e->name == "sub");
        names.push_back(e->name);
      }
      EXPECT_FALSE(co_await it.next());  // stays at the end
    });
    EXPECT_EQ(names.size(), 302u);
    EXPECT_EQ(bytes, 299 * 300 / 2);
    // Not entered: next() opens it; the destructor closes it after a partial read.
    os::scandir_iterator it = os::scandir(dir);
    EXPECT_TRUE(co_await it.next());
    it.close();
    EXPECT_FALSE(co_await it.next());
  });
  expect_error<aw::files::file_not_found_error>(
      [&]() -> aw::task<> { co_await aw::async_with(os::scandir(at("none")), [](os::scandir_iterator&) -> aw::task<> { co_return; }); },
      ENOENT, at("none"));
  expect_error<aw::files::not_a_directory_error>(
      [&]() -> aw::task<> {
        os::scandir_iterator it = os::scandir(at("f1"));
        (void)co_await it.next();
      },
      ENOTDIR, at("f1"));
}

// A cancelled next() that had to read raises before reading: no entry is lost.
TEST_F(Os, ScandirNextCancelledLosesNothing) {
  for (int i = 0; i < 5; ++i) put(at(numbered(i)), "");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(os::scandir(dir), [&](os::scandir_iterator& it) -> aw::task<> {
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
        scope.cancel();
        EXPECT_THROW((void)co_await it.next(), aw::cancelled);
      });
      std::size_t n = 0;
      while (co_await it.next()) ++n;
      EXPECT_EQ(n, 5u);
    });
  });
}

TEST_F(Os, SizeSymlinkAccessChmod) {
  put(at("f"), "12345");
  ::chmod(at("f").c_str(), 0644);
  fs::create_symlink("f", at("ln"));
  fs::create_symlink("missing", at("dangling"));
  aw::run([&]() -> aw::task<> {
    EXPECT_EQ(co_await os::getsize(at("f")), 5);
    EXPECT_EQ(co_await os::getsize(at("ln")), 5);
    EXPECT_TRUE(co_await os::is_symlink(at("ln")));
    EXPECT_TRUE(co_await os::is_symlink(at("dangling")));
    EXPECT_FALSE(co_await os::is_symlink(at("f")));
    EXPECT_FALSE(co_await os::is_symlink(at("missing")));
    EXPECT_FALSE(co_await os::is_symlink(at("f") / "below"));  // ENOTDIR: false, as exists()
    EXPECT_TRUE(co_await os::access(at("f"), F_OK));
    EXPECT_TRUE(co_await os::access(at("f"), R_OK | W_OK));
    EXPECT_FALSE(co_await os::access(at("f"), X_OK));  // no x bit: false even for root
    EXPECT_FALSE(co_await os::access(at("missing"), F_OK));
    EXPECT_FALSE(co_await os::access(at("dangling"), F_OK));
    EXPECT_TRUE(co_await os::access(at("dangling"), F_OK, /*follow_symlinks=*/false));
    co_await os::chmod(at("f"), 0750);
    EXPECT_TRUE(co_await os::access(at("f"), X_OK));
    co_await os::chmod(at("ln"), 0600);  // follows the link
  });
  struct stat st;
  ASSERT_EQ(::stat(at("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  expect_error<aw::files::file_not_found_error>([&] { return os::getsize(at("missing")); }, ENOENT, at("missing"));
  expect_error<aw::files::file_not_found_error>([&] { return os::chmod(at("missing"), 0600); }, ENOENT, at("missing"));
}

TEST_F(Os, Statvfs) {
  struct statvfs v{};
  ASSERT_EQ(::statvfs(dir.c_str(), &v), 0);
  aw::run([&]() -> aw::task<> {
    os::statvfs_result r = co_await os::statvfs(dir);
    EXPECT_EQ(r.frsize, v.f_frsize);
    EXPECT_EQ(r.bsize, v.f_bsize);
    EXPECT_EQ(r.blocks, v.f_blocks);
    EXPECT_EQ(r.namemax, v.f_namemax);
    EXPECT_EQ(r.files, v.f_files);
    EXPECT_GT(r.blocks, 0u);
  });
  expect_error<aw::files::file_not_found_error>([&] { return os::statvfs(at("missing")); }, ENOENT, at("missing"));
}

// A descriptor closed on every path out of a test.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

TEST_F(Os, SendfileBetweenFiles) {
  std::string data(200'000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 253);
  put(at("src"), data);
  fd_guard in{::open(at("src").c_str(), O_RDONLY | O_CLOEXEC)};
  fd_guard out{::open(at("dst").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)};
  ASSERT_GE(in.fd, 0);
  ASSERT_GE(out.fd, 0);
  aw::run([&]() -> aw::task<> {
    // At an offset: the file position of in does not move.
    EXPECT_EQ(co_await os::sendfile(out.fd, in.fd, 100'000, 50'000), 50'000);
    EXPECT_EQ(::lseek(in.fd, 0, SEEK_CUR), 0);
    // At the file position, to the end, then 0 at the end.
    std::int64_t sent = 0;
    for (;;) {
      std::int64_t n = co_await os::sendfile(out.fd, in.fd, std::nullopt, 1 << 20);
      if (n == 0) break;
      sent += n;
    }
    EXPECT_EQ(sent, 200'000);
  });
  EXPECT_EQ(get(at("dst")), data.substr(100'000, 50'000) + data);
  aw::run([&]() -> aw::task<> {
    try {
      (void)co_await os::sendfile(out.fd, 1'000'000, 0, 10);
      ADD_FAILURE() << "no error";
    } catch (const aw::files::os_error& e) {
      EXPECT_EQ(e.error_number(), EBADF);
      EXPECT_EQ(e.operation(), "sendfile");
      EXPECT_TRUE(e.path().empty());
    }
  });
}

// Into a full non-blocking pipe: sendfile waits for room (Python would raise
// BlockingIOError), and that wait is a cancellation point.
TEST_F(Os, SendfileWaitsForANonBlockingPipe) {
  std::string data(1 << 20, 'p');
  put(at("src"), data);
  fd_guard in{::open(at("src").c_str(), O_RDONLY | O_CLOEXEC)};
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  fd_guard r{p[0]}, w{p[1]};
  aw::run([&]() -> aw::task<> {
    std::int64_t sent = 0;
    std::string got;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        while (sent < static_cast<std::int64_t>(data.size()))
          sent += co_await os::sendfile(w.fd, in.fd, sent, data.size() - static_cast<std::size_t>(sent));
      });
      tg.start_soon([&]() -> aw::task<> {
        char buf[65536];
        while (got.size() < data.size()) {
          co_await aw::wait_readable(r.fd);
          ssize_t n = ::read(r.fd, buf, sizeof buf);
          if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        }
      });
      co_return;
    });
    EXPECT_EQ(sent, static_cast<std::int64_t>(data.size()));
    EXPECT_EQ(got, data);
    // Now nobody reads: once the pipe is full, the wait would last forever.
    aw::cancel_scope scope;
    bool raised = false;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          try {
            for (std::int64_t off = 0;; off = (off + 4096) % static_cast<std::int64_t>(data.size()))
              (void)co_await os::sendfile(w.fd, in.fd, off, 4096);
          } catch (const aw::cancelled&) {
            raised = true;
            throw;
          }
        });
      });
      tg.start_soon([&]() -> aw::task<> {
        int queued = 0;
        while (::ioctl(w.fd, FIONREAD, &queued) != 0 || queued < 65536) co_await aw::sleep(std::chrono::milliseconds(1));
        co_await aw::sleep(std::chrono::milliseconds(20));  // let it reach the wait
        scope.cancel();
      });
      co_return;
    });
    EXPECT_TRUE(raised);
  });
}

TEST_F(Os, LinksAndSymlinks) {
  put(at("f"), "content");
  aw::run([&]() -> aw::task<> {
    co_await os::link(at("f"), at("hard"));
    EXPECT_EQ((co_await os::stat(at("f"))).nlink, 2u);
    co_await os::symlink("f", at("soft"));
    EXPECT_EQ(co_await os::readlink(at("soft")), fs::path("f"));
    EXPECT_TRUE((co_await os::lstat(at("soft"))).is_symlink());
    EXPECT_TRUE((co_await os::stat(at("soft"))).is_file());
    std::string long_target(1000, 'x');
    co_await os::symlink(long_target, at("long"));
    EXPECT_EQ(co_await os::readlink(at("long")), fs::path(long_target));
  });
  expect_error<aw::files::file_exists_error>([&] { return os::link(at("f"), at("hard")); }, EEXIST, at("f"), at("hard"));
  expect_error<aw::files::os_error>([&] { return os::readlink(at("f")); }, EINVAL, at("f"));
}

TEST_F(Os, CopyCopiesContentsAndPermissions) {
  std::string data(3 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 % 256);
  put(at("src"), data);
  ::chmod(at("src").c_str(), 0640);
  put(at("dst"), "old contents that are longer than nothing");
  std::int64_t n = aw::run([&]() -> aw::task<std::int64_t> { co_return co_await os::copy(at("src"), at("dst")); });
  EXPECT_EQ(n, static_cast<std::int64_t>(data.size()));
  EXPECT_EQ(get(at("dst")), data);
  struct stat st;
  ASSERT_EQ(::stat(at("dst").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  put(at("empty"), "");
  EXPECT_EQ(aw::run([&]() -> aw::task<std::int64_t> { co_return co_await os::copy(at("empty"), at("e2")); }), 0);
  EXPECT_EQ(get(at("e2")), "");
  expect_error<aw::files::file_not_found_error>([&] { return os::copy(at("none"), at("d")); }, ENOENT, at("none"), at("d"));
  expect_error<aw::files::is_a_directory_error>([&] { return os::copy(dir, at("d")); }, EISDIR, dir, at("d"));
}

// A directory on /dev/shm (tmpfs; the scratch directory is on another file system, where
// copy_file_range(2) gives EXDEV), removed with everything in it.
struct shm_dir {
  fs::path path;
  explicit shm_dir(const std::string& name) : path(fs::path("/dev/shm") / (name + "." + std::to_string(::getpid()))) {
    std::error_code ec;
    if (!fs::create_directory(path, ec) || ec) path.clear();
  }
  ~shm_dir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

TEST_F(Os, CopyAcrossFileSystemsGoesThroughABuffer) {
  shm_dir tmp("aw-files-copy");
  if (tmp.path.empty()) GTEST_SKIP() << "no /dev/shm";
  const fs::path& shm = tmp.path;
  std::string data(5 << 20 | 123, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 251);
  put(shm / "src", data);
  ::chmod((shm / "src").c_str(), 0604);
  std::int64_t n = aw::run([&]() -> aw::task<std::int64_t> { co_return co_await os::copy(shm / "src", at("dst")); });
  std::int64_t back = aw::run([&]() -> aw::task<std::int64_t> { co_return co_await os::copy(at("dst"), shm / "back"); });
  EXPECT_EQ(n, static_cast<std::int64_t>(data.size()));
  EXPECT_EQ(back, n);
  EXPECT_EQ(get(at("dst")), data);
  EXPECT_EQ(get(shm / "back"), data);
  struct stat st;
  ASSERT_EQ(::stat(at("dst").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  expect_error<aw::files::not_a_directory_error>([&] { return os::copy(shm / "src", at("dst") / "x"); }, ENOTDIR, shm / "src",
                                                 at("dst") / "x");
}

// Cancels a copy once the destination has grown: the copy stops between two steps (a 24 h
// wait in the test would hang otherwise, and a copy run to its end would fail the size
// check), raising aw::cancelled and leaving a prefix of the source.
void cancel_copy_midway(const fs::path& from, const fs::path& to, std::int64_t size) {
  put(from, "");
  ASSERT_EQ(::truncate(from.c_str(), size), 0);  // sparse: zeros that take no space
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    bool raised = false;
    co_await aw::async_with(aw::task_group(), [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          try {
            co_await os::copy(from, to);
          } catch (const aw::cancelled&) {
            raised = true;
            throw;
          }
        });
      });
      tg.start_soon([&]() -> aw::task<> {
        struct stat st{};
        while (::stat(to.c_str(), &st) != 0 || st.st_size == 0) co_await aw::sleep(std::chrono::milliseconds(1));
        scope.cancel();
      });
      co_return;
    });
    EXPECT_TRUE(raised);
    EXPECT_TRUE(scope.cancelled_caught());
  });
  struct stat st{};
  ASSERT_EQ(::stat(to.c_str(), &st), 0);
  EXPECT_GT(st.st_size, 0);
  EXPECT_LT(st.st_size, size);
}

TEST_F(Os, CopyInTheKernelIsCancelledBetweenSteps) { cancel_copy_midway(at("big"), at("copy"), std::int64_t{2} << 30); }

TEST_F(Os, CopyThroughABufferIsCancelledBetweenSteps) {
  shm_dir tmp("aw-files-cancel");
  if (tmp.path.empty()) GTEST_SKIP() << "no /dev/shm";
  cancel_copy_midway(tmp.path / "big", at("copy"), std::int64_t{1} << 30);
}

TEST_F(Os, CancelledBeforeStartingDoesNothing) {
  put(at("a"), "A");
  aw::run([&]() -> aw::task<> {
    aw::cancel_scope scope;
    co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
      scope.cancel();
      EXPECT_THROW(co_await os::rename(at("a"), at("b")), aw::cancelled);
      EXPECT_THROW(co_await os::listdir(dir), aw::cancelled);
      EXPECT_THROW(co_await os::copy(at("a"), at("c")), aw::cancelled);
    });
  });
  EXPECT_TRUE(fs::exists(at("a")));
  EXPECT_FALSE(fs::exists(at("b")));
  EXPECT_FALSE(fs::exists(at("c")));
}

class Temp : public scratch {};

TEST_F(Temp, NamedTemporaryFileIsRemovedOnExit) {
  fs::path name;
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir;
    o.prefix = "pre-";
    o.suffix = ".txt";
    co_await aw::async_with(aw::files::named_temporary_file("w+", o), [&](file& f) -> aw::task<> {
      name = f.name();
      EXPECT_EQ(name.parent_path(), dir);
      EXPECT_EQ(name.filename().string().substr(0, 4), "pre-");
      EXPECT_EQ(name.extension(), ".txt");
      co_await f.write("scratch");
      co_await f.seek(0);
      EXPECT_EQ(co_await f.read(), "scratch");
      co_await f.flush();
      EXPECT_EQ(get(name), "scratch");
    });
  });
  EXPECT_FALSE(fs::exists(name));
}

TEST_F(Temp, NamedTemporaryFileKeptWithoutDelete) {
  fs::path name;
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir;
    o.delete_on_exit = false;
    co_await aw::async_with(aw::files::named_temporary_file("w", o), [&](file& f) -> aw::task<> {
      name = f.name();
      co_await f.write("kept");
    });
  });
  EXPECT_EQ(get(name), "kept");
}

TEST_F(Temp, RemovedWhenTheBodyFails) {
  fs::path name, tmpdir;
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir;
    EXPECT_THROW(co_await aw::async_with(aw::files::named_temporary_file("w+b", o),
                                         [&](file& f) -> aw::task<> {
                                           name = f.name();
                                           throw std::runtime_error("body");
                                           co_return;
                                         }),
                 std::runtime_error);
    EXPECT_THROW(co_await aw::async_with(aw::files::temporary_directory(o),
                                         [&](const fs::path& d) -> aw::task<> {
                                           tmpdir = d;
                                           put(d / "inside", "x");
                                           throw std::runtime_error("body");
                                           co_return;
                                         }),
                 std::runtime_error);
  });
  EXPECT_FALSE(fs::exists(name));
  EXPECT_FALSE(fs::exists(tmpdir));
}

TEST_F(Temp, TempfileHasNoName) {
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir;
    co_await aw::async_with(aw::files::tempfile("w+b", o), [&](file& f) -> aw::task<> {
      co_await f.write(std::string(100'000, 'q'));
      co_await f.seek(0);
      EXPECT_EQ((co_await f.read()).size(), 100'000u);
      EXPECT_TRUE(fs::is_empty(dir)) << "an anonymous file leaves no name in the directory";
    });
  });
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(Temp, TemporaryDirectoryRemovesItsTree) {
  fs::path made;
  aw::run([&]() -> aw::task<> {
    aw::files::temp_options o;
    o.dir = dir;
    co_await aw::async_with(aw::files::temporary_directory(o), [&](const fs::path& d) -> aw::task<> {
      made = d;
      EXPECT_TRUE(fs::is_directory(d));
      co_await os::makedirs(d / "a/b");
      co_await aw::async_with(aw::files::open(d / "a/b/f", "w"), [](file& f) -> aw::task<> { co_await f.write("x"); });
    });
  });
  EXPECT_FALSE(fs::exists(made));
}

TEST_F(Temp, DefaultDirectoryIsTmpdir) {
  ::setenv("TMPDIR", dir.c_str(), 1);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::named_temporary_file(), [&](file& f) -> aw::task<> {
      EXPECT_EQ(f.name().parent_path(), dir);
      co_return;
    });
  });
  ::unsetenv("TMPDIR");
}

TEST_F(Temp, BadModeIsRejectedAtOnce) { EXPECT_THROW((void)aw::files::named_temporary_file("rw"), std::invalid_argument); }

}  // namespace
