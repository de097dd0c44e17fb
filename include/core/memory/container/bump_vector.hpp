#pragma once
/// BumpVector<T, A>: an append-only sequence whose storage comes from a bump-style RawAllocator
/// `A` (Arena by default; also a StackAllocator, a FreeListAllocator scope, any allocator that
/// takes memory back wholesale), in segments that double in size. Segments are never given back
/// one by one: the allocator must reclaim them in bulk (with a heap allocator they would leak). Elements never move: a pointer or reference to an element stays valid until
/// the BumpVector is cleared or destroyed, or its arena is reset past it, however many elements
/// are appended later (std::vector gives no such promise). Indexing is O(1) (a bit scan picks
/// the segment). The memory goes back with the arena; the destructor only runs T's destructors.
/// At most max_size() elements (48 doubling segments; std::length_error beyond).
/// Under AddressSanitizer the unused tail of each segment is annotated: touching it is reported.

#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/allocator/arena.hpp>  // the default allocator only
#include <core/memory/container/detail/index_iterator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <array>
#include <bit>

namespace core::memory {

template <class T, RawAllocator ArenaType = Arena>
class BumpVector {
  static constexpr std::size_t first_segment = 8;  // elements in segment 0; segment k holds 8 << k
  static constexpr std::size_t max_segments = 48;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using reference = T&;
  using const_reference = const T&;

  using iterator = detail::index_iterator<BumpVector, T, T&>;
  using const_iterator = detail::index_iterator<const BumpVector, T, const T&>;

  explicit BumpVector(ArenaType& arena) noexcept : arena_(&arena) {}
  BumpVector(const BumpVector&) = delete;
  BumpVector& operator=(const BumpVector&) = delete;
  BumpVector(BumpVector&& o) noexcept
      : arena_(o.arena_), segments_(std::exchange(o.segments_, {})), size_(std::exchange(o.size_, 0)) {}
  /// Destroys this vector's elements and takes over `o`'s (which stay where they are); this
  /// vector's own segments are left to their arena.
  BumpVector& operator=(BumpVector&& o) noexcept {
    if (this != &o) {
      clear();
      arena_ = o.arena_;
      segments_ = std::exchange(o.segments_, {});
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~BumpVector() { clear(); }

  /// Appends; never moves existing elements. Strong guarantee.
  template <class... Args>
  T& emplace_back(Args&&... args) {
    const auto [seg, off] = locate(size_);
    if (off == 0 && (seg == max_segments || !segments_[seg])) [[unlikely]]
      add_segment(seg);
    annotate(seg, off, off + 1);
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      std::construct_at(segments_[seg] + off, std::forward<Args>(args)...);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      annotate(seg, off + 1, off);
      throw;
    }
#endif
    ++size_;
    return segments_[seg][off];
  }
  T& push_back(const T& x) { return emplace_back(x); }
  T& push_back(T&& x) { return emplace_back(std::move(x)); }

  T& operator[](size_type i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::BumpVector", i < size_, "index out of range");
    const auto [seg, off] = locate(i);
    return segments_[seg][off];
  }
  const T& operator[](size_type i) const noexcept { return const_cast<BumpVector&>(*this)[i]; }
  T& back() noexcept { return (*this)[size_ - 1]; }
  /// The element at position `i` (for the iterators).
  T& element_at(size_type i) noexcept { return (*this)[i]; }
  const T& element_at(size_type i) const noexcept { return (*this)[i]; }
  T& front() noexcept { return (*this)[0]; }

  iterator begin() noexcept { return {*this, 0}; }
  iterator end() noexcept { return {*this, size_}; }
  const_iterator begin() const noexcept { return {*this, 0}; }
  const_iterator end() const noexcept { return {*this, size_}; }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  size_type size() const noexcept { return size_; }
  /// The most elements the segments can hold (their byte sizes may overflow before: then
  /// std::bad_array_new_length).
  static constexpr size_type max_size() noexcept { return first_segment * ((size_type{1} << max_segments) - 1); }
  /// Elements that fit in the segments obtained so far.
  size_type capacity() const noexcept {
    size_type c = 0;
    for (size_type k = 0; k < max_segments && segments_[k]; ++k) c += segment_size(k);
    return c;
  }

  /// Destroys the elements; the segments stay for reuse (their memory belongs to the arena).
  void clear() noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>)
      for (size_type i = 0; i < size_; ++i) std::destroy_at(std::addressof((*this)[i]));
    for (size_type k = 0, first = 0; first < size_; first += segment_size(k), ++k)
      annotate(k, std::min(size_ - first, segment_size(k)), 0);
    size_ = 0;
  }

  ArenaType& arena() const noexcept { return *arena_; }

 private:
  /// Obtains segment `k` (the next one), poisoned for AddressSanitizer.
  void add_segment(size_type k) {
    if (k == max_segments) throw_length_error("core::memory::BumpVector", "BumpVector: size would exceed max_size()");
    segments_[k] = static_cast<T*>(
        allocator_traits<ArenaType>::allocate(*arena_, array_bytes<T>(segment_size(k)), alignof(T)));
    annotate(k, segment_size(k), 0);
  }
  static constexpr size_type segment_size(size_type k) noexcept { return first_segment << k; }
  /// Tells AddressSanitizer that segment k now holds `used` elements where it held `was`: its
  /// unused tail is reported when touched.
  void annotate(size_type k, size_type was, size_type used) const noexcept {
    T* b = segments_[k];
    annotate_contiguous_container(b, b + segment_size(k), b + was, b + used);
  }
  /// Segment k starts at element 8 * (2^k - 1).
  static std::pair<size_type, size_type> locate(size_type i) noexcept {
    const size_type q = i / first_segment + 1;
    const auto k = static_cast<size_type>(std::bit_width(q) - 1);
    return {k, i - first_segment * ((size_type{1} << k) - 1)};
  }

  ArenaType* arena_;
  std::array<T*, max_segments> segments_{};
  size_type size_ = 0;
};

}  // namespace core::memory
