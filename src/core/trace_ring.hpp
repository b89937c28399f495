// Internal to the trace export (aw/trace.hpp): the records the hooks append to a loop's ring,
// shared by the hooks (trace.cpp) and the Chrome trace writer (trace_writer.cpp).
#pragma once

#include <aw/detail/debug.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aw::detail {

enum class rk : std::uint8_t {
  step_begin,
  step_end,
  wait,
  task_start,
  task_end,
  enter,
  exit,
  cancel,
  interrupt,
  job,
  span_begin,
  span_end
};

// One hook's record: 40 bytes, no allocation on the hot path once the ring has grown.
struct record {
  std::int64_t t;
  std::uint64_t a;
  std::uint64_t b;
  std::uint64_t d;
  std::uint32_t c;
  rk kind;
  std::uint8_t sub;
};

constexpr std::size_t max_strings = 65536;

struct loop_trace {
  std::string path;
  std::size_t capacity;
  std::vector<record> ring;
  std::size_t head = 0;  // next slot to write once the ring is full
  std::size_t recorded = 0;
  std::vector<std::string> strings{""};
  std::unordered_map<std::string, std::uint32_t> string_ids;
  std::uint32_t next_task = 0;
  std::uint32_t next_span = 0;
  std::uint32_t cur_task = 0;
  std::unordered_map<void*, std::pair<std::uint32_t, std::uint32_t>> pending;  // child handle -> parent, name
  // Names already looked up: a coroutine's name is read from the symbol table, a file read.
  std::unordered_map<const void*, std::uint32_t> code_names;
  std::unordered_map<const std::type_info*, std::uint32_t> type_names;
  std::unordered_map<const void*, std::uint32_t> manager_names;  // key: type ^ coroutine code

  std::uint32_t code_name_of(const void* code) {
    auto it = code_names.find(code);
    if (it != code_names.end()) return it->second;
    char buffer[512];
    std::uint32_t id = str(code_name(code, buffer, sizeof buffer));
    code_names.emplace(code, id);
    return id;
  }  // the task the current step ran, as far as a hook said
  std::uint64_t loop_id = 0;
  long os_tid = 0;

  void push(const record& r) noexcept {
    ++recorded;
    if (ring.size() < capacity) {
      try {
        ring.push_back(r);
        return;
      } catch (...) {  // out of memory: the ring stops growing here
        capacity = ring.size();
        if (capacity == 0) return;
      }
    }
    ring[head] = r;
    head = head + 1 == capacity ? 0 : head + 1;
  }
  std::uint32_t str(const char* s) noexcept {
    if (!s || !*s) return 0;
    try {
      auto it = string_ids.find(s);
      if (it != string_ids.end()) return it->second;
      if (strings.size() >= max_strings) return 0;
      auto id = static_cast<std::uint32_t>(strings.size());
      strings.emplace_back(s);
      string_ids.emplace(s, id);
      return id;
    } catch (...) {
      return 0;
    }
  }
  std::uint32_t str(const std::string& s) noexcept { return str(s.c_str()); }
};

// The loop's records as Chrome trace events, comma-separated (run once, when the loop ends).
std::string trace_events(loop_trace& s);
// Writes the trace file whole (to a temporary file renamed over `path`).
void trace_write_file(const std::string& path, const std::string& events, std::size_t dropped);

}  // namespace aw::detail
