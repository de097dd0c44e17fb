#pragma once
/// TrackingAllocator<A>: wraps any RawAllocator, keeps exact figures of what passes through it
/// (memory_stats) and records each block into a MemoryTracker under the allocator's name and the
/// caller's site, so reports attribute memory to "the frame arena" or "the message pool".
///
/// Neither copyable nor movable: it is registered (live_allocator_stats()) for its lifetime and
/// containers hold it by reference. Thread-safe exactly when A is. allocate_at_least is not
/// forwarded: a block may be freed with any size from the one asked for to the one reported, so
/// the counts could not balance; callers get exactly the size they ask for.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/tracking/memory_stats.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/util/memory_barrier.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>

namespace core::memory {

/// Name and tracker of a TrackingAllocator.
struct TrackingAllocatorOptions {
  const char* name = "allocator";  ///< Kept as a pointer: a literal or a string that outlives it.
  /// The tracker to record into; null: keep the figures only. Unset: the global tracker, taken
  /// when the allocator is built (not when the options are: the global tracker can still be
  /// configured after options are written). A tracker of your own must outlive the allocator,
  /// and its blocks' frees (each free is recorded into it); the global one is never destroyed.
  std::optional<MemoryTracker*> tracker = std::nullopt;
};

template <RawAllocator A>
class TrackingAllocator {
  using traits = allocator_traits<A>;

 public:
  static constexpr const char* allocator_name = "core::memory::TrackingAllocator";
  static constexpr bool is_thread_safe = traits::is_thread_safe;
  static constexpr bool is_fixed_capacity = traits::is_fixed_capacity;
  static constexpr bool owns_every_block = traits::owns_every_block;
  static constexpr std::size_t alignment = traits::alignment;

  /// Tracks `options.name` into `options.tracker`; the wrapped allocator is built from `args`.
  template <class... Args>
    requires std::is_constructible_v<A, Args...>
  explicit TrackingAllocator(const TrackingAllocatorOptions& options, Args&&... args)
      : upstream_(std::forward<Args>(args)...), name_(options.name ? options.name : ""), tracker_(options.tracker ? *options.tracker : &MemoryTracker::instance()) {
    source_.owner = this;
    source_.read = &read_stats;
    detail::register_stats_source(&source_);
  }
  ~TrackingAllocator() { detail::unregister_stats_source(&source_); }
  TrackingAllocator(const TrackingAllocator&) = delete;
  TrackingAllocator& operator=(const TrackingAllocator&) = delete;

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align,
                               SourceLocation loc = SourceLocation::current()) {
    void* p = traits::allocate(upstream_, size, align, loc);
    on_allocate(p, size, align, loc);
    return p;
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align,
                                   SourceLocation loc = SourceLocation::current()) noexcept {
    void* p = traits::try_allocate(upstream_, size, align, loc);
    if (p) on_allocate(p, size, align, loc);
    return p;
  }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (tracker_) tracker_->record_deallocation(p);  // before the address can be handed out again
    add(in_use_, std::size_t(0) - size);
    add(frees_, 1);
    traits::deallocate(upstream_, p, size, align);
  }

  [[nodiscard]] std::size_t max_size() const noexcept { return traits::max_size(upstream_); }
  [[nodiscard]] bool owns(const void* p) const noexcept
    requires traits::has_owns
  {
    return traits::owns(upstream_, p);
  }
  /// Bytes handed out through this wrapper and not yet freed.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t bytes_available() const noexcept
    requires traits::has_bytes_available
  {
    return upstream_.bytes_available();
  }

  /// The figures now (see memory_stats).
  [[nodiscard]] memory_stats stats() const noexcept {
    memory_stats s;
    s.name = name_;
    s.bytes_in_use = in_use_.load(std::memory_order_relaxed);
    s.peak_bytes = peak_.load(std::memory_order_relaxed);
    const std::size_t frees = frees_.load(std::memory_order_relaxed);
    s.allocation_count = count_.load(std::memory_order_relaxed);
    s.live_count = s.allocation_count > frees ? s.allocation_count - frees : 0;
    if constexpr (traits::has_bytes_allocated) s.upstream_bytes = upstream_.bytes_allocated();
    if constexpr (requires { { upstream_.fragmentation() } -> std::convertible_to<double>; })
      s.fragmentation = static_cast<double>(upstream_.fragmentation());
    s.tracker = tracker_;
    return s;
  }

  [[nodiscard]] A& upstream() noexcept { return upstream_; }
  [[nodiscard]] const A& upstream() const noexcept { return upstream_; }
  [[nodiscard]] const char* name() const noexcept { return name_; }
  [[nodiscard]] MemoryTracker* tracker() const noexcept { return tracker_; }

 private:
  void on_allocate(void* p, std::size_t size, std::size_t align, SourceLocation loc) noexcept {
    const std::size_t now = add(in_use_, size);
    add(count_, 1);
    if (now > peak_.load(std::memory_order_relaxed)) atomic_store_max(peak_, now);
    if (tracker_) tracker_->record_allocation(p, size, align, nullptr, name_, loc);
  }
  /// Adds `n` (wrapping: 0 - n subtracts) and returns the new value. One atomic add when A may be
  /// used from several threads; a plain load and store otherwise (still readable from others).
  static std::size_t add(std::atomic<std::size_t>& c, std::size_t n) noexcept {
    if constexpr (is_thread_safe) return c.fetch_add(n, std::memory_order_relaxed) + n;
    const std::size_t v = c.load(std::memory_order_relaxed) + n;
    c.store(v, std::memory_order_relaxed);
    return v;
  }
  static memory_stats read_stats(const void* self) { return static_cast<const TrackingAllocator*>(self)->stats(); }

  [[no_unique_address]] A upstream_;
  const char* name_;
  MemoryTracker* tracker_;
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> frees_{0};  // live count = count_ - frees_: one counter per event
  detail::StatsSource source_;
};

}  // namespace core::memory
