// Encoding request data: URLs and forms (percent-encoding), and multipart bodies, whose
// streamed parts are read from their own sources.
#include "internal.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw::http {

std::string url_encode(std::string_view s, bool form) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ' && form) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form_encode(const query& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += url_encode(k, true);
    out += '=';
    out += url_encode(v, true);
  }
  return out;
}

namespace {

// A multipart body with streamed parts, as a byte source: the parts' framing (held in
// memory) and their contents in order, each streamed part read from its own source.
struct multipart_stream {
  struct segment {
    std::string text;
    aw::byte_source source;  // when set, the segment is what it gives
  };
  struct state {
    std::vector<segment> segments;
    std::size_t index = 0, offset = 0;
  };
  std::shared_ptr<state> st;

  aw::task<std::size_t> operator()(std::span<char> buf) { return read(st, buf); }

  static aw::task<std::size_t> read(std::shared_ptr<state> st, std::span<char> buf) {
    std::size_t filled = 0;
    while (filled < buf.size() && st->index < st->segments.size()) {
      segment& seg = st->segments[st->index];
      if (seg.source) {
        if (filled > 0) break;  // hand over the framing first; the source fills the next buffer whole
        std::size_t n = co_await seg.source.receive_into(buf);
        if (n > 0) co_return n;
        seg.source = aw::byte_source();  // this part's end
        ++st->index;
        continue;
      }
      std::size_t k = std::min(buf.size() - filled, seg.text.size() - st->offset);
      std::memcpy(buf.data() + filled, seg.text.data() + st->offset, k);
      filled += k;
      st->offset += k;
      if (st->offset == seg.text.size()) {
        ++st->index;
        st->offset = 0;
      }
    }
    co_return filled;
  }
};

}  // namespace

body body::multipart(std::vector<part> parts) {
  static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::string boundary = "aw-http-";
  for (int i = 0; i < 24; ++i) boundary += alphabet[rd() % 36];
  // Quotes and line breaks would end the quoted name early: percent-encode them, as browsers do.
  auto quoted = [](std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '"')
        out += "%22";
      else if (c == '\r')
        out += "%0D";
      else if (c == '\n')
        out += "%0A";
      else
        out += c;
    }
    return out;
  };
  // Held in memory unless a part streams: then the framing and the in-memory parts become
  // text segments between the streamed ones.
  auto stream = std::make_shared<multipart_stream::state>();
  std::optional<std::uint64_t> length = 0;
  std::string out;
  for (part& p : parts) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted(p.name) + "\"";
    if (!p.filename.empty()) out += "; filename=\"" + quoted(p.filename) + "\"";
    out += "\r\n";
    if (!p.content_type.empty() || !p.filename.empty())
      out += "Content-Type: " + (p.content_type.empty() ? std::string("application/octet-stream") : quoted(p.content_type)) + "\r\n";
    out += "\r\n";
    if (p.source) {
      if (length) length = p.size ? std::optional<std::uint64_t>(*length + out.size() + *p.size) : std::nullopt;
      stream->segments.push_back({std::exchange(out, {}), {}});
      stream->segments.push_back({{}, std::move(p.source)});
    } else {
      out += p.data;
    }
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  std::string content_type = "multipart/form-data; boundary=" + boundary;
  if (stream->segments.empty()) return body(std::move(out), std::move(content_type));
  if (length) *length += out.size();
  stream->segments.push_back({std::move(out), {}});
  return body(aw::byte_source(multipart_stream{std::move(stream)}), std::move(content_type), length);
}

}  // namespace aw::http
