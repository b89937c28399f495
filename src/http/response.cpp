// The response: its fields, and reading its body whole or streamed.
#include "internal.hpp"

#include <aw/http/response.hpp>

#include <algorithm>

namespace aw::http {

namespace {
const std::string empty_string;
const http::headers empty_headers;
const std::vector<redirect> empty_history;
}  // namespace

detail::transfer* response::get() const {
  if (!t_) throw error("aw::http: the response was closed (or moved from)", "");
  return t_.get();
}

int response::status() const noexcept { return t_ ? t_->status : 0; }
const std::string& response::reason() const noexcept { return t_ ? t_->reason : empty_string; }
const std::string& response::version() const noexcept { return t_ ? t_->version : empty_string; }
const http::headers& response::headers() const noexcept { return t_ ? t_->headers : empty_headers; }
const std::string& response::url() const noexcept { return t_ ? t_->url : empty_string; }
const std::vector<redirect>& response::history() const noexcept { return t_ ? t_->history : empty_history; }
std::string_view response::body() const noexcept { return t_ ? std::string_view(t_->buf).substr(t_->off) : std::string_view{}; }

aw::task<std::string> response::bytes() {
  detail::transfer* t = get();
  t->settle();
  co_await detail::transfer_wait(t, detail::wait_for::done);
  co_return std::string(std::string_view(t->buf).substr(t->off));
}

aw::task<std::string> response::text() {
  detail::transfer* t = get();
  t->settle();
  co_await detail::transfer_wait(t, detail::wait_for::done);
  co_return std::string(std::string_view(t->buf).substr(t->off));
}

aw::task<nlohmann::json> response::json() {
  detail::transfer* t = get();
  t->settle();
  co_await detail::transfer_wait(t, detail::wait_for::done);
  try {
    co_return nlohmann::json::parse(t->buf.data() + t->off, t->buf.data() + t->buf.size());
  } catch (const nlohmann::json::parse_error& e) {
    throw protocol_error("aw::http: " + t->describe() + ": the body is not JSON: " + e.what(), detail::redact(t->url));
  }
}

void response::raise_for_status() const {
  detail::transfer* t = get();
  if (t->status < 400) return;
  std::string excerpt(body().substr(0, 512));
  std::string u = detail::redact(t->url);
  std::string what = "aw::http: " + std::to_string(t->status) + (t->reason.empty() ? "" : " " + t->reason) + " for " + t->method + " " + u;
  throw status_error(what, u, t->status, std::move(excerpt));
}

void response::check_status() const {
  if (t_ && t_->raise_status) raise_for_status();
}

aw::task<std::optional<std::string_view>> chunk_reader::next() {
  if (!t_) throw error("aw::http: the response was closed", "");
  t_->settle();
  if (t_->buffered() == 0) co_await detail::transfer_wait(t_, detail::wait_for::data, 1);
  if (t_->buffered() == 0) co_return std::nullopt;
  t_->lent = std::min(size_, t_->buffered());
  co_return std::string_view(t_->buf).substr(t_->off, t_->lent);
}

aw::task<std::optional<std::string_view>> line_reader::next() {
  if (!t_) throw error("aw::http: the response was closed", "");
  t_->settle();
  std::size_t scanned = 0;  // what has been searched for a line break already
  for (;;) {
    std::string_view view = std::string_view(t_->buf).substr(t_->off);
    auto nl = view.find('\n', scanned);
    if (nl != std::string_view::npos) {
      t_->lent = nl + 1;
      std::string_view line = view.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      co_return line;
    }
    scanned = view.size();
    if (t_->complete()) {
      if (view.empty()) {
        if (t_->failure) std::rethrow_exception(t_->failure);
        co_return std::nullopt;
      }
      t_->lent = view.size();  // the last line, without a line break
      co_return view;
    }
    if (t_->max_body && view.size() >= t_->max_body) {  // a line without end (a gzip bomb's zeros)
      t_->fail(t_->too_large());
      std::rethrow_exception(t_->failure);
    }
    co_await detail::transfer_wait(t_, detail::wait_for::data, view.size() + 1);
  }
}

}  // namespace aw::http
