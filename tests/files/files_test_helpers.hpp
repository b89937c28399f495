// Shared by the aw::files tests: a scratch directory per test, files made and read with
// plain POSIX calls (so the module is checked against the kernel, not against itself),
// and a switch to run a test on one backend or the other.
#pragma once

#include <aw/loop.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace files_test {

namespace fs = std::filesystem;

// A fresh directory for the running test, removed after it.
class scratch : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::path(AW_FILES_SCRATCH) / (std::string(info->test_suite_name()) + "." + info->name() + "." + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);
  }
  fs::path at(const std::string& name) const { return dir / name; }
  fs::path dir;
};

inline void put(const fs::path& p, const std::string& contents) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << contents;
}

inline std::string get(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool on_uring() {
  return aw::run([]() -> aw::task<bool> { co_return aw::loop::current().uring() != nullptr; });
}

}  // namespace files_test
