// An in-memory stand-in for aiofiles.open() until aw::files lands: a manager whose
// resource is itself, with asynchronous read and write (each goes once through the loop,
// like real I/O). A file with no contents does not exist: opening it throws. Used by the
// nesting and exit_stack examples.
#pragma once

#include <aw/aw.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

struct memory_file {
  const char* name;
  std::string* contents;  // the "disk"

  aw::task<memory_file&> aenter() {
    co_await aw::yield();
    if (!contents) throw std::runtime_error(std::string("no such file: ") + name);
    std::printf("  open %s\n", name);
    co_return *this;
  }
  aw::task<> aexit(std::exception_ptr e) {
    co_await aw::yield();
    std::printf("  close %s%s\n", name, e ? " (leaving with an exception)" : "");
  }

  aw::task<std::string> read() {
    co_await aw::yield();
    co_return *contents;
  }
  aw::task<> write(std::string data) {
    co_await aw::yield();
    *contents += data;
  }
};
