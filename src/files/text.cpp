// Text mode for aw::files: UTF-8 decoding with Python's error handlers and newline
// translation, with an ASCII fast path.
#include "text.hpp"

#include <aw/files/errors.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aw::files::detail {
namespace {

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

// Eight bytes at p are all ASCII: one test instead of eight (the common case of text).
// Used where SSE2 is missing.
[[maybe_unused]] inline bool ascii8(const unsigned char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return (w & 0x8080808080808080ull) == 0;
}

// The length of the well-formed UTF-8 sequence at p (n > 0 bytes available), or 0 when it
// is ill-formed or incomplete. The ranges are the Unicode standard's table 3-7: no overlong
// forms, no surrogates (U+D800..U+DFFF), nothing past U+10FFFF.
inline std::size_t sequence_length(const unsigned char* p, std::size_t n) noexcept {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3) return 0;
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c < 0xF5) {
    if (n < 4) return 0;
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4 : 0;
  }
  return 0;
}

struct bad_sequence {
  std::size_t length;  // the maximal subpart: what Python reports and replaces with one U+FFFD
  bool truncated;      // a well-formed beginning cut off by the end of the input
  const char* reason;  // Python's words
};

// The ill-formed or incomplete sequence at p (sequence_length gave 0).
bad_sequence classify(const unsigned char* p, std::size_t n) noexcept {
  const unsigned c = p[0];
  if (c < 0xC2 || c > 0xF4) return {1, false, "invalid start byte"};
  std::size_t need = 2;
  unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xF0) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else if (c >= 0xE0) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  }
  std::size_t k = 1;
  for (; k < need && k < n; ++k) {
    const unsigned b = p[k];
    if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return {k, false, "invalid continuation byte"};
  }
  return {k, true, "unexpected end of data"};
}

// The bytes of at most max_chars whole, well-formed characters at the start of p[0, n);
// stops before the first ill-formed or incomplete sequence. `chars` gets their count.
std::size_t scan(const char* text, std::size_t n, std::size_t max_chars, std::size_t& chars) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text);
  std::size_t i = 0, c = 0;
  while (i < n && c < max_chars) {
    if (n - i >= 16 && max_chars - c >= 16) {
#if defined(__SSE2__)
      if (_mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))) == 0) {
#else
      if (ascii8(p + i) && ascii8(p + i + 8)) {
#endif
        i += 16;
        c += 16;
        continue;
      }
    }
    if (p[i] < 0x80) {
      ++i;
      ++c;
      continue;
    }
    std::size_t len = sequence_length(p + i, n - i);
    if (len == 0) break;
    i += len;
    ++c;
  }
  chars = c;
  return i;
}

// surrogateescape: the byte b (0x80..0xFF) as the code point U+DC00+b, in the form UTF-8
// would give it if it allowed surrogates: ED, B2 or B3, and a continuation byte.
inline void append_escaped(std::string& out, unsigned char b) {
  const unsigned cp = 0xDC00u + b;
  out += static_cast<char>(0xE0 | (cp >> 12));
  out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out += static_cast<char>(0x80 | (cp & 0x3F));
}

// The byte an escaped U+DC80..U+DCFF at p stands for, or -1 when p holds no such escape.
inline int escaped_byte(const char* text, std::size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(text);
  if (n < 3 || p[0] != 0xED || (p[1] != 0xB2 && p[1] != 0xB3) || (p[2] & 0xC0) != 0x80) return -1;
  return 0x80 | ((p[1] & 1) << 6) | (p[2] & 0x3F);
}

[[noreturn]] void raise_unicode_error(bool decoding, std::int64_t position, const char* bytes, std::size_t length, const char* reason,
                                      const std::filesystem::path& path) {
  std::string m = decoding ? "'utf-8' codec can't decode " : "'utf-8' codec can't encode ";
  char num[32];
  if (length == 1) {
    std::snprintf(num, sizeof num, "byte 0x%02x", static_cast<unsigned char>(bytes[0]));
    m += num;
    m += " in position ";
    m += std::to_string(position);
  } else {
    m += "bytes in position ";
    m += std::to_string(position);
    m += '-';
    m += std::to_string(position + static_cast<std::int64_t>(length) - 1);
  }
  m += ": ";
  m += reason;
  m += decoding ? " (reading '" : " (writing to '";
  m += path.string();
  m += "')";
  std::string bad(bytes, length);
  if (decoding) throw unicode_decode_error(std::move(m), position, std::move(bad), reason, path);
  throw unicode_encode_error(std::move(m), position, std::move(bad), reason, path);
}

// Where the first line ends in p[0, n), by the newline mode. `stop` is the index after the
// ending (found), or n (none), or the index of a final "\r" that needs the next byte to be
// read before it is known what it ends (pending).
void find_line_end(newline_mode mode, const char* p, std::size_t n, bool eof, std::size_t& stop, bool& found, bool& pending) noexcept {
  stop = n;
  switch (mode) {
    case newline_mode::lf:
    case newline_mode::cr:
      if (const void* q = std::memchr(p, mode == newline_mode::lf ? '\n' : '\r', n)) {
        stop = static_cast<std::size_t>(static_cast<const char*>(q) - p) + 1;
        found = true;
      }
      return;
    case newline_mode::crlf:
      for (std::size_t from = 0; from < n;) {
        const void* q = std::memchr(p + from, '\r', n - from);
        if (!q) return;
        std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - p);
        if (at + 1 == n) {
          if (!eof) {
            stop = at;
            pending = true;
          }
          return;
        }
        if (p[at + 1] == '\n') {
          stop = at + 2;
          found = true;
          return;
        }
        from = at + 1;
      }
      return;
    case newline_mode::any:
    case newline_mode::universal: {
      const void* nl = std::memchr(p, '\n', n);
      std::size_t lim = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - p) : n;
      if (const void* cr = std::memchr(p, '\r', lim)) {
        std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - p);
        if (at + 1 < n) {
          stop = at + (p[at + 1] == '\n' ? 2 : 1);
          found = true;
        } else if (eof) {
          found = true;
        } else {
          stop = at;
          pending = true;
        }
        return;
      }
      if (nl) {
        stop = lim + 1;
        found = true;
      }
      return;
    }
  }
}

}  // namespace

newline_mode parse_newline(std::string_view v) {
  if (v.empty()) return newline_mode::any;
  if (v == "\n") return newline_mode::lf;
  if (v == "\r") return newline_mode::cr;
  if (v == "\r\n") return newline_mode::crlf;
  std::string shown;
  for (char c : v) shown += c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
  throw std::invalid_argument("illegal newline value: '" + shown + "'");
}

error_mode parse_errors(std::string_view v) {
  if (v == "strict") return error_mode::strict;
  if (v == "replace") return error_mode::replace;
  if (v == "surrogateescape") return error_mode::surrogateescape;
  throw std::invalid_argument("unknown error handler name '" + std::string(v) + "' (aw::files has strict, replace and surrogateescape)");
}

decode_result text_codec::decode(const char* p, std::size_t n, bool eof, std::size_t max_chars, bool line, std::string& out,
                                 std::int64_t offset, const std::filesystem::path& path) const {
  decode_result r;
  if (line)
    if (std::size_t len = ascii_line(p, n); len && len <= max_chars) {
      out.append(p, len);
      r.consumed = r.chars = len;
      r.line_end = true;
      return r;
    }
  std::size_t stop = n;
  bool found = false, pending = false;
  if (line) find_line_end(newline, p, n, eof, stop, found, pending);
  const bool translate = newline == newline_mode::universal;
  std::size_t i = 0;
  while (i < stop && r.chars < max_chars) {
    // A segment without "\r" (universal newlines translate each one), validated in bulk.
    std::size_t seg_end = stop;
    if (translate)
      if (const void* cr = std::memchr(p + i, '\r', stop - i)) seg_end = static_cast<std::size_t>(static_cast<const char*>(cr) - p);
    std::size_t c = 0;
    std::size_t k = scan(p + i, seg_end - i, max_chars - r.chars, c);
    out.append(p + i, k);
    i += k;
    r.chars += c;
    if (r.chars == max_chars) break;
    if (i < seg_end) {
      bad_sequence bad = classify(reinterpret_cast<const unsigned char*>(p + i), n - i);
      if (bad.truncated && !eof) {
        r.need_more = true;
        break;
      }
      if (errors == error_mode::strict)
        raise_unicode_error(true, offset + static_cast<std::int64_t>(i), p + i, bad.length, bad.reason, path);
      if (errors == error_mode::replace) {
        out.append(replacement_character);
        ++r.chars;
        i += bad.length;
      } else {
        // One character per byte: as many as max_chars allows (the rest, continuation
        // bytes, are each a bad sequence of their own next time).
        std::size_t take = std::min(bad.length, max_chars - r.chars);
        for (std::size_t j = 0; j < take; ++j) append_escaped(out, static_cast<unsigned char>(p[i + j]));
        r.chars += take;
        i += take;
      }
      continue;
    }
    if (seg_end < stop) {  // a "\r": "\r\n" and "\r" read as "\n"
      if (i + 1 < n) {
        i += p[i + 1] == '\n' ? 2 : 1;
      } else if (eof) {
        i += 1;
      } else {
        r.need_more = true;  // the next byte may be the "\n" of this "\r"
        break;
      }
      out += '\n';
      ++r.chars;
    }
  }
  r.consumed = i;
  if (i == stop && !r.need_more) {
    r.line_end = found;
    r.need_more = pending && r.chars < max_chars;
  }
  return r;
}

std::string text_codec::decode_all(std::string& raw, std::int64_t offset, const std::filesystem::path& path) const {
  std::size_t chars = 0;
  bool clean = scan(raw.data(), raw.size(), std::string::npos, chars) == raw.size() &&
               (newline != newline_mode::universal || !std::memchr(raw.data(), '\r', raw.size()));
  if (clean) return std::move(raw);
  std::string out;
  out.reserve(raw.size());
  decode(raw.data(), raw.size(), true, std::string::npos, false, out, offset, path);
  return out;
}

std::string_view text_codec::encode(std::string_view data, std::string& scratch, std::size_t& chars,
                                    const std::filesystem::path& path) const {
  const bool translate = newline == newline_mode::cr || newline == newline_mode::crlf;
  std::size_t c = 0;
  if (scan(data.data(), data.size(), std::string::npos, c) == data.size() && (!translate || !std::memchr(data.data(), '\n', data.size()))) {
    chars = c;
    return data;
  }
  const std::string_view ending = newline == newline_mode::cr ? "\r" : "\r\n";
  scratch.clear();
  scratch.reserve(data.size() + data.size() / 8 + 8);
  chars = 0;
  const char* p = data.data();
  const std::size_t n = data.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t seg_end = n;
    if (translate)
      if (const void* nl = std::memchr(p + i, '\n', n - i)) seg_end = static_cast<std::size_t>(static_cast<const char*>(nl) - p);
    std::size_t k = scan(p + i, seg_end - i, std::string::npos, c);
    scratch.append(p + i, k);
    i += k;
    chars += c;
    if (i < seg_end) {
      if (errors == error_mode::surrogateescape)
        if (int b = escaped_byte(p + i, n - i); b >= 0) {
          scratch += static_cast<char>(b);
          ++chars;
          i += 3;
          continue;
        }
      bad_sequence bad = classify(reinterpret_cast<const unsigned char*>(p + i), n - i);
      if (errors != error_mode::replace) raise_unicode_error(false, static_cast<std::int64_t>(i), p + i, bad.length, bad.reason, path);
      scratch += '?';  // Python's encoder replaces with "?", its decoder with U+FFFD
      ++chars;
      i += bad.length;
      continue;
    }
    if (seg_end < n) {
      scratch.append(ending);
      ++chars;
      ++i;
    }
  }
  return scratch;
}

}  // namespace aw::files::detail
