// Text mode as Python's open(encoding="utf-8", newline=..., errors=...): every newline mode
// through read(), read(n), readline() and lines(), and write(); characters counted as code
// points; strict decoding and encoding, and "replace"; buffer sizes small enough to put
// every "\r" and every multi-byte character across a buffer boundary; streams and
// cancellation. The expected values are what CPython 3.11 gives for the same bytes.
#include "files_test_helpers.hpp"

#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/files.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

using namespace files_test;
using aw::files::file;
using aw::files::open_options;

class Text : public scratch {};

const std::size_t buffer_sizes[] = {1, 2, 3, 4, 5, 7, 64 * 1024};

open_options text_options(std::size_t buffer_size, std::optional<std::string_view> newline, std::string_view errors = "strict") {
  open_options o;
  o.buffer_size = buffer_size;
  o.newline = newline;
  o.errors = errors;
  return o;
}

// Code points in valid UTF-8: the bytes that do not continue a character.
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string show(std::optional<std::string_view> newline, std::size_t buffer_size) {
  std::string s = newline ? "newline='" : "newline=None";
  if (newline) {
    for (char c : *newline) s += c == '\n' ? "\\n" : "\\r";
    s += "'";
  }
  return s + " buffer_size=" + std::to_string(buffer_size);
}

// The file read four ways: read(), read(1) to EOF, read(3) to EOF, readline() to EOF and
// lines(). Each read(n) is checked to give n characters (fewer only at the end).
struct four_ways {
  std::string all, by_one, by_three;
  std::vector<std::string> lines, iterated;
};

four_ways read_four_ways(const fs::path& p, const open_options& o) {
  four_ways w;
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(p, "r", o), [&](file& f) -> aw::task<> { w.all = co_await f.read(); });
    for (std::size_t n : {std::size_t{1}, std::size_t{3}}) {
      co_await aw::async_with(aw::files::open(p, "r", o), [&](file& f) -> aw::task<> {
        std::string& out = n == 1 ? w.by_one : w.by_three;
        for (;;) {
          std::string part = co_await f.read(n);
          if (part.empty()) break;
          EXPECT_LE(code_points(part), n);
          out += part;
          if (code_points(part) < n) {
            EXPECT_EQ(co_await f.read(n), "") << "fewer characters than asked only at EOF";
            break;
          }
        }
      });
    }
    co_await aw::async_with(aw::files::open(p, "r", o), [&](file& f) -> aw::task<> {
      for (;;) {
        std::string line = co_await f.readline();
        if (line.empty()) break;
        w.lines.push_back(std::move(line));
      }
    });
    co_await aw::async_with(aw::files::open(p, "r", o), [&](file& f) -> aw::task<> {
      auto it = f.lines();
      while (auto line = co_await it.next()) w.iterated.push_back(std::move(*line));
    });
  });
  return w;
}

// "\r\n", a lone "\r", "\n", "\r\r\n", "\n\r", and a "\r" at EOF.
const std::string mixed = "a\r\nb\rc\nd\r\r\ne\n\rf\r";

struct newline_case {
  std::optional<std::string_view> newline;
  std::string all;
  std::vector<std::string> lines;
};

const newline_case newline_cases[] = {
    {std::nullopt, "a\nb\nc\nd\n\ne\n\nf\n", {"a\n", "b\n", "c\n", "d\n", "\n", "e\n", "\n", "f\n"}},
    {"", mixed, {"a\r\n", "b\r", "c\n", "d\r", "\r\n", "e\n", "\r", "f\r"}},
    {"\n", mixed, {"a\r\n", "b\rc\n", "d\r\r\n", "e\n", "\rf\r"}},
    {"\r", mixed, {"a\r", "\nb\r", "c\nd\r", "\r", "\ne\n\r", "f\r"}},
    {"\r\n", mixed, {"a\r\n", "b\rc\nd\r\r\n", "e\n\rf\r"}},
};

TEST_F(Text, EveryNewlineModeReadsAlikeEveryWayAtEveryBufferSize) {
  put(at("f"), mixed);
  for (const newline_case& c : newline_cases)
    for (std::size_t bs : buffer_sizes) {
      four_ways w = read_four_ways(at("f"), text_options(bs, c.newline));
      std::string where = show(c.newline, bs);
      EXPECT_EQ(w.all, c.all) << where;
      EXPECT_EQ(w.by_one, c.all) << where;
      EXPECT_EQ(w.by_three, c.all) << where;
      EXPECT_EQ(w.lines, c.lines) << where;
      EXPECT_EQ(w.iterated, c.lines) << where;
    }
}

TEST_F(Text, TheDefaultIsNewlineEmptyStringNotUniversal) {
  put(at("f"), "a\r\nb\rc\n");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f")), [](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.readline(), "a\r\n");
      EXPECT_EQ(co_await f.readline(), "b\r");
      EXPECT_EQ(co_await f.readline(), "c\n");
    });
    co_await aw::async_with(aw::files::open(at("f")), [](file& f) -> aw::task<> { EXPECT_EQ(co_await f.read(), "a\r\nb\rc\n"); });
  });
}

// tell() stays a byte offset; a "\r\n" read as one "\n" consumed both bytes, even when the
// "\n" was still in the kernel (buffer of 2: "a\r" is one fill, "\nb" the next).
TEST_F(Text, UniversalNewlinesTellCountsBytes) {
  put(at("f"), "a\r\nb\r\n");
  for (std::size_t bs : buffer_sizes)
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(at("f"), "r", text_options(bs, std::nullopt)), [&](file& f) -> aw::task<> {
        EXPECT_EQ(co_await f.read(2), "a\n") << bs;
        EXPECT_EQ(f.tell(), 3) << bs;
        EXPECT_EQ(co_await f.readline(), "b\n") << bs;
        EXPECT_EQ(f.tell(), 6) << bs;
        EXPECT_EQ(co_await f.read(), "") << bs;
        co_await f.seek(1);
        EXPECT_EQ(co_await f.read(), "\nb\n") << "seek gives byte offsets";
      });
    });
}

// readline(limit) counts characters after translation, and may end between "\r" and "\n"
// when newline="" (as Python's).
TEST_F(Text, ReadlineLimitCountsCharacters) {
  put(at("f"), "a\r\nb\xC3\xA9\xE2\x82\xAC\n");  // a CRLF b é € LF
  for (std::size_t bs : buffer_sizes)
    aw::run([&]() -> aw::task<> {
      co_await aw::async_with(aw::files::open(at("f"), "r", text_options(bs, std::nullopt)), [&](file& f) -> aw::task<> {
        EXPECT_EQ(co_await f.readline(1), "a") << bs;
        EXPECT_EQ(co_await f.readline(), "\n") << bs;
        EXPECT_EQ(co_await f.readline(2), "b\xC3\xA9") << bs;
        EXPECT_EQ(co_await f.readline(5), "\xE2\x82\xAC\n") << bs;
      });
      co_await aw::async_with(aw::files::open(at("f"), "r", text_options(bs, "")), [&](file& f) -> aw::task<> {
        EXPECT_EQ(co_await f.readline(2), "a\r") << bs;
        EXPECT_EQ(co_await f.readline(), "\n") << bs;
        EXPECT_EQ(co_await f.readline(0), "") << bs;
        EXPECT_EQ(co_await f.readline(3), "b\xC3\xA9\xE2\x82\xAC") << bs;
        const std::vector<std::string> rest{"\n"};  // named: g++ 12 rejects the braced temporary in a co_await statement
        EXPECT_EQ(co_await f.readlines(), rest) << bs;
      });
    });
}

TEST_F(Text, WritesTranslateNewlinesAsPythonDoes) {
  struct write_case {
    std::optional<std::string_view> newline;
    std::string written;
  };
  const write_case cases[] = {
      {std::nullopt, "x\ny\r\nz\r"}, {"", "x\ny\r\nz\r"}, {"\n", "x\ny\r\nz\r"}, {"\r", "x\ry\r\rz\r"}, {"\r\n", "x\r\ny\r\r\nz\r"},
  };
  for (const write_case& c : cases)
    for (std::size_t bs : {std::size_t{0}, std::size_t{3}, std::size_t{4096}}) {
      aw::run([&]() -> aw::task<> {
        co_await aw::async_with(aw::files::open(at("f"), "w", text_options(bs, c.newline)), [&](file& f) -> aw::task<> {
          EXPECT_EQ(co_await f.write("x\ny\r\n"), 5u);
          EXPECT_EQ(co_await f.write("z\r"), 2u);
        });
      });
      EXPECT_EQ(get(at("f")), c.written) << show(c.newline, bs);
    }
}

// read(n) counts code points of 1 to 4 bytes; write gives characters too.
TEST_F(Text, CharactersAreCodePoints) {
  const std::string one_each = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀: 1, 2, 3, 4 bytes
  std::string text;
  for (int i = 0; i < 5; ++i) text += one_each + "\n";
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w"), [&](file& f) -> aw::task<> { EXPECT_EQ(co_await f.write(text), 25u); });
  });
  ASSERT_EQ(get(at("f")), text);
  for (std::size_t bs : buffer_sizes)
    for (std::size_t n = 1; n <= 6; ++n)
      aw::run([&]() -> aw::task<> {
        co_await aw::async_with(aw::files::open(at("f"), "r", text_options(bs, "")), [&](file& f) -> aw::task<> {
          std::string got;
          std::int64_t bytes = 0;
          for (;;) {
            std::string part = co_await f.read(n);
            if (part.empty()) break;
            bytes += static_cast<std::int64_t>(part.size());
            EXPECT_EQ(f.tell(), bytes);
            if (bytes < static_cast<std::int64_t>(text.size())) {
              EXPECT_EQ(code_points(part), n) << "bs " << bs << " n " << n;
            }
            got += part;
          }
          EXPECT_EQ(got, text);
        });
      });
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r", text_options(2, "")), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(4), one_each);
      EXPECT_EQ(co_await f.readline(3), "\n");
      EXPECT_EQ(co_await f.readline(3), "a\xC3\xA9\xE2\x82\xAC");
      EXPECT_EQ(co_await f.readline(1), "\xF0\x9F\x98\x80");
    });
    co_await aw::async_with(aw::files::open(at("f"), "rb"),
                            [&](file& f) -> aw::task<> { EXPECT_EQ(co_await f.read(4), "a\xC3\xA9\xE2") << "binary mode counts bytes"; });
  });
}

// Bytes that are not UTF-8, at the start, in the middle, at the end, and across buffers.
struct bad_case {
  std::string data;
  std::int64_t position;  // of the first bad sequence
  std::string bytes;      // the sequence Python reports
  std::string reason;
  std::string replaced;  // errors="replace"
};

const std::string fffd = "\xEF\xBF\xBD";

const bad_case bad_cases[] = {
    {"\xFF"
     "abc\n",
     0, "\xFF", "invalid start byte", fffd + "abc\n"},
    {"ab\n\xC3(cd\n", 3, "\xC3", "invalid continuation byte", "ab\n" + fffd + "(cd\n"},
    {"abc\n\xE2\x82", 4, "\xE2\x82", "unexpected end of data", "abc\n" + fffd},
    {"x\xED\xA0\x80y", 1, "\xED", "invalid continuation byte", "x" + fffd + fffd + fffd + "y"},        // a surrogate
    {"\xC0\x80", 0, "\xC0", "invalid start byte", fffd + fffd},                                        // overlong
    {"ok\xF4\x90\x80\x80", 2, "\xF4", "invalid continuation byte", "ok" + fffd + fffd + fffd + fffd},  // past U+10FFFF
    {"\xE2\x82\nz", 0, "\xE2\x82", "invalid continuation byte", fffd + "\nz"},
    {"abc\xF0\x9F\x98(", 3, "\xF0\x9F\x98", "invalid continuation byte", "abc" + fffd + "("},
    {"\xC3\xA9\x80", 2, "\x80", "invalid start byte", "\xC3\xA9" + fffd},
};

void expect_error(const aw::files::unicode_decode_error& e, const bad_case& c, const fs::path& p, const std::string& where) {
  EXPECT_EQ(e.position(), c.position) << where;
  EXPECT_EQ(e.bytes(), c.bytes) << where;
  EXPECT_EQ(e.reason(), c.reason) << where;
  EXPECT_EQ(e.path(), p) << where;
}

TEST_F(Text, StrictDecodingRaisesWithPositionBytesAndPath) {
  for (const bad_case& c : bad_cases)
    for (std::size_t bs : buffer_sizes) {
      put(at("f"), c.data);
      const std::string where = "data #" + std::to_string(&c - bad_cases) + " bs " + std::to_string(bs);
      aw::run([&]() -> aw::task<> {
        co_await aw::async_with(aw::files::open(at("f"), "r", text_options(bs, "")), [&](file& f) -> aw::task<> {
          try {
            co_await f.read();
            ADD_FAILURE() << where;
          } catch (const aw::files::unicode_decode_error& e) {
            expect_error(e, c, at("f"), where);
          }
          EXPECT_EQ(f.tell(), 0) << "the read that raised consumed nothing";
          // read(1) gives each character before the bad one, then raises, again and again.
          std::string before;
          for (;;) {
            std::int64_t at_start = f.tell();
            try {
              before += co_await f.read(1);
            } catch (const aw::files::unicode_decode_error& e) {
              expect_error(e, c, at("f"), where);
              EXPECT_EQ(f.tell(), at_start) << where;
              break;
            }
          }
          EXPECT_EQ(before, c.data.substr(0, static_cast<std::size_t>(c.position))) << where;
          EXPECT_THROW(co_await f.read(1), aw::files::unicode_decode_error) << where;
          EXPECT_EQ(f.tell(), c.position);
          co_await f.seek(0);
          // readline gives the lines before the bad one.
          std::string lines;
          try {
            for (;;) {
              std::string line = co_await f.readline();
              if (line.empty()) break;
              lines += line;
            }
            ADD_FAILURE() << where;
          } catch (const aw::files::unicode_decode_error& e) {
            expect_error(e, c, at("f"), where);
          }
          EXPECT_LE(lines.size(), static_cast<std::size_t>(c.position)) << where;
          co_await f.seek(0);
          auto it = f.lines();
          EXPECT_THROW(while (co_await it.next()){}, aw::files::unicode_decode_error) << where;
        });
      });
    }
}

TEST_F(Text, TheDecodeErrorReadsLikePythons) {
  put(at("f"), "ab\xFF");
  put(at("g"), "ab\xE2\x28");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f")), [&](file& f) -> aw::task<> {
      try {
        co_await f.read();
        ADD_FAILURE();
      } catch (const aw::files::unicode_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte (reading '" + at("f").string() + "')");
      }
    });
    co_await aw::async_with(aw::files::open(at("g")), [&](file& f) -> aw::task<> {
      try {
        co_await f.read();
        ADD_FAILURE();
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "'utf-8' codec can't decode byte 0xe2 in position 2: invalid continuation byte (reading '" + at("g").string() + "')");
      }
    });
  });
  put(at("h"), "\xF0\x9F\x98");
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("h")), [&](file& f) -> aw::task<> {
      try {
        co_await f.readline();
        ADD_FAILURE();
      } catch (const aw::files::unicode_decode_error& e) {
        EXPECT_NE(std::string(e.what()).find("can't decode bytes in position 0-2: unexpected end of data"), std::string::npos) << e.what();
      }
    });
  });
}

TEST_F(Text, ReplaceGivesOneReplacementCharacterPerBadSequence) {
  for (const bad_case& c : bad_cases)
    for (std::size_t bs : buffer_sizes) {
      put(at("f"), c.data);
      const std::string where = "data #" + std::to_string(&c - bad_cases) + " bs " + std::to_string(bs);
      std::string joined;
      four_ways w = read_four_ways(at("f"), text_options(bs, "", "replace"));
      EXPECT_EQ(w.all, c.replaced) << where;
      EXPECT_EQ(w.by_one, c.replaced) << where;
      EXPECT_EQ(w.by_three, c.replaced) << where;
      for (const std::string& line : w.lines) joined += line;
      EXPECT_EQ(joined, c.replaced) << where;
      EXPECT_EQ(w.iterated, w.lines) << where;
    }
}

// Universal newlines and replacement together; a "\r" right before a bad byte.
TEST_F(Text, ReplaceWithUniversalNewlines) {
  put(at("f"), "a\r\xFF\r\n\xE2\x82\r");
  for (std::size_t bs : buffer_sizes) {
    four_ways w = read_four_ways(at("f"), text_options(bs, std::nullopt, "replace"));
    const std::string expected = "a\n" + fffd + "\n" + fffd + "\n";
    EXPECT_EQ(w.all, expected) << bs;
    EXPECT_EQ(w.by_one, expected) << bs;
    EXPECT_EQ(w.lines, (std::vector<std::string>{"a\n", fffd + "\n", fffd + "\n"})) << bs;
  }
}

TEST_F(Text, StrictWritesRaiseAndWriteNothing) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w", text_options(4096, "\r\n")), [&](file& f) -> aw::task<> {
      co_await f.write("kept\n");
      try {
        co_await f.write("ok\n\xFF tail");
        ADD_FAILURE();
      } catch (const aw::files::unicode_encode_error& e) {
        EXPECT_EQ(e.position(), 3);
        EXPECT_EQ(e.bytes(), "\xFF");
        EXPECT_EQ(e.reason(), "invalid start byte");
        EXPECT_EQ(e.path(), at("f"));
        EXPECT_NE(std::string(e.what()).find("can't encode byte 0xff in position 3"), std::string::npos) << e.what();
      }
      EXPECT_EQ(f.tell(), 6);
      std::string big(100'000, 'x');
      big += "\xE2\x82";  // a character cut off at the end of the data
      try {
        co_await f.write(big);
        ADD_FAILURE();
      } catch (const aw::files::unicode_encode_error& e) {
        EXPECT_EQ(e.position(), 100'000);
        EXPECT_EQ(e.reason(), "unexpected end of data");
      }
      EXPECT_THROW(co_await f.write("\xED\xA0\x80"), aw::files::unicode_encode_error) << "a surrogate";
      EXPECT_EQ(co_await f.write("\xF0\x9F\x98\x80\n"), 2u);
    });
  });
  EXPECT_EQ(get(at("f")), "kept\r\n\xF0\x9F\x98\x80\r\n");
}

TEST_F(Text, ReplaceWritesAQuestionMarkAsPython) {
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w", text_options(4096, "\r\n", "replace")), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.write("a\xFF\n\xC3\xA9\xE2\x82"), 5u);  // a ? \n é ?
    });
  });
  EXPECT_EQ(get(at("f")), "a?\r\n\xC3\xA9?");
}

// Past the buffer: read() takes the bytes in bulk and validates them in one pass; its error
// positions are file offsets, and big writes are translated whole.
TEST_F(Text, LargeTextInBulk) {
  std::string text;
  for (int i = 0; text.size() < 1'000'000; ++i) text += "line " + std::to_string(i) + " \xC3\xA9\xE2\x82\xAC\n";
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  std::string crlf;
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "w", text_options(4096, "\r\n")),
                            [&](file& f) -> aw::task<> { EXPECT_EQ(co_await f.write(text), code_points(text)); });
  });
  ASSERT_EQ(get(at("f")), crlf);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "r", text_options(4096, std::nullopt)), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.read(), text);
      co_await f.seek(0);
      EXPECT_EQ((co_await f.readlines()).size(), lines);
    });
  });
  std::string bad = crlf;
  bad[700'001] = '\xFF';
  put(at("g"), bad);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("g"), "r", text_options(4096, "")), [&](file& f) -> aw::task<> {
      std::string head = co_await f.read(10);
      EXPECT_EQ(code_points(head), 10u);
      try {
        co_await f.read();
        ADD_FAILURE();
      } catch (const aw::files::unicode_decode_error& e) {
        EXPECT_GE(e.position(), 700'000);
        EXPECT_LE(e.position(), 700'001);  // the byte, or the lead byte it cut short
      }
      EXPECT_EQ(f.tell(), static_cast<std::int64_t>(head.size()));
    });
    co_await aw::async_with(aw::files::open(at("g"), "r", text_options(4096, "", "replace")), [&](file& f) -> aw::task<> {
      std::string all = co_await f.read();
      EXPECT_NE(all.find(fffd), std::string::npos);
      EXPECT_EQ(all.substr(0, 700'000), bad.substr(0, 700'000));
    });
  });
}

// surrogateescape: each bad byte b reads as U+DC00+b (3 bytes, ED B2..B3 xx), and writes
// back as b; any bytes survive the round trip.
TEST_F(Text, SurrogateescapeRoundTripsAnyBytes) {
  const std::string bytes = "a\xFF\xE2\x82\nb\xC3\xA9\xED\xA0\x80\xF0\x9F\x98";
  // FF -> U+DCFF, E2 -> U+DCE2, 82 -> U+DC82, é stays, ED A0 80 -> three, F0 9F 98 -> three.
  const std::string decoded =
      "a\xED\xB3\xBF\xED\xB3\xA2\xED\xB2\x82\nb\xC3\xA9\xED\xB3\xAD\xED\xB2\xA0\xED\xB2\x80\xED\xB3\xB0\xED\xB2\x9F\xED\xB2\x98";
  put(at("f"), bytes);
  for (std::size_t bs : buffer_sizes) {
    four_ways w = read_four_ways(at("f"), text_options(bs, "", "surrogateescape"));
    EXPECT_EQ(w.all, decoded) << bs;
    EXPECT_EQ(w.by_one, decoded) << bs;
    EXPECT_EQ(w.by_three, decoded) << bs;
    EXPECT_EQ(w.lines.size(), 2u) << bs;
  }
  EXPECT_EQ(code_points(decoded), 13u);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("g"), "w", text_options(16, "", "surrogateescape")), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.write(decoded), 13u);
      // Not an escape: a raw bad byte, a surrogate outside U+DC80..U+DCFF.
      EXPECT_THROW(co_await f.write("\xFF"), aw::files::unicode_encode_error);
      EXPECT_THROW(co_await f.write("\xED\xA0\x80"), aw::files::unicode_encode_error);
      EXPECT_THROW(co_await f.write("\xED\xB1\xBF"), aw::files::unicode_encode_error);  // U+DC7F
    });
    co_await aw::async_with(aw::files::open(at("h"), "w"), [&](file& f) -> aw::task<> {
      EXPECT_THROW(co_await f.write(decoded), aw::files::unicode_encode_error) << "strict refuses the escapes";
    });
  });
  EXPECT_EQ(get(at("g")), bytes);
  EXPECT_EQ(get(at("h")), "");
}

TEST_F(Text, BinaryModeNeitherValidatesNorTranslates) {
  const std::string bytes = "\xFF\r\n\xC3(\r\xE2\x82";
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("f"), "wb"),
                            [&](file& f) -> aw::task<> { EXPECT_EQ(co_await f.write(bytes), bytes.size()); });
    co_await aw::async_with(aw::files::open(at("f"), "rb", {.buffer_size = 2}), [&](file& f) -> aw::task<> {
      EXPECT_EQ(co_await f.readline(), "\xFF\r\n");
      EXPECT_EQ(co_await f.read(3), "\xC3(\r");
      EXPECT_EQ(co_await f.read(), "\xE2\x82");
    });
    // read_into reads bytes in text mode too.
    co_await aw::async_with(aw::files::open(at("f"), "r"), [&](file& f) -> aw::task<> {
      std::string buf(4, '\0');
      EXPECT_EQ(co_await f.read_into(buf), 4u);
      EXPECT_EQ(buf, bytes.substr(0, 4));
    });
  });
  EXPECT_EQ(get(at("f")), bytes);
}

TEST_F(Text, OptionsAreCheckedAsPythonDoes) {
  auto expect_invalid = [&](std::string_view mode, const open_options& o, std::string_view message) {
    try {
      file f(at("f"), mode, o);
      ADD_FAILURE() << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expect_invalid("r", text_options(4096, "x"), "illegal newline value: 'x'");
  expect_invalid("r", text_options(4096, "\n\n"), "illegal newline value: '\\n\\n'");
  expect_invalid("r", text_options(4096, "", "ignore"), "unknown error handler name 'ignore'");
  expect_invalid("rb", text_options(4096, std::nullopt), "binary mode doesn't take a newline argument");
  expect_invalid("wb", text_options(4096, "\n"), "binary mode doesn't take a newline argument");
  expect_invalid("rb", text_options(4096, "", "replace"), "binary mode doesn't take an errors argument");
  EXPECT_NO_THROW((void)file(at("f"), "rb", text_options(4096, "")));
  EXPECT_NO_THROW((void)file(at("f"), "r", text_options(4096, "\r\n", "replace")));
}

// A FIFO: the bytes of a read that raised go back in front, so the error repeats.
TEST_F(Text, OnAStreamTheBadBytesStayForTheNextRead) {
  ASSERT_EQ(::mkfifo(at("p").c_str(), 0600), 0);
  int w = ::open(at("p").c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(w, 0);
  const std::string data = "ok\nbad\xFF\nend\n";
  ASSERT_EQ(::write(w, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("p"), "r", text_options(4, "")), [&](file& f) -> aw::task<> {
      ::close(w);  // the only writer: EOF after the data
      EXPECT_EQ(co_await f.readline(), "ok\n");
      for (int i = 0; i < 2; ++i) {
        try {
          co_await f.readline();
          ADD_FAILURE();
        } catch (const aw::files::unicode_decode_error& e) {
          EXPECT_EQ(e.position(), 6);
        }
        EXPECT_EQ(f.tell(), 3);
      }
      EXPECT_THROW(co_await f.read(), aw::files::unicode_decode_error);
      EXPECT_EQ(f.tell(), 3);
      EXPECT_EQ(co_await f.read(3), "bad");
    });
  });
}

// A read waiting for the rest of a character, or for the byte after a "\r", is cancelled
// and consumes nothing; once the bytes arrive the next read gives them whole.
TEST_F(Text, CancelledWhileACharacterOrACarriageReturnWaitsConsumesNothing) {
  ASSERT_EQ(::mkfifo(at("p").c_str(), 0600), 0);
  int w = ::open(at("p").c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(w, 0);
  ASSERT_EQ(::write(w, "ab\xE2\x82", 4), 4);
  aw::run([&]() -> aw::task<> {
    co_await aw::async_with(aw::files::open(at("p"), "r", text_options(3, std::nullopt)), [&](file& f) -> aw::task<> {
      EXPECT_FALSE(co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.read(3); }));
      EXPECT_EQ(f.tell(), 0);
      EXPECT_FALSE(co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.readline(); }));
      EXPECT_EQ(f.tell(), 0);
      EXPECT_EQ(::write(w, "\xAC\r", 2), 2);
      // "\r" ends the line, but whether a "\n" follows is not known yet.
      EXPECT_FALSE(co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.readline(); }));
      EXPECT_EQ(f.tell(), 0);
      EXPECT_EQ(co_await f.read(2), "ab");
      EXPECT_FALSE(co_await aw::move_on_after(20ms, [&]() -> aw::task<> { co_await f.read(2); }));
      EXPECT_EQ(f.tell(), 2);
      aw::task_group tg;
      co_await aw::async_with(tg, [&](aw::task_group&) -> aw::task<> {
        tg.start_soon([&]() -> aw::task<> { EXPECT_EQ(co_await f.readline(), "\xE2\x82\xAC\n"); });
        tg.start_soon([&]() -> aw::task<> {
          co_await aw::yield();
          EXPECT_EQ(::write(w, "\nz\r", 3), 3);
          ::close(w);  // the only writer: EOF after "z\r"
          w = -1;
          co_return;
        });
        co_return;
      });
      EXPECT_EQ(f.tell(), 7);
      EXPECT_EQ(co_await f.readline(), "z\n") << "a \"\\r\" at EOF ends the line";
      EXPECT_EQ(co_await f.readline(), "");
    });
  });
  if (w >= 0) ::close(w);
}

}  // namespace
