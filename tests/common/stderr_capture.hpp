// What the program writes to stderr (fd 2, so C stdio and libraries' writes too) while the
// guard lives: for tests that check nothing reaches stderr.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

struct stderr_capture {
  int saved = ::dup(2);
  std::string path = "/tmp/aw_test_stderr_" + std::to_string(::getpid());
  stderr_capture() {
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  // Restores stderr and gives what was written.
  std::string finish() {
    if (saved >= 0) {
      ::dup2(saved, 2);
      ::close(saved);
      saved = -1;
    }
    std::ifstream f(path);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ::unlink(path.c_str());
    return s;
  }
  ~stderr_capture() { finish(); }
};
