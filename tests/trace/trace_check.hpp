// What the trace tests share with the modules' (tests/pg, tests/http, tests/mongo): a
// temporary path for a trace, and check_trace.py (AW_TRACE_CHECKER) run on it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

namespace aw_trace_test {

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/aw_trace_" + std::to_string(::getpid()) + "_" + name + ".json";
}

bool have_python() { return std::system("python3 -c 'import json' >/dev/null 2>&1") == 0; }

// Runs the checker on `path` with `expectations`; its report goes to the test's output.
::testing::AssertionResult check(const std::string& path, std::initializer_list<const char*> expectations) {
  std::string cmd = std::string("python3 ") + AW_TRACE_CHECKER + " '" + path + "'";
  for (const char* e : expectations) cmd += std::string(" '") + e + "'";
  cmd += " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return ::testing::AssertionFailure() << "cannot run " << cmd;
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
  int status = ::pclose(p);
  if (status != 0) return ::testing::AssertionFailure() << cmd << "\n" << out;
  return ::testing::AssertionSuccess();
}

#define AW_NEED_PYTHON() \
  if (!::aw_trace_test::have_python()) GTEST_SKIP() << "python3 is not installed"

}  // namespace aw_trace_test
