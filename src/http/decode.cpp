// The coded response body (Content-Encoding gzip or deflate), inflated into the body buffer a
// step of the loop at a time and only as far as the reader needs.
#include "internal.hpp"

#include <algorithm>
#include <string>
#include <string_view>

namespace aw::http::detail {

void transfer::begin_body() noexcept {
  dec.active = false;
  auto coding = headers.get("content-encoding");
  if (!coding || method == "HEAD") return;
  std::string_view c = trim(*coding);
  int bits;
  if (headers::equal(c, "gzip") || headers::equal(c, "x-gzip"))
    bits = 15 + 16;
  else if (headers::equal(c, "deflate"))
    bits = 15;
  else
    return;  // identity, or a coding we did not ask for: the bytes as they came (httpx does the same)
  if (dec.ready ? inflateReset2(&dec.z, bits) != Z_OK : inflateInit2(&dec.z, bits) != Z_OK) {
    failure = make_error(CURLE_OK, "cannot start zlib");
    return;
  }
  dec.ready = true;
  dec.active = true;
  dec.deflate = bits == 15;
}

void transfer::schedule_decode() noexcept {
  if (dtimer.armed() || !s) return;
  dtimer.deadline = aw::now();
  s->lp->add_timer(dtimer);
}

void transfer::cancel_decode() noexcept {
  if (dtimer.armed() && s) s->lp->remove_timer(dtimer);
}

bool transfer::decode(std::size_t target) noexcept {
  if (!dec.active || failure || dec.finished) return false;
  bool progressed = false;
  try {
    std::size_t produced = 0;
    while (buffered() < target && produced < decode_step && (dec.pending() > 0 || dec.more)) {
      if (dec.ended) {
        // Bytes after the end: another gzip member (as gunzip reads them), else ignored.
        if (!dec.deflate && dec.pending() >= 2 && static_cast<unsigned char>(dec.coded[dec.off]) == 0x1f &&
            static_cast<unsigned char>(dec.coded[dec.off + 1]) == 0x8b) {
          inflateReset(&dec.z);
          dec.ended = false;
        } else {
          dec.off = dec.coded.size();
          break;
        }
      }
      const std::size_t room = std::min<std::size_t>(decode_step - produced, 64 * 1024);
      const std::size_t in = std::min<std::size_t>(dec.pending(), 1u << 30);
      char* to = buf.extend(room);
      dec.z.next_in = reinterpret_cast<Bytef*>(dec.coded.data() + dec.off);
      dec.z.avail_in = static_cast<uInt>(in);
      dec.z.next_out = reinterpret_cast<Bytef*>(to);
      dec.z.avail_out = static_cast<uInt>(room);
      int rc = inflate(&dec.z, Z_NO_FLUSH);
      const std::size_t out = room - dec.z.avail_out;
      dec.off += in - dec.z.avail_in;
      buf.commit(out);
      produced += out;
      progressed = progressed || out > 0 || in != dec.z.avail_in;
      dec.more = dec.z.avail_out == 0;
      if (out > 0) dec.started = true;
      if (rc == Z_STREAM_END) {
        dec.ended = true;
        dec.more = false;
      } else if (rc == Z_DATA_ERROR && dec.deflate && !dec.started && !dec.raw_tried) {
        inflateReset2(&dec.z, -15);  // not zlib-wrapped: try raw deflate from the start
        dec.raw_tried = true;
        dec.off = 0;
      } else if (rc == Z_BUF_ERROR) {
        dec.more = false;  // it needs more input
        break;
      } else if (rc != Z_OK) {
        std::string why = std::string("the body does not decode (") + (dec.deflate ? "deflate" : "gzip") + ": " +
                          (dec.z.msg ? dec.z.msg : "zlib error " + std::to_string(rc)) + ")";
        throw protocol_error("aw::http: " + describe() + ": " + why, redact(url.empty() ? request_url : url));
      }
    }
    if (dec.started && dec.off == dec.coded.size()) {
      dec.coded.clear();
      dec.off = 0;
    }
    if (produced > 0) touch();
    if (!stream && max_body && buffered() > max_body) std::rethrow_exception(too_large());
    if (done && dec.pending() == 0 && !dec.more) {
      if (dec.seen && !dec.ended)
        throw protocol_error(
            "aw::http: " + describe() + ": the body ends before its " + (dec.deflate ? "deflate" : "gzip") + " stream does",
            redact(url.empty() ? request_url : url));
      dec.finished = true;
    } else if (aw::now() >= deadline) {
      auto ms = std::to_string(timeout.total.count());
      throw timeout_error("aw::http: " + describe() + ": the total timeout of " + ms + " ms passed (decoding the body)",
                          redact(url.empty() ? request_url : url), timeout_phase::total);
    }
  } catch (...) {
    fail(std::current_exception());
    return true;
  }
  if (paused && dec.pending() < high_water / 2) unpause();
  return progressed;
}

}  // namespace aw::http::detail
