// COPY: libpq's non-blocking PQputCopyData/PQputCopyEnd/PQgetCopyData driven by fd waits.
#include <aw/async_with.hpp>
#include <aw/cancel_scope.hpp>
#include <aw/pg/connection.hpp>

#include "wire.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace aw::pg {

using detail::fields_of;
using detail::trimmed;
using detail::wire;

namespace detail {

void numeric_to_binary(std::string_view text, std::string& out) {
  auto bad = [&]() -> void { throw type_error("\"" + std::string(text) + "\" is not a numeric value"); };
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  auto header = [&](int ndigits, int weight, unsigned sign, int dscale) {
    put_be(out, static_cast<std::uint16_t>(ndigits), 2);
    put_be(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)), 2);
    put_be(out, sign, 2);
    put_be(out, static_cast<std::uint16_t>(dscale), 2);
  };
  auto ieq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  };
  if (ieq(s, "NaN")) return header(0, 0, 0xC000, 0);
  if (ieq(s, "Infinity") || ieq(s, "+Infinity") || ieq(s, "inf")) return header(0, 0, 0xD000, 0);
  if (ieq(s, "-Infinity") || ieq(s, "-inf")) return header(0, 0, 0xF000, 0);
  unsigned sign = 0;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    if (s.front() == '-') sign = 0x4000;
    s.remove_prefix(1);
  }
  // Digits and a decimal point, with an optional exponent (1.5e3).
  std::string intpart, frac;
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) intpart.push_back(s[i++]);
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) frac.push_back(s[i++]);
  }
  if (intpart.empty() && frac.empty()) bad();
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    int exp = 0;
    auto [p, ec] = std::from_chars(s.data() + i + (i < s.size() && s[i] == '+' ? 1 : 0), s.data() + s.size(), exp);
    if (ec != std::errc() || p != s.data() + s.size() || exp > 1000 || exp < -1000) bad();
    i = s.size();
    std::string all = intpart + frac;
    long point = static_cast<long>(intpart.size()) + exp;
    if (point < 0) {
      all.insert(0, static_cast<std::size_t>(-point), '0');
      point = 0;
    }
    if (static_cast<std::size_t>(point) > all.size()) all.append(static_cast<std::size_t>(point) - all.size(), '0');
    intpart = all.substr(0, static_cast<std::size_t>(point));
    frac = all.substr(static_cast<std::size_t>(point));
  }
  if (i != s.size()) bad();
  const int dscale = static_cast<int>(frac.size());
  // Base-10000 digits aligned on the decimal point.
  std::size_t lead = (4 - intpart.size() % 4) % 4;
  intpart.insert(0, lead, '0');
  frac.append((4 - frac.size() % 4) % 4, '0');
  std::string all = intpart + frac;
  std::vector<std::uint16_t> digits;
  for (std::size_t k = 0; k < all.size(); k += 4)
    digits.push_back(
        static_cast<std::uint16_t>((all[k] - '0') * 1000 + (all[k + 1] - '0') * 100 + (all[k + 2] - '0') * 10 + (all[k + 3] - '0')));
  int weight = static_cast<int>(intpart.size() / 4) - 1;
  std::size_t first = 0;
  while (first < digits.size() && digits[first] == 0) {
    ++first;
    --weight;
  }
  std::size_t last = digits.size();
  while (last > first && digits[last - 1] == 0) --last;
  if (first == last) return header(0, 0, 0, dscale);  // zero
  header(static_cast<int>(last - first), weight, sign, dscale);
  for (std::size_t k = first; k < last; ++k) put_be(out, digits[k], 2);
}

void copy_mismatch(const copy_column& c, const char* what) {
  throw type_error("aw::pg::copy_records_to_table: " + describe_column(static_cast<const pg_result*>(c.table), c.index) +
                   " does not take " + what);
}
void copy_out_of_range(const copy_column& c) {
  throw type_error("aw::pg::copy_records_to_table: a value is out of the range of " +
                   describe_column(static_cast<const pg_result*>(c.table), c.index));
}
void copy_wrong_width(std::size_t columns, std::size_t values) {
  throw type_error("aw::pg::copy_records_to_table: a record has " + std::to_string(values) + " values for " + std::to_string(columns) +
                   " columns");
}
std::string double_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::array<char, 64> buf;
  auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);  // shortest round trip
  return std::string(buf.data(), p);
}

}  // namespace detail

namespace {

std::string quote_ident(std::string_view s) {
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q.push_back('"');
    q.push_back(ch);
  }
  q.push_back('"');
  return q;
}

std::string quote_literal(std::string_view s) {
  std::string q;
  bool backslash = s.find('\\') != std::string_view::npos;
  if (backslash) q.push_back('E');
  q.push_back('\'');
  for (char ch : s) {
    if (ch == '\'' || (backslash && ch == '\\')) q.push_back(ch);
    q.push_back(ch);
  }
  q.push_back('\'');
  return q;
}

std::string name_list(const names& n) {
  std::string s;
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (i) s += ", ";
    s += quote_ident(n[i]);
  }
  return s;
}

std::string target(std::string_view table, const copy_options& o) {
  std::string t;
  if (!o.schema_name.empty()) t = quote_ident(o.schema_name) + ".";
  return t + quote_ident(table);
}

// "table (a, b)" as COPY names it.
std::string copy_target(std::string_view table, const copy_options& o) {
  std::string t = target(table, o);
  if (!o.columns.empty()) t += " (" + name_list(o.columns) + ")";
  return t;
}

// The WITH (...) list of a COPY.
std::string copy_with(const copy_options& o, bool binary) {
  std::vector<std::string> opts;
  if (binary) {
    opts.push_back("FORMAT binary");
  } else if (!o.format.empty()) {
    opts.push_back("FORMAT " + quote_ident(o.format));
  }
  if (o.freeze) opts.push_back("FREEZE true");
  if (o.delimiter) opts.push_back("DELIMITER " + quote_literal(std::string_view(&*o.delimiter, 1)));
  if (o.null) opts.push_back("NULL " + quote_literal(*o.null));
  if (o.header) opts.push_back(*o.header ? "HEADER true" : "HEADER false");
  if (o.quote) opts.push_back("QUOTE " + quote_literal(std::string_view(&*o.quote, 1)));
  if (o.escape) opts.push_back("ESCAPE " + quote_literal(std::string_view(&*o.escape, 1)));
  if (!o.force_quote.empty())
    opts.push_back("FORCE_QUOTE " +
                   (o.force_quote.size() == 1 && o.force_quote[0] == "*" ? std::string("*") : "(" + name_list(o.force_quote) + ")"));
  if (!o.force_not_null.empty()) opts.push_back("FORCE_NOT_NULL (" + name_list(o.force_not_null) + ")");
  if (!o.force_null.empty()) opts.push_back("FORCE_NULL (" + name_list(o.force_null) + ")");
  if (!o.encoding.empty()) opts.push_back("ENCODING " + quote_literal(o.encoding));
  std::string s;
  for (auto& x : opts) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? std::string() : " (" + s + ")";
}

std::string copy_from_stdin(std::string_view table, const copy_options& o, bool binary) {
  std::string sql = "COPY " + copy_target(table, o) + " FROM STDIN" + copy_with(o, binary);
  if (!o.where.empty()) sql += " WHERE " + std::string(o.where);
  return sql;
}

constexpr std::size_t copy_chunk = 256 * 1024;

}  // namespace

// COPY ... FROM STDIN, alone on the connection: `feed.before` (may be null) runs first,
// then the COPY starts and `feed.produce` sends the data (put_copy). On every failure the
// COPY is ended with CopyFail and a cancel request (abort_copy_in), or, before it started,
// a cancelled statement is cancelled on the server; the connection stays usable.
task<std::string> wire::copy_in(const std::string& sql, copy_feed feed) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
  detail::check_sql(sql);
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  check_open();
  std::exception_ptr failure;
  bool copying = false;
  try {
    if (!closing_.empty()) co_await close_cursors();
    if (feed.before) co_await feed.before(*this, feed.state);
    if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
    co_await begin_copy(PGRES_COPY_IN);
    copying = true;
    co_await feed.produce(*this, feed.state);
    co_await end_copy_in();
    copying = false;
    result r = co_await collect();
    co_return std::string(r.status());
  } catch (...) {
    failure = std::current_exception();
  }
  if (copying)
    co_await abort_copy_in(is_cancellation(failure) ? "aw::pg: COPY cancelled" : feed.failed);
  else if (is_cancellation(failure))
    co_await cancel_and_drain();
  std::rethrow_exception(failure);
}

// Waits for the server to enter the COPY state `want` (PGRES_COPY_IN or PGRES_COPY_OUT)
// after a COPY statement was sent; raises the statement's error instead if it failed.
task<> wire::begin_copy(int want) {
  co_await flush();
  for (;;) {
    co_await await_input();
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("receiving");
      throw interface_error("aw::pg: the server did not start the COPY");
    }
    const int s = PQresultStatus(r);
    if (s == want) {
      PQclear(r);
      co_return;
    }
    if (s == PGRES_FATAL_ERROR) {
      error_fields f = fields_of(r);
      PQclear(r);
      (void)co_await collect();  // the end of the statement's results
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("receiving");
      throw_error(std::move(f));
    }
    PQclear(r);
  }
}

// Queues COPY data, waiting for the socket while libpq's buffer is full.
task<> wire::put_copy(std::string_view data) {
  for (;;) {
    int r = PQputCopyData(conn_, data.data(), static_cast<int>(data.size()));
    if (r == 1) break;
    if (r < 0) {
      // The server ended the COPY early (an error it reports once we read the results).
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("sending COPY data");
      (void)co_await collect();
      throw interface_error("aw::pg: the server ended the COPY early: " + trimmed(PQerrorMessage(conn_)));
    }
    co_await flush();
  }
  if (PQflush(conn_) != 0) co_await flush();
}

// Ends a COPY FROM STDIN; the statement's results are read by the caller (collect()).
task<> wire::end_copy_in() {
  for (;;) {
    int r = PQputCopyEnd(conn_, nullptr);
    if (r == 1) break;
    if (r < 0) {
      if (PQstatus(conn_) == CONNECTION_BAD) throw_lost("sending COPY data");
      co_return;  // the server ended it already: collect() gives its error
    }
    co_await flush();
  }
}

// Ends a COPY FROM STDIN with CopyFail (the server rolls the COPY back) and reads the
// results, shielded, within cancel_timeout; closes the connection if that does not work.
task<> wire::abort_copy_in(const char* why) {
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) co_return;
  bool drained = false;
  cancel_scope scope(aw::now() + opts_.cancel_timeout, true);
  co_await async_with(scope, [&](cancel_scope&) -> task<> {
    int r = PQputCopyEnd(conn_, why);
    // The server may not be reading (busy with rows it has: a slow trigger, a lock) and
    // then would see the CopyFail only after it: interrupt it too, so it drops the rest
    // of our data and ends the COPY now. The cancel request is delivered before anything
    // else is sent, so it cannot reach a later statement (a cancel arriving while the
    // server waits for a command is ignored).
    co_await send_cancel_request();
    while (r == 0) {
      co_await flush();
      r = PQputCopyEnd(conn_, why);
    }
    try {
      (void)co_await collect();
    } catch (const aw::cancelled&) {
      throw;
    } catch (...) {  // the COPY's error: "COPY from stdin failed: <why>", or 57014
    }
    drained = true;
  });
  if (!drained || PQstatus(conn_) == CONNECTION_BAD) {
    broken_ = true;
    close();
  }
}

// copy_records_to_table: the table's column types first (SELECT cols FROM table LIMIT 0,
// which also reports a missing table or column), then COPY ... FROM STDIN (FORMAT binary).
task<std::string> connection::copy_in_records(std::string_view table, const copy_options& o, detail::copy_row_fn next, void* state) {
  if (!o.format.empty() && o.format != "binary")
    throw interface_error("aw::pg::copy_records_to_table: records are sent in binary format; format must be empty or \"binary\"");
  struct records {
    std::string probe;
    detail::copy_row_fn next;
    void* state;
    std::vector<detail::copy_column> cols;
    result types;
  } r{"SELECT " + (o.columns.empty() ? std::string("*") : name_list(o.columns)) + " FROM " + target(table, o) + " LIMIT 0",
      next,
      state,
      {},
      {}};
  wire::copy_feed feed;
  feed.before = [](wire& c, void* s) -> task<> {
    auto* rs = static_cast<records*>(s);
    if (!PQsendQueryParams(c.conn_, rs->probe.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1)) c.throw_lost("sending the query");
    rs->types = co_await c.collect();
    for (std::size_t i = 0; i < rs->types.columns(); ++i)
      rs->cols.push_back({rs->types.column_type(i), static_cast<int>(i), rs->types.native()});
  };
  feed.produce = [](wire& c, void* s) -> task<> {
    auto* rs = static_cast<records*>(s);
    std::string buf;
    buf.reserve(copy_chunk + 4096);
    static constexpr char signature[] = "PGCOPY\n\377\r\n";
    buf.append(signature, 11);
    detail::put_be(buf, 0, 4);  // flags
    detail::put_be(buf, 0, 4);  // header extension length
    while (rs->next(rs->state, rs->cols, buf)) {
      if (buf.size() >= copy_chunk) {
        co_await c.put_copy(buf);
        buf.clear();
      }
    }
    detail::put_be(buf, 0xffff, 2);  // the trailer: -1 fields
    co_await c.put_copy(buf);
  };
  feed.state = &r;
  feed.failed = "aw::pg: COPY aborted by the client";
  co_return co_await wire_->copy_in(copy_from_stdin(table, o, true), feed);
}

namespace {
task<std::string> copy_in_stream(wire& w, std::string_view table, const copy_options& o, std::string_view data, byte_source* source) {
  struct stream {
    std::string_view data;
    byte_source* source;
  } st{data, source};
  wire::copy_feed feed;
  feed.produce = [](wire& c, void* s) -> task<> {
    auto* in = static_cast<stream*>(s);
    if (in->source) {
      std::string buf(copy_chunk, '\0');
      for (;;) {
        std::size_t n = co_await in->source->receive_into(std::span<char>(buf.data(), buf.size()));
        if (n == 0) break;
        co_await c.put_copy(std::string_view(buf.data(), n));
      }
    } else {
      for (std::size_t at = 0; at < in->data.size(); at += copy_chunk) co_await c.put_copy(in->data.substr(at, copy_chunk));
    }
  };
  feed.state = &st;
  feed.failed = "aw::pg: COPY aborted: the source failed";
  co_return co_await w.copy_in(copy_from_stdin(table, o, false), feed);
}
}  // namespace

task<std::string> connection::copy_to_table(std::string_view table, std::string_view data, const copy_options& o) {
  co_return co_await copy_in_stream(*wire_, table, o, data, nullptr);
}

task<std::string> connection::copy_to_table(std::string_view table, byte_source source, const copy_options& o) {
  co_return co_await copy_in_stream(*wire_, table, o, {}, &source);
}

task<std::string> connection::copy_from_table(std::string_view table, byte_sink sink, const copy_options& o) {
  co_return co_await wire_->copy_out("COPY " + copy_target(table, o) + " TO STDOUT" + copy_with(o, false), sink);
}

// copy_from_query: COPY takes no parameters, so the server renders each argument as a
// quoted literal (with a cast to the parameter's type when it has one) and the literals
// replace $1..$n in the text, as asyncpg's copy_from_query does.
task<std::string> connection::copy_out_query(std::string_view sql, detail::params& p, byte_sink& sink, const copy_options& o) {
  detail::check_sql(sql);
  detail::check_argument_count(sql, detail::highest_placeholder(sql), p.size());
  std::string text(sql);
  if (p.size() > 0) {
    std::string render = "SELECT ";
    for (int i = 0; i < p.size(); ++i) {
      if (i) render += ", ";
      std::string n = "$" + std::to_string(i + 1);
      if (p.types()[i] == 0)
        render += "quote_nullable(" + n + "::text)";
      else
        render += "quote_nullable(" + n + ") || '::' || format_type(" + std::to_string(p.types()[i]) + ", NULL)";
    }
    result lit = co_await wire_->query_unprepared(render, &p);
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '$' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
        std::size_t j = i + 1;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        bool word_after = j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_');
        int k = std::atoi(text.substr(i + 1, j - i - 1).c_str());
        if (!word_after && k >= 1 && k <= p.size()) {
          out += "(" + lit[0].get<std::string>(static_cast<std::size_t>(k - 1)) + ")";
          i = j - 1;
          continue;
        }
      }
      out.push_back(text[i]);
    }
    text = std::move(out);
  }
  co_return co_await wire_->copy_out("COPY (" + text + ") TO STDOUT" + copy_with(o, false), sink);
}

task<std::string> wire::copy_out(std::string sql, byte_sink& sink) {
  aw::detail::trace_span span(trace_span_kind, [&] { return trace_label(sql); });
  detail::check_sql(sql);
  co_await acquire_exclusive();
  busy_hold g{&busy_};
  check_open();
  std::exception_ptr failure;
  bool copying = false;
  try {
    if (!closing_.empty()) co_await close_cursors();
    if (!PQsendQuery(conn_, sql.c_str())) throw_lost("sending the query");
    co_await begin_copy(PGRES_COPY_OUT);
    copying = true;
    std::string buf;
    buf.reserve(copy_chunk + 65536);
    for (;;) {
      char* row = nullptr;
      int n = PQgetCopyData(conn_, &row, 1);
      if (n > 0) {
        buf.append(row, static_cast<std::size_t>(n));
        PQfreemem(row);
        if (buf.size() >= copy_chunk) {
          co_await sink.send(buf);
          buf.clear();
        }
      } else if (n == 0) {
        // Hand on what we have before waiting: the sink need not wait for a full chunk.
        if (!buf.empty()) {
          co_await sink.send(buf);
          buf.clear();
        }
        co_await socket_wait(*this, POLLIN);
        if (!PQconsumeInput(conn_)) throw_lost("receiving");
      } else if (n == -1) {
        break;
      } else {
        throw_lost("receiving COPY data");
      }
    }
    copying = false;
    // The statement's result first: the connection is then free whatever the sink does.
    result r = co_await collect();
    if (!buf.empty()) co_await sink.send(buf);
    co_return std::string(r.status());
  } catch (...) {
    failure = std::current_exception();
  }
  // Cancelled, or the sink failed, in the middle: cancel the COPY on the server and read
  // what is left (cancel_and_drain), so the connection can be used again.
  if (copying || is_cancellation(failure)) co_await cancel_and_drain();
  std::rethrow_exception(failure);
}

}  // namespace aw::pg
