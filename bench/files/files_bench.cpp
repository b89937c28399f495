// The aw::files workloads, each one iteration = the whole workload:
//   file_read_1g    read a page-cached 1 GiB file in 64 KiB chunks        (bytes/s)
//   file_small_4k   4,000 files of 4 KiB opened, read and closed at once  (items/s = files/s)
//   file_lines      iterate the lines of a 200 MB text file               (bytes/s; items/s = lines/s)
//   file_copy_1g    aw::files::os::copy of the 1 GiB file                 (bytes/s)
// The data lives in $AW_FILES_BENCH_DIR (default /tmp/aw-files-bench) and is made on first
// use, with plain POSIX writes; bench/files/compare makes it and warms the page cache.
#include <aw/async_with.hpp>
#include <aw/files.hpp>
#include <aw/run.hpp>
#include <aw/task_group.hpp>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t gib = std::int64_t{1} << 30;
constexpr int small_files = 4000;
constexpr std::size_t small_size = 4096;
constexpr std::int64_t lines_size = 200'000'000;

fs::path data_dir() {
  const char* d = std::getenv("AW_FILES_BENCH_DIR");
  return d && *d ? fs::path(d) : fs::path("/tmp/aw-files-bench");
}

void write_file(const fs::path& p, std::int64_t size, bool text) {
  struct stat st;
  if (::stat(p.c_str(), &st) == 0 && st.st_size == size) return;
  std::string block(1 << 20, '\0');
  if (text) {
    // Lines of 20 to 120 characters.
    std::size_t i = 0;
    for (unsigned n = 0; i < block.size(); ++n) {
      std::size_t len = 20 + (n * 37) % 100;
      for (std::size_t k = 0; k < len && i < block.size(); ++k) block[i++] = static_cast<char>('a' + (n + k) % 26);
      if (i < block.size()) block[i++] = '\n';
    }
    block.back() = '\n';
  } else {
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 % 251);
  }
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + p.string());
  for (std::int64_t done = 0; done < size;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(size - done, static_cast<std::int64_t>(block.size())));
    if (::write(fd, block.data(), n) != static_cast<ssize_t>(n)) throw std::runtime_error("cannot write " + p.string());
    done += static_cast<std::int64_t>(n);
  }
  ::close(fd);
}

fs::path big_file() {
  fs::create_directories(data_dir());
  fs::path p = data_dir() / "big.bin";
  write_file(p, gib, false);
  return p;
}

fs::path lines_file() {
  fs::create_directories(data_dir());
  fs::path p = data_dir() / "lines.txt";
  write_file(p, lines_size, true);
  return p;
}

std::vector<fs::path> small_file_paths() {
  fs::path dir = data_dir() / "small";
  fs::create_directories(dir);
  std::vector<fs::path> paths;
  for (int i = 0; i < small_files; ++i) {
    std::string name = "f";  // not "f" + to_string(i): g++ 12 -O3 gives a false -Wrestrict there
    name += std::to_string(i);
    paths.push_back(dir / name);
    write_file(paths.back(), small_size, false);
  }
  return paths;
}

void file_read_1g(benchmark::State& state) {
  fs::path p = big_file();
  std::int64_t total = 0;
  for (auto _ : state) {
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(p, "rb"), [&](aw::files::file& f) -> aw::task<> {
        std::vector<char> buf(64 * 1024);
        while (std::size_t n = co_await f.read_into(buf)) total += static_cast<std::int64_t>(n);
      });
    });
  }
  if (total != gib * static_cast<std::int64_t>(state.iterations())) state.SkipWithError("short read");
  state.SetBytesProcessed(total);
}

void file_small_4k(benchmark::State& state) {
  std::vector<fs::path> paths = small_file_paths();
  std::size_t bytes = 0;
  for (auto _ : state) {
    aw::run([&]() -> aw::task<> {
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
        for (const fs::path& p : paths)
          tg.start_soon([&]() -> aw::task<> {
            co_await aw::async_with(aw::files::open(p, "rb"),
                                    [&](aw::files::file& f) -> aw::task<> { bytes += (co_await f.read()).size(); });
          });
        co_return;
      });
    });
  }
  if (bytes != small_size * paths.size() * state.iterations()) state.SkipWithError("short read");
  state.SetItemsProcessed(static_cast<std::int64_t>(paths.size() * state.iterations()));
}

void file_lines(benchmark::State& state) {
  fs::path p = lines_file();
  std::int64_t bytes = 0, lines = 0;
  for (auto _ : state) {
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(p, "r"), [&](aw::files::file& f) -> aw::task<> {
        auto it = f.lines();
        while (auto line = co_await it.next()) {
          bytes += static_cast<std::int64_t>(line->size());
          ++lines;
        }
      });
    });
  }
  if (bytes != lines_size * static_cast<std::int64_t>(state.iterations())) state.SkipWithError("short read");
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(lines);
}

void file_copy_1g(benchmark::State& state) {
  fs::path p = big_file();
  fs::path out = data_dir() / "copy.bin";
  std::int64_t total = 0;
  for (auto _ : state) {
    total += aw::run([&]() -> aw::task<std::int64_t> { co_return co_await aw::files::os::copy(p, out); });
    state.PauseTiming();
    fs::remove(out);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(total);
}

BENCHMARK(file_read_1g)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK(file_small_4k)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1);
BENCHMARK(file_lines)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK(file_copy_1g)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

}  // namespace

BENCHMARK_MAIN();
