// Text mode's codec: UTF-8 validation (strict, or replacing what is not UTF-8), character
// counting, and Python's newline modes, on spans of bytes. The file feeds it its read buffer
// (decode) and the strings handed to write (encode). Written by hand: Debian 12 has no
// simdutf, and ICU would convert to UTF-16 and back for what is a validation pass here.
#pragma once

#include <aw/files/file.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aw::files::detail {

// readlines() of any file object with readline(): lines until the empty one at the end.
template <class File>
task<std::vector<std::string>> read_lines(File& f) {
  std::vector<std::string> lines;
  for (;;) {
    std::string line = co_await f.readline();
    if (line.empty()) break;
    lines.push_back(std::move(line));
  }
  co_return lines;
}

// The index of the first byte in p[0, n) that is not ASCII, or is "\n", or (cr) "\r"; n if
// none. This is the search for the end of an ASCII line, validating it on the way: 16 bytes
// per step with SSE2 (x86-64 always has it), else 8 with the classic has-zero-byte test.
inline std::size_t first_special(const char* text, std::size_t n, bool cr) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text);
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n'), other = _mm_set1_epi8(cr ? '\r' : '\n');
  for (; i + 32 <= n; i += 32) {  // two at a time: one branch per 32 bytes
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i u = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16));
    __m128i fv = _mm_or_si128(v, _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, other)));
    __m128i fu = _mm_or_si128(u, _mm_or_si128(_mm_cmpeq_epi8(u, lf), _mm_cmpeq_epi8(u, other)));
    auto bits = static_cast<std::uint32_t>(_mm_movemask_epi8(fv)) | static_cast<std::uint32_t>(_mm_movemask_epi8(fu)) << 16;
    if (bits) return i + static_cast<std::size_t>(std::countr_zero(bits));
  }
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // A byte's high bit: its own (not ASCII), or the all-ones of a match.
    __m128i flags = _mm_or_si128(v, _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, other)));
    if (unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(flags))) return i + static_cast<std::size_t>(std::countr_zero(bits));
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    // b ^ '\n' is a zero byte where b is "\n"; (x - 0x01..) & ~x & 0x80.. flags zero bytes,
    // exactly for the lowest one (a borrow only reaches higher bytes, later in memory here).
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      std::uint64_t x = w ^ (ones * '\n'), y = w ^ (ones * (cr ? '\r' : '\n'));
      std::uint64_t mask = (w | ((x - ones) & ~x) | ((y - ones) & ~y)) & highs;
      if (mask) return i + static_cast<std::size_t>(std::countr_zero(mask)) / 8;
    }
  }
  for (; i < n; ++i)
    if (p[i] >= 0x80 || p[i] == '\n' || (cr && p[i] == '\r')) return i;
  return n;
}

// Throw std::invalid_argument with Python's message for an unknown value.
newline_mode parse_newline(std::string_view value);
error_mode parse_errors(std::string_view value);

struct decode_result {
  std::size_t consumed = 0;  // bytes of input used
  std::size_t chars = 0;     // characters appended to `out`
  bool line_end = false;     // stopped after a line ending
  bool need_more = false;    // the rest of the input cannot be decided without the next bytes
};

struct text_codec {
  newline_mode newline = newline_mode::any;
  error_mode errors = error_mode::strict;

  // The common line, on the hot path of readline() and lines(): ASCII up to its "\n" at the
  // start of p[0, n), found and validated in one pass. Its length with the "\n", or 0 when
  // the general path must decide (a "\r" in modes None and "", a character past ASCII, no
  // "\n" in the input, newline "\r" or "\r\n").
  std::size_t ascii_line(const char* p, std::size_t n) const noexcept {
    if (newline == newline_mode::cr || newline == newline_mode::crlf) return 0;
    std::size_t at = first_special(p, n, newline != newline_mode::lf);
    return at < n && p[at] == '\n' ? at + 1 : 0;
  }

  // Decodes p[0, n) into `out`: at most max_chars characters, stopping after the first line
  // ending when `line`. Unless `eof`, it stops (need_more) before an incomplete UTF-8
  // sequence at the end of the input, and before a final "\r" whose meaning depends on the
  // next byte. `offset` is the file position of p (for the error); strict mode raises
  // unicode_decode_error naming `path`.
  decode_result decode(const char* p, std::size_t n, bool eof, std::size_t max_chars, bool line, std::string& out, std::int64_t offset,
                       const std::filesystem::path& path) const;

  // Decodes a whole input that ends at EOF (read()): gives `raw` itself (moved) when it is
  // valid and needs no newline translation (the common case: no copy). On an error `raw`
  // is left as it was.
  std::string decode_all(std::string& raw, std::int64_t offset, const std::filesystem::path& path) const;

  // Prepares `data` for writing: validates it (strict: unicode_encode_error; replace: "?" for
  // each bad sequence, as Python's encoder; surrogateescape: an escaped byte becomes that
  // byte again, anything else bad raises as strict) and translates "\n" for newline "\r" or "\r\n".
  // Gives the bytes to write: `data` itself, or `scratch` when it had to change.
  // `chars` receives the number of characters in data.
  std::string_view encode(std::string_view data, std::string& scratch, std::size_t& chars, const std::filesystem::path& path) const;
};

}  // namespace aw::files::detail
