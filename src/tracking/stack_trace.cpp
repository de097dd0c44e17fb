// Stack capture (unwinder or frame pointers), symbolisation with dladdr, and the interned store of
// stacks the tracker records point to.
#include "tracker_tables.hpp"

#include <core/memory/tracking/stack_trace.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <pthread.h>
#include <unwind.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <iterator>
#include <cstdio>
#include <ostream>

namespace core::memory {
namespace detail {
namespace {

struct UnwindState {
  const void** out;
  std::size_t count;
  std::size_t max;
  std::size_t skip;
};

_Unwind_Reason_Code unwind_step(_Unwind_Context* context, void* arg) {
  auto* s = static_cast<UnwindState*>(arg);
  const auto ip = _Unwind_GetIP(context);
  if (!ip) return _URC_END_OF_STACK;
  if (s->skip) {
    --s->skip;
    return _URC_NO_REASON;
  }
  if (s->count == s->max) return _URC_END_OF_STACK;
  s->out[s->count++] = reinterpret_cast<const void*>(ip);
  return _URC_NO_REASON;
}

/// The calling thread's stack as [low, high), read once per thread; {0, 0} if unknown.
struct StackBounds {
  std::uintptr_t low = 0, high = 0;
};

StackBounds thread_stack_bounds() noexcept {
  thread_local StackBounds bounds = [] {
    StackBounds b;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      std::size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        b.low = reinterpret_cast<std::uintptr_t>(addr);
        b.high = b.low + size;
      }
      pthread_attr_destroy(&attr);
    }
    return b;
  }();
  return bounds;
}

using unw_backtrace_fn = int (*)(void**, int);

/// libunwind's unw_backtrace if libunwind.so.8 is installed: loaded privately (RTLD_LOCAL), so its
/// _Unwind_* functions never replace libgcc's for C++ exceptions. It caches what it learns of each
/// function, and takes 16 frames in ~80 ns where libgcc's unwinder takes 0.7-1.7 us.
/// CORE_MEMORY_NO_LIBUNWIND=1 keeps libgcc's, as ThreadSanitizer builds always do: libunwind's
/// thread-exit destructor crashed in TSan's mutex hooks once any stack had been taken.
unw_backtrace_fn libunwind_backtrace() noexcept {
  static const unw_backtrace_fn fn = []() -> unw_backtrace_fn {
    if (CORE_MEMORY_TSAN) return nullptr;
    if (const char* off = std::getenv("CORE_MEMORY_NO_LIBUNWIND"); off && *off && *off != '0') return nullptr;
    void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    return library ? reinterpret_cast<unw_backtrace_fn>(dlsym(library, "unw_backtrace")) : nullptr;
  }();
  return fn;
}

}  // namespace

void prepare_stack_capture(stack_method method) noexcept {
  if (method == stack_method::unwind) (void)libunwind_backtrace();
}

CORE_MEMORY_NOINLINE std::size_t capture_frames(const void** out, std::size_t max, std::size_t skip,
                                                stack_method method) noexcept {
  if (method == stack_method::unwind) {
    if (const unw_backtrace_fn backtrace = libunwind_backtrace()) {
      void* frames[StackTrace::max_depth + 16];
      const std::size_t want = std::min(max + skip + 1, std::size(frames));  // +1: this function
      const auto got = static_cast<std::size_t>(std::max(0, backtrace(frames, static_cast<int>(want))));
      std::size_t n = 0;
      for (std::size_t i = skip + 1; i < got && n < max; ++i) out[n++] = frames[i];
      return n;
    }
    UnwindState s{out, 0, max, skip + 1};  // +1: this function
    _Unwind_Backtrace(unwind_step, &s);
    return s.count;
  }
  const StackBounds b = thread_stack_bounds();
  std::size_t n = 0;
  auto fp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  while (n < max) {
    if (fp < b.low || fp + 2 * sizeof(void*) > b.high || fp % sizeof(void*) != 0) break;
    const auto* frame = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t next = frame[0];
    const auto ret = reinterpret_cast<const void*>(frame[1]);
    if (!ret) break;
    if (skip) --skip;
    else out[n++] = ret;
    if (next <= fp) break;  // the chain must go up the stack
    fp = next;
  }
  return n;
}

std::string describe_frame(const void* address) {
  char buffer[64];
  Dl_info info{};
  // A return address points after the call; look up the byte before it so a call that ends a
  // function is attributed to that function.
  const void* lookup = static_cast<const char*>(address) - 1;
  if (!dladdr(lookup, &info)) {
    std::snprintf(buffer, sizeof buffer, "%p", address);
    return buffer;
  }
  const char* module = info.dli_fname ? info.dli_fname : "?";
  std::string s;
  if (info.dli_sname) {
    int status = -1;
    char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    s = status == 0 && demangled ? demangled : info.dli_sname;
    std::free(demangled);
    std::snprintf(buffer, sizeof buffer, "+0x%" PRIxPTR,
                  reinterpret_cast<std::uintptr_t>(address) - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
  } else {
    std::snprintf(buffer, sizeof buffer, "0x%" PRIxPTR,
                  reinterpret_cast<std::uintptr_t>(address) - reinterpret_cast<std::uintptr_t>(info.dli_fbase));
  }
  s += buffer;
  s += " (";
  s += module;
  s += ')';
  return s;
}

namespace {

/// Stacks interned by content in 16 shards: an index (open addressing on the stack's hash) over an
/// append-only array of entries and one of frames. Id = (entry + 1) << 4 | shard.
class StackStore {
 public:
  std::uint32_t intern(const void* const* frames, std::uint32_t depth) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint32_t i = 0; i < depth; ++i) h = (h ^ reinterpret_cast<std::uintptr_t>(frames[i])) * 0x100000001b3ull;
    h ^= depth;
    Shard& s = shards_[h & (shard_count - 1)];
    SpinGuard guard(s.lock);
    if ((s.entry_count + 1) * 2 > s.index_capacity && !s.grow_index()) return 0;
    std::size_t i = (h >> 4) & (s.index_capacity - 1);
    for (; s.index[i]; i = (i + 1) & (s.index_capacity - 1)) {
      const Entry& e = s.entries[s.index[i] - 1];
      if (e.hash == h && e.depth == depth && std::memcmp(s.frames + e.offset, frames, depth * sizeof(void*)) == 0)
        return id_of(s, s.index[i] - 1);
    }
    if (s.entry_count >= (1u << 27) || !reserve(s.entries, s.entry_capacity, s.entry_count + 1) ||
        !reserve(s.frames, s.frame_capacity, s.frame_count + depth))
      return 0;
    s.entries[s.entry_count] = {h, static_cast<std::uint32_t>(s.frame_count), depth};
    std::memcpy(s.frames + s.frame_count, frames, depth * sizeof(void*));
    s.frame_count += depth;
    s.index[i] = static_cast<std::uint32_t>(++s.entry_count);
    return id_of(s, s.entry_count - 1);
  }

  bool lookup(std::uint32_t id, StackTrace& out) noexcept {
    if (!id) return false;
    Shard& s = shards_[id & (shard_count - 1)];
    SpinGuard guard(s.lock);
    const std::uint32_t entry = (id >> 4) - 1;
    if (entry >= s.entry_count) return false;
    const Entry& e = s.entries[entry];
    out.depth = e.depth;
    std::memcpy(out.frames, s.frames + e.offset, e.depth * sizeof(void*));
    return true;
  }

 private:
  static constexpr std::size_t shard_count = 16;
  struct Entry {
    std::uint64_t hash;
    std::uint32_t offset;
    std::uint32_t depth;
  };
  struct alignas(128) Shard {
    SpinLock lock;
    std::uint32_t* index = nullptr;  // entry + 1, 0: empty
    std::size_t index_capacity = 0;
    Entry* entries = nullptr;
    std::size_t entry_count = 0, entry_capacity = 0;
    const void** frames = nullptr;
    std::size_t frame_count = 0, frame_capacity = 0;

    bool grow_index() noexcept {
      const std::size_t cap = index_capacity ? index_capacity * 2 : 256;
      auto* fresh = static_cast<std::uint32_t*>(std::calloc(cap, sizeof(std::uint32_t)));
      if (!fresh) return false;
      for (std::size_t k = 0; k < index_capacity; ++k) {
        if (!index[k]) continue;
        std::size_t i = (entries[index[k] - 1].hash >> 4) & (cap - 1);
        while (fresh[i]) i = (i + 1) & (cap - 1);
        fresh[i] = index[k];
      }
      std::free(index);
      index = fresh;
      index_capacity = cap;
      return true;
    }
  };

  template <class T>
  static bool reserve(T*& array, std::size_t& capacity, std::size_t needed) noexcept {
    if (needed <= capacity) return true;
    std::size_t cap = capacity ? capacity : 256;
    while (cap < needed) cap *= 2;
    void* fresh = std::realloc(static_cast<void*>(array), cap * sizeof(T));
    if (!fresh) return false;
    array = static_cast<T*>(fresh);
    capacity = cap;
    return true;
  }
  std::uint32_t id_of(const Shard& s, std::size_t entry) const noexcept {
    return static_cast<std::uint32_t>(((entry + 1) << 4) | static_cast<std::size_t>(&s - shards_));
  }

  Shard shards_[shard_count];
};

StackStore& stack_store() noexcept {
  alignas(StackStore) static unsigned char storage[sizeof(StackStore)];
  static StackStore* store = new (storage) StackStore();  // never destroyed: used at exit
  return *store;
}

}  // namespace

std::uint32_t intern_stack(const void* const* frames, std::uint32_t depth) noexcept {
  return stack_store().intern(frames, depth);
}

bool lookup_stack(std::uint32_t id, StackTrace& out) noexcept { return stack_store().lookup(id, out); }

}  // namespace detail

StackTrace StackTrace::capture(std::size_t depth, std::size_t skip, stack_method method) noexcept {
  StackTrace t;
  t.depth = static_cast<std::uint32_t>(
      detail::capture_frames(t.frames, depth < max_depth ? depth : max_depth, skip + 1, method));
  return t;
}

void StackTrace::print(std::ostream& os, const char* indent) const {
  for (std::uint32_t i = 0; i < depth; ++i) os << indent << '#' << i << ' ' << detail::describe_frame(frames[i]) << '\n';
}

}  // namespace core::memory
