#pragma once
/// DebugAllocator<A>: wraps any RawAllocator and catches misuse of its blocks, whatever the check
/// level of the build:
///   - a canary before and after each block (0xFD), checked at free: overrun / underrun;
///   - fill patterns: new blocks 0xCD, freed blocks 0xDD;
///   - a bounded quarantine of freed blocks (count and bytes), so a freed address is not handed out
///     again at once; a block leaving it is checked still to be all 0xDD: use after free (write);
///   - double free (a quarantined block), foreign pointer (not a block of this allocator, found in
///     a table of its blocks, never by reading memory before the pointer), wrong size or alignment
///     at free;
///   - leaks: blocks still live when it is destroyed.
/// Each is reported to the misuse handler with the block's address, size, alignment and the site
/// that allocated it (file:line and function; a tracker given in the options also keeps stacks).
/// If the handler returns, a bad free is ignored; an overrun is reported and the block still freed.
///
/// Per block: a 48-byte header and the two canaries (16 bytes each by default), rounded to the
/// alignment. Not thread-safe. Under AddressSanitizer the quarantined memory is left unpoisoned
/// (this allocator is the detector); the upstream allocator's own poisoning still applies.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_utils.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace core::memory {

/// How a DebugAllocator guards its blocks.
struct DebugAllocatorOptions {
  std::size_t canary_size = 16;            ///< Guard bytes before and after each block (rounded up to 8).
  std::size_t quarantine_blocks = 64;      ///< Freed blocks held back at most (0: none).
  std::size_t quarantine_bytes = 1 << 20;  ///< Bytes of freed blocks held back at most.
  MemoryTracker* tracker = nullptr;        ///< Also record every block there (sites, stacks, reports).
};

/// The byte patterns a DebugAllocator writes.
namespace debug_fill {
inline constexpr unsigned char allocated = 0xCD;
inline constexpr unsigned char freed = 0xDD;
inline constexpr unsigned char canary = 0xFD;
}  // namespace debug_fill

namespace detail {

/// What sits before each DebugAllocator block (before the front canary). A multiple of 16 bytes
/// (see unused), so the front is the same for every alignment up to max_align_t's and max_size
/// holds for all of them.
struct DebugHeader {
  void* raw;  // the upstream block
  std::size_t size;
  std::size_t alignment;
  const char* file;
  const char* function;
  std::uint32_t line;
  std::uint32_t state;  // debug_live or debug_freed
  std::uintptr_t seal;  // a hash of the fields above and the block's address (see intact)
  std::uintptr_t unused = 0;
};
static_assert(sizeof(DebugHeader) % 16 == 0);
/// The seal of header `h` of the block at `p`: an underrun that reaches past the front canary
/// changes the header, and then nothing in it is trusted (its strings, its upstream block).
inline std::uintptr_t seal_of(const DebugHeader& h, const void* p) noexcept {
  std::uintptr_t x = reinterpret_cast<std::uintptr_t>(p) ^ 0x9E3779B97F4A7C15u;
  for (std::uintptr_t w : {reinterpret_cast<std::uintptr_t>(h.raw), std::uintptr_t{h.size}, std::uintptr_t{h.alignment},
                           reinterpret_cast<std::uintptr_t>(h.file), reinterpret_cast<std::uintptr_t>(h.function),
                           (std::uintptr_t{h.line} << 32) | h.state})
    x = (x ^ w) * 0xFF51AFD7ED558CCDu;
  return x ^ (x >> 29);
}
inline constexpr std::uint32_t debug_live = 0x4C495645;   // "LIVE"
inline constexpr std::uint32_t debug_freed = 0x46524545;  // "FREE"

/// A set of addresses (open addressing, grown with malloc): the blocks of one DebugAllocator.
class AddressSet {
 public:
  AddressSet() noexcept;
  ~AddressSet();
  AddressSet(const AddressSet&) = delete;
  AddressSet& operator=(const AddressSet&) = delete;
  /// False if the set could not grow.
  [[nodiscard]] bool insert(const void* p) noexcept;
  bool erase(const void* p) noexcept;
  [[nodiscard]] bool contains(const void* p) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  /// Calls f(p, context) for every address (the set must not change meanwhile).
  void for_each(void (*f)(const void* p, void* context), void* context) const;

 private:
  void* table_;
};

/// Reports `kind` for the block at `p` to the misuse handler as "<what>; block of <n> bytes
/// allocated at file:line (function)", with the allocation site as the report's file and line.
CORE_MEMORY_NOINLINE void report_debug_misuse(error_kind kind, const void* p, std::size_t size, std::size_t alignment,
                                              const char* what, const DebugHeader* allocated_at) noexcept;

}  // namespace detail

template <RawAllocator A>
class DebugAllocator {
  using traits = allocator_traits<A>;
  using Header = detail::DebugHeader;

 public:
  static constexpr const char* allocator_name = "core::memory::DebugAllocator";
  static constexpr bool is_thread_safe = false;

  /// Guards blocks as `options` says; the wrapped allocator is built from `args`.
  template <class... Args>
    requires std::is_constructible_v<A, Args...>
  explicit DebugAllocator(const DebugAllocatorOptions& options, Args&&... args)
      : upstream_(std::forward<Args>(args)...),
        options_(options),
        canary_(checked_canary(options.canary_size)),
        ring_(options.quarantine_blocks ? std::make_unique<Quarantined[]>(options.quarantine_blocks) : nullptr) {
    vg_pool_create(this);
  }
  /// Releases the quarantine (checking each block), then reports blocks still live as a leak and
  /// releases them too. A block whose header a write damaged is reported as such and left alone
  /// (leaked: nothing in its header can be trusted, its upstream block included).
  ~DebugAllocator() {
    flush_quarantine();
    struct ValgrindPool {  // memcheck forgets the blocks when the allocator goes
      const void* self;
      ~ValgrindPool() { vg_pool_destroy(self); }
    } valgrind_pool{this};
    while (const void* p = damaged_block()) {
      report_damaged_header(p);
      blocks_.erase(p);
    }
    if (blocks_.size() == 0) return;
    struct Leaks {
      DebugAllocator* self;
      std::size_t count = 0, bytes = 0;
      const void* first = nullptr;
    } leaks{this};
    blocks_.for_each(
        [](const void* p, void* c) {
          auto& l = *static_cast<Leaks*>(c);
          ++l.count;
          l.bytes += l.self->header_of(p)->size;
          if (!l.first || p < l.first) l.first = p;
        },
        &leaks);
    detail::report_debug_misuse(error_kind::leak, leaks.first, leaks.bytes, header_of(leaks.first)->alignment,
                                "blocks still live when the DebugAllocator was destroyed (the first by address "
                                "shown; size is all of them)",
                                header_of(leaks.first));
    while (blocks_.size()) {  // release them
      const void* p = nullptr;
      blocks_.for_each([](const void* q, void* c) { *static_cast<const void**>(c) = q; }, &p);
      release(const_cast<void*>(p));
    }
  }
  DebugAllocator(const DebugAllocator&) = delete;
  DebugAllocator& operator=(const DebugAllocator&) = delete;

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align, SourceLocation loc = SourceLocation::current()) {
    if (!is_valid_alignment(align)) [[unlikely]]
      detail::fail_invalid_alignment(allocator_name, size, align);
    std::size_t total;
    if (add_overflows(front(align), size, total) || add_overflows(total, canary_, total)) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    void* raw = traits::allocate(upstream_, total, block_alignment(align), loc);
    void* p = finish_allocation(raw, size, align, total, loc);
    if (!p) [[unlikely]]  // no memory for the table of blocks
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align,
                                   SourceLocation loc = SourceLocation::current()) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    std::size_t total;
    if (add_overflows(front(align), size, total) || add_overflows(total, canary_, total)) return nullptr;
    void* raw = traits::try_allocate(upstream_, total, block_alignment(align), loc);
    return raw ? finish_allocation(raw, size, align, total, loc) : nullptr;
  }

  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (!blocks_.contains(p)) {
      if (const void* b = block_around(p))  // O(blocks): only on this misuse path
        detail::report_debug_misuse(error_kind::interior_pointer, p, size, align,
                                    "inside a block of this allocator, not at its start", header_of(b));
      else
        detail::report_debug_misuse(error_kind::foreign_pointer, p, size, align,
                                    "not a block of this allocator (or freed long ago, out of quarantine)", nullptr);
      return;
    }
    Header* h = header_of(p);
    if (!intact(p)) {
      detail::report_debug_misuse(error_kind::buffer_overrun, p, size, align,
                                  "written before the start of the block, through its canary into the allocator's "
                                  "header (the block is not freed: nothing in the header can be trusted)",
                                  nullptr);
      blocks_.erase(p);  // leaked, and forgotten: the leak report at the end would read the header
      return;
    }
    if (h->state == detail::debug_freed) {
      detail::report_debug_misuse(error_kind::double_free, p, size, align, "block freed twice", h);
      return;
    }
    if (h->size != size) {
      detail::report_debug_misuse(error_kind::invalid_size, p, size, align, "freed with another size than allocated",
                                  h);
      return;
    }
    if (h->alignment != align) {
      detail::report_debug_misuse(error_kind::invalid_alignment, p, size, align,
                                  "freed with another alignment than allocated", h);
      return;
    }
    unguard(p, size);
    check_canaries_unguarded(p, h);
    fill(static_cast<char*>(p) - canary_, canary_, debug_fill::canary);  // reported once: mend them
    fill(static_cast<char*>(p) + size, canary_, debug_fill::canary);
    if (options_.tracker) options_.tracker->record_deallocation(p);
    fill(p, size, debug_fill::freed);
    h->state = detail::debug_freed;
    h->seal = detail::seal_of(*h, p);
    vg_free(this, p);  // memcheck: a later access is a use after free (no access while quarantined)
    guard(p, size);
    quarantine(p);
  }

  /// True for a live block of this allocator (not for a freed one in quarantine).
  [[nodiscard]] bool owns(const void* p) const noexcept {
    return blocks_.contains(p) && intact(p) && header_of(p)->state == detail::debug_live;
  }
  /// Exact at alignments up to 8 (the least overhead: a larger alignment may need more).
  [[nodiscard]] std::size_t max_size() const noexcept {
    const std::size_t m = traits::max_size(upstream_);
    const std::size_t overhead = front(1) + canary_;
    return m > overhead ? m - overhead : 0;
  }

  /// Checks the canaries of every live block and the fill of every quarantined one (reports each
  /// damaged block). O(blocks).
  void check_all() const noexcept {
    blocks_.for_each(
        [](const void* p, void* context) {
          const auto* self = static_cast<const DebugAllocator*>(context);
          const Header* h = self->header_of(p);
          if (!self->intact(p)) self->report_damaged_header(p);
          else if (h->state == detail::debug_live) self->check_canaries(p, h);
          else self->check_freed(p, h);
        },
        const_cast<DebugAllocator*>(this));
  }
  /// Releases every quarantined block upstream, checking each.
  void flush_quarantine() noexcept {
    while (queued_) evict();
  }

  /// Live blocks (quarantined ones excluded).
  [[nodiscard]] std::size_t live_blocks() const noexcept { return blocks_.size() - queued_; }
  [[nodiscard]] std::size_t quarantined_blocks() const noexcept { return queued_; }
  [[nodiscard]] A& upstream() noexcept { return upstream_; }

 private:
  /// The canary size rounded up to 8; the header, both canaries and any alignment's padding must
  /// fit a size_t (each request's total is checked again).
  static std::size_t checked_canary(std::size_t n) {
    const std::size_t c = checked_align_up(n, 8, allocator_name);
    (void)checked_add(sizeof(Header), checked_mul(c, 4, allocator_name), allocator_name);
    return c;
  }

  /// A block (live or quarantined) whose header is not intact, or null.
  const void* damaged_block() const noexcept {
    return find_block([this](const void* b) { return !intact(b); });
  }
  /// The live block with `p` inside it (past its start), or null. O(blocks).
  const void* block_around(const void* p) const noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    return find_block([this, at](const void* b) {
      const auto start = reinterpret_cast<std::uintptr_t>(b);
      return intact(b) && header_of(b)->state == detail::debug_live && start < at && at - start < header_of(b)->size;
    });
  }
  /// The first block of the table (live or quarantined) that `matches`, or null. O(blocks).
  template <class Predicate>
  const void* find_block(const Predicate& matches) const noexcept {
    struct Find {
      const Predicate& matches;
      const void* found = nullptr;
    } find{matches};
    blocks_.for_each(
        [](const void* b, void* c) {
          auto& f = *static_cast<Find*>(c);
          if (!f.found && f.matches(b)) f.found = b;
        },
        &find);
    return find.found;
  }

  /// True if the header of the block at `p` is as the allocator left it.
  bool intact(const void* p) const noexcept { return header_of(p)->seal == detail::seal_of(*header_of(p), p); }
  void report_damaged_header(const void* p) const noexcept {
    detail::report_debug_misuse(error_kind::buffer_overrun, p, 0, 0,
                                "written before the start of the block, through its canary into the allocator's "
                                "header (the block is not freed: nothing in the header can be trusted)",
                                nullptr);
  }

  /// The header of the block at `p`, just before its front canary.
  Header* header_of(const void* p) const noexcept {
    return reinterpret_cast<Header*>(const_cast<char*>(static_cast<const char*>(p)) - canary_ - sizeof(Header));
  }
  static std::size_t block_alignment(std::size_t align) noexcept { return align > 8 ? align : 8; }
  /// Bytes from the upstream block to the user block: header and front canary, a multiple of the
  /// block alignment so the user block stays aligned.
  [[nodiscard]] std::size_t front(std::size_t align) const noexcept {
    return align_up(sizeof(Header) + canary_, block_alignment(align));
  }

  void* finish_allocation(void* raw, std::size_t size, std::size_t align, std::size_t total,
                          SourceLocation loc) noexcept {
    char* user = static_cast<char*>(raw) + front(align);
    if (!blocks_.insert(user)) {  // no memory for the table: fail the request
      traits::deallocate(upstream_, raw, total, block_alignment(align));
      return nullptr;
    }
    Header* h = header_of(user);
    *h = Header{raw, size, align, loc.file, loc.function, static_cast<std::uint32_t>(loc.line), detail::debug_live, 0, 0};
    h->seal = detail::seal_of(*h, user);
    fill(user - canary_, canary_, debug_fill::canary);
    fill(user, size, debug_fill::allocated);
    fill(user + size, canary_, debug_fill::canary);
    vg_alloc(this, user, size);
    guard(user, size);
    if (options_.tracker) options_.tracker->record_allocation(user, size, align, nullptr, allocator_name, loc);
    return user;
  }

  /// Valgrind builds: the canaries are no-access for memcheck, so it reports an overrun at the
  /// faulty access rather than at the free. (Not under ASan: its reports would pre-empt this
  /// allocator's own, which the ASan test tier checks.)
  void guard(const void* p, std::size_t size) const noexcept {
    if constexpr (valgrind_enabled) {
      poison_memory(static_cast<const char*>(p) - canary_, canary_);
      poison_memory(static_cast<const char*>(p) + size, canary_);
    }
  }
  void unguard(const void* p, std::size_t size) const noexcept {
    if constexpr (valgrind_enabled) {
      unpoison_memory(static_cast<const char*>(p) - canary_, canary_);
      unpoison_memory(static_cast<const char*>(p) + size, canary_);
    }
  }

  void check_canaries(const void* p, const Header* h) const noexcept {
    unguard(p, h->size);
    check_canaries_unguarded(p, h);
    guard(p, h->size);
  }
  void check_canaries_unguarded(const void* p, const Header* h) const noexcept {
    const char* user = static_cast<const char*>(p);
    if (find_mismatch(user + h->size, canary_, debug_fill::canary))
      detail::report_debug_misuse(error_kind::buffer_overrun, p, h->size, h->alignment,
                                  "written past the end of the block (the canary after it is damaged)", h);
    if (find_mismatch(user - canary_, canary_, debug_fill::canary))
      detail::report_debug_misuse(error_kind::buffer_overrun, p, h->size, h->alignment,
                                  "written before the start of the block (the canary before it is damaged)", h);
  }
  void check_freed(const void* p, const Header* h) const noexcept {
    if constexpr (valgrind_enabled) unpoison_memory(p, h->size);  // the block was freed for memcheck
    if (find_mismatch(p, h->size, debug_fill::freed))
      detail::report_debug_misuse(error_kind::use_after_free, p, h->size, h->alignment,
                                  "written after it was freed (its free fill is damaged)", h);
    check_canaries(p, h);
  }

  void quarantine(void* p) noexcept {
    const std::size_t size = header_of(p)->size;
    // A block larger than the whole quarantine is checked and released at once.
    if (!ring_ || size > options_.quarantine_bytes) {
      check_freed(p, header_of(p));
      release(p);
      return;
    }
    while (queued_ && (queued_ == options_.quarantine_blocks || queued_bytes_ + size > options_.quarantine_bytes))
      evict();
    ring_[(head_ + queued_) % options_.quarantine_blocks] = {p, size};
    ++queued_;
    queued_bytes_ += size;
  }
  /// Takes the oldest quarantined block out, checks it and releases it.
  void evict() noexcept {
    const auto [p, size] = ring_[head_];
    head_ = (head_ + 1) % options_.quarantine_blocks;
    --queued_;
    queued_bytes_ -= size;
    if (!intact(p)) {  // a write before the freed block reached its header
      report_damaged_header(p);
      blocks_.erase(p);  // leaked: its upstream block is not known
      return;
    }
    check_freed(p, header_of(p));
    release(p);
  }
  void release(void* p) noexcept {
    const Header h = *header_of(p);
    if constexpr (valgrind_enabled) unpoison_memory(h.raw, front(h.alignment) + h.size + canary_);
    blocks_.erase(p);
    if (h.state == detail::debug_live && options_.tracker) options_.tracker->record_deallocation(p);
    traits::deallocate(upstream_, h.raw, front(h.alignment) + h.size + canary_, block_alignment(h.alignment));
  }

  [[no_unique_address]] A upstream_;
  DebugAllocatorOptions options_;
  std::size_t canary_;
  detail::AddressSet blocks_;  // live and quarantined user pointers
  struct Quarantined {
    void* block;
    std::size_t size;  // kept here: the header may be damaged by the time the block leaves
  };
  std::unique_ptr<Quarantined[]> ring_;
  std::size_t head_ = 0, queued_ = 0, queued_bytes_ = 0;
};

}  // namespace core::memory
