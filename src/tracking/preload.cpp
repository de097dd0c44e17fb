// Whole-program tracking: LD_PRELOAD=libcore_memory_preload.so ./program records every malloc,
// calloc, realloc, memalign/posix_memalign/aligned_alloc and free of an unchanged program (operator
// new and delete go through malloc and free), with a stack per block, and writes a leak report at
// exit. The hooks forward to glibc's __libc_* functions; a thread-local flag keeps the tracker's
// own allocations (its tables, the report) out of the record.
//
// Environment:
//   CORE_MEMORY_TRACK_OUTPUT  file for the report (default: standard error); %p is replaced by
//                             the process id (programs that run others: each writes its own)
//   CORE_MEMORY_TRACK_FORMAT  text (default), json, or html (the self-contained page: memory over
//                             time, flame graph, sizes, temporaries, leaks; open it in a browser)
//   CORE_MEMORY_TRACK_STACK   frames per block (default 16, 0: none)
//   CORE_MEMORY_TRACK_METHOD  unwind (default) or frame_pointers
//   CORE_MEMORY_TRACK_SAMPLE  mean bytes between samples (default 0: every allocation)
//   CORE_MEMORY_TRACK_SIGNAL  a signal number (e.g. 12, SIGUSR2) that writes a report while the
//                             program runs: to <output>.1, <output>.2, ... (or standard error);
//                             the handler only writes a byte to a pipe, a thread of the tracker
//                             writes the report
// A child made by fork() is not tracked (its copy of the tracker may hold locks of threads that
// did not survive the fork); a program it execs is tracked afresh. A program that ends through
// _exit or quick_exit (no exit handlers) writes no report at exit: use CORE_MEMORY_TRACK_SIGNAL.
// At exit, blocks the C runtime keeps on purpose are listed apart, not counted as leaks (see
// RuntimeKept).
#include <core/memory/tracking/memory_tracker.hpp>

#include "live_summary.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <pthread.h>
#include <csignal>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
void __libc_free(void* p);
}

namespace cm = core::memory;

namespace {

// initial-exec: the flag must never need a dynamic TLS allocation (which would call malloc).
[[gnu::tls_model("initial-exec")]] thread_local bool in_hook = false;
std::atomic<cm::MemoryTracker*> active{nullptr};

/// The tracker to record into, or null (not started, finished, or inside the tracker itself);
/// while an Entered is alive, allocations on this thread are not recorded.
class Entered {
 public:
  Entered() noexcept : tracker_(in_hook ? nullptr : active.load(std::memory_order_acquire)) {
    if (tracker_) in_hook = true;
  }
  ~Entered() {
    if (tracker_) in_hook = false;
  }
  Entered(const Entered&) = delete;
  Entered& operator=(const Entered&) = delete;
  cm::MemoryTracker* tracker() const noexcept { return tracker_; }

 private:
  cm::MemoryTracker* tracker_;
};

// Not inlined: the stack skips a fixed number of frames (this, the hook).
// Both keep errno: a successful malloc must not change it (libunwind's unw_backtrace left EAGAIN).
CORE_MEMORY_NOINLINE void record(void* p, std::size_t size, std::size_t alignment, const char* how) noexcept {
  if (!p) return;
  const int saved = errno;
  {
    Entered e;
    if (e.tracker()) e.tracker()->record_allocation(p, size, alignment, nullptr, how, cm::SourceLocation{});
  }
  errno = saved;
}

void forget(void* p) noexcept {
  if (!p) return;
  const int saved = errno;
  {
    Entered e;
    if (e.tracker()) e.tracker()->record_deallocation(p);
  }
  errno = saved;
}

cm::MemoryTracker::Withdrawn withdraw(void* p) noexcept {
  if (!p) return {};
  const int saved = errno;
  cm::MemoryTracker::Withdrawn w;
  {
    Entered e;
    if (e.tracker()) w = e.tracker()->withdraw(p);
  }
  errno = saved;
  return w;
}

void restore(const cm::MemoryTracker::Withdrawn& w) noexcept {
  const int saved = errno;
  {
    Entered e;
    if (e.tracker()) e.tracker()->restore(w);
  }
  errno = saved;
}

/// Standard error as the program started, kept for the report at exit: programs close fd 2 in
/// their own exit handlers (coreutils), or reopen it on a file of theirs. Its identity (device and
/// inode) tells whether a descriptor still is it.
int report_fd = -1;
dev_t stderr_dev = 0;
ino_t stderr_ino = 0;

bool is_stderr(int fd) noexcept {
  struct stat st{};
  return fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == stderr_dev && st.st_ino == stderr_ino;
}

/// Where a report for standard error goes: our copy of it, else fd 2 if that still is the
/// standard error the program started with (a program that closes every descriptor it did not
/// open closes ours too, and may open a file of its own on our number); -1 if neither is.
int stderr_fd() noexcept {
  if (is_stderr(report_fd)) return report_fd;
  return is_stderr(2) ? 2 : -1;
}

/// The directory the program started in (its reports' fallback).
std::string* start_dir = nullptr;

void write_all(int fd, const std::string& s) noexcept;

/// Writes `text` to the standard error the program started with; if no descriptor is that any
/// more, to core-memory-preload.<pid>.txt in the directory it started in (not into a file of the
/// program's that took the number).
void to_standard_error(const std::string& text) noexcept {
  if (const int fd = stderr_fd(); fd >= 0) return write_all(fd, text);
  if (!start_dir) return;
  const std::string path = *start_dir + "/core-memory-preload." + std::to_string(::getpid()) + ".txt";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  write_all(fd, text);
  if (fd >= 0) ::close(fd);
}

const char* env(const char* name, const char* fallback) noexcept {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void write_all(int fd, const std::string& s) noexcept {
  for (std::size_t done = 0; fd >= 0 && done < s.size();) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

/// The blocks the C runtime keeps on purpose, live at exit and no leak of the program's: those
/// the dynamic loader allocated (the thread-local storage of threads and of loaded libraries, and
/// the libraries' own data; the innermost frame of their stack is in the loader), and those
/// reachable from the C library's and the loader's own data through live blocks (stdio buffers,
/// locale and time-zone data), as a leak checker's reachability scan finds them, from those
/// roots only. (Under sampling only sampled blocks are seen, so a chain through an unsampled one
/// breaks; without stacks, CORE_MEMORY_TRACK_STACK=0, the loader's blocks cannot be told.)
/// Blocks are read without a fault: other threads may still free them.
class RuntimeKept {
 public:
  explicit RuntimeKept(std::vector<cm::AllocationInfo> live) : live_(std::move(live)), kept_(live_.size()) {
    std::sort(live_.begin(), live_.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
    // Roots: a word of the C library's or the loader's writable data that points at the start of
    // a block. (Only its start: their data holds malloc's own state, whose chunk addresses fall
    // inside the blocks before free chunks: a review saw genuine leaks hidden so.) The loader's
    // code ranges, for the blocks it allocated.
    ::dl_iterate_phdr(
        [](dl_phdr_info* m, std::size_t, void* self) {
          auto& kept = *static_cast<RuntimeKept*>(self);
          const char* name = std::strrchr(m->dlpi_name, '/');
          name = name ? name + 1 : m->dlpi_name;
          const bool loader = m->dlpi_addr == ::getauxval(AT_BASE);
          if (!loader && std::strncmp(name, "libc.so", 7) != 0) return 0;
          for (int i = 0; i < m->dlpi_phnum; ++i) {
            const ElfW(Phdr)& h = m->dlpi_phdr[i];
            if (h.p_type != PT_LOAD) continue;
            const std::uintptr_t at = m->dlpi_addr + h.p_vaddr;
            if (h.p_flags & PF_W) kept.scan(reinterpret_cast<const void*>(at), h.p_memsz, false);
            if (loader && (h.p_flags & PF_X)) kept.loader_code_.push_back({at, at + h.p_memsz});
          }
          return 0;
        },
        this);
    for (std::size_t i = 0; i < live_.size(); ++i) {  // allocated by the loader: malloc's caller is in it
      const auto& stack = live_[i].stack_trace;
      if (!stack || !stack->depth) continue;
      const auto caller = reinterpret_cast<std::uintptr_t>(stack->frames[0]);
      for (const auto& [from, to] : loader_code_)
        if (caller >= from && caller < to) mark(i);
    }
    // Then through the blocks found (any word into a block: a struct may point into another),
    // read without a fault, 64 KiB at a time.
    std::vector<std::uintptr_t> words(8192);
    while (!pending_.empty()) {
      const cm::AllocationInfo& b = live_[pending_.back()];
      pending_.pop_back();
      const auto* at = static_cast<const std::byte*>(b.address);
      for (std::size_t done = 0, bytes = b.size / sizeof(std::uintptr_t) * sizeof(std::uintptr_t); done < bytes;) {
        const std::size_t n = std::min(bytes - done, words.size() * sizeof(std::uintptr_t));
        iovec local{words.data(), n}, remote{const_cast<std::byte*>(at + done), n};
        if (::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) != static_cast<ssize_t>(n)) break;  // freed meanwhile
        scan(words.data(), n, true);
        done += n;
      }
    }
  }
  /// The blocks the runtime keeps.
  std::vector<cm::AllocationInfo> kept() && {
    std::vector<cm::AllocationInfo> kept;
    for (std::size_t i = 0; i < live_.size(); ++i)
      if (kept_[i]) kept.push_back(std::move(live_[i]));
    return kept;
  }

 private:
  void mark(std::size_t i) {
    if (kept_[i]) return;
    kept_[i] = true;
    pending_.push_back(i);
  }
  /// Marks every block that a word of [p, p + bytes) points at (`interior`: or into).
  void scan(const void* p, std::size_t bytes, bool interior) {
    const auto* w = static_cast<const std::uintptr_t*>(p);
    for (std::size_t k = 0; k < bytes / sizeof(std::uintptr_t); ++k) {
      const std::uintptr_t v = w[k];
      auto it = std::upper_bound(live_.begin(), live_.end(), v, [](std::uintptr_t x, const cm::AllocationInfo& b) {
        return x < reinterpret_cast<std::uintptr_t>(b.address);
      });
      if (it == live_.begin()) continue;
      --it;
      const auto start = reinterpret_cast<std::uintptr_t>(it->address);
      if (v == start || (interior && v < start + std::max<std::size_t>(it->size, 1)))
        mark(static_cast<std::size_t>(it - live_.begin()));
    }
  }

  std::vector<cm::AllocationInfo> live_;
  std::vector<bool> kept_;
  std::vector<std::size_t> pending_;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> loader_code_;
};

/// At exit: takes the blocks the C runtime keeps out of the tracker (so that every report format
/// leaves them out) and returns them.
std::vector<cm::AllocationInfo> set_runtime_blocks_apart(cm::MemoryTracker* t) {
  std::vector<cm::AllocationInfo> kept = RuntimeKept(t->find_leaks()).kept();
  for (const cm::AllocationInfo& a : kept) (void)t->withdraw(const_cast<void*>(a.address));
  return kept;
}

/// Writes the report of `t` to `path` (standard error if null): at exit the blocks still live are
/// leaks, in a snapshot they are just live.
void write_report_to(cm::MemoryTracker* t, const char* path, bool at_exit) {
  // At exit, what the C runtime keeps is set apart (and said so), not counted as leaked.
  const std::vector<cm::AllocationInfo> kept = at_exit ? set_runtime_blocks_apart(t) : std::vector<cm::AllocationInfo>{};
  std::ostringstream os;
  const char* format = env("CORE_MEMORY_TRACK_FORMAT", "text");
  if (std::strcmp(format, "json") == 0) {
    t->generate_report(os, cm::report_format::json);
  } else if (std::strcmp(format, "html") == 0) {
    t->generate_report(os, cm::report_format::html);
  } else {
    // Sampled: the records are samples, the figures the tracker's weighted estimates.
    const bool sampled = t->options().mode == cm::tracking_mode::sampled;
    os << "core-memory preload: " << (sampled ? "about " : "") << t->allocation_count() << " allocations, peak "
       << t->peak_usage() << " bytes" << (sampled ? " (sampled estimates)" : "") << "; ";
    // The header's figures and the table come from one look at the tracker: threads that still
    // run at exit change it meanwhile.
    std::vector<cm::StackStats> stacks = t->snapshot().stacks;  // by where they were allocated (records without a stack too)
    std::erase_if(stacks, [](const cm::StackStats& st) { return st.site.live_count == 0; });
    if (stacks.empty()) {
      os << (at_exit ? (sampled ? "no sampled block leaked (sampling misses most small leaks)\n" : "no leaks\n")
                     : "nothing live\n");
    } else {
      double count = 0, bytes = 0;
      std::size_t records = 0;
      for (const cm::StackStats& st : stacks)
        count += st.site.live_count, bytes += st.site.live_bytes, records += st.site.live_records;
      const cm::detail::LiveSummary live{static_cast<std::size_t>(std::llround(count)),
                                         static_cast<std::size_t>(std::llround(bytes)), sampled ? records : 0};
      cm::detail::write_live_summary(os, live, at_exit ? "leaked" : "live");
      os << ":\n  live bytes   live count  total bytes  total count  (allocated from)\n";
      cm::write_stacks_text(os, stacks, 100);
    }
    if (!kept.empty()) {
      os << "not counted: ";
      cm::detail::write_live_summary(os, cm::detail::summarize_records(kept, sampled), "kept by the C runtime");
      os << " (thread-local storage and loaded libraries' data of the dynamic loader, stdio buffers, locale and "
            "time-zone data of the C library)\n";
    }
  }
  if (!path) return to_standard_error(os.str());
  // A regular file (or a new one) is written aside and renamed when complete, so a reader never
  // sees half a report. Anything else (/dev/null, /dev/stderr, a FIFO) is written in place:
  // renaming over it would replace the device node with a regular file.
  // A report that cannot be written there goes to standard error, after a line that says why.
  const auto to_stderr = [&](const char* what) {
    const std::string warning = std::string("core-memory preload: cannot write the report to ") + path + " (" + what +
                                ": " + std::strerror(errno) + "); it follows here\n";
    to_standard_error(warning + os.str());
  };
  struct stat st{};
  if (::stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return to_stderr("open");
    write_all(fd, os.str());
    ::close(fd);
    return;
  }
  const std::string partial = std::string(path) + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return to_stderr("open");
  write_all(fd, os.str());
  ::close(fd);
  std::rename(partial.c_str(), path);
}

/// CORE_MEMORY_TRACK_OUTPUT as the program started, a relative path made absolute then (a program
/// that changes directory, as a daemon does, would otherwise put its report elsewhere or lose it).
std::string* output_template = nullptr;

/// The output template with %p replaced by the process id; empty for standard error.
std::string output_path() {
  std::string path = output_template ? *output_template : std::string();
  for (std::size_t at; (at = path.find("%p")) != std::string::npos;) path.replace(at, 2, std::to_string(::getpid()));
  return path;
}

/// At exit: stops tracking and writes the final report.
void write_report() {
  in_hook = true;  // the report's own allocations are not recorded
  cm::MemoryTracker* t = active.exchange(nullptr, std::memory_order_acq_rel);
  if (!t) return;  // t is never destroyed: other threads may still be inside it
  const std::string path = output_path();
  write_report_to(t, path.empty() ? nullptr : path.c_str(), true);
}

void stop_in_child() { active.store(nullptr, std::memory_order_relaxed); }

// On a signal: the handler writes a byte to a pipe (async-signal-safe); this thread writes the
// report, outside the signal context.
int signal_pipe[2] = {-1, -1};

void on_signal(int) {
  const int saved = errno;
  const char byte = 1;
  (void)!::write(signal_pipe[1], &byte, 1);
  errno = saved;
}

void* signal_reports(void*) {
  in_hook = true;  // this thread's allocations (the reports) are not recorded
  for (unsigned n = 1;; ++n) {
    char byte;
    const ssize_t got = ::read(signal_pipe[0], &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return nullptr;
    cm::MemoryTracker* t = active.load(std::memory_order_acquire);
    if (!t) return nullptr;
    const std::string out = output_path();
    const std::string path = out.empty() ? out : out + "." + std::to_string(n);
    write_report_to(t, path.empty() ? nullptr : path.c_str(), false);
  }
}

void start_signal_reports() {
  const int signal = std::atoi(env("CORE_MEMORY_TRACK_SIGNAL", "0"));
  if (signal <= 0 || signal >= NSIG || ::pipe2(signal_pipe, O_CLOEXEC) != 0) return;
  struct sigaction action {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  pthread_t thread;
  if (pthread_create(&thread, nullptr, signal_reports, nullptr) != 0) return;
  pthread_detach(thread);
  sigaction(signal, &action, nullptr);
}

[[gnu::constructor]] void start() {
  in_hook = true;  // the tracker's construction allocates
  report_fd = ::fcntl(2, F_DUPFD_CLOEXEC, 100);  // high: out of the way of the program's numbering
  if (struct stat st{}; report_fd >= 0 && ::fstat(report_fd, &st) == 0) stderr_dev = st.st_dev, stderr_ino = st.st_ino;
  cm::TrackerOptions o;
  o.name = "core-memory preload";
  o.stack_depth = static_cast<unsigned>(std::strtoul(env("CORE_MEMORY_TRACK_STACK", "16"), nullptr, 10));
  o.stack = std::strcmp(env("CORE_MEMORY_TRACK_METHOD", "unwind"), "frame_pointers") == 0
                ? cm::stack_method::frame_pointers
                : cm::stack_method::unwind;
  o.stack_skip = 2;  // the hook and record()
  if (const std::size_t sample = std::strtoul(env("CORE_MEMORY_TRACK_SAMPLE", "0"), nullptr, 10)) {
    o.mode = cm::tracking_mode::sampled;
    o.sample_interval = sample;
  }
  output_template = new std::string(env("CORE_MEMORY_TRACK_OUTPUT", ""));
  if (char cwd[4096]; ::getcwd(cwd, sizeof cwd)) start_dir = new std::string(cwd);
  if (!output_template->empty() && output_template->front() != '/' && start_dir)
    *output_template = *start_dir + "/" + *output_template;
  static cm::MemoryTracker* tracker = new cm::MemoryTracker(o);
  std::atexit(write_report);  // registered first, so it runs after the program's own exit handlers
  pthread_atfork(nullptr, nullptr, stop_in_child);
  active.store(tracker, std::memory_order_release);
  start_signal_reports();
  in_hook = false;
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] void* malloc(size_t size) noexcept {
  void* p = __libc_malloc(size);
  record(p, size, 0, "malloc");
  return p;
}

[[gnu::visibility("default")]] void free(void* p) noexcept {
  forget(p);
  __libc_free(p);
}

[[gnu::visibility("default")]] void* calloc(size_t count, size_t size) noexcept {
  void* p = __libc_calloc(count, size);
  record(p, count * size, 0, "calloc");  // no overflow: calloc failed otherwise
  return p;
}

[[gnu::visibility("default")]] void* realloc(void* old, size_t size) noexcept {
  // Taken out before the block can be handed out again (to another thread, which records it);
  // put back as it was (size, site, stack) if the call fails and leaves it live.
  const cm::MemoryTracker::Withdrawn withdrawn = withdraw(old);
  void* p = __libc_realloc(old, size);
  if (p) record(p, size, 0, "realloc");
  else if (old && size) restore(withdrawn);
  return p;
}

[[gnu::visibility("default")]] void* memalign(size_t alignment, size_t size) noexcept {
  void* p = __libc_memalign(alignment, size);
  record(p, size, alignment, "memalign");
  return p;
}

[[gnu::visibility("default")]] void* aligned_alloc(size_t alignment, size_t size) noexcept {
  void* p = __libc_memalign(alignment, size);
  record(p, size, alignment, "aligned_alloc");
  return p;
}

[[gnu::visibility("default")]] int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  record(p, size, alignment, "posix_memalign");
  *out = p;
  return 0;
}

[[gnu::visibility("default")]] void* valloc(size_t size) noexcept {
  void* p = __libc_valloc(size);
  record(p, size, static_cast<std::size_t>(::getpagesize()), "valloc");
  return p;
}

[[gnu::visibility("default")]] void* pvalloc(size_t size) noexcept {
  void* p = __libc_pvalloc(size);
  const auto page = static_cast<std::size_t>(::getpagesize());
  record(p, size ? (size + page - 1) / page * page : page, page, "pvalloc");  // the whole pages are the caller's
  return p;
}

}  // extern "C"
