// The machinery behind cancel scopes (aw::cancel_scope, aw::task_group), shared by every
// wait in the library. Internal: user code sees cancel_scope, task_group and aw::cancelled.
//
// A *task context* is one concurrently running task in anyio's sense: the main task of
// aw::run, or a child started by a task group. Every coroutine frame of the library
// (promise_base::ctx_) points at the context of the task it runs in; awaiting a task hands
// the pointer down the chain, so a wait always knows its task.
//
// A *scope* is one cancel scope. Scopes form a tree: each scope knows its parent (where
// it was entered), its child scopes, the task that entered it, and the tasks a task group
// started in it. A task's context points at its innermost scope; the scope chain from
// there to the root says whether the task is cancelled: it is when a scope on the chain
// was cancelled, looking no further up than the first shielded scope (or not at all while
// an exit's shield is pending: shield_guard). That is level
// triggered (trio): every wait inside a cancelled scope fails with aw::cancelled, again
// and again, until the scope is left.
//
// Cancelling a scope walks its subtree (not into shielded scopes) and interrupts the
// waits of the tasks found there that are now cancelled. A wait registers itself in its
// task's context (`waiting`) while suspended; interrupting it must eventually resume the
// waiter, whose await_resume then throws aw::cancelled.
#pragma once

#include <aw/detail/assert.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/detail/trace.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <stdexcept>

namespace aw::detail {

struct task_context;

// A suspended wait that cancellation can interrupt. A wait that gives up when interrupted
// ends with aw::cancelled even if, by the time it resumes, its task is no longer cancelled
// (a scope shielded in the same step): it records the abort rather than re-reading the scopes.
struct cancellable {
  void (*interrupt)(cancellable* self) noexcept = nullptr;
};

struct task_context;

// In its parent's `children` while linked(). A root is in no list, nor is an exit's shield,
// which only points at its parent.
struct scope_state : intrusive_list_item<scope_state> {
  scope_state* parent = nullptr;
  intrusive_list<scope_state> children;  // most recently linked first
  task_context* owner = nullptr;         // the task that entered the scope
  intrusive_list<task_context> tasks;    // tasks a task group started in it, most recent first
  clock::time_point deadline = clock::time_point::max();
  bool cancel_called = false;
  bool shield = false;

  // Links this scope under `p` (which may be null: a root).
  void link(scope_state* p) noexcept {
    AW_ASSERT(!linked(), "a scope is linked under one parent at a time");
    parent = p;
    if (p) p->children.push_front(*this);
  }
  void unlink() noexcept { intrusive_list<scope_state>::erase(*this); }

  // Cancelled from here or from an unshielded ancestor.
  bool effectively_cancelled() const noexcept {
    for (const scope_state* s = this; s; s = s->parent) {
      if (s->cancel_called) return true;
      if (s->shield) return false;
    }
    return false;
  }
  // Whether a cancellation from outside this scope reaches the code inside it.
  bool outer_cancellation_visible() const noexcept { return !shield && parent && parent->effectively_cancelled(); }

  // Marks the scope cancelled and interrupts the waits it now cancels.
  void cancel() noexcept;

  // Enters the scope in task `ctx`: links it under the task's innermost scope and makes it
  // the innermost. A cancel() made before entering takes effect now.
  inline void enter(task_context* ctx) noexcept;
  // Interrupts the waits in this scope's subtree that an outer cancellation now reaches
  // (after the scope's shield was dropped).
  void deliver() noexcept;
};

class shield_guard;

// In scope_state::tasks of the scope a task group runs it in (or of start()'s scope).
struct task_context : intrusive_list_item<task_context> {
  scope_state* scope = nullptr;  // innermost scope the task is in
  // The innermost shield not yet made a scope of the chain (shield_guard), or null. While
  // one is pending the task has entered no scope since it began, so nothing from outside
  // reaches the task: a shield costs two stores until something needs it as a scope.
  shield_guard* pending_shield = nullptr;
  cancellable* waiting = nullptr;  // the wait it is suspended in, if any
  std::uint32_t trace_id = 0;      // its track in the trace (aw/trace.hpp); 0 until traced

  bool cancelled() const noexcept { return !pending_shield && scope && scope->effectively_cancelled(); }

  // The innermost scope, for linking a scope under it or changing the chain: a pending
  // shield is made a scope first, so that what is linked under it is shielded.
  scope_state* innermost() noexcept {
    if (pending_shield) [[unlikely]]
      make_shield_scope();
    return scope;
  }
  inline void make_shield_scope() noexcept;

  // Interrupts the task's wait if the task is now cancelled.
  void interrupt_if_cancelled() noexcept {
    if (waiting && cancelled()) {
      cancellable* w = waiting;
      waiting = nullptr;
      if (trace_on) [[unlikely]]
        trace_interrupt(this);
      w->interrupt(w);
    }
  }
};

inline void scope_state::enter(task_context* ctx) noexcept {
  owner = ctx;
  link(ctx->innermost());
  ctx->scope = this;
  if (cancel_called) {
    cancel_called = false;
    cancel();
  }
}

// Runs the task shielded for the lifetime of the guard: an exit, a task group waiting for
// its children. Cancellation that arrives meanwhile is seen at the first wait after it.
//
// The shield's scope is built only when something needs it in the chain of scopes (a scope
// entered, or the chain changed, under the shield: task_context::innermost). Until then the
// guard is only marked pending on the task, which task_context::cancelled() and
// effective_deadline() read: most exits enter no scope, and building a scope and linking
// it costs more than the exit itself.
class shield_guard {
 public:
  explicit shield_guard(task_context* ctx) noexcept : ctx_(ctx) {
    if (ctx_) {
      outer_ = ctx_->pending_shield;
      ctx_->pending_shield = this;
    }
  }
  shield_guard(const shield_guard&) = delete;
  shield_guard& operator=(const shield_guard&) = delete;
  ~shield_guard() {
    if (!ctx_) return;
    if (built_) [[unlikely]] {
      ctx_->scope = shield_.parent;
      shield_.~scope_state();
    } else {
      AW_ASSERT(ctx_->pending_shield == this, "shields end in the reverse order of their start");
    }
    ctx_->pending_shield = outer_;
  }

 private:
  friend struct task_context;
  // Puts the shield's scope in the chain, at the innermost place: nothing was entered
  // since the guard began. The shields pending outside it need no scope: this one hides
  // them, and they are pending again once it has ended (outer_).
  void build_scope() noexcept {
    ::new (static_cast<void*>(&shield_)) scope_state();
    shield_.shield = true;
    shield_.parent = ctx_->scope;
    ctx_->scope = &shield_;
    built_ = true;
  }

  task_context* ctx_;
  shield_guard* outer_ = nullptr;
  bool built_ = false;
  union {
    scope_state shield_;  // built by build_scope()
  };
};

inline void task_context::make_shield_scope() noexcept {
  shield_guard* g = pending_shield;
  pending_shield = nullptr;
  g->build_scope();
}

// Takes `s` out of the task's chain of scopes (it need not be the innermost: an exit runs
// inside a shield pushed after it), and unlinks it from its parent.
//
// Scopes are left in the reverse order of entering, but an exit stack can keep `s` open
// past a scope entered after it and leave `s` first. Then the scopes still open inside `s`
// move under its parent, so that cancelling the parent still reaches every task in them,
// and std::logic_error reports the mistake (trio: "Cancel scope stack corrupted").
inline void leave_scope(task_context* ctx, scope_state* s) {
  scope_state* const up = s->parent;
  bool inner_still_open = false;
  if (ctx->innermost() == s) {
    ctx->scope = up;
  } else {
    scope_state* x = ctx->scope;
    bool linked_below = false;  // a scope entered inside s, not an exit's shield
    while (x && x != s) {
      scope_state* next = x->parent;
      if (x->linked())
        linked_below = true;
      else if (next == s)
        x->parent = up;  // an exit's shield: in the task's chain, not in the tree
      x = next;
    }
    inner_still_open = x == s && linked_below;
  }
  while (scope_state* c = s->children.front()) {
    AW_ASSERT(c->parent == s, "a scope's children point back at it");
    c->unlink();
    c->link(up);
    if (!c->shield) c->deliver();  // the parent's cancellation reaches it now
  }
  s->unlink();
  if (inner_still_open)
    throw std::logic_error(
        "asyncwith: cancel scope stack corrupted: a cancel scope or task group was left while a scope entered inside it "
        "was still open (leave scopes in the reverse order of entering; an exit stack must not outlive a scope entered "
        "after it)");
}

// The earliest deadline among the scopes that can cancel the task.
inline clock::time_point effective_deadline(const task_context* ctx) noexcept {
  clock::time_point d = clock::time_point::max();
  if (ctx && ctx->pending_shield) return d;  // shielded, with no scope entered since
  for (const scope_state* s = ctx ? ctx->scope : nullptr; s; s = s->parent) {
    if (s->cancel_called) return clock::time_point::min();
    if (s->deadline < d) d = s->deadline;
    if (s->shield) break;
  }
  return d;
}

using aw::is_cancellation;

}  // namespace aw::detail
