#pragma once
// The tracker's internal tables: a spinlock, an open-addressing table of live blocks keyed by
// address, a table of call sites, and the process-wide store of interned stack traces. All grow
// with malloc/calloc (never operator new), so they can later serve a malloc interposer, and never
// throw: a table that cannot grow drops the record.

#include <core/memory/tracking/stack_trace.hpp>

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

/// One live block as the tracker keeps it (72 bytes).
struct Record {
  void* ptr;  // null: empty slot
  std::size_t size;
  const char* type;
  const char* allocator;
  const char* file;
  const char* function;
  std::uint32_t line;
  std::uint32_t alignment;
  std::int64_t time_ns;  // CLOCK_MONOTONIC_COARSE
  std::uint32_t stack;   // id in the StackStore, 0: none
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
  const char* file;  // null: empty slot
  const char* function;
  const char* type;
  const char* allocator;
  std::uint32_t line;
  double total_count;
  double total_bytes;
};

struct SiteTraits {
  static bool used(const SiteEntry& e) noexcept { return e.file != nullptr; }
  static std::size_t hash(const SiteEntry& e) noexcept {
    const std::uint64_t h =
        mix_pointer(e.file) ^ (mix_pointer(e.function) * 3) ^ (mix_pointer(e.type) * 5) ^ (mix_pointer(e.allocator) * 7);
    return static_cast<std::size_t>((h + e.line) * 0x9E3779B97F4A7C15ull >> 20);
  }
};

/// Sites keyed by the identity of their strings (literals), never erased.
class SiteTable : public ProbedTable<SiteEntry, SiteTraits> {
 public:
  void add(const Record& r, double count, double bytes) noexcept {
    if (!reserve_one()) return;
    const SiteEntry key{r.file, r.function, r.type, r.allocator, r.line, 0, 0};
    std::size_t i = home(key);
    for (;; i = next(i)) {
      SiteEntry& e = slots_[i];
      if (!e.file) {
        e = key;
        ++size_;
      } else if (e.file != r.file || e.line != r.line || e.function != r.function || e.type != r.type ||
                 e.allocator != r.allocator) {
        continue;
      }
      e.total_count += count;
      e.total_bytes += bytes;
      return;
    }
  }
};

/// Interns a captured stack; returns its id (0 if it could not be stored). Process-wide, never
/// freed: memory grows with the number of distinct stacks, not allocations.
std::uint32_t intern_stack(const void* const* frames, std::uint32_t depth) noexcept;
/// Copies the stack `id` into `out`; false for id 0 or unknown.
bool lookup_stack(std::uint32_t id, StackTrace& out) noexcept;

}  // namespace core::memory::detail
