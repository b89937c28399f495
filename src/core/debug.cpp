// The debug mode (AW_DEBUG, aw/debug.hpp): the registry of open managers and tasks, the
// enter/exit/slow-step lines, and the report of what was left open when the loop ends.
#include <aw/debug.hpp>
#include <aw/detail/intrusive_list.hpp>
#include <aw/exceptions.hpp>
#include <aw/loop.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace aw {
namespace detail {

struct debug_entry : intrusive_list_item<debug_entry> {
  debug_entry(std::string t, const void* a, clock::time_point s, bool held)
      : type(std::move(t)), address(a), start(s), held_by_record(held) {}

  std::string type;
  const void* address;
  clock::time_point start;
  // An exit record holds it: exit_stack::pop_all() can keep the record past the loop's
  // end and exit it in a later loop, so only the record may free the entry.
  bool held_by_record = false;
  bool reported = false;  // named by a shutdown report, and taken out of the list
};

namespace {

struct debug_state {
  intrusive_list<debug_entry> active;  // entered, not exited; most recent first
  std::size_t never_awaited = 0;
  std::size_t never_awaited_reported = 0;  // already named by an earlier shutdown report
  std::size_t never_exited = 0;
  std::size_t never_entered = 0;
  std::size_t never_entered_reported = 0;  // already counted by an earlier shutdown report
  std::size_t slow_steps = 0;
  std::chrono::nanoseconds slow_threshold = std::chrono::milliseconds(100);
};

debug_state& state() {
  static thread_local debug_state s;
  return s;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 ? std::string(d.get()) : std::string(name);
}

double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

namespace {

// The name of the function containing `address`, from the symbol table of the object that
// holds it. dladdr sees only exported (.dynsym) symbols, and the functions a compiler makes
// for a coroutine's body ("f() [clone .actor]", "f() (.resume)") are local, so this reads
// .symtab itself. Debug reports only: it maps the file on each call.
struct object_lookup {
  std::uintptr_t address = 0;
  std::uintptr_t base = 0;
  std::string path;
  bool found = false;
};

bool find_object(object_lookup& q) {
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto& q = *static_cast<object_lookup*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_LOAD && q.address >= start && q.address < start + ph.p_memsz) {
            q.base = info->dlpi_addr;
            q.path = (info->dlpi_name && *info->dlpi_name) ? info->dlpi_name : "/proc/self/exe";
            q.found = true;
            return 1;
          }
        }
        return 0;
      },
      &q);
  return q.found;
}

std::string symtab_name(const object_lookup& q) {
  int fd = ::open(q.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st{};
  std::string name;
  if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) > sizeof(Elf64_Ehdr)) {
    std::size_t size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
      const auto* bytes = static_cast<const unsigned char*>(map);
      const auto* eh = static_cast<const Elf64_Ehdr*>(map);
      std::uintptr_t offset = q.address - q.base;
      bool sane = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
                  eh->e_shoff + std::size_t{eh->e_shnum} * sizeof(Elf64_Shdr) <= size;
      const auto* sh = sane ? reinterpret_cast<const Elf64_Shdr*>(bytes + eh->e_shoff) : nullptr;
      for (unsigned i = 0; sane && i < eh->e_shnum && name.empty(); ++i) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr& strtab = sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strtab.sh_offset + strtab.sh_size > size) continue;
        const auto* syms = reinterpret_cast<const Elf64_Sym*>(bytes + sh[i].sh_offset);
        std::size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (std::size_t k = 0; k < n; ++k) {
          const Elf64_Sym& sym = syms[k];
          if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= strtab.sh_size) continue;
          if (offset >= sym.st_value && offset < sym.st_value + sym.st_size) {
            name = reinterpret_cast<const char*>(bytes + strtab.sh_offset + sym.st_name);
            break;
          }
        }
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return name;
}

}  // namespace

const char* code_name(const void* address, char* buffer, unsigned size) {
  std::string n;
  Dl_info info{};
  if (address && dladdr(address, &info) && info.dli_sname) n = info.dli_sname;
  if (n.empty() && address) {
    object_lookup q;
    q.address = reinterpret_cast<std::uintptr_t>(address);
    if (find_object(q)) n = symtab_name(q);
  }
  if (n.empty()) {
    std::snprintf(buffer, size, "coroutine at %p", address);
    return buffer;
  }
  n = demangle(n.c_str());
  // GCC names a coroutine's body "f(args) [clone .actor]"; Clang "f(args) (.resume)".
  for (const char* suffix : {" [clone .actor]", " [clone .resume]", " (.resume)", " [clone .destroy]", " (.destroy)"}) {
    auto at = n.find(suffix);
    if (at != std::string::npos) n.erase(at);
  }
  // GCC's actor takes the frame: "f(f()::_Z1fv.Frame*)" names f().
  // The argument list opens at the '(' followed by the function's own name again: not at the
  // first '(', which may be that of "(anonymous namespace)".
  auto frame = n.find(".Frame*)");
  auto inner_end = n.rfind("::_Z", frame);
  if (frame != std::string::npos && inner_end != std::string::npos) {
    for (auto open = n.find('('); open != std::string::npos && open < inner_end; open = n.find('(', open + 1)) {
      if (open > 0 && n.compare(open + 1, open, n, 0, open) == 0) {
        n = n.substr(open + 1, inner_end - open - 1);
        break;
      }
    }
  }
  std::snprintf(buffer, size, "%s", n.c_str());
  return buffer;
}

const void* resume_address(std::coroutine_handle<> h) noexcept {
  // Both GCC and Clang lay a coroutine frame out with the resume function's address first.
  return h ? *static_cast<void* const*>(h.address()) : nullptr;
}

const char* coroutine_name(std::coroutine_handle<> h, char* buffer, unsigned size) { return code_name(resume_address(h), buffer, size); }

debug_entry* debug_enter(const std::type_info& manager, const void* address, const char* how, std::coroutine_handle<> coroutine,
                         bool held_by_record) {
  auto& s = state();
  auto* e = new debug_entry(demangle(manager.name()), address, clock::now(), held_by_record);
  if (coroutine) {
    char name[512];
    e->type += std::string(" (") + coroutine_name(coroutine, name, sizeof name) + ")";
  }
  s.active.push_front(*e);
  std::fprintf(stderr, "aw: %s %s at %p\n", how, e->type.c_str(), address);
  return e;
}

void debug_exit(debug_entry* e, const std::exception_ptr& in_flight, bool suppressed, const std::exception_ptr& raised) {
  if (!e->reported) intrusive_list<debug_entry>::erase(*e);
  std::string what = in_flight ? " with " + describe(in_flight) + (suppressed ? " (suppressed)" : "") : "";
  if (raised && raised != in_flight) what += "; exit raised " + describe(raised);
  std::fprintf(stderr, "aw: exit %s at %p after %.3f ms%s\n", e->type.c_str(), e->address, ms(clock::now() - e->start), what.c_str());
  delete e;
}

void debug_drop(debug_entry* e) noexcept {
  if (e->reported)
    delete e;
  else
    e->held_by_record = false;  // the shutdown report names it as never exited, then frees it
}

void debug_task_dropped(std::coroutine_handle<> h) {
  char name[512];
  ++state().never_awaited;
  std::fprintf(stderr, "aw: task %s was created but never awaited\n", coroutine_name(h, name, sizeof name));
}

void debug_manager_dropped(const std::type_info& manager, std::coroutine_handle<> coroutine) {
  ++state().never_entered;
  std::string type = demangle(manager.name());
  if (coroutine) {
    char name[512];
    type += std::string(" (") + coroutine_name(coroutine, name, sizeof name) + ")";
  }
  std::fprintf(stderr, "aw: manager %s was created but never entered\n", type.c_str());
}

void debug_event(const char* what, const std::string& text, const std::exception_ptr& error) {
  std::string with = error ? " with " + describe(error) : std::string();
  std::fprintf(stderr, "aw: %s %s%s\n", what, text.c_str(), with.c_str());
}

void debug_slow_step(const void* resumed_code, std::chrono::nanoseconds took) {
  auto& s = state();
  if (took < s.slow_threshold) return;
  ++s.slow_steps;
  char name[512];
  std::fprintf(stderr, "aw: a step of %s blocked the loop for %.1f ms\n", code_name(resumed_code, name, sizeof name), ms(took));
}

void debug_loop_started() noexcept {
  // Tasks and managers dropped before this loop (outside any, or in an earlier loop while
  // the debug mode was off) were named when dropped; they are not this loop's to report.
  auto& s = state();
  s.never_awaited_reported = s.never_awaited;
  s.never_entered_reported = s.never_entered;
}

void debug_shutdown_report() {
  auto& s = state();
  std::size_t open = 0;
  for (const debug_entry& e : s.active) {
    ++open;
    std::fprintf(stderr, "aw: at shutdown, %s at %p was entered %.3f ms ago and never exited\n", e.type.c_str(), e.address,
                 ms(clock::now() - e.start));
  }
  s.never_exited += open;
  // An entry an exit record still holds stays alive for the record's exit, which may run
  // in a later loop; the rest can never be exited now.
  while (debug_entry* e = s.active.pop_front()) {
    if (e->held_by_record)
      e->reported = true;
    else
      delete e;
  }
  // The counts are per thread and cumulative (debug_report_counts); each shutdown report
  // names only the tasks dropped while its loop ran.
  if (std::size_t dropped = s.never_awaited - s.never_awaited_reported)
    std::fprintf(stderr, "aw: at shutdown, %zu task(s) had been created but never awaited\n", dropped);
  s.never_awaited_reported = s.never_awaited;
  if (std::size_t dropped = s.never_entered - s.never_entered_reported)
    std::fprintf(stderr, "aw: at shutdown, %zu manager(s) had been created but never entered\n", dropped);
  s.never_entered_reported = s.never_entered;
}

}  // namespace detail

debug_counts debug_report_counts() noexcept {
  auto& s = detail::state();
  std::size_t open = s.never_exited;
  for ([[maybe_unused]] const detail::debug_entry& e : s.active) ++open;
  return {s.never_awaited, open, s.slow_steps, s.never_entered};
}

void set_slow_step_threshold(std::chrono::nanoseconds threshold) noexcept { detail::state().slow_threshold = threshold; }

}  // namespace aw
