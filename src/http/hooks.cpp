// Event hooks (event_hooks.hpp) and the debug mode's lines: an attempt's start and end, its
// connection, and libcurl's timings of it.
#include "internal.hpp"

#include <aw/exceptions.hpp>

#include <cstdio>
#include <string>

namespace aw::http::detail {

namespace {

std::chrono::microseconds info_time(CURL* e, CURLINFO what) {
  curl_off_t us = 0;
  curl_easy_getinfo(e, what, &us);
  return std::chrono::microseconds(us);
}

double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace

void report_start(transfer* t) noexcept {
  t->started_at = clock::now();
  try {
    if (aw::detail::debug_on) [[unlikely]]
      aw::detail::debug_event("HTTP start", t->describe() + (t->retried ? " (attempt " + std::to_string(t->retried + 1) + ")" : ""));
    if (t->hooks) {
      request_start e{t->method, t->request_url, t->retried + 1};
      // By index: a hook may add hooks (the lists are shared with the options).
      for (std::size_t i = 0; i < t->hooks->start.size(); ++i) t->hooks->start[i](e);
    }
    t->start_reported = true;
  } catch (...) {
    t->abort(std::current_exception());  // raised where the request is awaited; nothing sent
  }
}

void report_end(transfer* t, const std::exception_ptr& error) {
  t->end_reported = true;
  http::timings tm;
  const bool mock = t->s && static_cast<bool>(t->s->opts.transport);
  long connects = 0;
  if (!mock) {
    tm.name_lookup = info_time(t->easy, CURLINFO_NAMELOOKUP_TIME_T);
    tm.connect = info_time(t->easy, CURLINFO_CONNECT_TIME_T);
    tm.tls = info_time(t->easy, CURLINFO_APPCONNECT_TIME_T);
    tm.pretransfer = info_time(t->easy, CURLINFO_PRETRANSFER_TIME_T);
    tm.first_byte = info_time(t->easy, CURLINFO_STARTTRANSFER_TIME_T);
    curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
  }
  tm.total = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t->started_at);
  // A connection: one opened, or a pooled one the request went out on.
  const bool created = connects > 0;
  const bool reused = !mock && !created && (t->headers_ready || tm.pretransfer.count() > 0);
  const std::string& url = t->url.empty() ? t->request_url : t->url;

  if (aw::detail::debug_on) [[unlikely]] {
    std::string line = t->describe();
    if (!error) line += ": " + std::to_string(t->status);
    char buf[160];
    std::snprintf(buf, sizeof buf, " after %.3f ms", ms(tm.total));
    line += buf;
    if (created || reused) {
      std::snprintf(buf, sizeof buf, " (%s; dns %.3f, connect %.3f, tls %.3f, first byte %.3f ms)",
                    created ? "new connection" : "connection reused", ms(tm.name_lookup), ms(tm.connect), ms(tm.tls), ms(tm.first_byte));
      line += buf;
    }
    aw::detail::debug_event("HTTP end", line, error);
  }
  const event_hooks::lists* h = t->hooks;
  if (!h) return;
  if (created || reused) {
    char* ip = nullptr;
    curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip);
    long port = 0;
    curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_PORT, &port);
    const std::string peer = ip ? ip : "";  // libcurl's buffer, kept while the hooks run
    connection_event c{url, peer, port, tm};
    const auto& list = created ? h->created : h->reused;
    for (std::size_t i = 0; i < list.size(); ++i) list[i](c);
  }
  // A response on the transfer, not owning it (the request's response does): the hooks get
  // the type users know.
  struct view {
    response r;
    explicit view(transfer* t) : r(response_access::borrow(t)) {}
    ~view() { response_access::forget(r); }
  } v(t);
  request_end e{t->method, url, t->retried + 1, error ? nullptr : &v.r, error, tm};
  for (std::size_t i = 0; i < h->end.size(); ++i) h->end[i](e);
}

}  // namespace aw::http::detail
