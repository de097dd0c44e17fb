#pragma once
/// PageSet: the 4 KiB pages that a single-threaded pool's chunks (or a slab cache's slabs)
/// occupy, for their hardened checks. The address range of the chunks has gaps, and a chunk given
/// back may be unmapped: a check reads a node or a slab header only on a page of this set, so a
/// foreign pointer or a double free after the memory went back is reported, never a crash.
/// Open addressing with linear probing, at most half full; a page two chunks share is counted
/// twice. Memory from malloc (the pools that use it are not the process allocator's).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace core::memory::detail {

class PageSet {
 public:
  PageSet() noexcept = default;
  PageSet(PageSet&& o) noexcept
      : slots_(std::exchange(o.slots_, nullptr)),
        capacity_(std::exchange(o.capacity_, 0)),
        size_(std::exchange(o.size_, 0)) {}
  PageSet& operator=(PageSet&& o) noexcept {
    std::swap(slots_, o.slots_);
    std::swap(capacity_, o.capacity_);
    std::swap(size_, o.size_);
    return *this;
  }
  PageSet(const PageSet&) = delete;
  PageSet& operator=(const PageSet&) = delete;
  ~PageSet() { std::free(slots_); }

  /// Adds the pages of [begin, begin + bytes); false (nothing added) if out of memory.
  bool insert(const void* begin, std::size_t bytes) noexcept {
    const auto [first, last] = pages(begin, bytes);
    if (!reserve(size_ + (last - first))) return false;
    for (std::uintptr_t page = first; page < last; ++page) {
      Slot* s = find(page);
      if (s->key == 0) {
        s->key = page + 1;
        ++size_;
      }
      ++s->count;
    }
    return true;
  }
  /// Removes the pages of a range inserted before.
  void erase(const void* begin, std::size_t bytes) noexcept {
    const auto [first, last] = pages(begin, bytes);
    for (std::uintptr_t page = first; page < last; ++page) {
      Slot* s = find(page);
      if (s->key == 0 || --s->count != 0) continue;
      remove(s);
      --size_;
    }
  }
  /// True if `p` lies on a page of an inserted range. O(1).
  [[nodiscard]] bool contains(const void* p) const noexcept {
    return capacity_ != 0 && find(reinterpret_cast<std::uintptr_t>(p) >> page_shift)->key != 0;
  }

 private:
  static constexpr unsigned page_shift = 12;
  struct Slot {
    std::uintptr_t key;  // page + 1; 0: empty
    std::size_t count;   // ranges on the page
  };

  static std::pair<std::uintptr_t, std::uintptr_t> pages(const void* begin, std::size_t bytes) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(begin);
    return {a >> page_shift, bytes ? ((a + bytes - 1) >> page_shift) + 1 : a >> page_shift};
  }
  std::size_t home(std::uintptr_t page) const noexcept {
    return static_cast<std::size_t>((page * 0x9E3779B97F4A7C15u) >> 17) & (capacity_ - 1);
  }
  /// The slot of `page`, or the empty slot where it would go.
  Slot* find(std::uintptr_t page) const noexcept {
    for (std::size_t i = home(page);; i = (i + 1) & (capacity_ - 1))
      if (slots_[i].key == page + 1 || slots_[i].key == 0) return slots_ + i;
  }
  /// Empties slot `s`, moving back the entries of its run that would no longer be found.
  void remove(Slot* s) noexcept {
    std::size_t hole = static_cast<std::size_t>(s - slots_);
    for (std::size_t i = (hole + 1) & (capacity_ - 1); slots_[i].key != 0; i = (i + 1) & (capacity_ - 1)) {
      const std::size_t want = home(slots_[i].key - 1);
      // The entry may fill the hole if its home is not in the cyclic range (hole, i].
      if (((i - want) & (capacity_ - 1)) >= ((i - hole) & (capacity_ - 1))) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole] = {0, 0};
  }
  /// Room for `n` pages at most half full.
  bool reserve(std::size_t n) noexcept {
    if (n <= capacity_ / 2) return true;
    std::size_t capacity = capacity_ ? capacity_ : 16;
    while (capacity / 2 < n) {
      if (capacity > SIZE_MAX / 4 / sizeof(Slot)) return false;
      capacity *= 2;
    }
    auto* slots = static_cast<Slot*>(std::calloc(capacity, sizeof(Slot)));
    if (!slots) return false;
    PageSet grown;
    grown.slots_ = slots;
    grown.capacity_ = capacity;
    for (std::size_t i = 0; i < capacity_; ++i)
      if (slots_[i].key != 0) *grown.find(slots_[i].key - 1) = slots_[i];
    grown.size_ = size_;
    *this = std::move(grown);
    return true;
  }

  Slot* slots_ = nullptr;
  std::size_t capacity_ = 0;  // a power of two
  std::size_t size_ = 0;      // pages held
};

/// What a pool holds instead when the checks are off: every page counts as held.
struct NoPageSet {
  static bool insert(const void*, std::size_t) noexcept { return true; }
  static void erase(const void*, std::size_t) noexcept {}
  static bool contains(const void*) noexcept { return true; }
};

}  // namespace core::memory::detail
