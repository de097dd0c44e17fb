#pragma once
/// BumpVector<T>: an append-only sequence whose storage comes from an Arena, in segments that
/// double in size. Elements never move: a pointer or reference to an element stays valid until
/// the BumpVector is cleared or destroyed, or its arena is reset past it, however many elements
/// are appended later (std::vector gives no such promise). Indexing is O(1) (a bit scan picks
/// the segment). The memory goes back with the arena; the destructor only runs T's destructors.
/// Under AddressSanitizer the unused tail of each segment is annotated: touching it is reported.

#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/detail/index_iterator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>

namespace core::memory {

template <class T, class ArenaType = Arena>
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
    if (off == 0 && !segments_[seg]) {
      segments_[seg] = arena_->template allocate<T>(segment_size(seg));
      annotate(seg, segment_size(seg), 0);
    }
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

  iterator begin() noexcept { return {this, 0}; }
  iterator end() noexcept { return {this, size_}; }
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, size_}; }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  size_type size() const noexcept { return size_; }
  /// Elements that fit in the segments obtained so far.
  size_type capacity() const noexcept {
    size_type c = 0;
    for (size_type k = 0; k < max_segments && segments_[k]; ++k) c += segment_size(k);
    return c;
  }

  /// Destroys the elements; the segments stay for reuse (their memory belongs to the arena).
  void clear() noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>)
      for (size_type i = 0; i < size_; ++i) std::destroy_at(&(*this)[i]);
    for (size_type k = 0, first = 0; first < size_; first += segment_size(k), ++k)
      annotate(k, std::min(size_ - first, segment_size(k)), 0);
    size_ = 0;
  }

  ArenaType& arena() const noexcept { return *arena_; }

 private:
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
