// The trace export's writer: one loop's ring of records (trace_ring.hpp) turned into Chrome
// trace events (tracks, spans, flows), and the file they go to.
#include "trace_ring.hpp"

#include <aw/detail/trace.hpp>

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace aw::detail {
namespace {

void escape(std::string& out, const std::string& s) {
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", ch);
          out += b;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
}

std::string us(std::int64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%lld.%03lld", static_cast<long long>(ns / 1000), static_cast<long long>(ns % 1000));
  return b;
}

const char* wait_name(std::uint8_t k) {
  switch (static_cast<trace_kind>(k)) {
    case trace_kind::sleep:
      return "sleep";
    case trace_kind::yield:
      return "yield";
    case trace_kind::fd:
      return "fd";
    case trace_kind::uring:
      return "io_uring";
    case trace_kind::sync:
      return "sync";
    case trace_kind::worker:
      return "to_thread";
    case trace_kind::join:
      return "task group join";
    case trace_kind::start:
      return "task group start";
  }
  return "wait";
}

// Turns one loop's records into trace events. Spans are snapped to the steps around them so
// that every slice of a track nests: a step is the innermost slice, a wait runs from the end
// of the step that began it to the start of the task's next step, a manager from the start
// of the step that entered it to the end of the step that finished its exit.
class converter {
 public:
  converter(loop_trace& s) : s_(s), pid_(s.loop_id) {}

  std::string run() {
    const std::size_t n = s_.ring.size();
    const std::size_t first = n < s_.capacity ? 0 : s_.head;
    std::vector<const record*> in_step;
    bool stepping = false;
    std::int64_t step_t0 = 0;
    std::uint64_t step_handle = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const record& r = s_.ring[(first + i) % n];
      last_t_ = r.t;
      if (r.kind == rk::step_begin) {
        if (stepping) finish_step(step_t0, step_handle, 0, r.t, in_step);  // unended: cannot happen, but be safe
        stepping = true;
        step_t0 = r.t;
        step_handle = r.a;
        in_step.clear();
      } else if (r.kind == rk::step_end) {
        if (stepping) finish_step(step_t0, step_handle, static_cast<std::uint32_t>(r.a), r.t, in_step);
        stepping = false;
        in_step.clear();
      } else if (stepping) {
        in_step.push_back(&r);
      } else {
        outside_step(r);
      }
    }
    if (stepping) finish_step(step_t0, step_handle, 0, last_t_, in_step);  // the ring ended mid-step (a failing run)
    // Close what is still open at the end: managers never exited, waits never resumed.
    for (auto& [id, t] : tasks_) {
      if (t.wait_open) emit_wait(id, t, last_t_);
      while (!t.spans.empty()) {
        span sp = t.spans.back();
        t.spans.pop_back();
        if (sp.module && sp.ended) {
          emit_span(id, sp, last_t_);
          continue;
        }
        sp.args += ",\"unfinished\":true";
        if (sp.module) {
          emit_span(id, sp, last_t_, " (unfinished)");
          continue;
        }
        emit_x(id, sp.name + " (not exited)", "manager", sp.begin, std::max(last_t_, sp.begin), sp.args);
      }
    }
    metadata();
    return std::move(out_);
  }

 private:
  struct span {
    std::uint32_t id;
    std::string name;
    std::int64_t begin;
    std::string args;
    // A module's wait (trace_span_begin) rather than a manager; `ended` by a step of another
    // task or none, it closes where its task next runs, after the wait it covered.
    bool module = false;
    bool ended = false;
    bool raised = false;
    bool cancelled = false;
  };
  struct task {
    std::string name;
    std::uint32_t parent = 0;
    std::vector<span> spans;  // open managers, outermost first
    bool wait_open = false;
    std::uint8_t wait_kind = 0;
    std::uint32_t wait_what = 0;
    std::int64_t wait_begin = 0;
    std::int64_t wait_exact = 0;
    bool wait_cancelled = false;
    std::vector<const record*> jobs;  // to_thread jobs done during the wait
    bool ended = false;
  };

  task& get(std::uint32_t id) {
    auto [it, fresh] = tasks_.try_emplace(id);
    if (fresh) order_.push_back(id);
    return it->second;
  }

  void outside_step(const record& r) {
    switch (r.kind) {
      case rk::task_start:
        start_task(r);
        break;
      case rk::cancel:
        cancel(r, static_cast<std::uint32_t>(r.b));
        break;
      case rk::interrupt:
        interrupt(r);
        break;
      case rk::job:
        if (r.a) get(static_cast<std::uint32_t>(r.a)).jobs.push_back(&r);
        break;
      case rk::span_end:
        end_span_elsewhere(r);
        break;
      default:
        break;  // a hook between steps that names no task (cannot happen now)
    }
  }

  void start_task(const record& r) {
    auto id = static_cast<std::uint32_t>(r.a);
    task& t = get(id);
    t.parent = static_cast<std::uint32_t>(r.b);
    t.name = r.c ? s_.strings[r.c] : (r.sub ? "main" : "task " + std::to_string(id));
    if (r.d) handles_[r.d] = id;
  }

  void finish_step(std::int64_t t0, std::uint64_t handle, std::uint32_t id, std::int64_t t1, const std::vector<const record*>& in) {
    if (id == 0) {
      auto it = handles_.find(handle);
      if (it != handles_.end()) id = it->second;
    }
    task& t = get(id);
    if (t.wait_open) emit_wait(id, t, t0);
    close_ended(id, t, t0);
    // Spans opened in this step begin 1 ns apart, outermost first, and those closed in it end
    // 1 ns apart, innermost first, the step between them: identical intervals would leave
    // their nesting to the viewer's whim.
    std::int64_t opened = 0;
    for (const record* r : in) {
      switch (r->kind) {
        case rk::task_start:
          start_task(*r);
          break;
        case rk::task_end:
          get(static_cast<std::uint32_t>(r->a)).ended = true;
          break;
        case rk::enter: {
          close_early(id, t0, opened);
          std::string args = "\"entered_us\":" + us(r->t);
          t.spans.push_back({static_cast<std::uint32_t>(r->a), r->c ? s_.strings[r->c] : "manager", t0 + opened++, args});
          break;
        }
        case rk::span_begin: {
          close_early(id, t0, opened);
          std::string args = "\"kind\":\"";
          escape(args, s_.strings[r->b]);
          args += "\",\"began_us\":" + us(r->t);
          span sp{static_cast<std::uint32_t>(r->a), r->c ? s_.strings[r->c] : s_.strings[r->b], t0 + opened++, args};
          sp.module = true;
          t.spans.push_back(std::move(sp));
          span_task_[static_cast<std::uint32_t>(r->a)] = id;
          break;
        }
        case rk::span_end: {
          std::size_t k = t.spans.size();
          while (k-- > 0 && t.spans[k].id != r->a) {
          }
          if (k >= t.spans.size() || !t.spans[k].module) {
            end_span_elsewhere(*r);
            break;
          }
          // Closed where the step's spans open, in record order: a span the same step opens
          // next (the next query) begins after it, not inside it.
          close_early(id, t0, opened);  // managers exited before it, inside it
          t.spans[k].raised = r->sub != 0;
          t.spans[k].args += ",\"ended_us\":" + us(r->t);
          while (t.spans.size() > k) {
            emit_span(id, t.spans.back(), t0 + opened);
            t.spans.pop_back();
          }
          ++opened;
          span_task_.erase(static_cast<std::uint32_t>(r->a));
          break;
        }
        case rk::exit: {
          // Exits close their own span and any still open inside it (an exit stack left early).
          for (std::size_t k = t.spans.size(); k-- > 0;) {
            if (t.spans[k].id != r->a) continue;
            while (t.spans.size() > k) {
              span sp = std::move(t.spans.back());
              t.spans.pop_back();
              std::string args = sp.args + ",\"exited_us\":" + us(r->t);
              if (sp.id == r->a && r->c) {
                args += ",\"exception\":\"";
                escape(args, s_.strings[r->c]);
                args += "\"";
              }
              sp.args = std::move(args);
              pending_close_.push_back(std::move(sp));
            }
            break;
          }
          break;
        }
        case rk::wait:
          t.wait_open = true;
          t.wait_kind = r->sub;
          t.wait_what = r->c;
          t.wait_exact = r->t;
          t.wait_cancelled = false;
          t.jobs.clear();
          handles_[r->b] = id;
          break;
        case rk::cancel:
          cancel(*r, id);
          break;
        case rk::interrupt:
          interrupt(*r);
          break;
        default:
          break;
      }
    }
    const auto closed = static_cast<std::int64_t>(pending_close_.size());
    emit_x(id, "step", "step", t0 + opened, std::max(t1 - closed, t0 + opened), "");
    for (std::int64_t j = 0; j < closed; ++j) {
      span& sp = pending_close_[static_cast<std::size_t>(j)];
      if (sp.module)
        emit_span(id, sp, t1 - (closed - 1 - j));
      else
        emit_x(id, sp.name, "manager", sp.begin, std::max(t1 - (closed - 1 - j), sp.begin), sp.args);
    }
    pending_close_.clear();
    if (t.wait_open) t.wait_begin = t1;
  }

  // A span opens in this step after managers it exited: those close first, where the step's
  // spans open (closing them at the step's end, as usual, would cross the new one).
  void close_early(std::uint32_t id, std::int64_t t0, std::int64_t& opened) {
    for (span& sp : pending_close_) {
      if (sp.module)
        emit_span(id, sp, t0 + opened);
      else
        emit_x(id, sp.name, "manager", sp.begin, std::max(t0 + opened, sp.begin), sp.args);
      ++opened;
    }
    pending_close_.clear();
  }

  void emit_wait(std::uint32_t id, task& t, std::int64_t end) {
    t.wait_open = false;
    std::string name = t.wait_what ? s_.strings[t.wait_what] : wait_name(t.wait_kind);
    if (t.wait_cancelled) name += " (cancelled)";
    std::string args = "\"kind\":\"" + std::string(wait_name(t.wait_kind)) + "\",\"suspended_us\":" + us(t.wait_exact);
    if (t.wait_cancelled) args += ",\"cancelled\":true";
    emit_x(id, name, "wait", t.wait_begin, std::max(end, t.wait_begin), args);
    // A job handed over inside a module's wait (a Mongo call) is named after it.
    std::string job_name = "to_thread job";
    for (std::size_t k = t.spans.size(); k-- > 0;)
      if (t.spans[k].module && !t.spans[k].ended) {
        job_name = t.spans[k].name;
        break;
      }
    for (const record* j : t.jobs) {
      auto worker = static_cast<std::uint32_t>(j->c);
      workers_.try_emplace(worker, true);
      std::int64_t start = static_cast<std::int64_t>(j->b), stop = static_cast<std::int64_t>(j->d);
      std::uint64_t worker_tid = worker_base + worker;
      std::string e = "{\"ph\":\"X\",\"cat\":\"worker\",\"name\":\"";
      escape(e, job_name);
      event(e + "\",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(worker_tid) + ",\"ts\":" + us(start) +
            ",\"dur\":" + us(std::max<std::int64_t>(stop - start, 0)) + ",\"args\":{\"task\":" + std::to_string(id) + "}}");
      // Flow ids are global in the file, which holds every loop's events: the loop's id in
      // the high bits keeps two loops' arrows apart.
      std::uint64_t flow = (pid_ << 32) | ++flows_;
      flow_event("s", flow * 2, id, t.wait_begin);
      flow_event("f", flow * 2, worker_tid, start);
      flow_event("s", flow * 2 + 1, worker_tid, std::max(start, stop - 1));
      flow_event("f", flow * 2 + 1, id, std::max(end, t.wait_begin));
    }
    t.jobs.clear();
  }

  void flow_event(const char* ph, std::uint64_t flow, std::uint64_t tid, std::int64_t ts) {
    event(std::string("{\"ph\":\"") + ph + "\",\"cat\":\"worker\",\"name\":\"to_thread\",\"bp\":\"e\",\"id\":" + std::to_string(flow) +
          ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid) + ",\"ts\":" + us(ts) + "}");
  }

  void cancel(const record& r, std::uint32_t on_task) {
    std::uint32_t owner = static_cast<std::uint32_t>(r.b);
    char scope[64];
    std::snprintf(scope, sizeof scope, "cancel scope %#llx", static_cast<unsigned long long>(r.a));
    std::string args = "\"scope\":\"" + std::string(scope) + "\",\"entered_by_task\":" + std::to_string(owner);
    get(on_task ? on_task : owner);
    instant(on_task ? on_task : owner, std::string("cancel: ") + scope + (owner ? " (entered by task " + std::to_string(owner) + ")" : ""),
            args, r.t);
  }

  void interrupt(const record& r) {
    auto id = static_cast<std::uint32_t>(r.a);
    task& t = get(id);
    for (span& sp : t.spans)
      if (sp.module && !sp.ended) sp.cancelled = true;
    std::string kind = t.wait_open ? wait_name(t.wait_kind) : "wait";
    if (t.wait_open) t.wait_cancelled = true;
    instant(id, "cancelled: " + kind, "\"wait\":\"" + kind + "\"", r.t);
  }

  // A module span ended by a step of another task (or between steps: a transfer's end seen
  // by libcurl's callback): it closes when its own task next runs.
  void end_span_elsewhere(const record& r) {
    auto owner = span_task_.find(static_cast<std::uint32_t>(r.a));
    if (owner == span_task_.end()) return;  // begun before the ring's oldest record
    task& t = get(owner->second);
    span_task_.erase(owner);
    for (span& sp : t.spans)
      if (sp.id == r.a && sp.module) {
        sp.ended = true;
        sp.raised = r.sub != 0;
        sp.args += ",\"ended_us\":" + us(r.t);
      }
  }

  // At the start of task `id`'s step at t0: the module spans that ended while it waited, with
  // whatever is still open inside them.
  void close_ended(std::uint32_t id, task& t, std::int64_t t0) {
    std::size_t k = 0;
    while (k < t.spans.size() && !(t.spans[k].module && t.spans[k].ended)) ++k;
    while (t.spans.size() > k) {
      span sp = std::move(t.spans.back());
      t.spans.pop_back();
      if (sp.module)
        emit_span(id, sp, t0);
      else
        emit_x(id, sp.name + " (not exited)", "manager", sp.begin, std::max(t0, sp.begin), sp.args + ",\"unfinished\":true");
    }
  }

  void emit_span(std::uint32_t id, const span& sp, std::int64_t end, const char* suffix = "") {
    std::string name = sp.name;
    std::string args = sp.args;
    if (sp.cancelled) {
      name += " (cancelled)";
      args += ",\"cancelled\":true";
    }
    if (sp.raised) args += ",\"raised\":true";
    emit_x(id, name + suffix, "wait", sp.begin, std::max(end, sp.begin), args);
  }

  void instant(std::uint32_t id, const std::string& name, const std::string& args, std::int64_t t = -1) {
    std::string e = "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"cancel\",\"name\":\"";
    escape(e, name);
    e += "\",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(id) + ",\"ts\":" + us(t < 0 ? last_t_ : t) + ",\"args\":{" +
         args + "}}";
    event(e);
  }

  void emit_x(std::uint32_t id, const std::string& name, const char* cat, std::int64_t t0, std::int64_t t1, const std::string& args) {
    std::string e = "{\"ph\":\"X\",\"cat\":\"";
    e += cat;
    e += "\",\"name\":\"";
    escape(e, name);
    e += "\",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(id) + ",\"ts\":" + us(t0) + ",\"dur\":" + us(t1 - t0);
    if (!args.empty()) e += ",\"args\":{" + args + "}";
    e += "}";
    event(e);
  }

  void event(const std::string& e) {
    if (!out_.empty()) out_ += ",\n";
    out_ += e;
  }

  void metadata() {
    std::string p = std::to_string(pid_);
    event("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + p + ",\"args\":{\"name\":\"aw loop " + p + " (thread " +
          std::to_string(s_.os_tid) + ")\"}}");
    event("{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + p + ",\"args\":{\"sort_index\":" + p + "}}");
    std::size_t dropped = s_.recorded - s_.ring.size();
    event("{\"ph\":\"M\",\"name\":\"aw_dropped_records\",\"pid\":" + p + ",\"args\":{\"dropped\":" + std::to_string(dropped) +
          ",\"recorded\":" + std::to_string(s_.recorded) + ",\"capacity\":" + std::to_string(s_.capacity) + "}}");
    // Tracks in tree order: each task right under the task that started it.
    std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> children;
    std::vector<std::uint32_t> roots;
    for (std::uint32_t id : order_) {
      const task& t = tasks_[id];
      if (t.parent && tasks_.count(t.parent) && t.parent != id)
        children[t.parent].push_back(id);
      else
        roots.push_back(id);
    }
    int index = 0;
    std::vector<std::pair<std::uint32_t, int>> stack;
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) stack.push_back({*it, 0});
    while (!stack.empty()) {
      auto [id, depth] = stack.back();
      stack.pop_back();
      const task& t = tasks_[id];
      std::string name = id == 0 ? "loop (steps of no known task)" : (t.name.empty() ? "task " + std::to_string(id) : t.name);
      std::string label = std::string(static_cast<std::size_t>(depth) * 2, ' ') + name + " [task " + std::to_string(id) +
                          (t.parent ? ", started by task " + std::to_string(t.parent) : "") + "]";
      std::string e = "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + p + ",\"tid\":" + std::to_string(id) + ",\"args\":{\"name\":\"";
      escape(e, label);
      e += "\",\"aw_task\":\"";
      escape(e, name);
      e += "\",\"aw_parent\":" + std::to_string(t.parent) + "}}";
      event(e);
      event("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":" + p + ",\"tid\":" + std::to_string(id) +
            ",\"args\":{\"sort_index\":" + std::to_string(index++) + "}}");
      auto c = children.find(id);
      if (c != children.end())
        for (auto k = c->second.rbegin(); k != c->second.rend(); ++k) stack.push_back({*k, depth + 1});
    }
    for (auto& [w, _] : workers_) {
      std::string tid = std::to_string(worker_base + w);
      event("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + p + ",\"tid\":" + tid + ",\"args\":{\"name\":\"worker thread " +
            std::to_string(w) + "\"}}");
      event("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":" + p + ",\"tid\":" + tid +
            ",\"args\":{\"sort_index\":" + std::to_string(100000 + index++) + "}}");
    }
  }

  static constexpr std::uint64_t worker_base = 1u << 30;
  loop_trace& s_;
  std::uint64_t pid_;
  std::string out_;
  std::unordered_map<std::uint32_t, task> tasks_;
  std::vector<std::uint32_t> order_;
  std::unordered_map<std::uint64_t, std::uint32_t> handles_;
  std::unordered_map<std::uint32_t, bool> workers_;
  std::vector<span> pending_close_;
  std::unordered_map<std::uint32_t, std::uint32_t> span_task_;  // open module span -> its task
  std::uint64_t flows_ = 0;
  std::int64_t last_t_ = 0;
};

}  // namespace

std::string trace_events(loop_trace& s) { return converter(s).run(); }

void trace_write_file(const std::string& path, const std::string& events, std::size_t dropped) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "aw: cannot write the trace to %s: %s\n", tmp.c_str(), std::strerror(errno));
    return;
  }
  std::fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"aw_dropped_records\":", f);
  std::fprintf(f, "%zu", dropped);
  std::fputs("},\"traceEvents\":[\n", f);
  std::fwrite(events.data(), 1, events.size(), f);
  std::fputs("\n]}\n", f);
  bool ok = std::fflush(f) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "aw: cannot write the trace to %s: %s\n", path.c_str(), std::strerror(errno));
    std::remove(tmp.c_str());
  }
}

}  // namespace aw::detail
