// The mock transport (mock_transport.hpp): a request answered by a function of the program,
// in the task that awaits it, into the same transfer a network response fills.
#include "internal.hpp"

#include <aw/exceptions.hpp>

#include <span>
#include <string>
#include <string_view>

namespace aw::http::detail {

namespace {

// The fields of the header list configure() built for libcurl: "Name: value" is sent,
// "Name;" is sent empty, "Name:" only removes a header libcurl would add.
void add_list(http::headers& out, const curl_slist* list) {
  for (const curl_slist* l = list; l; l = l->next) {
    std::string_view line = l->data;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      if (!line.empty() && line.back() == ';') out.add(std::string(line.substr(0, line.size() - 1)), "");
      continue;
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (!value.empty()) out.add(std::string(line.substr(0, colon)), std::string(value));
  }
}

}  // namespace

aw::task<> run_mock(transfer* t) {
  t->mock_pending = false;
  mock_request req;
  req.method = t->method;
  req.url = t->request_url;
  add_list(req.headers, t->header_list);
  if (!t->mock_authorization.empty() && !req.headers.contains("authorization")) req.headers.add("Authorization", t->mock_authorization);
  if (!t->mock_cookie.empty()) req.headers.add("Cookie", t->mock_cookie);
  mock_response resp;
  try {
    if (t->up.active) {  // a streamed body, read whole for the handler (httpx's request.read())
      std::string chunk(transfer::upload_state::chunk, '\0');
      for (;;) {
        std::size_t n = co_await t->up.source.receive_into(std::span<char>(chunk.data(), chunk.size()));
        if (n == 0) break;
        req.body.append(chunk.data(), n);
      }
      t->up.active = t->up.wanted = false;
    } else {
      req.body = t->body.data();
    }
    resp = co_await t->s->opts.transport.get()(req);
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    // The transfer ends with it: the response is unusable, its reads raise it (a
    // cancellation, as a cancelled network request: aw::http::error).
    if (aw::is_cancellation(e))
      t->abort(std::make_exception_ptr(error("aw::http: " + t->describe() + ": the request was cancelled", redact(t->request_url))));
    else
      t->abort(e);
    throw;
  }
  if (resp.status < 100 || resp.status > 999) {
    t->abort(std::make_exception_ptr(protocol_error(
        "aw::http: " + t->describe() + ": the mock transport gave status " + std::to_string(resp.status), redact(t->request_url))));
    co_return;
  }
  t->status = resp.status;
  t->version = "HTTP/1.1";
  t->url = t->request_url;
  t->headers = std::move(resp.headers);
  if (t->method != "HEAD") t->buf.append(resp.body.data(), resp.body.size());
  t->headers_ready = true;
  t->done = true;
  if (!t->stream && t->max_body && t->buffered() > t->max_body) t->fail(t->too_large());
  t->trace.end(t->failure != nullptr);
}

}  // namespace aw::http::detail
