// aw::blocking_portal: the portal's thread, its loop, and posting calls to it.
#include <aw/blocking_portal.hpp>

#include <aw/detail/cancellation.hpp>
#include <aw/run.hpp>

#include <condition_variable>

namespace aw {

// What the callers' threads and the portal's thread share, under `m`.
struct blocking_portal::shared {
  std::mutex m;
  std::condition_variable cv;
  bool started = false;    // the loop runs and takes calls (until `accepting` turns false)
  bool accepting = false;  // calls may be posted; once false, never again
  bool cancel_remaining = false;
  std::exception_ptr failure;  // the thread could not start its loop
  loop* l = nullptr;
  task_group* group = nullptr;
  event* stop_requested = nullptr;
  struct stop_record : posted_call {
    shared* owner = nullptr;
  } stop_call;
};

namespace {

void run_job(posted_call* c) noexcept {
  auto* job = static_cast<detail::portal_job*>(c);
  job->launch(job, *job->group);
}

}  // namespace

task<> blocking_portal::serve(shared* s) {
  co_await async_with(task_group{}, [s](task_group& tg) -> task<> {
    event stop;
    loop& l = loop::current();
    // Callers on other threads will wake the loop: waiting for them is no deadlock.
    l.add_external_ref();
    {
      std::lock_guard lock(s->m);
      s->l = &l;
      s->group = &tg;
      s->stop_requested = &stop;
      s->started = true;
      s->accepting = true;
    }
    s->cv.notify_all();
    co_await stop.wait();
    l.release_external_ref();
    if (s->cancel_remaining) tg.cancel();
  });
}

blocking_portal::blocking_portal() : shared_(std::make_unique<shared>()) {
  shared* s = shared_.get();
  s->stop_call.owner = s;
  s->stop_call.run = [](posted_call* c) noexcept { static_cast<shared::stop_record*>(c)->owner->stop_requested->set(); };
  thread_ = std::thread([s] {
    try {
      // aw::run's loop without its signal handling: the program's signals are not the
      // portal's to take.
      loop l;
      detail::scope_state root_scope;
      detail::task_context root;
      root.scope = &root_scope;
      root_scope.owner = &root;
      auto h = detail::main_wrapper(serve(s)).release();
      h.promise().ctx_ = &root;
      struct frame_guard {
        std::coroutine_handle<> h;
        ~frame_guard() { h.destroy(); }
      } guard{h};
      l.run(h);
      h.promise().take();
    } catch (...) {
      std::lock_guard lock(s->m);
      s->failure = std::current_exception();
    }
    std::lock_guard lock(s->m);
    s->accepting = false;
    s->started = true;  // wakes a constructor still waiting when the loop failed to start
    s->cv.notify_all();
  });
  std::unique_lock lock(s->m);
  s->cv.wait(lock, [s] { return s->started; });
  if (s->failure) {
    std::exception_ptr e = s->failure;
    lock.unlock();
    thread_.join();
    std::rethrow_exception(e);
  }
}

blocking_portal::~blocking_portal() {
  // Unwinding: anyio's portal cancels its tasks when its block raises.
  stop(std::uncaught_exceptions() > unwinding_);
}

void blocking_portal::post(detail::portal_job& job, const char* what) {
  if (on_portal_thread())
    throw std::logic_error(std::string("aw::blocking_portal::") + what + ": called on the portal's own loop, which would wait for itself");
  std::lock_guard lock(shared_->m);
  if (!shared_->accepting) throw std::logic_error(std::string("aw::blocking_portal::") + what + ": the portal has stopped");
  job.run = &run_job;
  job.group = shared_->group;
  // Under the lock: stop() posts its call after this one, and the loop runs until that one.
  shared_->l->call_soon_threadsafe(job);
}

void blocking_portal::stop(bool cancel_remaining) {
  if (!thread_.joinable()) return;
  if (on_portal_thread()) throw std::logic_error("aw::blocking_portal::stop: called on the portal's own loop, which would wait for itself");
  {
    std::lock_guard lock(shared_->m);
    if (shared_->accepting) {
      shared_->accepting = false;
      shared_->cancel_remaining = cancel_remaining;
      shared_->l->call_soon_threadsafe(shared_->stop_call);
    }
  }
  thread_.join();
}

}  // namespace aw
