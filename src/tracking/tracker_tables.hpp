#pragma once
// The tracker's internal tables: a spinlock, an open-addressing table of live blocks keyed by
// address, a table of call sites, and the process-wide store of interned stack traces. All grow
// with malloc/calloc (never operator new), so they can later serve a malloc interposer, and never
// throw: a table that cannot grow drops the record.

#include <core/memory/tracking/stack_trace.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <sched.h>

namespace core::memory::detail {

/// Test-and-test-and-set lock that yields the processor after a short spin (the holder may have
/// been preempted: the machines this runs on are often oversubscribed).
class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0; flag_.exchange(true, std::memory_order_acquire);) {
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          sched_yield();
        }
      }
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) noexcept : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

/// One live block as the tracker keeps it: 32 bytes, two to a cache line (its call site is an
/// index into the shard's SiteTable).
struct Record {
  void* ptr;  // null: empty slot
  std::size_t size;
  std::uint32_t site;       // index in the shard's SiteTable (call site and stack)
  std::uint32_t time_ms;    // CLOCK_MONOTONIC_COARSE since the tracker was made
  std::uint32_t alignment;  // saturated at 2^32 - 1
};
static_assert(sizeof(Record) == 32);

/// A call site: where, what, through which allocator, and the stack when captured.
struct SiteKey {
  const char* file;
  const char* function;
  const char* type;
  const char* allocator;
  std::uint32_t line;
  std::uint32_t stack;  // id in the StackStore, 0: none
  friend bool operator==(const SiteKey&, const SiteKey&) = default;
};

inline std::uint64_t mix_pointer(const void* p) noexcept {
  const std::uint64_t h = (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0xD6E8FEB86659FD93ull;
  return h ^ (h >> 32);
}

/// Storage of an open-addressing table with linear probing, at most half full: a power-of-two
/// array of slots, zeroed (all-zero is an empty slot), grown by rehashing. Traits give
/// `static bool used(const Slot&)` and `static std::size_t hash(const Slot&)`; tables keyed by
/// address also `static const void* key(const Slot&)` (with hash = mix_pointer(key)) for find and
/// erase.
template <class Slot, class Traits>
class ProbedTable {
 public:
  ProbedTable() = default;
  ProbedTable(const ProbedTable&) = delete;
  ProbedTable& operator=(const ProbedTable&) = delete;
  ~ProbedTable() { std::free(slots_); }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity(); ++i)
      if (Traits::used(slots_[i])) f(slots_[i]);
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// The slot whose key is `p`, or null.
  [[nodiscard]] const Slot* find(const void* p) const noexcept {
    if (!slots_) return nullptr;
    for (std::size_t i = mix_pointer(p) & mask_; Traits::used(slots_[i]); i = next(i))
      if (Traits::key(slots_[i]) == p) return &slots_[i];
    return nullptr;
  }

  /// Removes the slot whose key is `p` into `out`; false if there is none. Backward-shift
  /// deletion: the slots whose probe passed through the emptied one move back, so no tombstones.
  bool erase(const void* p, Slot& out) noexcept {
    const Slot* found = find(p);
    if (!found) return false;
    std::size_t i = static_cast<std::size_t>(found - slots_);
    out = slots_[i];
    for (std::size_t j = i;;) {
      j = next(j);
      if (!Traits::used(slots_[j])) break;
      const std::size_t h = home(slots_[j]);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
    return true;
  }

  void clear() noexcept {
    std::free(slots_);
    slots_ = nullptr;
    mask_ = 0;
    size_ = 0;
  }

 protected:
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_ ? mask_ + 1 : 0; }
  /// Makes room for one more slot; false if the table could not grow.
  bool reserve_one() noexcept { return (size_ + 1) * 2 <= capacity() || grow(); }
  [[nodiscard]] std::size_t home(const Slot& s) const noexcept { return Traits::hash(s) & mask_; }
  [[nodiscard]] std::size_t next(std::size_t i) const noexcept { return (i + 1) & mask_; }

  Slot* slots_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;

 private:
  bool grow() noexcept {
    const std::size_t cap = slots_ ? (mask_ + 1) * 2 : 64;
    auto* fresh = static_cast<Slot*>(std::calloc(cap, sizeof(Slot)));
    if (!fresh) return false;
    Slot* old = slots_;
    const std::size_t old_cap = capacity();
    slots_ = fresh;
    mask_ = cap - 1;
    for (std::size_t k = 0; k < old_cap; ++k) {
      if (!Traits::used(old[k])) continue;
      std::size_t i = home(old[k]);
      while (Traits::used(slots_[i])) i = next(i);
      slots_[i] = old[k];
    }
    std::free(old);
    return true;
  }
};

struct RecordTraits {
  static bool used(const Record& r) noexcept { return r.ptr != nullptr; }
  static const void* key(const Record& r) noexcept { return r.ptr; }
  static std::size_t hash(const Record& r) noexcept { return mix_pointer(r.ptr); }
};

/// Live blocks keyed by address.
class RecordTable : public ProbedTable<Record, RecordTraits> {
 public:
  /// Inserts `r`; if its address was already live, returns the old record in `old` (true).
  /// False in `ok` if the table could not grow.
  bool insert(const Record& r, Record& old, bool& ok) noexcept {
    ok = reserve_one();
    if (!ok) return false;
    std::size_t i = home(r);
    for (; slots_[i].ptr; i = next(i)) {
      if (slots_[i].ptr == r.ptr) {
        old = slots_[i];
        slots_[i] = r;
        return true;
      }
    }
    slots_[i] = r;
    ++size_;
    return false;
  }
};

/// Running totals of one call site (in one shard).
struct SiteEntry {
  SiteKey key;
  double total_count;
  double total_bytes;
  double temporary_count;  // freed by their thread before it allocated again
  double temporary_bytes;
};

/// The call sites of one shard, keyed by the identity of their strings (literals), never erased:
/// an append-only array (indices stay valid for the records) and an open-addressing index on it.
class SiteTable {
 public:
  SiteTable() = default;
  SiteTable(const SiteTable&) = delete;
  SiteTable& operator=(const SiteTable&) = delete;
  ~SiteTable() { clear(); }

  /// The index of `key`'s entry, made if new; UINT32_MAX if there is no memory for it.
  std::uint32_t find_or_add(const SiteKey& key) noexcept {
    if ((count_ + 1) * 2 > index_capacity_ && !grow_index()) return UINT32_MAX;
    std::size_t i = hash(key) & (index_capacity_ - 1);
    for (; index_[i]; i = (i + 1) & (index_capacity_ - 1))
      if (entries_[index_[i] - 1].key == key) return index_[i] - 1;
    if (count_ == entry_capacity_) {
      const std::size_t cap = entry_capacity_ ? entry_capacity_ * 2 : 16;
      void* fresh = std::realloc(static_cast<void*>(entries_), cap * sizeof(SiteEntry));
      if (!fresh) return UINT32_MAX;
      entries_ = static_cast<SiteEntry*>(fresh);
      entry_capacity_ = cap;
    }
    entries_[count_] = {key, 0, 0, 0, 0};
    index_[i] = static_cast<std::uint32_t>(++count_);
    return static_cast<std::uint32_t>(count_ - 1);
  }
  [[nodiscard]] SiteEntry& operator[](std::uint32_t i) noexcept { return entries_[i]; }
  [[nodiscard]] const SiteEntry& operator[](std::uint32_t i) const noexcept { return entries_[i]; }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < count_; ++i) f(entries_[i]);
  }
  void clear() noexcept {
    std::free(entries_);
    std::free(index_);
    entries_ = nullptr;
    index_ = nullptr;
    count_ = entry_capacity_ = index_capacity_ = 0;
  }

 private:
  static std::size_t hash(const SiteKey& k) noexcept {  // one multiply: this is on every record
    const std::uint64_t x = reinterpret_cast<std::uintptr_t>(k.file) ^ (reinterpret_cast<std::uintptr_t>(k.function) << 1) ^
                            (reinterpret_cast<std::uintptr_t>(k.type) << 2) ^
                            (reinterpret_cast<std::uintptr_t>(k.allocator) << 3) ^ (std::uint64_t(k.line) << 40) ^
                            (std::uint64_t(k.stack) << 20);
    return static_cast<std::size_t>((x * 0x9E3779B97F4A7C15ull) >> 24);
  }
  bool grow_index() noexcept {
    const std::size_t cap = index_capacity_ ? index_capacity_ * 2 : 32;
    auto* fresh = static_cast<std::uint32_t*>(std::calloc(cap, sizeof(std::uint32_t)));
    if (!fresh) return false;
    for (std::size_t e = 0; e < count_; ++e) {
      std::size_t i = hash(entries_[e].key) & (cap - 1);
      while (fresh[i]) i = (i + 1) & (cap - 1);
      fresh[i] = static_cast<std::uint32_t>(e + 1);
    }
    std::free(index_);
    index_ = fresh;
    index_capacity_ = cap;
    return true;
  }

  SiteEntry* entries_ = nullptr;
  std::uint32_t* index_ = nullptr;  // entry + 1, 0: empty
  std::size_t count_ = 0, entry_capacity_ = 0, index_capacity_ = 0;
};

/// Memory in use over time at bounded resolution: the lowest and highest usage seen in each of
/// `points` intervals of 2^shift ms; when time runs past the last, pairs merge and the width
/// doubles. Lock-free but for the merge: an event loads its interval's two figures and writes
/// only when it extends them, so a steady state costs loads only. A merge racing with an event
/// may lose that event's figure (the chart is approximate then, never wrong by more than an event).
///
/// Every event is noted: an allocation with the usage before and after it, at its time; a free
/// at the time the tracker last read (`now_ms`, which allocations refresh), reading the clock
/// itself only every 16th free of a thread, so a run of frees with no allocation (as at exit) is
/// placed in time within 16 of them, and most frees read no clock.
struct Timeline {
  static constexpr std::size_t points = 512;
  struct Point {
    std::atomic<std::size_t> low{SIZE_MAX};  // SIZE_MAX, 0: no event in the interval
    std::atomic<std::size_t> high{0};
  };
  std::atomic<unsigned> shift{0};
  std::atomic<std::uint32_t> now_ms{0};  // the latest time read
  SpinLock merging;
  Point point[points];

  /// An event that took usage from `before` to `after` (before <= after) at `time_ms`.
  void note(std::uint32_t time_ms, std::size_t before, std::size_t after) noexcept {
    std::size_t i = time_ms >> shift.load(std::memory_order_relaxed);
    if (i >= points) i = widen(time_ms);
    Point& p = point[i];
    if (before < p.low.load(std::memory_order_relaxed)) lower(p.low, before);
    if (after > p.high.load(std::memory_order_relaxed)) raise(p.high, after);
  }
  /// Remembers `time_ms` as the latest time read (for frees).
  void tick(std::uint32_t time_ms) noexcept {
    if (now_ms.load(std::memory_order_relaxed) != time_ms) now_ms.store(time_ms, std::memory_order_relaxed);
  }

  void clear() noexcept {
    SpinGuard guard(merging);
    for (Point& p : point) {
      p.low.store(SIZE_MAX, std::memory_order_relaxed);
      p.high.store(0, std::memory_order_relaxed);
    }
    shift.store(0, std::memory_order_relaxed);
    now_ms.store(0, std::memory_order_relaxed);
  }

 private:
  static void lower(std::atomic<std::size_t>& a, std::size_t v) noexcept {
    std::size_t cur = a.load(std::memory_order_relaxed);
    while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }
  static void raise(std::atomic<std::size_t>& a, std::size_t v) noexcept {
    std::size_t cur = a.load(std::memory_order_relaxed);
    while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }
  /// Doubles the width until `time_ms` fits; returns its interval.
  std::size_t widen(std::uint32_t time_ms) noexcept {
    SpinGuard guard(merging);
    unsigned s = shift.load(std::memory_order_relaxed);
    for (; (time_ms >> s) >= points; ++s) {
      for (std::size_t i = 0; i < points; ++i) {
        std::size_t low = SIZE_MAX, high = 0;
        if (i < points / 2) {
          low = std::min(point[2 * i].low.load(std::memory_order_relaxed), point[2 * i + 1].low.load(std::memory_order_relaxed));
          high = std::max(point[2 * i].high.load(std::memory_order_relaxed), point[2 * i + 1].high.load(std::memory_order_relaxed));
        }
        point[i].low.store(low, std::memory_order_relaxed);
        point[i].high.store(high, std::memory_order_relaxed);
      }
    }
    shift.store(s, std::memory_order_relaxed);
    return time_ms >> s;
  }
};

/// CLOCK_MONOTONIC_COARSE in ns (a few ms resolution, a few ns a read).
std::int64_t coarse_now_ns() noexcept;

/// Interns a captured stack; returns its id (0 if it could not be stored). Process-wide, never
/// freed: memory grows with the number of distinct stacks, not allocations.
std::uint32_t intern_stack(const void* const* frames, std::uint32_t depth) noexcept;
/// Copies the stack `id` into `out`; false for id 0 or unknown.
bool lookup_stack(std::uint32_t id, StackTrace& out) noexcept;

}  // namespace core::memory::detail
