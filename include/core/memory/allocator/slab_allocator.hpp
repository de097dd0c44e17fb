#pragma once
/// Slab allocation, kernel style (Bonwick). A SlabCache serves objects of one size from slabs:
/// power-of-two sized, size-aligned runs of memory whose header sits at the start, so the slab of
/// any object is found by masking its address. Each cache keeps its slabs on partial, full and
/// empty lists; allocation takes from a partial slab (its free list, else the next object never
/// handed out: a new slab's memory is touched only as it is used), freeing moves a slab back to
/// partial or empty, and reclaim() returns empty slabs upstream. A cache can keep its objects
/// constructed (constructor caching): the constructor runs when an object is first handed out,
/// the destructor when its slab is released, and callers hand objects back in their constructed
/// state.
/// SlabAllocator is a RawAllocator over a set of caches, one per size class (16 B .. 2 KiB);
/// larger requests go upstream. Not thread-safe.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/detail/page_set.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicSlabCache {
 public:
  static constexpr const char* allocator_name = "core::memory::SlabCache";
  /// Runs on each object before it is first handed out (constructor caching); may be null.
  using constructor_fn = void (*)(void* object);
  /// Runs on every object of a slab being released that was ever handed out; may be null.
  using destructor_fn = void (*)(void* object);

  /// Objects of `object_size` bytes aligned to `object_alignment` (at most 4096). Slabs are the
  /// smallest power of two (at least 4 KiB) that holds 8 objects, obtained on first use (then
  /// out_of_memory if upstream cannot give one). A size for which no such slab fits the address
  /// space throws std::bad_array_new_length (without exceptions: reported as bad_array_length,
  /// then abort); an invalid alignment is reported as invalid_alignment (if the handler returns,
  /// 16 is used).
  /// `min_objects` (8 to 1024) sets how many objects a slab holds at least; `name` is the
  /// component reports name (that of a pool built on the cache).
  explicit BasicSlabCache(std::size_t object_size, std::size_t object_alignment = 16, constructor_fn ctor = nullptr,
                          destructor_fn dtor = nullptr, std::size_t keep_empty = 1, std::size_t min_objects = 8,
                          const char* name = allocator_name)
    requires allocator_traits<Upstream>::is_stateless
      : BasicSlabCache(detail::allocator_ref<Upstream>(Upstream{}), object_size, object_alignment, ctor, dtor,
                       keep_empty, min_objects, name) {}
  BasicSlabCache(Upstream& upstream, std::size_t object_size, std::size_t object_alignment = 16,
                 constructor_fn ctor = nullptr, destructor_fn dtor = nullptr, std::size_t keep_empty = 1,
                 std::size_t min_objects = 8, const char* name = allocator_name)
      : BasicSlabCache(detail::allocator_ref<Upstream>(upstream), object_size, object_alignment, ctor, dtor,
                       keep_empty, min_objects, name) {}

  BasicSlabCache(const BasicSlabCache&) = delete;
  BasicSlabCache& operator=(const BasicSlabCache&) = delete;
  BasicSlabCache(BasicSlabCache&&) = delete;
  ~BasicSlabCache() {
    for (Slab** list : {&partial_, &full_, &empty_})
      while (*list) release(pop_front(*list));
    vg_pool_destroy(this);
  }

  /// One object (constructed, if the cache has a constructor); throws out_of_memory. O(1).
  [[nodiscard]] void* allocate_object() {
    void* p = try_allocate_object();
    if (!p) [[unlikely]]
      throw_out_of_memory(name_, object_size_, object_alignment_);
    return p;
  }

  [[nodiscard]] void* try_allocate_object() noexcept {
    Slab* s = partial_;
    if (!s) [[unlikely]] {
      s = empty_ ? pop_empty() : create();
      if (!s) return nullptr;
      push_front(partial_, s, list_partial);
    }
    void* obj = s->free;
    const bool fresh = obj == nullptr;  // none freed: the next object never handed out
    if (fresh) {
      obj = s->fresh;
      // relaxed: another thread may read it in handed_out (a concurrent pool's hardened check);
      // a block reaches a thread that frees it through an ordered hand-over after this store.
      std::atomic_ref<std::byte*>(s->fresh).store(s->fresh + stride_, std::memory_order_relaxed);
    }
    unpoison_memory(obj, sizeof(void*));  // the link's word, as for one from the free list
    if (!fresh) std::memcpy(&s->free, obj, sizeof(void*));
    mark(s, obj, false);
    if (++s->in_use == objects_per_slab_) move(s, partial_, full_, list_full);
    ++in_use_;
    unpoison_memory(obj, object_size_);
    vg_alloc(this, obj, object_size_);
    if (ctor_) {
      if constexpr (valgrind_enabled) unpoison_memory(obj, object_size_);  // constructed: defined
      if (fresh) {
        ctor_(obj);
        save_first_word(obj);  // as every free one's: put back if the cache dies with it live
      } else {
        restore_first_word(obj);
      }
    }
    return obj;
  }

  /// Returns an object (in its constructed state, if the cache has a constructor). O(1).
  /// Hardened builds report a double free, an interior pointer or a pointer that is not an object
  /// of this cache (expensive builds: of a slab on its lists), and ignore the call.
  void deallocate_object(void* obj) noexcept {
    Slab* s = slab_of(obj);
    if constexpr (checks::hardened) {
      if (!valid(s, obj)) return;
    }
    unpoison_memory(obj, sizeof(void*));  // an object smaller than the link was unpoisoned only whole
    if (ctor_) save_first_word(obj);
    std::memcpy(obj, &s->free, sizeof(void*));
    vg_free(this, obj);
    poison_memory(obj, stride_);
    s->free = obj;
    mark(s, obj, true);
    --in_use_;
    if (s->in_use-- == objects_per_slab_) move(s, full_, partial_, list_partial);
    if (s->in_use == 0) {
      unlink(partial_, s);
      if (empty_count_ < keep_empty_) push_empty(s);
      else release(s);
    }
  }

  /// Returns every empty slab upstream; returns how many.
  std::size_t reclaim() noexcept {
    std::size_t n = 0;
    while (empty_) {
      release(pop_empty());
      ++n;
    }
    return n;
  }

  /// True if an object can be had without a new slab.
  [[nodiscard]] bool has_free_object() const noexcept { return partial_ || empty_; }

  /// True if `p` is an object of a slab of this cache. O(slabs).
  [[nodiscard]] bool owns(const void* p) const noexcept {
    for (Slab* list : {partial_, full_, empty_})
      for (Slab* s = list; s; s = s->next)
        if (p >= s->objects() && p < s->objects() + objects_per_slab_ * stride_) return true;
    return false;
  }

  /// True if `p` lies in a slab of this cache, by the hardened check's test (the slab's header
  /// names this cache). O(1).
  [[nodiscard]] bool in_own_slab(const void* p) const noexcept {
    const Slab* s = slab_of(p);
    const auto a = reinterpret_cast<std::uintptr_t>(s);
    return a >= lowest_ && a < highest_ && on_slab_page(s) && cache_in(s) == this;
  }

  /// The cache whose slab of `slab_size` bytes holds `p`, read from the slab's header: `p` must
  /// lie in a slab of that size (the concurrent pools find a block's owner so). Null for a slab
  /// no cache holds (released: its header's cache is cleared, and poisoned under ASan).
  [[nodiscard]] static BasicSlabCache* cache_of(const void* p, std::size_t slab_size) noexcept {
    const Slab* s = reinterpret_cast<Slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(slab_size - 1));
    if (is_poisoned(&s->cache)) return nullptr;
    return cache_in(s);
  }

  /// True if `p`, an object of a slab of this cache, was ever handed out (objects are carved in
  /// address order as first needed; those beyond have never been). Any thread may ask.
  [[nodiscard]] bool handed_out(const void* p) const noexcept {
    Slab* s = slab_of(p);
    return static_cast<const std::byte*>(p) < std::atomic_ref<std::byte*>(s->fresh).load(std::memory_order_relaxed);
  }

  /// True if `p`, which lies in a slab of this cache, is the start of one of its objects.
  [[nodiscard]] bool is_object_start(const void* p) const noexcept {
    const Slab* s = slab_of(p);
    const auto* b = static_cast<const std::byte*>(p);
    return b >= s->objects() && index_of(s, p) < objects_per_slab_ &&
           static_cast<std::size_t>(b - s->objects()) % stride_ == 0;
  }

  /// The name reports give (that of the pool built on this cache, if any).
  [[nodiscard]] const char* name() const noexcept { return name_; }

  [[nodiscard]] std::size_t object_size() const noexcept { return object_size_; }
  [[nodiscard]] std::size_t object_alignment() const noexcept { return object_alignment_; }
  [[nodiscard]] std::size_t slab_size() const noexcept { return slab_size_; }
  /// Bytes a slab's header takes before its first object (objects aligned beyond 16 start at
  /// their alignment).
  [[nodiscard]] static constexpr std::size_t header_bytes(std::size_t object_alignment = 16) noexcept {
    return align_up(sizeof(Slab), object_alignment < alignof(void*) ? alignof(void*) : object_alignment);
  }
  [[nodiscard]] std::size_t objects_per_slab() const noexcept { return objects_per_slab_; }
  /// Bytes from one object of a slab to the next.
  [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
  /// Objects handed out and not returned.
  [[nodiscard]] std::size_t objects_in_use() const noexcept { return in_use_; }
  /// Slabs on each list.
  [[nodiscard]] std::size_t partial_slabs() const noexcept { return count(partial_); }
  [[nodiscard]] std::size_t full_slabs() const noexcept { return count(full_); }
  [[nodiscard]] std::size_t empty_slabs() const noexcept { return empty_count_; }
  /// Bytes of all slabs held.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return slabs_ * slab_size_; }

 private:
  enum : unsigned { list_partial, list_full, list_empty };
  static constexpr std::size_t max_objects = 1024;

  struct no_bits {};
  struct Slab {
    Slab* prev;
    Slab* next;
    void* free;         // objects handed out and returned
    std::byte* fresh;   // the next object never handed out (objects end: none left)
    BasicSlabCache* cache;
    std::size_t in_use;
    std::uint32_t objects_offset;
    unsigned list;
    // Which objects are free: hardened checks only. Without them the header is 64 bytes, not
    // 192: a 4 KiB slab of 32-byte objects holds 126, not 120.
    [[no_unique_address]] std::conditional_t<checks::hardened, std::array<std::uint64_t, max_objects / 64>, no_bits>
        free_bits;
    std::byte* objects() const noexcept {
      return reinterpret_cast<std::byte*>(const_cast<Slab*>(this)) + objects_offset;
    }
  };

  BasicSlabCache(detail::allocator_ref<Upstream> upstream, std::size_t object_size, std::size_t object_alignment,
                 constructor_fn ctor, destructor_fn dtor, std::size_t keep_empty, std::size_t min_objects,
                 const char* name)
      : upstream_(upstream), ctor_(ctor), dtor_(dtor), keep_empty_(keep_empty), name_(name) {
    min_objects = min_objects < 8 ? 8 : (min_objects > max_objects ? max_objects : min_objects);
    if (!is_valid_alignment(object_alignment) || object_alignment > 4096) {
      report_misuse({error_kind::invalid_alignment, name_, nullptr, object_size, object_alignment,
                     "object alignment must be a power of two up to 4096", nullptr, 0});
      object_alignment = 16;
    }
    object_size_ = object_size;
    object_alignment_ = object_alignment < alignof(void*) ? alignof(void*) : object_alignment;
    // With constructor caching the first word of a free object is saved aside, not lost.
    const std::size_t body = object_size < sizeof(void*) ? sizeof(void*) : object_size;
    stride_ = checked_align_up(checked_add(body, ctor ? sizeof(void*) : 0, name_), object_alignment_,
                               name_);
    const std::size_t offset = align_up(sizeof(Slab), object_alignment_);
    // A slab is the power of two that holds the header and at least min_objects objects.
    const std::size_t need = checked_add(offset, checked_mul(stride_, min_objects, name_), name_);
    constexpr std::size_t largest_slab = ~(SIZE_MAX >> 1);
    if (need > largest_slab) [[unlikely]]
      throw_bad_array_length(name_, need, '>', largest_slab);
    slab_size_ = std::bit_ceil(need < 4096 ? std::size_t{4096} : need);
    objects_per_slab_ = (slab_size_ - offset) / stride_;
    if (objects_per_slab_ > max_objects) objects_per_slab_ = max_objects;
    objects_offset_ = offset;
    vg_pool_create(this);
  }

  // With constructor caching, the link overwrites the first word of a constructed object; that
  // word is kept in the last word of the object's stride and put back on allocation.
  void save_first_word(void* obj) const noexcept {
    auto* saved = static_cast<std::byte*>(obj) + stride_ - sizeof(void*);
    unpoison_memory(saved, sizeof(void*));
    std::memcpy(saved, obj, sizeof(void*));
  }
  void restore_first_word(void* obj) const noexcept {
    auto* saved = static_cast<std::byte*>(obj) + stride_ - sizeof(void*);
    unpoison_memory(saved, sizeof(void*));
    std::memcpy(obj, saved, sizeof(void*));
    poison_memory(saved, sizeof(void*));
  }

  Slab* slab_of(const void* p) const noexcept {
    return reinterpret_cast<Slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(slab_size_ - 1));
  }
  std::size_t index_of(const Slab* s, const void* p) const noexcept {
    return static_cast<std::size_t>(static_cast<const std::byte*>(p) - s->objects()) / stride_;
  }
  void mark([[maybe_unused]] Slab* s, [[maybe_unused]] const void* obj, [[maybe_unused]] bool free) const noexcept {
    if constexpr (checks::hardened) {
      const std::size_t i = index_of(s, obj);
      if (free) s->free_bits[i / 64] |= std::uint64_t{1} << (i % 64);
      else s->free_bits[i / 64] &= ~(std::uint64_t{1} << (i % 64));
    }
  }

  /// Hardened check before a free: the slab must lie in the range of this cache's slabs and name
  /// this cache (expensive builds: be on one of its lists), and the object must be live.
  bool valid(Slab* s, void* obj) noexcept {
    const auto* b = static_cast<std::byte*>(obj);
    const auto a = reinterpret_cast<std::uintptr_t>(s);
    bool mine = a >= lowest_ && a < highest_ && on_slab_page(s) && cache_in(s) == this;
    if constexpr (checks::expensive) {
      bool listed = false;
      for (Slab* list : {partial_, full_, empty_})  // a double free can hit a kept empty slab
        for (Slab* x = list; x && !listed; x = x->next) listed = x == s;
      mine = mine && listed;
    }
    if (!mine || b < s->objects() || index_of(s, obj) >= objects_per_slab_) {
      report_misuse({error_kind::foreign_pointer, name_, obj, object_size_, object_alignment_,
                     "not an object of this slab cache", nullptr, 0});
      return false;
    }
    if (static_cast<std::size_t>(b - s->objects()) % stride_ != 0) {
      report_misuse({error_kind::interior_pointer, name_, obj, object_size_, object_alignment_,
                     "inside an object of this slab cache, not at its start", nullptr, 0});
      return false;
    }
    const std::size_t i = index_of(s, obj);
    if ((s->free_bits[i / 64] >> (i % 64)) & 1u) {
      report_misuse({error_kind::double_free, name_, obj, object_size_, object_alignment_,
                     "object is already free", nullptr, 0});
      return false;
    }
    return true;
  }

  Slab* create() noexcept {
    void* mem = allocator_traits<Upstream>::try_allocate(upstream_.get(), slab_size_, slab_size_);
    if (!mem) return nullptr;
    if constexpr (tracks_pages) {
      if (!pages_.insert(mem, slab_size_)) {
        allocator_traits<Upstream>::deallocate(upstream_.get(), mem, slab_size_, slab_size_);
        return nullptr;
      }
    }
    // Default-initialised, the fields set one by one: the cache pointer is written only atomically
    // (set_cache), last, as a concurrent pool's check may read it meanwhile.
    auto* s = ::new (mem) Slab;
    s->prev = s->next = nullptr;
    s->free = nullptr;
    s->in_use = 0;
    s->objects_offset = static_cast<std::uint32_t>(objects_offset_);
    s->list = list_empty;
    s->fresh = s->objects();  // objects are carved in address order as they are first needed
    set_cache(s, this);
    ++slabs_;
    const auto a = reinterpret_cast<std::uintptr_t>(mem);
    lowest_ = a < lowest_ ? a : lowest_;
    highest_ = a + slab_size_ > highest_ ? a + slab_size_ : highest_;
    if constexpr (checks::hardened) {  // every object free
      for (std::size_t i = 0; i < objects_per_slab_; i += 64)
        s->free_bits[i / 64] = objects_per_slab_ - i >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << (objects_per_slab_ - i)) - 1;
    }
    poison_memory(s->objects(), objects_per_slab_ * stride_);
    return s;
  }

  void release(Slab* s) noexcept {
    std::byte* first = s->objects();
    unpoison_memory(first, objects_per_slab_ * stride_);
    if (dtor_) {  // the objects ever handed out were constructed
      // The free ones' first words hold the free list's links: put back what they held. (All
      // of them, live ones too, overwrote what a live object's owner wrote there since: its
      // destructor freed a buffer twice.)
      for (void* obj = s->free; obj;) {
        void* next = nullptr;
        std::memcpy(&next, obj, sizeof(void*));
        restore_first_word(obj);
        obj = next;
      }
      for (std::byte* obj = first; obj != s->fresh; obj += stride_) dtor_(obj);
    }
    --slabs_;
    set_cache(s, nullptr);  // a stale pointer into a recycled slab no longer passes the hardened check
    if constexpr (tracks_pages) pages_.erase(s, slab_size_);
    allocator_traits<Upstream>::deallocate(upstream_.get(), s, slab_size_, slab_size_);
  }

  static void push_front(Slab*& head, Slab* s, unsigned list) noexcept {
    s->prev = nullptr;
    s->next = head;
    if (head) head->prev = s;
    head = s;
    s->list = list;
  }
  static void unlink(Slab*& head, Slab* s) noexcept {
    if (s->prev) s->prev->next = s->next;
    else head = s->next;
    if (s->next) s->next->prev = s->prev;
  }
  static Slab* pop_front(Slab*& head) noexcept {
    Slab* s = head;
    unlink(head, s);
    return s;
  }
  static void move(Slab* s, Slab*& from, Slab*& to, unsigned list) noexcept {
    unlink(from, s);
    push_front(to, s, list);
  }
  static std::size_t count(const Slab* head) noexcept {
    std::size_t n = 0;
    for (; head; head = head->next) ++n;
    return n;
  }
  // The empty list keeps its length: deallocate_object compares it with keep_empty (counting
  // the list there made a free O(empty slabs): 20 us each with 32,000 kept).
  void push_empty(Slab* s) noexcept {
    push_front(empty_, s, list_empty);
    ++empty_count_;
  }
  Slab* pop_empty() noexcept {
    --empty_count_;
    return pop_front(empty_);
  }

  // A slab's cache pointer is what a concurrent pool's check (owns, validate_free) reads from any
  // thread, while the owner makes or releases the slab. release: the header's other fields are
  // written before it names its cache; acquire: a reader that sees the cache sees them.
  static BasicSlabCache* cache_in(const Slab* s) noexcept { return __atomic_load_n(&s->cache, __ATOMIC_ACQUIRE); }
  static void set_cache(Slab* s, BasicSlabCache* c) noexcept { __atomic_store_n(&s->cache, c, __ATOMIC_RELEASE); }

  /// Hardened checks read a slab header only on a page of a slab held: between the slabs, or in
  /// one given back, the memory may not be mapped. A concurrent pool's caches (whose upstream, its
  /// depot, vouches for every block, checked by the pool first) keep no pages.
  static constexpr bool tracks_pages = checks::hardened && !requires { Upstream::vouches_for_blocks; };
  bool on_slab_page([[maybe_unused]] const Slab* s) const noexcept {
    if constexpr (tracks_pages) return pages_.contains(s);
    return true;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_;
  Slab* partial_ = nullptr;
  Slab* full_ = nullptr;
  Slab* empty_ = nullptr;
  std::size_t empty_count_ = 0;
  constructor_fn ctor_;
  destructor_fn dtor_;
  std::size_t keep_empty_;
  const char* name_;
  std::size_t object_size_ = 0;
  std::size_t object_alignment_ = 16;
  std::size_t stride_ = 0;
  std::size_t slab_size_ = 4096;
  std::size_t objects_per_slab_ = 0;
  std::size_t objects_offset_ = 0;
  std::size_t in_use_ = 0;
  std::size_t slabs_ = 0;
  std::uintptr_t lowest_ = UINTPTR_MAX;  // address range of all slabs ever created
  std::uintptr_t highest_ = 0;
  [[no_unique_address]] std::conditional_t<tracks_pages, detail::PageSet, detail::NoPageSet> pages_;  // slabs' pages
};

/// A RawAllocator over slab caches for the size classes 16, 32, 48, 64, 96, 128, 192, 256, 384,
/// 512, 768, 1024, 1536 and 2048 bytes; a class serves requests aligned up to the largest power
/// of two dividing its size (at most 256); other requests go upstream.
template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicSlabAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::SlabAllocator";
  /// owns() tells only the nodes: requests it cannot serve go to upstream, whose blocks it does not know.
  static constexpr bool owns_every_block = false;
  static constexpr std::array<std::size_t, 14> size_classes = {16, 32, 48, 64, 96, 128, 192, 256,
                                                               384, 512, 768, 1024, 1536, 2048};

  BasicSlabAllocator()
    requires allocator_traits<Upstream>::is_stateless
      : BasicSlabAllocator(std::make_index_sequence<size_classes.size()>{}) {}

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return detail::allocate_or_throw(*this, size, align);
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t c = class_of(size, align);
    if (c == no_class) {
      if (!is_valid_alignment(align)) [[unlikely]] {
        detail::report_invalid_alignment(allocator_name, size, align);
        return nullptr;
      }
      Upstream upstream{};
      return allocator_traits<Upstream>::try_allocate(upstream, size, align);
    }
    return caches_[c].try_allocate_object();
  }
  /// Returns a block; `size` and `align` must be those given to allocate. Hardened builds also
  /// report an object freed with a size or alignment of another class (invalid_size), O(classes);
  /// one freed with a size beyond the classes (it would reach upstream's free) is caught in
  /// expensive builds only, by a walk of the slabs: telling an upstream block from a slab object
  /// by its masked address would read memory that is not a slab header.
  void deallocate(void* p, std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t c = class_of(size, align);
    if constexpr (checks::hardened) {
      if (c == no_class) {
        if constexpr (checks::expensive) {
          if (in_another_class<true>(p, c, size, align)) return;
        }
      } else if (!caches_[c].in_own_slab(p)) [[unlikely]] {
        if (in_another_class<checks::expensive>(p, c, size, align)) return;
      }
    }
    if (c == no_class) {
      Upstream upstream{};
      return allocator_traits<Upstream>::deallocate(upstream, p, size, align);
    }
    caches_[c].deallocate_object(p);
  }

  /// Like allocate, and reports the whole size class as usable.
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = allocate(size, align);
    const std::size_t c = class_of(size, align);
    return {p, c == no_class ? size : size_classes[c]};
  }

  /// Largest request: the upstream allocator's (every size class is far below it).
  [[nodiscard]] std::size_t max_size() const noexcept {
    Upstream upstream{};
    return allocator_traits<Upstream>::max_size(upstream);
  }

  /// The size classes as a table, shared with ThreadPoolAllocator: the index of the class that
  /// serves `size` bytes at `align`, or no_class (too large, or an invalid alignment).
  static constexpr std::size_t no_class = SIZE_MAX;
  static constexpr std::size_t class_alignment(std::size_t size) noexcept {
    const std::size_t low = size & (~size + 1);
    return low > 256 ? 256 : low;
  }

  /// Class for each size in 16-byte steps up to 2048, at alignments up to 16 (every class has
  /// at least that): one table load on the common path.
  static constexpr auto class_table = [] {
    std::array<unsigned char, 2048 / 16 + 1> t{};
    std::size_t c = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      while (size_classes[c] < i * 16) ++c;
      t[i] = static_cast<unsigned char>(c);
    }
    return t;
  }();

  static std::size_t class_of(std::size_t size, std::size_t align) noexcept {
    if (size > size_classes.back()) return no_class;
    if (is_valid_alignment_up_to(align, 16)) [[likely]]
      return class_table[(size + 15) / 16];
    if (!is_valid_alignment(align)) return no_class;
    for (std::size_t c = class_table[(size + 15) / 16]; c < size_classes.size(); ++c)
      if (align <= class_alignment(size_classes[c])) return c;
    return no_class;
  }


  /// Returns every empty slab upstream; returns how many.
  std::size_t reclaim() noexcept {
    std::size_t n = 0;
    for (auto& c : caches_) n += c.reclaim();
    return n;
  }

  /// The cache serving `size` bytes at `align`, or null if such requests go upstream.
  [[nodiscard]] const BasicSlabCache<Upstream>* cache_for(std::size_t size, std::size_t align = 1) const noexcept {
    const std::size_t c = class_of(size, align);
    return c == no_class ? nullptr : &caches_[c];
  }
  /// Bytes of all slabs held.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept {
    std::size_t n = 0;
    for (auto& c : caches_) n += c.bytes_allocated();
    return n;
  }
  /// Share of slab memory not holding live objects (rounding to classes, free objects, headers).
  [[nodiscard]] double fragmentation() const noexcept {
    std::size_t held = 0, live = 0;
    for (auto& c : caches_) {
      held += c.bytes_allocated();
      live += c.objects_in_use() * c.object_size();
    }
    return held ? 1.0 - static_cast<double>(live) / static_cast<double>(held) : 0.0;
  }
  [[nodiscard]] bool owns(const void* p) const noexcept {
    for (auto& c : caches_)
      if (c.owns(p)) return true;
    return false;
  }

 private:

  template <std::size_t... I>
  explicit BasicSlabAllocator(std::index_sequence<I...>)
      : caches_{BasicSlabCache<Upstream>(size_classes[I], class_alignment(size_classes[I]), nullptr, nullptr, 1, 8,
                                         allocator_name)...} {}  // named: misuse reports name the SlabAllocator

  /// Reports `p` if it is an object of another class than `c` (the caller's size names `c`).
  /// Exact: by a walk of each cache's slabs; else by the slab header at the masked address.
  template <bool Exact>
  CORE_MEMORY_NOINLINE bool in_another_class(void* p, std::size_t c, std::size_t size, std::size_t align) const noexcept {
    for (std::size_t k = 0; k < caches_.size(); ++k) {
      if (k == c || !(Exact ? caches_[k].owns(p) : caches_[k].in_own_slab(p))) continue;
      char message[112];
      std::snprintf(message, sizeof message, "an object of the %zu-byte class, freed with another size or alignment",
                    size_classes[k]);
      report_misuse({error_kind::invalid_size, allocator_name, p, size, align, message, nullptr, 0});
      return true;
    }
    return false;
  }

  std::array<BasicSlabCache<Upstream>, size_classes.size()> caches_;
};

using SlabCache = BasicSlabCache<>;
using SlabAllocator = BasicSlabAllocator<>;
static_assert(RawAllocator<SlabAllocator>);

}  // namespace core::memory
