#pragma once
/// MemoryTracker: records live allocations with their size, type, allocator, call site and
/// (optionally) stack; finds leaks, keeps exact usage and peak, aggregates per call site, and writes
/// text and JSON reports. One global tracker (`instance()`) and any number of instance trackers.
///
/// Thread-safe with low contention: live blocks are kept in 64 hash tables (shards) chosen by the
/// block's address, each behind its own spinlock, so threads touching different blocks rarely
/// meet; usage is one atomic counter and the peak its exact maximum (see peak_usage()).
///
/// Two modes. `exact` records every allocation. `sampled` records an allocation with probability
/// 1 - exp(-size / interval) (a Poisson process over the bytes each thread allocates, mean
/// interval 512 KiB, as tcmalloc and jemalloc profile), and weights each record by the inverse of
/// that probability, so every figure (usage, counts, per-site bytes) is an unbiased estimate
/// (of allocations of at least a byte: one of 0 bytes runs no clock and is never sampled);
/// allocations not sampled cost a subtraction and a branch, and their frees a load.
///
/// record_deallocation(p) must be called before the block is given back to its allocator (so the
/// address cannot be handed out again and recorded first). Type, allocator and file names are
/// kept as pointers: pass string literals or strings that outlive the tracker.
///
/// JSON report schema (generate_report(os, report_format::json)):
///   { "tracker": string, "mode": "exact" | "sampled", "sample_interval": bytes (0 when exact),
///     "current_bytes": n, "peak_bytes": n, "allocation_count": n, "live_count": n,
///     "total_bytes": n, "unmatched_frees": n,
///     "sites": [ { "file": s, "line": n, "function": s, "type": s, "allocator": s,
///                  "live_bytes": x, "live_count": x, "total_bytes": x, "total_count": x } ],
///     "live": [ { "address": "0x...", "size": n, "alignment": n, "type": s, "allocator": s,
///                 "file": s, "line": n, "function": s, "age_ms": x, "weight": x,
///                 "stack": [ "function+0xoff (module)", ... ] } ],
///     "allocators": [ { "name": s, "bytes_in_use": n, "peak_bytes": n, "allocation_count": n,
///                       "live_count": n, "upstream_bytes": n | null, "fragmentation": x | null } ],
///     "stacks": [ { "frames": [ "function+0xoff (module)", ... ], and the fields of a site } ] }
/// "stacks" has one entry per call site and stack (records with stacks only), ordered as "sites".
/// "allocators" lists the live TrackingAllocators that record into this tracker (memory_stats;
/// exact even when the tracker samples).
/// Counts and bytes are integers in exact mode and estimates (numbers with fractions) under
/// sampling; "sites" is sorted by live bytes then total bytes, descending; "live" by address.
/// Strings the tracker does not know are "".
///
/// Aggregates kept while recording (never a list of events), in the JSON report as well:
///   "elapsed_ms": ms since the tracker was made, "temporary_count": x, "temporary_bytes": x,
///   "timeline_interval_ms": n,
///   "timeline": [ [start_ms, low_bytes, high_bytes], ... ]   memory in use over time: the lowest
///       and highest usage seen in each interval of timeline_interval_ms that had an event (at
///       most 512 intervals: the width doubles as the run grows), then [elapsed_ms, current,
///       current] for the moment of the report (the timeline and the records' times end at 49.7
///       days, 2^32 ms: later events are placed there),
///   "sizes": [ [min_size, max_size, count, bytes], ... ]   every allocation made, by size class
///       (powers of two; classes with none left out),
/// and in every entry of "sites" and "stacks": "temporary_count": x, "temporary_bytes": x.
/// A temporary allocation is one freed by the thread that made it before that thread recorded any
/// other allocation (heaptrack's definition, taken per thread so that other threads' allocations
/// in between do not hide it; under sampling, any allocation of the thread counts, sampled or not).
///
/// HTML (report_format::html): one self-contained file (inline CSS, script and SVG, nothing
/// fetched) with a summary, memory in use over time, a flame graph of allocation sites by bytes,
/// count, live bytes and temporaries, the top sites, the size histogram, the temporary
/// allocations, the leaks (live blocks grouped by site and stack) and the allocators. Its data is
/// the JSON report without "live", with "frame_names": [ s, ... ] and the "frames" of each stack as
/// indices into it; its "stacks" lists every site and stack ("frames": [] for records without a
/// stack), up to the 2000 largest by each figure (bytes, count, live bytes, temporaries) whole and
/// the others merged on their outermost frames ("merged": true; on fewer frames, down to none,
/// until at most 2000 such entries remain or one per site), so every total stays exact. Its size depends on the number of sites and stacks (bounded), not of
/// allocations.
///
/// Snapshots and their diff (write_diff): a TrackerSnapshot holds the figures of a moment; the diff
/// of B against A says what was allocated between them and what grew. Its JSON:
///   { "tracker": s, "before_ms": x, "after_ms": x,
///     "before": { "current_bytes": n, "peak_bytes": n, "allocation_count": n, "live_count": n,
///                 "total_bytes": n, "temporary_count": x }, "after": { the same },
///     "sites": [ { site fields, each figure after - before } ],  only sites that changed, sorted by
///                                                                 live-bytes growth, descending
///     "stacks": [ { "frames": [ s, ... ], the same } ],           records with stacks only
///     "sizes": [ [min_size, max_size, count, bytes], ... ] }      allocations made in between
/// "kind": "diff" first. The HTML diff embeds it, its stacks bounded and frames interned as above.

#include <core/memory/tracking/memory_stats.hpp>
#include <core/memory/tracking/stack_trace.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/source_location.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace core::memory {


/// exact: every allocation recorded; sampled: about one per sample_interval bytes, weighted.
enum class tracking_mode : unsigned char { exact, sampled };

/// How a tracker records (fixed for its lifetime).
struct TrackerOptions {
  const char* name = "core::memory::MemoryTracker";
  tracking_mode mode = tracking_mode::exact;
  std::size_t sample_interval = 512 * 1024;  ///< Mean bytes between samples (sampled mode; at most 2^32).
  unsigned stack_depth = 0;                  ///< Frames captured per record (0: none; max 64).
  stack_method stack = stack_method::unwind;
  unsigned stack_skip = 0;  ///< Innermost frames left out (a wrapper's own, e.g. a malloc hook).
};

/// One live (recorded, not yet freed) allocation.
struct AllocationInfo {
  const void* address = nullptr;
  std::size_t size = 0;
  std::size_t alignment = 0;
  const char* type_name = "";
  const char* allocator = "";
  SourceLocation location;
  std::chrono::steady_clock::time_point timestamp;  ///< Coarse clock (a few ms resolution).
  std::optional<StackTrace> stack_trace;
  double weight = 1;  ///< Allocations this record stands for: 1 when exact, 1/p when sampled.
};

/// Figures for one call site (file, line, function, type, allocator); estimates when sampled.
struct SiteStats {
  SourceLocation location;
  const char* type_name = "";
  const char* allocator = "";
  double live_bytes = 0;
  double live_count = 0;
  std::size_t live_records = 0;  ///< The records live_count is estimated from (equal to it when exact).
  double total_bytes = 0;  ///< Allocated there since the tracker was made.
  double total_count = 0;
  double temporary_bytes = 0;  ///< Of total: freed at once (see the file comment).
  double temporary_count = 0;
};

/// Figures for one call site reached through one stack (records with stacks only): what a flame
/// graph of allocations is drawn from.
struct StackStats {
  StackTrace stack;
  SiteStats site;
  /// Several smaller stacks of this site merged on these, their outermost frames (the HTML report
  /// keeps the largest stacks whole and merges the others so its size stays bounded).
  bool merged = false;
};

/// Writes up to `limit` entries of `stacks` (see MemoryTracker::stacks), each as a row of figures
/// (live bytes, live count, total bytes, total count, site) and its symbolised frames.
void write_stacks_text(std::ostream& os, const std::vector<StackStats>& stacks, std::size_t limit);

/// Formats of generate_report and write_diff.
enum class report_format : unsigned char { text, json, html };

/// Memory in use during one interval of the timeline: the lowest and highest usage seen.
struct UsagePoint {
  double start_ms = 0;
  std::size_t low = 0;
  std::size_t high = 0;
};

/// Allocations of sizes in [min_size, max_size] made since the tracker was made.
struct SizeClassStats {
  std::size_t min_size = 0;
  std::size_t max_size = 0;
  double count = 0;
  double bytes = 0;
};

/// What a report shows, at one moment (MemoryTracker::snapshot()). Strings are the tracker's (they
/// must outlive the snapshot, as they outlive the tracker).
struct TrackerSnapshot {
  std::string tracker;
  tracking_mode mode = tracking_mode::exact;
  std::size_t sample_interval = 0;  ///< 0 when exact.
  double elapsed_ms = 0;            ///< Since the tracker was made.
  std::size_t current_bytes = 0, peak_bytes = 0, allocation_count = 0, live_count = 0, total_bytes = 0;
  std::size_t unmatched_frees = 0;
  double temporary_count = 0, temporary_bytes = 0;
  std::vector<SiteStats> sites;    ///< As MemoryTracker::sites().
  std::vector<StackStats> stacks;  ///< Every site and stack (depth 0: records without a stack).
  std::vector<UsagePoint> timeline;
  double timeline_interval_ms = 0;
  std::vector<SizeClassStats> sizes;  ///< Non-empty classes, smallest first.
  std::vector<memory_stats> allocators;
};

/// Writes what changed from `before` to `after` (snapshots of one tracker): totals, and per site
/// and stack what was allocated in between and how live memory grew (see the file comment).
void write_diff(std::ostream& os, const TrackerSnapshot& before, const TrackerSnapshot& after,
                report_format format = report_format::text);
/// Per site (and per stack, depth 0 for none) the figures of `after` minus those of `before`, for
/// the sites that changed, sorted by live-bytes growth, then by bytes allocated, descending.
[[nodiscard]] std::vector<StackStats> diff_stacks(const TrackerSnapshot& before, const TrackerSnapshot& after,
                                                  bool by_stack);

namespace detail {
struct TrackerShard;
struct Timeline;
/// The calling thread's sampling clock: an exponential(1) variate in fixed point (2^32 units per
/// mean interval, whatever the tracker's interval) left until the next sample; an allocation
/// takes size * (2^32 / interval) units, one integer multiply. Starts at 0, so a thread's first
/// allocation takes the slow path, which draws it.
inline constexpr double sample_unit = 0x1.0p32;
inline thread_local std::int64_t sample_countdown = 0;
/// Called when sample_countdown has run out: true if the allocation that ran it out is sampled
/// (always, except on a thread's first draw), and draws the next countdown.
bool sample_slow() noexcept;
/// sample_hit for 2 GiB and more, where size * units may overflow (then it is sampled).
bool sample_large(std::size_t size, std::int64_t units_per_byte) noexcept;
/// Runs the thread's clock down by `size` bytes: true if the allocation is sampled. Below 2 GiB
/// the product cannot overflow (units_per_byte <= 2^32), so the common case is a shift, a
/// multiply and a subtraction.
CORE_MEMORY_ALWAYS_INLINE bool sample_hit(std::size_t size, std::int64_t units_per_byte) noexcept {
  if ((size >> 31) == 0) [[likely]] {
    if ((sample_countdown -= static_cast<std::int64_t>(size) * units_per_byte) > 0) [[likely]]
      return false;
    return sample_slow();
  }
  return sample_large(size, units_per_byte);
}
}  // namespace detail

class MemoryTracker {
 public:
  explicit MemoryTracker(const TrackerOptions& options = {});
  ~MemoryTracker();
  MemoryTracker(const MemoryTracker&) = delete;
  MemoryTracker& operator=(const MemoryTracker&) = delete;

  /// The process-wide tracker (exact, no stacks unless configured). Never destroyed, so it can be
  /// used from static destructors.
  [[nodiscard]] static MemoryTracker& instance() noexcept;
  /// Sets the global tracker's options; false (and no effect) once instance() has been called.
  static bool configure_instance(const TrackerOptions& options) noexcept;

  /// Records a block of `size` bytes at `ptr` (null is ignored). `type` names what it holds.
  /// Always inlined, as the full form: a frame of its own (Debug builds) would be a stack's first.
  CORE_MEMORY_ALWAYS_INLINE void record_allocation(void* ptr, std::size_t size, const char* type = nullptr,
                                                   SourceLocation loc = SourceLocation::current()) noexcept {
    record_allocation(ptr, size, 0, type, nullptr, loc);
  }
  /// The full form: alignment and the name of the allocator the block came from as well.
  CORE_MEMORY_ALWAYS_INLINE void record_allocation(void* ptr, std::size_t size, std::size_t alignment,
                                                   const char* type, const char* allocator,
                                                   SourceLocation loc) noexcept {
    // sampled() is a test of the clock's rate, which the test of the clock loads anyway.
    if (sampled() && !detail::sample_hit(size, units_per_byte_)) [[likely]]
      return;
    record(ptr, size, alignment, type, allocator, loc.file, loc.function, loc.line);
  }

  /// Forgets the block at `ptr`. Call before the block is freed. A pointer the tracker does not
  /// know (recorded elsewhere, not sampled, or freed twice) is only counted (unmatched_frees).
  CORE_MEMORY_ALWAYS_INLINE void record_deallocation(void* ptr) noexcept {
    if (filter_ && !may_be_sampled(ptr)) return;  // the filter exists when sampled
    forget(ptr);
  }

  /// A record taken out by withdraw(), which restore() puts back as it was.
  struct Withdrawn {
    void* ptr = nullptr;  ///< null: nothing was withdrawn
    std::size_t size = 0;
    std::uint32_t site = 0, time_ms = 0, alignment = 0;
  };
  /// For a reallocation, which may move the block or fail and leave it where it was: takes the
  /// record of `ptr` out before the call (the freed address may be handed to another thread at
  /// once, and recorded there), as record_deallocation does; if the call fails, restore() puts
  /// it back with its size, call site, stack and time, as no new allocation.
  [[nodiscard]] Withdrawn withdraw(void* ptr) noexcept {
    if (!ptr || (filter_ && !may_be_sampled(ptr))) return {};
    return take(ptr);
  }
  void restore(const Withdrawn& w) noexcept;

  /// Every block recorded and not freed (sorted by address).
  [[nodiscard]] std::vector<AllocationInfo> find_leaks() const;
  /// If blocks are live: writes the leak report (text) to stderr and reports error_kind::leak to
  /// the misuse handler (first block, total bytes). Returns the number of live blocks.
  std::size_t check_leaks_and_report() const;

  /// Bytes live now (estimated when sampled).
  [[nodiscard]] std::size_t current_usage() const noexcept {
    return current_.value.load(std::memory_order_relaxed);
  }
  /// Highest current_usage() ever reached. Exact: usage changes by one atomic add per event, so it
  /// takes a total order of values, each add returns the value it made, and whoever makes a value
  /// raises the peak to it (compare-exchange), so the peak is the maximum of that sequence.
  [[nodiscard]] std::size_t peak_usage() const noexcept { return peak_.value.load(std::memory_order_relaxed); }
  /// Allocations recorded since the tracker was made (estimated when sampled).
  [[nodiscard]] std::size_t allocation_count() const noexcept;
  /// Bytes allocated since the tracker was made (estimated when sampled).
  [[nodiscard]] std::size_t total_allocated() const noexcept;
  /// Blocks live now (estimated when sampled).
  [[nodiscard]] std::size_t live_count() const noexcept;
  /// Frees of pointers the tracker did not hold (exact mode only: sampled trackers see most frees
  /// of unsampled blocks and do not count them).
  [[nodiscard]] std::size_t unmatched_frees() const noexcept;
  /// Figures per call site (live and total), sorted by live bytes then total bytes, descending.
  [[nodiscard]] std::vector<SiteStats> sites() const;
  /// The same per call site and stack, for the records that have a stack; same order.
  [[nodiscard]] std::vector<StackStats> stacks() const;
  /// Everything a report shows, now (diff two with write_diff).
  [[nodiscard]] TrackerSnapshot snapshot() const;

  /// Lists the live blocks, one per line (with stacks when captured).
  void dump_allocations(std::ostream& os) const;
  /// Writes a report: totals, the top sites, the live blocks and the TrackingAllocators recording
  /// here (see the file comment for JSON and HTML).
  void generate_report(std::ostream& os, report_format format = report_format::text) const;
  /// Writes the text report to stderr.
  void generate_report() const;

  /// Forgets every record and zeroes the figures (not thread-safe against concurrent recording).
  void clear() noexcept;
  /// clear() calls so far: figures taken before the last one do not compare with today's.
  [[nodiscard]] std::uint64_t clears() const noexcept { return clears_.load(std::memory_order_relaxed); }

  [[nodiscard]] const TrackerOptions& options() const noexcept { return options_; }
  [[nodiscard]] const char* name() const noexcept { return options_.name; }
  /// Frames captured per record from now on (0: none); thread-safe.
  void set_stack_depth(unsigned depth) noexcept;

  /// Restarts the calling thread's sampling stream from `seed` (for reproducible tests).
  static void set_sampling_seed(std::uint64_t seed) noexcept;

  /// The weight of a sampled block of `size` bytes: 1 / (1 - exp(-size / interval)).
  [[nodiscard]] double sample_weight(std::size_t size) const noexcept;

 private:
  /// The location's fields as separate arguments: passed as an aggregate, the location was built
  /// in memory before the sampling test, on the path of every allocation not sampled.
  void record(void* ptr, std::size_t size, std::size_t alignment, const char* type, const char* allocator,
              const char* file, const char* function, std::uint_least32_t line) noexcept;
  void forget(void* ptr) noexcept;
  /// Takes the record of `ptr` (non-null) out; `temporary`: freed right after its allocation.
  Withdrawn take(void* ptr, bool temporary = false) noexcept;
  /// Per site and (if by_stack) stack, live and total figures, sorted as sites().
  [[nodiscard]] std::vector<StackStats> aggregate(bool by_stack) const;
  [[nodiscard]] std::uint32_t elapsed_ms() const noexcept;
  /// The mode: the clock's rate is 0 when exact.
  [[nodiscard]] bool sampled() const noexcept { return units_per_byte_ != 0; }
  [[nodiscard]] bool may_be_sampled(const void* p) const noexcept {
    return filter_[filter_index(p)].load(std::memory_order_relaxed) != 0;
  }
  /// The filter counts sampled live blocks per 4 KiB page (modulo 256 MiB): a free looks at the
  /// counter of its page, which neighbouring frees share (one cache line per 32 pages), and only
  /// a free in a page that holds a sampled block (about page / interval = 1% of them) takes a lock.
  [[nodiscard]] static std::size_t filter_index(const void* p) noexcept {
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) >> 12) & ((std::size_t(1) << filter_bits) - 1);
  }
  void add_usage(std::size_t bytes, std::uint32_t time_ms) noexcept;
  [[nodiscard]] std::size_t weighted_bytes(std::size_t size) const noexcept;

  static constexpr unsigned filter_bits = 16;

  TrackerOptions options_;
  std::int64_t units_per_byte_;  // sample_unit / interval, rounded (at least 1); 0 when exact
  double inverse_interval_;       // units_per_byte_ / sample_unit: 1 / the interval really used
  std::atomic<unsigned> stack_depth_;
  std::int64_t start_ns_;  // records keep their time in ms since then
  CachePadded<std::atomic<std::size_t>> current_{};
  CachePadded<std::atomic<std::size_t>> peak_{};
  std::atomic<std::uint64_t> clears_{0};
  detail::TrackerShard* shards_;
  detail::Timeline* timeline_;
  // Sampled mode: how many live sampled blocks start in each page (see filter_index), so a free
  // of a block that was not sampled (nearly all) is told apart by one load, without a lock.
  std::atomic<std::uint16_t>* filter_ = nullptr;
};

/// Bytes and allocations made inside a scope, on a tracker (the global one by default). Counts
/// every thread's allocations on that tracker; use an instance tracker to isolate a test.
class ScopedMemoryTracker {
 public:
  explicit ScopedMemoryTracker(const MemoryTracker& tracker = MemoryTracker::instance()) noexcept
      : tracker_(tracker),
        start_usage_(tracker.current_usage()),
        start_total_(tracker.total_allocated()),
        start_count_(tracker.allocation_count()),
        start_clears_(tracker.clears()) {}
  ~ScopedMemoryTracker() = default;
  ScopedMemoryTracker(const ScopedMemoryTracker&) = delete;
  ScopedMemoryTracker& operator=(const ScopedMemoryTracker&) = delete;

  /// Net bytes still live that were allocated since the scope began (0 if more was freed). After
  /// a clear() of the tracker, every figure counts from the clear.
  [[nodiscard]] std::size_t memory_used() const noexcept {
    const std::size_t now = tracker_.current_usage(), start = since_clear() ? 0 : start_usage_;
    return now > start ? now - start : 0;
  }
  /// Bytes allocated since the scope began, freed or not.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept {
    return tracker_.total_allocated() - (since_clear() ? 0 : start_total_);
  }
  /// Allocations made since the scope began.
  [[nodiscard]] std::size_t allocations() const noexcept {
    return tracker_.allocation_count() - (since_clear() ? 0 : start_count_);
  }
  [[nodiscard]] const MemoryTracker& tracker() const noexcept { return tracker_; }

 private:
  /// True once the tracker was cleared since the scope began (its figures restarted from zero:
  /// subtracting the start's wrapped around, and a budget check failed on a huge count).
  bool since_clear() const noexcept { return tracker_.clears() != start_clears_; }

  const MemoryTracker& tracker_;
  std::size_t start_usage_;
  std::size_t start_total_;
  std::size_t start_count_;
  std::uint64_t start_clears_;
};

namespace detail {
/// What TRACK_SCOPE declares when tracking is off.
struct NullScopedTracker {
  [[nodiscard]] static constexpr std::size_t memory_used() noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t bytes_allocated() noexcept { return 0; }
  [[nodiscard]] static constexpr std::size_t allocations() noexcept { return 0; }
};
}  // namespace detail

}  // namespace core::memory

/// Tracking macros: on when CORE_MEMORY_TRACKING is defined non-zero, otherwise they expand to
/// code that evaluates nothing and generates nothing (the arguments are only named in sizeof, so
/// variables used only here are not reported unused).
///   TRACK_ALLOCATION(ptr, size)             records on the global tracker, type "#ptr"
///   TRACK_ALLOCATION_AS(ptr, size, type)    with a type name
///   TRACK_DEALLOCATION(ptr)                 before freeing
///   TRACK_SCOPE(name)                       declares a ScopedMemoryTracker `name` (off: one whose
///                                           figures are constant 0)
#ifndef CORE_MEMORY_TRACKING
#define CORE_MEMORY_TRACKING 0
#endif
#if CORE_MEMORY_TRACKING
#define TRACK_ALLOCATION(ptr, size) ::core::memory::MemoryTracker::instance().record_allocation((ptr), (size), #ptr)
#define TRACK_ALLOCATION_AS(ptr, size, type) \
  ::core::memory::MemoryTracker::instance().record_allocation((ptr), (size), (type))
#define TRACK_DEALLOCATION(ptr) ::core::memory::MemoryTracker::instance().record_deallocation((ptr))
#define TRACK_SCOPE(name) ::core::memory::ScopedMemoryTracker name
#else
#define TRACK_ALLOCATION(ptr, size) ((void)sizeof(ptr), (void)sizeof(size))
#define TRACK_ALLOCATION_AS(ptr, size, type) ((void)sizeof(ptr), (void)sizeof(size), (void)sizeof(type))
#define TRACK_DEALLOCATION(ptr) ((void)sizeof(ptr))
#define TRACK_SCOPE(name) [[maybe_unused]] constexpr ::core::memory::detail::NullScopedTracker name
#endif
