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
// did not survive the fork); a program it execs is tracked afresh.
#include <core/memory/tracking/memory_tracker.hpp>

#include "live_summary.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <csignal>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
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
/// their own exit handlers (coreutils), or reopen it on a file of theirs.
int report_fd = -1;

/// Where a report for standard error goes: our copy of it, or fd 2 if a program that closed every
/// descriptor it did not open closed ours too.
int stderr_fd() noexcept { return report_fd >= 0 && ::fcntl(report_fd, F_GETFD) != -1 ? report_fd : 2; }

const char* env(const char* name, const char* fallback) noexcept {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void write_all(int fd, const std::string& s) noexcept {
  for (std::size_t done = 0; done < s.size();) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

/// True for a block the C runtime keeps on purpose: glibc keeps each exited thread's dynamic
/// thread vector (allocated by _dl_allocate_tls) with its stack, cached for the next thread.
/// Live at exit, reachable, and no leak of the program's (valgrind's default suppressions leave
/// them out too). Told by the stack (its innermost frames), so only when stacks are captured.
bool kept_by_the_runtime(const cm::StackTrace& stack) {
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(stack.depth, 4); ++i) {
    Dl_info info;
    if (dladdr(stack.frames[i], &info) && info.dli_sname && std::strcmp(info.dli_sname, "_dl_allocate_tls") == 0)
      return true;
  }
  return false;
}

/// Writes the report of `t` to `path` (standard error if null): at exit the blocks still live are
/// leaks, in a snapshot they are just live.
void write_report_to(cm::MemoryTracker* t, const char* path, bool at_exit) {
  std::ostringstream os;
  const char* format = env("CORE_MEMORY_TRACK_FORMAT", "text");
  if (std::strcmp(format, "json") == 0) {
    t->generate_report(os, cm::report_format::json);
  } else if (std::strcmp(format, "html") == 0) {
    t->generate_report(os, cm::report_format::html);
  } else {
    auto leaks = t->find_leaks();
    // At exit, what the C runtime keeps is set apart (and said so), not counted as leaked.
    std::vector<cm::AllocationInfo> kept;
    if (at_exit) {
      const auto runtime = [](const cm::AllocationInfo& a) { return a.stack_trace && kept_by_the_runtime(*a.stack_trace); };
      std::copy_if(leaks.begin(), leaks.end(), std::back_inserter(kept), runtime);
      std::erase_if(leaks, runtime);
    }
    // Sampled: the records are samples, the figures the tracker's weighted estimates.
    const bool sampled = t->options().mode == cm::tracking_mode::sampled;
    os << "core-memory preload: " << (sampled ? "about " : "") << t->allocation_count() << " allocations, peak "
       << t->peak_usage() << " bytes" << (sampled ? " (sampled estimates)" : "") << "; ";
    if (leaks.empty()) {
      os << (at_exit ? (sampled ? "no sampled block leaked (sampling misses most small leaks)\n" : "no leaks\n")
                     : "nothing live\n");
    } else {
      cm::detail::write_live_summary(os, cm::detail::summarize_live(*t, leaks, kept), at_exit ? "leaked" : "live");
      os << ":\n";
      std::vector<cm::StackStats> stacks = t->stacks();  // grouped by where they were allocated
      std::erase_if(stacks, [&](const cm::StackStats& st) {
        return st.site.live_count == 0 || (at_exit && kept_by_the_runtime(st.stack));
      });
      if (stacks.empty()) {
        t->dump_allocations(os);
      } else {
        os << "  live bytes   live count  total bytes  total count  (allocated from)\n";
        cm::write_stacks_text(os, stacks, 100);
      }
    }
    if (!kept.empty()) {
      os << "not counted: ";
      cm::detail::write_live_summary(os, cm::detail::summarize_records(kept, sampled), "kept by the C runtime");
      os << " (the thread-local storage of exited threads, which glibc keeps with their stacks for new threads)\n";
    }
  }
  if (!path) {
    write_all(stderr_fd(), os.str());
    return;
  }
  // A regular file (or a new one) is written aside and renamed when complete, so a reader never
  // sees half a report. Anything else (/dev/null, /dev/stderr, a FIFO) is written in place:
  // renaming over it would replace the device node with a regular file.
  // A report that cannot be written there goes to standard error, after a line that says why.
  const auto to_stderr = [&](const char* what) {
    const std::string warning = std::string("core-memory preload: cannot write the report to ") + path + " (" + what +
                                ": " + std::strerror(errno) + "); it follows here\n";
    write_all(stderr_fd(), warning + os.str());
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
  if (!output_template->empty() && output_template->front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) *output_template = std::string(cwd) + "/" + *output_template;
  }
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
