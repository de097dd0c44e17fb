#pragma once
/// StableVector<T, BlockSize, Alloc>: a slot map. It is NOT a sequence container like
/// boost::container::stable_vector (no positions, no insert in the middle, no ordering by the
/// caller): elements live in slots of fixed blocks that never move, so pointers and references
/// survive every insertion and erasure; an insertion takes any free slot and returns a Handle;
/// erase is O(1) and the slot is reused later; iteration runs in slot order. Each slot has a
/// generation counter: a Handle (slot + generation) knows whether its element is still the one it
/// named (`is_valid`), even after the slot was reused. Handles are salted per container, so a
/// handle from another StableVector is (almost surely: 2^-32) not valid here either, and
/// operator[] and erase report it in hardened builds. Copies keep slots, generations and the
/// salt: a handle names the same element in a copy. Iteration skips free slots a bitmap word at a
/// time; `for_each` also runs over fully occupied words as plain array loops. Allocators behave
/// as in std containers (unequal, non-propagating ones: elements are copied or moved into this
/// vector's own memory, also by swap). The block table holds the allocator's `pointer`s: with an
/// offset_ptr allocator the vector can live in shared memory (handles are indices: valid in every
/// process; element pointers and iterators are addresses of the process that took them).
/// The free slots form a list threaded through the blocks (no side array, nothing to allocate on
/// erase), and the block table is a small array of its own: the header needs no <vector>.
#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/container/detail/allocator_assignment.hpp>
#include <core/memory/container/detail/fancy_pointer.hpp>
#include <core/memory/container/detail/slot_poison.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <bit>
#include <cstdint>
#include <cstring>

namespace core::memory {

namespace detail {

/// StableVector's block table: a growable array of `A::value_type` (the allocator's pointers to
/// blocks) in memory from `A`, held through `A::pointer` (an offset_ptr in shared memory). It
/// stores no allocator: the owner passes its own to each call that allocates, so the owner's
/// allocator is the only one and allocator propagation concerns it alone. Not RAII: the owner
/// calls release(). The pointer operations cannot throw (allocator requirements), so a failed
/// growth leaves the table as it was.
template <class A>
struct pointer_table {
  using traits = std::allocator_traits<A>;
  using value_type = typename traits::value_type;

  typename traits::pointer data{};
  std::size_t size = 0;
  std::size_t capacity = 0;

  value_type* begin() const noexcept {
    if constexpr (std::is_pointer_v<typename traits::pointer>) return data;
    else return capacity ? std::to_address(data) : nullptr;
  }
  value_type* end() const noexcept { return begin() + size; }
  value_type& operator[](std::size_t k) const noexcept { return std::to_address(data)[k]; }

  /// Room for `n` pointers in all.
  void reserve(A& a, std::size_t n) {
    if (n <= capacity) return;
    if (n > traits::max_size(a)) throw_length_error("core::memory::StableVector", "StableVector: block table too large");
    const auto fresh = traits::allocate(a, n);
    value_type* const to = std::to_address(fresh);
    for (std::size_t k = 0; k < size; ++k) {
      traits::construct(a, to + k, std::move((*this)[k]));
      traits::destroy(a, std::addressof((*this)[k]));
    }
    if (capacity) traits::deallocate(a, data, capacity);
    data = fresh;
    capacity = n;
  }
  /// Appends `p`, doubling the capacity when full.
  void push_back(A& a, value_type p) {
    if (size == capacity) reserve(a, capacity ? 2 * capacity : 1);
    traits::construct(a, begin() + size, std::move(p));
    ++size;
  }
  void pop_back(A& a) noexcept { traits::destroy(a, begin() + --size); }
  /// Destroys the pointers (not what they point to) and frees the array.
  void release(A& a) noexcept {
    while (size) pop_back(a);
    if (capacity) traits::deallocate(a, data, capacity);
    data = nullptr;
    capacity = 0;
  }
};

/// For each byte value: the positions of its set bits, packed one per byte, and how many.
struct set_bit_table {
  std::uint64_t positions[256] = {};
  std::uint8_t count[256] = {};
  constexpr set_bit_table() {
    for (unsigned b = 0; b < 256; ++b) {
      unsigned n = 0;
      for (unsigned i = 0; i < 8; ++i)
        if ((b >> i) & 1u) positions[b] |= std::uint64_t{i} << (8 * n++);
      count[b] = static_cast<std::uint8_t>(n);
    }
  }
};
inline constexpr set_bit_table set_bits{};

/// Calls `f(i)` for each set bit i of `word`, lowest first. The positions are first decoded a byte
/// at a time through a table, so that no step waits on the previous one (clearing the lowest bit
/// in turn is a chain of two dependent instructions per bit without BMI): 1.7x faster on a word
/// two thirds full.
template <class F>
[[gnu::always_inline]] inline void for_each_set_bit(std::uint64_t word, F&& f) {
  std::uint8_t at[64];
  std::size_t n = 0;
  for (unsigned k = 0; k < 8; ++k) {
    const auto byte = static_cast<unsigned>(word >> (8 * k)) & 0xffu;
    const std::uint64_t positions = set_bits.positions[byte] + 0x0808080808080808u * k;
    std::memcpy(at + n, &positions, 8);  // n <= 8k: stays inside `at`
    n += set_bits.count[byte];
  }
  for (std::size_t i = 0; i < n; ++i) f(std::size_t{at[i]});
}

}  // namespace detail

template <class T, std::size_t BlockSize = 64, class Alloc = std::allocator<T>>
class StableVector {
  static_assert(BlockSize > 0 && BlockSize % 64 == 0, "BlockSize must be a positive multiple of 64");
  static constexpr std::size_t words = BlockSize / 64;

  struct Block {
    alignas(T) std::byte storage[BlockSize * sizeof(T)];
    std::uint64_t occupied[words] = {};
    /// Per slot, side by side (an erase or a reuse touches both): the generation, and for a free
    /// slot the next one in the free list (the slot freed before it; no_slot ends the list).
    struct Meta {
      std::uint32_t generation = 0;
      std::uint32_t next_free = 0;
    };
    Meta meta[BlockSize] = {};
    T* slot(std::size_t i) noexcept { return std::launder(reinterpret_cast<T*>(storage + i * sizeof(T))); }
    /// Slot `i` as the start of a run of slots, whether or not it holds an element.
    T* slots_from(std::size_t i) noexcept { return reinterpret_cast<T*>(storage + i * sizeof(T)); }
    bool is_occupied(std::size_t i) const noexcept { return (occupied[i / 64] >> (i % 64)) & 1u; }
  };
  using alloc_traits = std::allocator_traits<Alloc>;
  using block_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<Block>;
  using block_traits = std::allocator_traits<block_alloc>;
  /// What blocks_ holds: the allocator's pointer to a block (an offset_ptr in shared memory).
  using block_pointer = typename block_traits::pointer;
  using ptr_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<block_pointer>;
  static constexpr bool annotated = detail::sanitizer_annotations<block_pointer>;
  static constexpr std::uint32_t no_slot = UINT32_MAX;

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = std::size_t;
  using reference = T&;
  using const_reference = const T&;

  /// Names one element: its slot and the slot's generation when the element was inserted.
  struct Handle {
    std::uint32_t slot = UINT32_MAX;
    std::uint32_t generation = 0;
    friend bool operator==(Handle, Handle) = default;
  };

  template <bool Const>
  class basic_iterator {
    using owner = std::conditional_t<Const, const StableVector, StableVector>;

   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<Const, const T*, T*>;
    using reference = std::conditional_t<Const, const T&, T&>;
    basic_iterator() noexcept = default;
    /// The first live element at or after slot `s`.
    basic_iterator(owner* v, size_type s) noexcept : v_(v) { seek(s); }
    template <bool C = Const>
      requires C
    basic_iterator(const basic_iterator<false>& o) noexcept  // NOLINT: iterator -> const_iterator
        : v_(o.v_), base_(o.base_), word_(o.word_), bits_(o.bits_) {}
    reference operator*() const noexcept { return base_[std::countr_zero(bits_)]; }
    pointer operator->() const noexcept { return std::addressof(**this); }
    /// Next live element: the next set bit of the current occupancy word, else a scan onwards.
    basic_iterator& operator++() noexcept {
      bits_ &= bits_ - 1;
      if (!bits_) [[unlikely]]
        seek((word_ + 1) * 64);
      return *this;
    }
    basic_iterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    /// Same position: same word and same current bit (the bits still to visit may differ if the
    /// word changed between the two iterators' creation). No bits left is the end. Written so
    /// that a loop against end() tests nothing after an increment that left bits (the compiler
    /// knows them non-zero there): 12 -> 8 instructions per element.
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept {
      if (!a.bits_ || !b.bits_) return a.bits_ == b.bits_ && a.word_ == b.word_;
      return (a.bits_ & (~a.bits_ + 1)) == (b.bits_ & (~b.bits_ + 1)) && a.word_ == b.word_;
    }
    /// The handle of the element.
    Handle handle() const noexcept {
      const size_type s = slot();
      return {static_cast<std::uint32_t>(s), v_->generation_of(s)};
    }

   private:
    friend class StableVector;
    template <bool>
    friend class basic_iterator;

    size_type slot() const noexcept { return word_ * 64 + (bits_ ? static_cast<size_type>(std::countr_zero(bits_)) : 0); }

    void seek(size_type s) noexcept {
      const size_type n = v_->slots();
      for (; s < n; s = (s | 63) + 1) {
        Block* b = v_->block(s / BlockSize);
        const size_type i = s % BlockSize;
        const std::uint64_t w = b->occupied[i / 64] & (~std::uint64_t{0} << (i % 64));
        if (w) {
          base_ = b->slots_from(i & ~size_type{63});
          word_ = s / 64;
          bits_ = w;
          return;
        }
      }
      word_ = n / 64;
      bits_ = 0;
    }

    owner* v_ = nullptr;
    pointer base_ = nullptr;  // slot 0 of the current occupancy word
    size_type word_ = 0;      // index of the current occupancy word; slots() / 64 at the end
    std::uint64_t bits_ = 0;  // live slots of the current word not yet visited, current included
  };
  using iterator = basic_iterator<false>;
  using const_iterator = basic_iterator<true>;

  StableVector() noexcept(noexcept(Alloc())) : StableVector(Alloc()) {}
  explicit StableVector(const Alloc& alloc) noexcept : alloc_(alloc), salt_(salt_for(this)) {}
  /// A copy keeps every element in the same slot with the same generation: the original's
  /// handles name the same elements in the copy. Strong guarantee.
  StableVector(const StableVector& o)
      : StableVector(o, alloc_traits::select_on_container_copy_construction(o.alloc_)) {}
  StableVector(const StableVector& o, const Alloc& alloc) : StableVector(alloc) {
    copy_slots_from(o, [](const T& x) -> const T& { return x; });
  }
  /// Takes the blocks: pointers, references and handles stay valid and now belong to this vector.
  StableVector(StableVector&& o) noexcept
      : alloc_(o.alloc_), blocks_(std::exchange(o.blocks_, {})), size_(std::exchange(o.size_, 0)),
        fresh_(std::exchange(o.fresh_, 0)), free_(std::exchange(o.free_, no_slot)), generation_floor_(o.generation_floor_),
        salt_(o.salt_) {
    o.salt_ += 0x9E3779B9u;  // the source lives on: its new handles must not be valid here
  }
  /// Takes the blocks if `alloc` equals `o`'s allocator; else moves the elements one by one into
  /// memory from `alloc` (copies them where a move may fail: then `o` is whole if this throws),
  /// keeping their slots (handles stay valid), and `o` keeps moved-from ones.
  StableVector(StableVector&& o, const Alloc& alloc) : StableVector(alloc) {
    if (alloc_ == o.alloc_) swap_contents<false>(o);
    else copy_slots_from(o, [](T& x) -> decltype(auto) { return across_allocators(x); });
  }
  /// Strong guarantee; copies keep slots and generations (see the copy constructor).
  StableVector& operator=(const StableVector& o) {
    detail::allocator_assignment::copy(*this, o);
    return *this;
  }
  /// Takes the blocks when the allocators allow (equal, or propagating); otherwise moves the
  /// elements one by one into this vector's memory, keeping their slots (handles stay valid).
  StableVector& operator=(StableVector&& o) noexcept(alloc_traits::propagate_on_container_move_assignment::value ||
                                                     alloc_traits::is_always_equal::value) {
    detail::allocator_assignment::move(*this, o);
    return *this;
  }
  /// Destroys the elements (not even visited when that is a no-op) and frees the blocks.
  ~StableVector() {
    if constexpr (!std::is_trivially_destructible_v<T> || requires(Alloc& a, T* p) { a.destroy(p); }) clear();
    for (const block_pointer& b : blocks_) delete_block(b);
    ptr_alloc pa(alloc_);
    blocks_.release(pa);
  }
  /// Exchanges the contents (handles follow their elements). Allocators that propagate on swap are
  /// exchanged too; equal ones exchange the blocks; unequal, non-propagating ones keep their memory
  /// and the elements are moved across into the same slots (copied if their move may throw: then
  /// strong; may allocate and throw).
  void swap(StableVector& o) noexcept(alloc_traits::propagate_on_container_swap::value ||
                                      alloc_traits::is_always_equal::value) {
    constexpr bool propagate = alloc_traits::propagate_on_container_swap::value;
    if (propagate || alloc_ == o.alloc_) {
      swap_contents<propagate>(o);
    } else {
      auto get = [](T& x) -> decltype(auto) { return across_allocators(x); };
      StableVector mine(alloc_), theirs(o.alloc_);
      mine.mirror_blocks_of(o);  // every allocation before the first move
      theirs.mirror_blocks_of(*this);
      mine.fill_slots_from(o, get);
      theirs.fill_slots_from(*this, get);
      swap_contents<false>(mine);
      o.swap_contents<false>(theirs);
    }
  }
  friend void swap(StableVector& a, StableVector& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }

  /// Inserts an element (into the most recently freed slot if there is one, else into the lowest
  /// never used one); returns its handle. Never moves or invalidates other elements. Strong
  /// guarantee.
  template <class... Args>
  Handle emplace(Args&&... args) {
    const bool reuse = free_ != no_slot;
    if (!reuse && fresh_ == slots()) [[unlikely]]
      add_blocks(1);
    const auto s = static_cast<std::uint32_t>(reuse ? free_ : fresh_);
    Block* b = block(s / BlockSize);
    const std::size_t i = s % BlockSize;
    const auto meta = b->meta[i];  // read before the element is built: T's stores cannot hide it
    place(b, i, std::forward<Args>(args)...);
    if (reuse) free_ = meta.next_free;
    else ++fresh_;
    return {s, static_cast<std::uint32_t>(meta.generation + salt_)};
  }
  template <class... Args>
  Handle emplace_back(Args&&... args) {  // the spec's name; "back" is wherever a free slot is
    return emplace(std::forward<Args>(args)...);
  }
  Handle push_back(const T& x) { return emplace(x); }
  Handle push_back(T&& x) { return emplace(std::move(x)); }

  /// Destroys the element; its slot is reused later and every handle to it becomes invalid. O(1).
  void erase(Handle h) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::StableVector", is_valid(h), "erase of a stale or foreign handle");
    Block* b = block(h.slot / BlockSize);
    const std::size_t i = h.slot % BlockSize;
    alloc_traits::destroy(alloc_, b->slot(i));
    std::uint64_t& word = b->occupied[i / 64];
    word &= ~(std::uint64_t{1} << (i % 64));
    poison_free_slot(b, i);
    ++b->meta[i].generation;
    b->meta[i].next_free = free_;  // on top of the free list
    free_ = h.slot;
    --size_;
  }
  iterator erase(const_iterator it) noexcept {
    iterator next{this, it.slot()};
    ++next;  // found before the erase; erasing the current slot does not disturb it
    erase(it.handle());
    return next;
  }

  /// True if `h` still names a live element (false once it was erased, even if the slot is reused).
  [[nodiscard]] bool is_valid(Handle h) const noexcept {
    if (h.slot >= blocks_.size * BlockSize) return false;
    const Block* b = block(h.slot / BlockSize);
    return b->is_occupied(h.slot % BlockSize) &&
           static_cast<std::uint32_t>(b->meta[h.slot % BlockSize].generation + salt_) == h.generation;
  }
  /// The element `h` names, or null if it is gone.
  T* get(Handle h) noexcept { return is_valid(h) ? block(h.slot / BlockSize)->slot(h.slot % BlockSize) : nullptr; }
  const T* get(Handle h) const noexcept { return const_cast<StableVector*>(this)->get(h); }
  T& operator[](Handle h) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::StableVector", is_valid(h), "access through a stale or foreign handle");
    return *block(h.slot / BlockSize)->slot(h.slot % BlockSize);
  }

  /// The iterator of the element at `p` (end() if `p` is not a live element here). O(blocks).
  iterator get_iterator(const T* p) noexcept {
    for (size_type k = 0; k < blocks_.size; ++k) {
      Block* b = block(k);
      const auto* first = b->slot(0);
      if (p >= first && p < first + BlockSize) {
        const auto i = static_cast<size_type>(p - first);
        return b->is_occupied(i) ? iterator{this, k * BlockSize + i} : end();
      }
    }
    return end();
  }
  /// The handle of the element at `p` (a default Handle, never valid, if none).
  Handle handle_of(const T* p) noexcept {
    const auto it = get_iterator(p);
    return it == end() ? Handle{} : it.handle();
  }

  iterator begin() noexcept { return {this, 0}; }
  iterator end() noexcept { return {this, slots()}; }
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, slots()}; }

  /// Calls `f(element)` for every element in slot order (the iterators' order), faster than the
  /// iterators: a run of 64 occupied slots is visited as a plain array loop the compiler can
  /// vectorize. `f` must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    visit(*this, f);
  }
  template <class F>
  void for_each(F&& f) const {
    visit(*this, f);
  }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  size_type size() const noexcept { return size_; }
  size_type capacity() const noexcept { return slots(); }
  size_type block_count() const noexcept { return blocks_.size; }
  /// The most elements a StableVector can hold: slots are numbered in 32 bits (UINT32_MAX names
  /// no slot), and the allocator must be able to serve the blocks.
  size_type max_size() const noexcept {
    const block_alloc ba(alloc_);
    return std::min<size_type>(UINT32_MAX / BlockSize, block_traits::max_size(ba)) * BlockSize;
  }

  /// Makes room for `n` elements in total, in O(n / BlockSize) allocations and time. Throws
  /// std::length_error if n > max_size(). Strong guarantee (blocks added before a failure stay,
  /// empty).
  void reserve(size_type n) {
    if (n > max_size()) throw_length_error("core::memory::StableVector", "StableVector::reserve: n exceeds max_size()");
    if (n > slots()) add_blocks((n - slots() + BlockSize - 1) / BlockSize);
  }
  /// Releases trailing blocks with no live element (earlier empty blocks stay: their slot numbers
  /// are part of live handles' identity).
  void shrink_to_fit() {
    size_type keep = blocks_.size;
    while (keep > 0 && block_empty(block(keep - 1))) --keep;
    if (keep == blocks_.size) return;
    const auto limit = static_cast<std::uint32_t>(keep * BlockSize);
    for (std::uint32_t* link = &free_; *link != no_slot;) {  // unlink the slots of released blocks
      std::uint32_t& next = block(*link / BlockSize)->meta[*link % BlockSize].next_free;
      if (*link >= limit) *link = next;
      else link = &next;
    }
    fresh_ = std::min<size_type>(fresh_, limit);
    release_blocks(keep);
  }
  /// Destroys every element (blocks are kept; all handles become invalid). O(capacity / 64 +
  /// size()); insertions then fill the slots from the first again.
  void clear() noexcept {
    for (const block_pointer& p : blocks_) {
      Block* b = std::to_address(p);
      for (std::size_t w = 0; w < words; ++w) {
        const std::uint64_t bits = std::exchange(b->occupied[w], 0);
        detail::for_each_set_bit(bits, [&](std::size_t i) {
          alloc_traits::destroy(alloc_, b->slots_from(w * 64) + i);
          ++b->meta[w * 64 + i].generation;  // its handles die
        });
      }
      if constexpr (annotated) poison_memory(b->storage, sizeof b->storage);
    }
    free_ = no_slot;
    fresh_ = 0;
    size_ = 0;
  }

  allocator_type get_allocator() const noexcept { return alloc_; }

  /// Equal if they hold equal elements in the same (slot) order, as iteration sees them; which
  /// slots hold them and the generations are not compared.
  friend bool operator==(const StableVector& a, const StableVector& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  friend struct detail::allocator_assignment;

  size_type slots() const noexcept { return blocks_.size * BlockSize; }
  Block* block(size_type k) const noexcept { return std::to_address(blocks_[k]); }

  template <class Self, class F>
  static void visit(Self& self, F& f) {
    using P = std::conditional_t<std::is_const_v<Self>, const T*, T*>;
    for (const block_pointer& p : self.blocks_) {
      Block* b = std::to_address(p);
      for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t bits = b->occupied[w];
        const P base = b->slots_from(w * 64);
        if (bits == ~std::uint64_t{0}) {
          for (std::size_t k = 0; k < 64; ++k) f(base[k]);
        } else {
          detail::for_each_set_bit(bits, [&](std::size_t i) { f(base[i]); });
        }
      }
    }
  }
  /// The generation a handle to slot `s` carries now (salted).
  std::uint32_t generation_of(size_type s) const noexcept {
    return static_cast<std::uint32_t>(block(s / BlockSize)->meta[s % BlockSize].generation + salt_);
  }
  /// A container's handle salt: its address, mixed (containers alive together differ).
  static std::uint32_t salt_for(const void* p) noexcept {
    return static_cast<std::uint32_t>(((reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15u) >> 32);
  }
  /// Poisons free slot i of `b` with the free slots right before it that share its granule.
  static void poison_free_slot(Block* b, std::size_t i) noexcept {
    if constexpr (!annotated) return;
    const std::uint64_t below = b->occupied[i / 64] & ((std::uint64_t{1} << (i % 64)) - 1);
    detail::poison_freed_slot(b->slots_from(i & ~std::size_t{63}), i % 64,
                              i % 64 - static_cast<std::size_t>(std::bit_width(below)));
  }
  static bool block_empty(const Block* b) noexcept {
    for (auto w : b->occupied)
      if (w) return false;
    return true;
  }

  /// Adds `n` blocks of fresh slots. Strong guarantee (blocks added before a failure stay, empty).
  void add_blocks(size_type n) {
    if (n > max_size() / BlockSize - blocks_.size)
      throw_length_error("core::memory::StableVector", "StableVector: size would exceed max_size()");
    const size_type target = blocks_.size + n;
    ptr_alloc pa(alloc_);
    if (n > 1) blocks_.reserve(pa, target);
    while (blocks_.size < target) {
      block_pointer b = new_block();
      // A block can reuse the slot numbers of a released one: its generations start above every
      // generation ever handed out, so handles into the released block stay invalid.
      for (auto& m : b->meta) m.generation = generation_floor_;
#if CORE_MEMORY_EXCEPTIONS
      try {
#endif
        blocks_.push_back(pa, b);
#if CORE_MEMORY_EXCEPTIONS
      } catch (...) {
        delete_block(b);
        throw;
      }
#endif
    }
  }

  /// Builds `o`'s slots here (this vector is empty): same blocks, generations, free slots, and
  /// each element made from `get(element)` (a copy or a move) in its own slot. Every block is
  /// allocated before the first element is made, so a failed allocation has moved nothing out of
  /// `o`. If an element throws, the destructor (this is called from constructors that delegated,
  /// or on a temporary) destroys what was built.
  template <class Src, class Get>
  void copy_slots_from(Src& o, Get get) {
    mirror_blocks_of(o);
    fill_slots_from(o, get);
  }
  /// An element to make in memory of another, unequal allocator: moved if that cannot fail, else
  /// copied. (An element built with the allocator, std::pmr::string, is copied: moved across
  /// allocators it is copied into the new memory anyway, and that may fail.)
  static decltype(auto) across_allocators(T& x) noexcept {
    if constexpr (std::uses_allocator_v<T, Alloc> && std::is_copy_constructible_v<T>) return std::as_const(x);
    else return std::move_if_noexcept(x);
  }
  /// The first half of copy_slots_from: `o`'s blocks, generations and free list, no element.
  template <class Src>
  void mirror_blocks_of(const Src& o) {
    generation_floor_ = o.generation_floor_;
    salt_ = o.salt_;
    fresh_ = o.fresh_;
    ptr_alloc pa(alloc_);
    blocks_.reserve(pa, o.blocks_.size);
    for (const auto& op : o.blocks_) {
      blocks_.push_back(pa, new_block());  // capacity reserved: cannot throw
      std::copy(std::begin(op->meta), std::end(op->meta), std::begin(block(blocks_.size - 1)->meta));
    }
    free_ = o.free_;  // the same free list: the links were copied with the blocks
  }
  /// The second half: each of `o`'s elements made from `get(element)` in the same slot here.
  template <class Src, class Get>
  void fill_slots_from(Src& o, Get get) {
    for (std::size_t k = 0; k < o.blocks_.size; ++k) {
      Block* ob = std::to_address(o.blocks_[k]);
      for (std::size_t i = 0; i < BlockSize; ++i)
        if (ob->is_occupied(i)) place(block(k), i, get(*ob->slot(i)));
    }
  }

  /// Swaps the contents, and the allocators if `with_allocators` (callers make sure the blocks and
  /// the block table always end up with the allocator that made them).
  template <bool with_allocators>
  void swap_contents(StableVector& o) noexcept {
    using std::swap;
    if constexpr (with_allocators) swap(alloc_, o.alloc_);
    swap(blocks_, o.blocks_);
    swap(free_, o.free_);
    swap(size_, o.size_);
    swap(fresh_, o.fresh_);
    swap(generation_floor_, o.generation_floor_);
    swap(salt_, o.salt_);
  }

  void release_blocks(size_type keep) noexcept {
    ptr_alloc pa(alloc_);
    while (blocks_.size > keep) {
      block_pointer b = blocks_[blocks_.size - 1];
      blocks_.pop_back(pa);
      for (const auto& m : b->meta) generation_floor_ = m.generation + 1 > generation_floor_ ? m.generation + 1 : generation_floor_;
      delete_block(b);
    }
  }

  /// A fresh block: no element, every slot poisoned for AddressSanitizer.
  block_pointer new_block() {
    block_alloc ba(alloc_);
    block_pointer p = block_traits::allocate(ba, 1);
    Block* b = ::new (static_cast<void*>(std::to_address(p))) Block();
    if constexpr (annotated) poison_memory(b->storage, sizeof b->storage);
    return p;
  }
  void delete_block(const block_pointer& p) noexcept {
    block_alloc ba(alloc_);
    Block* b = std::to_address(p);
    if constexpr (annotated) unpoison_memory(b->storage, sizeof b->storage);
    b->~Block();
    block_traits::deallocate(ba, p, 1);
  }

  /// Builds an element in free slot i of `b` and counts it in. If the constructor throws, the
  /// slot is poisoned again and nothing changed.
  template <class... Args>
  void place(Block* b, std::size_t i, Args&&... args) {
    if constexpr (annotated) unpoison_memory(b->slot(i), sizeof(T));
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      alloc_traits::construct(alloc_, b->slot(i), std::forward<Args>(args)...);  // uses-allocator for pmr T
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      poison_free_slot(b, i);
      throw;
    }
#endif
    b->occupied[i / 64] |= std::uint64_t{1} << (i % 64);
    ++size_;
  }

  [[no_unique_address]] Alloc alloc_{};
  detail::pointer_table<ptr_alloc> blocks_;
  size_type size_ = 0;
  size_type fresh_ = 0;                 // slots from here on were never used since their block came
  std::uint32_t free_ = no_slot;        // the most recently erased free slot: the free list's head
  std::uint32_t generation_floor_ = 0;  // generations of new blocks start here
  std::uint32_t salt_ = 0;              // added to the generations in handles
};

}  // namespace core::memory
