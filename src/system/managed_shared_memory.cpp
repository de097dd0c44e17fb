#include <core/memory/system/error.hpp>
#include <core/memory/system/interprocess_mutex.hpp>
#include <core/memory/system/managed_shared_memory.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/align.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

namespace core::memory {
namespace detail {

namespace {
constexpr const char* component = ManagedSharedMemory::allocator_name;
constexpr std::uint64_t segment_magic = 0x67616e616d2d6d63ull;  // "cm-manag"
// 2: the cache of small blocks; 3: named only once formatted, type ids spelled alike by compilers;
// 4: values as template arguments in type ids spelled as numbers
constexpr std::uint32_t segment_version = 4;
constexpr std::size_t heap_alignment = 64;
}  // namespace

/// The segment's header, at its first byte. Offsets are from here.
struct SegmentControl {
  std::atomic<std::uint64_t> magic{0};  // stored last when the segment is formatted
  std::uint32_t version = segment_version;
  std::uint32_t control_bytes = sizeof(SegmentControl);  // the layout this build expects
  std::uint64_t max_size = 0;
  std::uint64_t heap_offset = 0;
  std::uint64_t directory = 0;  // the first named entry, 0: none
  std::uint64_t named = 0;      // entries in the directory
  std::atomic<std::uint64_t> repairs{0};  // times a survivor repaired the heap or the directory
  /// Guards the heap: held only inside its operations (never while user code runs), so it need
  /// not be recursive, which makes allocate and free cheaper.
  InterprocessMutex heap_mutex;
  /// Guards the directory, held while named objects are built and destroyed; recursive, because
  /// constructors may build named objects too. Taken before heap_mutex, never after.
  InterprocessRecursiveMutex directory_mutex;
  /// Small blocks freed and taken without heap_mutex (live blocks to the heap).
  SegmentCache cache;

  std::byte* base() noexcept { return reinterpret_cast<std::byte*>(this); }
  SegmentHeap& heap() noexcept { return *std::launder(reinterpret_cast<SegmentHeap*>(base() + heap_offset)); }
};

/// One process's mapping of a managed segment. Registered while alive, so an allocator that
/// knows only the segment's header can grow it.
struct ManagedState {
  SharedMemory shm;
  SegmentControl* control = nullptr;
};

namespace {

enum : std::uint32_t { entry_building = 1, entry_ready = 2, entry_destroying = 3 };

/// A named object's directory entry, in a heap block followed by the name, the type's name and
/// (aligned) the objects.
struct NamedEntry {
  std::uint64_t next;  // offset of the next entry from the segment's start, 0: none
  std::uint32_t state;
  std::uint32_t name_length;
  std::uint32_t type_length;
  std::uint32_t reserved;
  std::uint64_t size, alignment, count;
  std::uint64_t object;  // offset of the objects from the entry

  char* text() noexcept { return reinterpret_cast<char*>(this + 1); }
  std::string_view name() noexcept { return {text(), name_length}; }
  std::string_view type() noexcept { return {text() + name_length, type_length}; }
  void* objects() noexcept { return reinterpret_cast<std::byte*>(this) + object; }
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<ManagedState*>& registry() {
  static std::vector<ManagedState*> r;
  return r;
}
ManagedState* registered(SegmentControl* c) {
  std::lock_guard<std::mutex> g(registry_mutex());
  for (ManagedState* s : registry())
    if (s->control == c) return s;
  return nullptr;
}

NamedEntry* entry_at(SegmentControl* c, std::uint64_t offset) noexcept {
  return offset == 0 ? nullptr : reinterpret_cast<NamedEntry*>(c->base() + offset);
}
std::uint64_t offset_in(SegmentControl* c, const void* p) noexcept {
  return static_cast<std::uint64_t>(static_cast<const std::byte*>(p) - c->base());
}

/// Bytes of the file the heap may read: the object's size as the OS says now.
std::size_t heap_limit(SegmentControl* c) {
  ManagedState* s = registered(c);
  const std::size_t file = s ? s->shm.refresh() : c->max_size;
  return file - c->heap_offset;
}

/// After an owner died holding the heap's mutex: rebuild the heap from its block chain, validate,
/// mark the mutex consistent. A heap that cannot be repaired leaves the mutex not recoverable
/// (every later user learns it) and throws ENOTRECOVERABLE.
void repair_heap(SegmentControl* c) {
  SegmentHeap& heap = c->heap();
  std::uint64_t at = 0;
  const char* why = heap.recover(heap_limit(c), &at);
  if (why == nullptr) why = heap.validate(&at);
  if (why != nullptr) {
    c->cache.disable();
    c->heap_mutex.unlock();
    char text[160];
    std::snprintf(text, sizeof text, "(%s at segment offset %llu)", why,
                  static_cast<unsigned long long>(c->heap_offset + at));
    throw_system_error(ENOTRECOVERABLE, component, "repair", nullptr, text);
  }
  c->repairs.fetch_add(1, std::memory_order_relaxed);
  c->heap_mutex.consistent();
}

/// Holds the heap's mutex for a scope, repairing the heap if its last holder died.
class HeapLock {
 public:
  explicit HeapLock(SegmentControl* c) : c_(c) {
    if (c->heap_mutex.lock() == LockStatus::owner_died) [[unlikely]]
      repair_heap(c);
  }
  ~HeapLock() { c_->heap_mutex.unlock(); }
  HeapLock(const HeapLock&) = delete;
  HeapLock& operator=(const HeapLock&) = delete;

 private:
  SegmentControl* c_;
};

/// After an owner died holding the directory's mutex: drop the entries it was building or
/// destroying (their objects are not whole), recount, mark the mutex consistent.
void repair_directory(SegmentControl* c) {
  HeapLock heap_lock(c);
  SegmentHeap& heap = c->heap();
  std::uint64_t* link = &c->directory;
  std::uint64_t count = 0;
  while (*link != 0) {
    NamedEntry* e = entry_at(c, *link);
    if (!heap.owns(e)) {  // only memory corruption does this: cut the directory here
      *link = 0;
      break;
    }
    if (e->state != entry_ready) {
      *link = e->next;
      heap.deallocate(e, 0, 16);
      continue;
    }
    ++count;
    link = &e->next;
  }
  c->named = count;
  c->repairs.fetch_add(1, std::memory_order_relaxed);
  c->directory_mutex.consistent();
}

/// Grows the segment (under the lock) so that a request of `size` aligned to `align` fits at the
/// end of the heap; false if max_size does not allow it or the OS refuses.
CORE_MEMORY_NOINLINE bool grow(SegmentControl* c, std::size_t size, std::size_t align) noexcept {
  ManagedState* s = registered(c);
  if (!s) return false;
  SegmentHeap& heap = c->heap();
  const std::size_t current = c->heap_offset + heap.extent();
  // Exactly what the request needs at the end of the heap (so it can take the last byte of
  // max_size), at least double.
  std::size_t want = heap.bytes_for(size, align);
  if (want == 0 || add_overflows(want, c->heap_offset, want)) return false;
  const std::size_t page = os::page_size();
  std::size_t target = std::max(want, current * 2);
  target = std::min<std::size_t>(align_up(target, page), c->max_size);
  if (target < want || target <= current) return false;
  if (!s->shm.try_grow(target)) return false;  // (never aborts: exhaustion, also without exceptions)
  heap.extend(target - c->heap_offset);
  return true;
}

/// Under the lock: a block from the heap; when it is full, the cached blocks go back first, then
/// the segment grows.
CORE_MEMORY_ALWAYS_INLINE void* locked_allocate(SegmentControl* c, std::size_t size, std::size_t align) noexcept {
  SegmentHeap& heap = c->heap();
  void* p = heap.try_allocate(size, align);
  if (p == nullptr && c->cache.trim(heap) != 0) p = heap.try_allocate(size, align);
  if (p == nullptr && grow(c, size, align)) p = heap.try_allocate(size, align);
  return p;
}

/// Under the lock, after the cache of class `k` (no_class: none) missed: a block of the class's
/// size with a batch more cached, else (the heap has none of that size) any block that fits.
void* allocate_after_miss(SegmentControl* c, std::size_t size, std::size_t align, unsigned k) noexcept {
  if (k != SegmentCache::no_class) {
    if (void* p = c->cache.refill(c->heap(), k)) return p;
  }
  return locked_allocate(c, size, align);
}

NamedEntry* find_entry(SegmentControl* c, std::string_view name, NamedEntry** before = nullptr) noexcept {
  NamedEntry* prev = nullptr;
  for (NamedEntry* e = entry_at(c, c->directory); e != nullptr; prev = e, e = entry_at(c, e->next)) {
    if (e->name() == name) {
      if (before) *before = prev;
      return e;
    }
  }
  return nullptr;
}

NamedEntry* entry_of(SegmentControl* c, void* object, NamedEntry** before) noexcept {
  NamedEntry* prev = nullptr;
  for (NamedEntry* e = entry_at(c, c->directory); e != nullptr; prev = e, e = entry_at(c, e->next)) {
    if (e->objects() == object) {
      *before = prev;
      return e;
    }
  }
  return nullptr;
}

[[noreturn]] void named_error(int error, const char* operation, std::string_view name, const char* detail = nullptr) {
  const std::string n(name);
  throw_system_error(error, component, operation, n.c_str(), detail);
}

void check_type(NamedEntry* e, std::string_view name, const named_type& t, const char* operation) {
  if (e->type() == t.name && e->size == t.size && e->alignment == t.alignment) return;
  const std::string detail = "is a '" + std::string(e->type()) + "' (size " + std::to_string(e->size) +
                             ", alignment " + std::to_string(e->alignment) + "), not a '" + std::string(t.name) +
                             "' (size " + std::to_string(t.size) + ", alignment " + std::to_string(t.alignment) + ")";
  named_error(EINVAL, operation, name, detail.c_str());
}

bool is_word(char ch) noexcept {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/// The value of the character literal whose opening quote is text[i] ('a', '\n', '\012',
/// '\xc8'); *end gets the index after its closing quote.
long long char_value(std::string_view text, std::size_t i, std::size_t* end) {
  std::size_t j = i + 1;
  long long v = 0;
  const auto digit = [&](int base) {
    if (j >= text.size()) return -1;
    const char ch = text[j];
    const int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : 99;
    return d < base ? d : -1;
  };
  if (j < text.size() && text[j] == '\\' && j + 1 < text.size()) {
    const char e = text[++j];
    if (e == 'x') {
      ++j;
      for (int d; (d = digit(16)) >= 0; ++j) v = v * 16 + d;
    } else if (digit(8) >= 0) {
      for (int d; (d = digit(8)) >= 0; ++j) v = v * 8 + d;
    } else {
      ++j;
      v = e == 'n' ? 10 : e == 't' ? 9 : e == 'r' ? 13 : e == 'a' ? 7 : e == 'b' ? 8 : e == 'f' ? 12 : e == 'v' ? 11 : e;
    }
  } else if (j < text.size()) {
    v = static_cast<unsigned char>(text[j++]);
  }
  while (j < text.size() && text[j] != '\'') ++j;
  *end = j + 1;
  return v;
}

}  // namespace

std::string canonical_type_name(std::string_view spelled) {
  std::string text(spelled);
  for (std::size_t at; (at = text.find("{anonymous}")) != std::string::npos;) text.replace(at, 11, "(anonymous namespace)");
  // libstdc++'s inline namespaces, which g++ writes and clang does not ("std::__cxx11::basic_string",
  // "std::chrono::_V2::system_clock").
  for (std::size_t at; (at = text.find("__cxx11::")) != std::string::npos;) text.erase(at, 9);
  for (std::size_t at; (at = text.find("::_V2::")) != std::string::npos;) text.erase(at + 2, 5);
  // Tokens: words, numbers (without suffixes: clang writes a template argument of type auto
  // "3U", g++ "3"), character literals in one spelling, and single characters of punctuation
  // (spaces dropped).
  std::vector<std::string> tokens;
  const auto ends_with = [&](std::initializer_list<std::string_view> tail) {
    return tokens.size() >= tail.size() && std::equal(tail.begin(), tail.end(), tokens.end() - static_cast<std::ptrdiff_t>(tail.size()));
  };
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = i + 1;
    if (text[i] == '\'') {
      // Characters: u'a', U'a', L'a' (clang; g++ writes 97) and a char cast to signed or unsigned
      // char (clang "(unsigned char)'\xc8'", g++ 200) as numbers; a char as itself if printable,
      // else in hex (g++ '\012' and '\37777777710', clang '\n' and '\xc8': '\x0a', '\xc8').
      const bool wide = i > 0 && is_word(text[i - 1]) && !tokens.empty() &&
                        (tokens.back() == "u" || tokens.back() == "U" || tokens.back() == "L" || tokens.back() == "u8");
      if (wide) tokens.pop_back();
      const long long v = char_value(text, i, &j);
      const long long byte = v & 0xff;
      if (wide || ends_with({"(", "unsigned", "char", ")"})) {
        tokens.push_back(std::to_string(wide ? v : byte));
      } else if (ends_with({"(", "signed", "char", ")"})) {
        tokens.push_back(std::to_string((byte ^ 0x80) - 0x80));
      } else if (byte >= 0x20 && byte < 0x7f) {
        tokens.push_back(byte == '\'' || byte == '\\' ? std::string{'\'', '\\', static_cast<char>(byte), '\''}
                                                      : std::string{'\'', static_cast<char>(byte), '\''});
      } else {
        char hex[24];
        std::snprintf(hex, sizeof hex, "'\\x%02llx'", static_cast<unsigned long long>(byte));
        tokens.emplace_back(hex);
      }
    } else if (is_word(text[i])) {
      while (j < text.size() && is_word(text[j])) ++j;
      std::string word = text.substr(i, j - i);
      if (word[0] >= '0' && word[0] <= '9')
        while (word.find_last_of("uUlL") == word.size() - 1) word.pop_back();
      tokens.push_back(std::move(word));
    } else if (text[i] != ' ') {
      tokens.emplace_back(1, text[i]);
    }
    i = j;
  }
  // Casts before a number in a template argument dropped (clang "(short)3", g++ "(E)5").
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] != "(" || (i > 0 && tokens[i - 1] != "<" && tokens[i - 1] != ",")) continue;
    std::size_t j = i + 1;
    while (j < tokens.size() && (is_word(tokens[j][0]) || tokens[j] == ":")) ++j;
    if (j + 1 < tokens.size() && j > i + 1 && tokens[j] == ")" &&
        ((tokens[j + 1][0] >= '0' && tokens[j + 1][0] <= '9') || tokens[j + 1][0] == '-'))
      tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(i), tokens.begin() + static_cast<std::ptrdiff_t>(j + 1));
  }
  // Runs of integer keywords in one spelling ("long unsigned int" -> "unsigned long",
  // "__int128 unsigned" -> "unsigned __int128").
  std::vector<std::string_view> words;
  for (std::size_t i = 0; i < tokens.size();) {
    int longs = 0, shorts = 0, ints = 0, chars = 0, int128s = 0, is_signed = 0, is_unsigned = 0;
    std::size_t j = i;
    for (; j < tokens.size(); ++j) {
      const std::string_view t = tokens[j];
      int* count = t == "long" ? &longs : t == "short" ? &shorts : t == "int" ? &ints : t == "char" ? &chars
                   : t == "__int128" ? &int128s : t == "signed" ? &is_signed : t == "unsigned" ? &is_unsigned : nullptr;
      if (count == nullptr) break;
      ++*count;
    }
    if (j == i) {
      words.push_back(tokens[i++]);
      continue;
    }
    if (chars || int128s) {
      if (is_signed && chars) words.push_back("signed");
      if (is_unsigned) words.push_back("unsigned");
      words.push_back(chars ? "char" : "__int128");
    } else {
      if (is_unsigned) words.push_back("unsigned");
      if (longs) words.insert(words.end(), static_cast<std::size_t>(longs), "long");
      if (shorts) words.push_back("short");
      if (!longs && !shorts) words.push_back("int");
    }
    i = j;
  }
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0 && is_word(words[i].front())) {
      const char before = words[i - 1].back();
      if (is_word(before) || before == ',' || before == '*' || before == '&') out += ' ';
    } else if (i > 0 && words[i - 1] == ",") {
      out += ' ';
    }
    out += words[i];
  }
  return out;
}

void directory_lock(SegmentControl* c) {
  if (c->directory_mutex.lock() != LockStatus::owner_died) [[likely]]
    return;
#if CORE_MEMORY_EXCEPTIONS
  try {
    repair_directory(c);
  } catch (...) {  // the heap is not recoverable: release the directory unrepaired (not recoverable)
    c->directory_mutex.unlock();
    throw;
  }
#else
  repair_directory(c);
#endif
}
void directory_unlock(SegmentControl* c) noexcept { c->directory_mutex.unlock(); }
void heap_lock_for_test(SegmentControl* c) { (void)c->heap_mutex.lock(); }

void* segment_try_allocate(SegmentControl* c, std::size_t size, std::size_t align) noexcept {
  if (align == 0 || (align & (align - 1)) != 0) [[unlikely]] {
    report_invalid_alignment(component, size, align);
    return nullptr;
  }
  const unsigned k = SegmentCache::request_class(size, align);
  if (k != SegmentCache::no_class) {
    if (void* p = c->cache.pop(c->heap(), k)) return p;
  }
#if CORE_MEMORY_EXCEPTIONS
  try {
#endif
    HeapLock lock(c);
    return allocate_after_miss(c, size, align, k);
#if CORE_MEMORY_EXCEPTIONS
  } catch (...) {  // not recoverable
    return nullptr;
  }
#endif
}

void* segment_allocate(SegmentControl* c, std::size_t size, std::size_t align) {
  if (align == 0 || (align & (align - 1)) != 0) [[unlikely]]
    fail_invalid_alignment(component, size, align);
  const unsigned k = SegmentCache::request_class(size, align);
  if (k != SegmentCache::no_class) {
    if (void* p = c->cache.pop(c->heap(), k)) return p;
  }
  void* p;
  {
    HeapLock lock(c);
    p = allocate_after_miss(c, size, align, k);
  }
  if (p == nullptr) [[unlikely]]
    throw_out_of_memory(component, size, align);
  return p;
}

void segment_deallocate(SegmentControl* c, void* p, std::size_t size, std::size_t align) noexcept {
  if (p == nullptr) return;
#if CORE_MEMORY_EXCEPTIONS
  try {
#endif
    if constexpr (checks::expensive) {  // the heap's full checks, under its lock, before caching
      HeapLock lock(c);
      if (!c->heap().check_live(p, size, align)) return;
    }
    const SegmentCache::free_result r = c->cache.free_block(c->heap(), p, size, align);
    if (r.cached) return;
    HeapLock lock(c);
    c->heap().deallocate(p, size, align);
    if (r.full) c->cache.flush(c->heap(), r.k);
#if CORE_MEMORY_EXCEPTIONS
  } catch (...) {  // the heap is not recoverable: it cannot take the block back
  }
#endif
}

void segment_allocate_many(SegmentControl* c, void** out, std::size_t count, std::size_t size, std::size_t align) {
  if (align == 0 || (align & (align - 1)) != 0) [[unlikely]]
    fail_invalid_alignment(component, size, align);
  {
    HeapLock lock(c);
    std::size_t got = 0;
    while (got < count && (out[got] = locked_allocate(c, size, align)) != nullptr) ++got;
    if (got == count) [[likely]]
      return;
    while (got > 0) c->heap().deallocate(out[--got], size, align);  // all or nothing
  }
  throw_out_of_memory(component, size, align);
}

void segment_deallocate_many(SegmentControl* c, void* const* blocks, std::size_t count, std::size_t size,
                             std::size_t align) noexcept {
#if CORE_MEMORY_EXCEPTIONS
  try {
#endif
    HeapLock lock(c);
    for (std::size_t i = 0; i < count; ++i) c->heap().deallocate(blocks[i], size, align);
#if CORE_MEMORY_EXCEPTIONS
  } catch (...) {  // not recoverable, as in segment_deallocate
  }
#endif
}

named_slot named_find(SegmentControl* c, std::string_view name, const named_type& type, const char* operation) {
  NamedEntry* e = find_entry(c, name);
  if (e == nullptr || e->state != entry_ready) return {nullptr, 0, false};
  check_type(e, name, type, operation);
  return {e->objects(), e->count, true};
}

named_slot named_begin(SegmentControl* c, std::string_view name, const named_type& type, std::size_t count,
                       bool find_ok) {
  const char* operation = find_ok ? "find_or_construct" : "construct";
  if (name.empty()) named_error(EINVAL, operation, name, "(an empty name)");
  if (NamedEntry* e = find_entry(c, name)) {
    if (!find_ok || e->state != entry_ready) named_error(EEXIST, operation, name);
    check_type(e, name, type, operation);
    return {e->objects(), e->count, true};
  }
  const std::size_t align = std::max<std::size_t>(type.alignment, SegmentHeap::granule);
  std::size_t objects = 0, bytes = 0;
  const std::size_t head = align_up(sizeof(NamedEntry) + name.size() + type.name.size(), align);
  if (mul_overflows(count, type.size, objects) || add_overflows(objects, head, bytes))
    throw_bad_array_length(component, count, '*', type.size);
  void* block = nullptr;
  {
    HeapLock lock(c);
    block = locked_allocate(c, bytes, align);
  }
  if (block == nullptr) throw_out_of_memory(component, bytes, align);
  auto* e = ::new (block) NamedEntry{c->directory, entry_building, static_cast<std::uint32_t>(name.size()),
                                     static_cast<std::uint32_t>(type.name.size()), 0, type.size, type.alignment,
                                     count, head};
  std::memcpy(e->text(), name.data(), name.size());
  std::memcpy(e->text() + name.size(), type.name.data(), type.name.size());
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the entry is whole before it is linked
  c->directory = offset_in(c, e);
  ++c->named;
  return {e->objects(), count, false};
}

void named_commit(SegmentControl* c, void* object) noexcept {
  NamedEntry* before = nullptr;
  if (NamedEntry* e = entry_of(c, object, &before)) e->state = entry_ready;
}

void named_begin_destroy(SegmentControl* c, void* object) noexcept {
  NamedEntry* before = nullptr;
  if (NamedEntry* e = entry_of(c, object, &before)) e->state = entry_destroying;
}

void named_abandon(SegmentControl* c, void* object) noexcept {
  NamedEntry* before = nullptr;
  NamedEntry* e = entry_of(c, object, &before);
  if (e == nullptr) return;
  (before ? before->next : c->directory) = e->next;  // one store unlinks it
  std::atomic_signal_fence(std::memory_order_seq_cst);
  --c->named;
  HeapLock lock(c);
  c->heap().deallocate(e, 0, 16);
}

}  // namespace detail

// ManagedSharedMemory ---------------------------------------------------------------------------

namespace {

using detail::ManagedState;
using detail::SegmentControl;
using detail::SegmentHeap;

constexpr std::size_t heap_offset = align_up(sizeof(SegmentControl), detail::heap_alignment);

/// Formats a new segment (before its name appears): the header, the mutexes, the heap.
void format(SharedMemory& shm) {
  auto* c = ::new (shm.data()) SegmentControl();
  c->max_size = shm.max_size();
  c->heap_offset = heap_offset;
  c->cache.format(c->max_size);
  if (detail::format_hook) detail::format_hook();
  (void)SegmentHeap::format(c->base() + heap_offset, shm.size() - heap_offset);
  c->magic.store(detail::segment_magic, std::memory_order_release);
}

/// Checks an existing segment and reopens it over the max_size its header records. (Its name
/// appeared when it was formatted: there is nothing to wait for.) `options` do not remove the
/// name: a failed open must not unlink what it could not open (the caller sets
/// remove_on_destroy on success).
void attach(ManagedState& s, SharedMemoryOptions options) {
  const std::string& name = s.shm.name();
  if (s.shm.size() < heap_offset)
    detail::throw_system_error(EINVAL, detail::component, "open", name.c_str(), "is not a managed segment (too small)");
  auto* c = static_cast<SegmentControl*>(s.shm.data());
  const std::uint64_t magic = c->magic.load(std::memory_order_acquire);
  if (magic == 0)
    detail::throw_system_error(EINVAL, detail::component, "open", name.c_str(), "is not a managed segment (not formatted)");
  if (magic != detail::segment_magic)
    detail::throw_system_error(EINVAL, detail::component, "open", name.c_str(), "is not a managed segment (bad magic)");
  if (c->version != detail::segment_version || c->control_bytes != sizeof(SegmentControl) ||
      c->heap_offset != heap_offset)
    detail::throw_system_error(EINVAL, detail::component, "open", name.c_str(),
                               "was made by another version of the library (layout differs)");
  if (c->max_size > s.shm.max_size()) {  // map the whole reservation
    options.max_size = c->max_size;
    s.shm = SharedMemory::open(name, options);
    c = static_cast<SegmentControl*>(s.shm.data());
  }
  // The heap's end first: the object only grows, and is grown before the heap's end moves.
  const std::size_t extent = heap_offset + c->heap().extent();
  if (s.shm.refresh() < extent)
    detail::throw_system_error(EINVAL, detail::component, "open", name.c_str(),
                               "is not a managed segment (truncated: its heap ends beyond the object)");
  s.control = c;
}

/// The options of a first, narrow mapping: one that can look at an object not sized yet, that
/// does not remove the name.
SharedMemoryOptions probe(SharedMemoryOptions options) noexcept {
  options.max_size = std::max(options.max_size, heap_offset);
  options.remove_on_destroy = false;
  return options;
}

[[noreturn]] void too_small(const char* operation, std::string_view name, std::size_t size) {
  const std::string n(name), detail = "size " + std::to_string(size) + " is below the minimum " +
                                      std::to_string(ManagedSharedMemory::min_size());
  detail::throw_system_error(EINVAL, detail::component, operation, n.c_str(), detail.c_str());
}

}  // namespace

ManagedSharedMemory::ManagedSharedMemory() noexcept = default;
ManagedSharedMemory::ManagedSharedMemory(std::unique_ptr<detail::ManagedState> state) noexcept
    : state_(std::move(state)), control_(state_->control) {
  std::lock_guard<std::mutex> g(detail::registry_mutex());
  detail::registry().push_back(state_.get());
}
ManagedSharedMemory::ManagedSharedMemory(ManagedSharedMemory&& o) noexcept
    : state_(std::move(o.state_)), control_(std::exchange(o.control_, nullptr)) {}
ManagedSharedMemory& ManagedSharedMemory::operator=(ManagedSharedMemory&& o) noexcept {
  if (this != &o) {
    ManagedSharedMemory old(std::move(*this));
    state_ = std::move(o.state_);
    control_ = std::exchange(o.control_, nullptr);
  }
  return *this;
}
ManagedSharedMemory::~ManagedSharedMemory() {
  if (!state_) return;
  std::lock_guard<std::mutex> g(detail::registry_mutex());
  auto& r = detail::registry();
  r.erase(std::find(r.begin(), r.end(), state_.get()));
}

std::size_t ManagedSharedMemory::min_size() noexcept { return heap_offset + sizeof(SegmentHeap) + 2 * SegmentHeap::min_block; }

ManagedSharedMemory ManagedSharedMemory::create(std::string_view name, std::size_t size, SharedMemoryOptions options) {
  if (size < min_size()) too_small("create", name, size);
  auto s = std::make_unique<ManagedState>();
  s->shm = SharedMemory::create(name, size, options, format);
  s->control = static_cast<SegmentControl*>(s->shm.data());
  return ManagedSharedMemory(std::move(s));
}

ManagedSharedMemory ManagedSharedMemory::open(std::string_view name, SharedMemoryOptions options) {
  auto s = std::make_unique<ManagedState>();
  s->shm = SharedMemory::open(name, probe(options));
  attach(*s, probe(options));
  s->shm.remove_on_destroy(options.remove_on_destroy);
  return ManagedSharedMemory(std::move(s));
}

ManagedSharedMemory ManagedSharedMemory::open_or_create(std::string_view name, std::size_t size,
                                                        SharedMemoryOptions options) {
  if (size < min_size()) too_small("open_or_create", name, size);
  auto s = std::make_unique<ManagedState>();
  SharedMemoryOptions first = options;
  first.remove_on_destroy = false;
  s->shm = SharedMemory::open_or_create(name, size, first, format);
  if (s->shm.created()) {
    s->control = static_cast<SegmentControl*>(s->shm.data());
  } else {
    attach(*s, probe(options));
  }
  s->shm.remove_on_destroy(options.remove_on_destroy);
  return ManagedSharedMemory(std::move(s));
}

bool ManagedSharedMemory::owns(const void* p) const noexcept { return control_ && control_->heap().owns(p); }
std::size_t ManagedSharedMemory::max_size() const noexcept {
  if (!open_for("max_size")) return 0;
  return SegmentHeap::max_request(control_->max_size - control_->heap_offset);
}
detail::segment_stats ManagedSharedMemory::statistics() const {
  if (!open_for("statistics")) return {};
  detail::HeapLock lock(control_);
  detail::segment_stats s{control_->heap().stats()};
  control_->cache.add_to(s);  // cached blocks are live to the heap: count them apart
  s.used_bytes -= s.cached_bytes;
  s.live_blocks -= s.cached_blocks;
  return s;
}
std::size_t ManagedSharedMemory::bytes_allocated() const {
  if (!open_for("bytes_allocated")) return 0;
  return statistics().used_bytes;
}
std::size_t ManagedSharedMemory::bytes_available() const {
  if (!open_for("bytes_available")) return 0;
  detail::HeapLock lock(control_);
  const SegmentHeap& h = control_->heap();
  detail::segment_stats cached;
  control_->cache.add_to(cached);  // exhaustion returns them to the heap
  return h.stats().free_bytes + cached.cached_bytes + (control_->max_size - control_->heap_offset - h.extent());
}
const char* ManagedSharedMemory::validate() const {
  if (!open_for("validate")) return "the object is empty (used after move / not open)";
  detail::HeapLock lock(control_);
  const char* why = control_->heap().validate();
  return why ? why : control_->cache.validate(control_->heap());
}
void ManagedSharedMemory::trim() {
  if (!open_for("trim")) return;
  detail::HeapLock lock(control_);
  (void)control_->cache.trim(control_->heap());
}
std::size_t ManagedSharedMemory::named_count() const {
  if (!open_for("named_count")) return 0;
  detail::DirectoryLock lock(control_);
  return control_->named;
}
std::size_t ManagedSharedMemory::repairs() const {
  if (!open_for("repairs")) return 0;
  return control_->repairs.load(std::memory_order_relaxed);
}
SharedMemory& ManagedSharedMemory::segment() noexcept {
  static SharedMemory none;  // (an empty one: its own members report misuse)
  return open_for("segment") ? state_->shm : none;
}
const std::string& ManagedSharedMemory::name() const noexcept {
  static const std::string none;
  return open_for("name") ? state_->shm.name() : none;
}
bool ManagedSharedMemory::created() const noexcept { return open_for("created") && state_->shm.created(); }

}  // namespace core::memory
