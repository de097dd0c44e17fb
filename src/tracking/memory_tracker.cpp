// MemoryTracker: sharded tables of live blocks, usage and peak, sampling, and the reports.
#include "live_summary.hpp"
#include "tracker_tables.hpp"

#include <core/memory/tracking/memory_budget.hpp>
#include <core/memory/tracking/memory_stats.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>

#include <algorithm>
#include <bit>
#include <iterator>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <tuple>

namespace core::memory {
namespace detail {

std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct alignas(false_sharing_range) TrackerShard {
  SpinLock lock;
  RecordTable records;
  SiteTable sites;
  double total_count = 0;
  double total_bytes = 0;
  double live_count = 0;
  std::uint64_t unmatched = 0;
  struct SizeClass {
    double count, bytes;
  } sizes[65] = {};  // allocations by std::bit_width(size)
};

namespace {

constexpr std::size_t shard_count = 64;

TrackerShard& shard_for(TrackerShard* shards, const void* p) noexcept {
  const auto h = (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull;
  return shards[h >> 58];
}

// The calling thread's sampling random stream (splitmix64), seeded per thread.
std::atomic<std::uint64_t> next_thread_seed{0x243F6A8885A308D3ull};
thread_local std::uint64_t rng_state = 0;
thread_local bool rng_seeded = false;

std::uint64_t next_random() noexcept {
  std::uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// An exponential(1) variate, -log(u) with u uniform in (0, 1], in sample units (at most 2^32 *
/// 36.8, far from overflow).
std::int64_t exponential_draw() noexcept {
  const double u = static_cast<double>((next_random() >> 11) + 1) * 0x1.0p-53;
  return static_cast<std::int64_t>(-std::log(u) * sample_unit);
}

std::int64_t units_per_byte(std::size_t interval) noexcept {
  const double u = std::round(sample_unit / static_cast<double>(interval ? interval : 1));
  return u < 1 ? 1 : static_cast<std::int64_t>(u);
}

/// The calling thread's last recorded allocation: if its next free is of that block, before the
/// thread allocates again, the block was temporary. Under sampling the countdown tells whether
/// the thread allocated in between (it moves on every allocation, sampled or not).
struct LastAllocation {
  const void* tracker = nullptr;
  const void* ptr = nullptr;
  std::int64_t countdown = 0;
};
thread_local LastAllocation last_allocation;
thread_local unsigned frees = 0;  // the calling thread's recorded frees (see Timeline)

}  // namespace

bool sample_slow() noexcept {
  if (!rng_seeded) {  // first allocation of this thread: place the first sample point
    rng_seeded = true;
    rng_state = next_thread_seed.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
    sample_countdown += exponential_draw();
    if (sample_countdown > 0) return false;
  }
  // The allocation reached a sample point. The process is memoryless, so the next point is an
  // exponential draw past this allocation, whatever other points fell inside it.
  sample_countdown = exponential_draw();
  return true;
}

bool sample_large(std::size_t size, std::int64_t units_per_byte) noexcept {
  std::int64_t units;
  if (!__builtin_mul_overflow(size, units_per_byte, &units) && (sample_countdown -= units) > 0) return false;
  return sample_slow();
}

}  // namespace detail

namespace {

TrackerOptions& global_options() noexcept {
  static TrackerOptions options;
  return options;
}
std::atomic<bool> global_created{false};

const char* or_empty(const char* s) noexcept { return s ? s : ""; }

}  // namespace

MemoryTracker::MemoryTracker(const TrackerOptions& options)
    : options_(options),
      units_per_byte_(options.mode == tracking_mode::sampled ? detail::units_per_byte(options.sample_interval) : 0),
      inverse_interval_(static_cast<double>(units_per_byte_) / detail::sample_unit),
      stack_depth_(options.stack_depth < StackTrace::max_depth ? options.stack_depth
                                                               : unsigned(StackTrace::max_depth)),
      start_ns_(detail::coarse_now_ns()),
      shards_(new detail::TrackerShard[detail::shard_count]),
      timeline_(new detail::Timeline) {
  if (!options_.name) options_.name = "";  // reports print it
  // The clock's fixed point counts sample_unit / interval units a byte, rounded, at least one: the
  // interval really used may differ from the one asked for (above 2^32 bytes, or 0), and the
  // options, which reports state, keep the one used.
  if (sampled())
    options_.sample_interval = static_cast<std::size_t>(std::llround(detail::sample_unit / static_cast<double>(units_per_byte_)));
  if (options.stack_depth) detail::prepare_stack_capture(options.stack);
  if (sampled()) {
    filter_ = new std::atomic<std::uint16_t>[std::size_t(1) << filter_bits];
    for (std::size_t i = 0; i < (std::size_t(1) << filter_bits); ++i) filter_[i].store(0, std::memory_order_relaxed);
  }
}

MemoryTracker::~MemoryTracker() {
  delete[] shards_;
  delete timeline_;
  delete[] filter_;
}

MemoryTracker& MemoryTracker::instance() noexcept {
  alignas(MemoryTracker) static unsigned char storage[sizeof(MemoryTracker)];
  static MemoryTracker* tracker = [] {
    global_created.store(true, std::memory_order_release);
    return new (storage) MemoryTracker(global_options());  // never destroyed: usable at exit
  }();
  return *tracker;
}

bool MemoryTracker::configure_instance(const TrackerOptions& options) noexcept {
  if (global_created.load(std::memory_order_acquire)) return false;
  global_options() = options;
  return true;
}

void MemoryTracker::set_stack_depth(unsigned depth) noexcept {
  if (depth) detail::prepare_stack_capture(options_.stack);
  stack_depth_.store(depth < StackTrace::max_depth ? depth : unsigned(StackTrace::max_depth),
                     std::memory_order_relaxed);
}

void MemoryTracker::set_sampling_seed(std::uint64_t seed) noexcept {
  detail::rng_seeded = true;
  detail::rng_state = seed;
  detail::sample_countdown = detail::exponential_draw();
}

double MemoryTracker::sample_weight(std::size_t size) const noexcept {
  if (!sampled()) return 1;
  // 1 / (1 - exp(-x)) with expm1 for accuracy when x is small.
  return -1.0 / std::expm1(-static_cast<double>(size) * inverse_interval_);
}

std::size_t MemoryTracker::weighted_bytes(std::size_t size) const noexcept {
  if (!sampled()) return size;
  return static_cast<std::size_t>(std::llround(static_cast<double>(size) * sample_weight(size)));
}

std::uint32_t MemoryTracker::elapsed_ms() const noexcept {
  // 32 bits of milliseconds (a record's stamp): saturated, so a run past 49.7 days stamps its
  // later events at that time, not at the start again.
  const auto ms = (detail::coarse_now_ns() - start_ns_) / 1'000'000;
  return ms < UINT32_MAX ? static_cast<std::uint32_t>(ms) : UINT32_MAX;
}

void MemoryTracker::add_usage(std::size_t bytes, std::uint32_t time_ms) noexcept {
  const std::size_t now = current_.value.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  timeline_->tick(time_ms);
  timeline_->note(time_ms, now - bytes, now);
  atomic_store_max(peak_.value, now);
}

void MemoryTracker::record(void* ptr, std::size_t size, std::size_t alignment, const char* type,
                           const char* allocator, const char* file, const char* function,
                           std::uint_least32_t line) noexcept {
  if (!ptr) return;
  const double weight = sample_weight(size);
  if (!(weight < std::numeric_limits<double>::infinity())) return;  // size 0 is never sampled
  detail::SiteKey key{or_empty(file),      or_empty(function), or_empty(type), or_empty(allocator),
                      static_cast<std::uint32_t>(line), 0};
  if (const unsigned depth = stack_depth_.load(std::memory_order_relaxed)) {
    const void* frames[StackTrace::max_depth];
    const auto n = detail::capture_frames(frames, depth, 1 + options_.stack_skip, options_.stack);
    key.stack = detail::intern_stack(frames, static_cast<std::uint32_t>(n));
  }
  const std::uint32_t time_ms = elapsed_ms();
  const auto align = static_cast<std::uint32_t>(std::min<std::size_t>(alignment, UINT32_MAX));
  detail::TrackerShard& s = detail::shard_for(shards_, ptr);
  detail::Record old;
  bool replaced = false;
  bool ok = false;
  {
    detail::SpinGuard guard(s.lock);
    const std::uint32_t site = s.sites.find_or_add(key);
    if (site != UINT32_MAX) {
      replaced = s.records.insert({ptr, size, site, time_ms, align}, old, ok);
      if (ok) {
        detail::SiteEntry& e = s.sites[site];
        e.total_count += weight;
        e.total_bytes += static_cast<double>(size) * weight;
        s.total_count += weight;
        s.total_bytes += static_cast<double>(size) * weight;
        s.live_count += weight - (replaced ? sample_weight(old.size) : 0);
        const auto size_class = static_cast<unsigned>(std::bit_width(size));
        s.sizes[size_class].count += weight;
        s.sizes[size_class].bytes += static_cast<double>(size) * weight;
      }
    }
  }
  if (!ok) return;  // no memory for the tables: the block stays unrecorded
  detail::last_allocation = {this, ptr, detail::sample_countdown};
  // A block recorded again without a free in between: its old record is dropped.
  if (replaced) current_.value.fetch_sub(weighted_bytes(old.size), std::memory_order_relaxed);
  else if (sampled()) filter_[filter_index(ptr)].fetch_add(1, std::memory_order_relaxed);
  add_usage(weighted_bytes(size), time_ms);
}

void MemoryTracker::forget(void* ptr) noexcept {
  if (!ptr) return;
  detail::LastAllocation& last = detail::last_allocation;
  const bool temporary = last.ptr == ptr && last.tracker == this && last.countdown == detail::sample_countdown;
  if (temporary) last.ptr = nullptr;
  (void)take(ptr, temporary);
}

MemoryTracker::Withdrawn MemoryTracker::take(void* ptr, bool temporary) noexcept {
  detail::TrackerShard& s = detail::shard_for(shards_, ptr);
  detail::Record old;
  {
    detail::SpinGuard guard(s.lock);
    if (!s.records.erase(ptr, old)) {
      if (!sampled()) ++s.unmatched;
      return {};
    }
    const double w = sample_weight(old.size);
    s.live_count -= w;
    if (temporary) {
      detail::SiteEntry& e = s.sites[old.site];
      const double bytes = w * static_cast<double>(old.size);
      e.temporary_count += w;
      e.temporary_bytes += bytes;
    }
  }
  if (sampled()) filter_[filter_index(ptr)].fetch_sub(1, std::memory_order_relaxed);
  const std::size_t bytes = weighted_bytes(old.size);
  const std::size_t now = current_.value.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
  std::uint32_t time_ms;
  if (++detail::frees % 16 == 0) timeline_->tick(time_ms = elapsed_ms());
  else time_ms = timeline_->now_ms.load(std::memory_order_relaxed);
  timeline_->note(time_ms, now, now);
  return {ptr, old.size, old.site, old.time_ms, old.alignment};
}

void MemoryTracker::restore(const Withdrawn& w) noexcept {
  if (!w.ptr) return;
  detail::TrackerShard& s = detail::shard_for(shards_, w.ptr);
  detail::Record old;
  bool replaced = false;
  bool ok = false;
  {
    detail::SpinGuard guard(s.lock);
    replaced = s.records.insert({w.ptr, w.size, w.site, w.time_ms, w.alignment}, old, ok);
    if (ok) s.live_count += sample_weight(w.size) - (replaced ? sample_weight(old.size) : 0);
  }
  if (!ok) return;
  if (replaced) current_.value.fetch_sub(weighted_bytes(old.size), std::memory_order_relaxed);
  else if (sampled()) filter_[filter_index(w.ptr)].fetch_add(1, std::memory_order_relaxed);
  add_usage(weighted_bytes(w.size), timeline_->now_ms.load(std::memory_order_relaxed));
}

namespace {

template <class F>
auto sum_shards(detail::TrackerShard* shards, F field) noexcept {
  decltype(field(shards[0])) total{};
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    detail::SpinGuard guard(shards[i].lock);
    total += field(shards[i]);
  }
  return total;
}

std::size_t to_size(double x) noexcept { return x <= 0 ? 0 : static_cast<std::size_t>(std::llround(x)); }

}  // namespace

std::size_t MemoryTracker::allocation_count() const noexcept {
  return to_size(sum_shards(shards_, [](const detail::TrackerShard& s) { return s.total_count; }));
}
std::size_t MemoryTracker::total_allocated() const noexcept {
  return to_size(sum_shards(shards_, [](const detail::TrackerShard& s) { return s.total_bytes; }));
}
std::size_t MemoryTracker::live_count() const noexcept {
  return to_size(sum_shards(shards_, [](const detail::TrackerShard& s) { return s.live_count; }));
}
std::size_t MemoryTracker::unmatched_frees() const noexcept {
  return static_cast<std::size_t>(sum_shards(shards_, [](const detail::TrackerShard& s) { return s.unmatched; }));
}

void MemoryTracker::clear() noexcept {
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    detail::TrackerShard& s = shards_[i];
    detail::SpinGuard guard(s.lock);
    s.records.clear();
    s.sites.clear();
    s.total_count = s.total_bytes = s.live_count = 0;
    s.unmatched = 0;
    std::fill(std::begin(s.sizes), std::end(s.sizes), detail::TrackerShard::SizeClass{});
  }
  timeline_->clear();
  if (filter_)
    for (std::size_t i = 0; i < (std::size_t(1) << filter_bits); ++i) filter_[i].store(0, std::memory_order_relaxed);
  current_.value.store(0, std::memory_order_relaxed);
  peak_.value.store(0, std::memory_order_relaxed);
  clears_.fetch_add(1, std::memory_order_relaxed);  // relaxed: clear() is not concurrent with recording
}

std::vector<AllocationInfo> MemoryTracker::find_leaks() const {
  struct Live {
    detail::Record record;
    detail::SiteKey site;
  };
  std::vector<Live> records;
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    const detail::TrackerShard& s = shards_[i];
    detail::SpinGuard guard(shards_[i].lock);
    records.reserve(records.size() + s.records.size());
    s.records.for_each([&](const detail::Record& r) { records.push_back({r, s.sites[r.site].key}); });
  }
  std::sort(records.begin(), records.end(),
            [](const Live& a, const Live& b) { return std::less<>()(a.record.ptr, b.record.ptr); });
  std::vector<AllocationInfo> out;
  out.reserve(records.size());
  for (const auto& [r, site] : records) {
    AllocationInfo info;
    info.address = r.ptr;
    info.size = r.size;
    info.alignment = r.alignment;
    info.type_name = site.type;
    info.allocator = site.allocator;
    info.location = {site.file, site.function, site.line};
    info.timestamp = std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(start_ns_ + static_cast<std::int64_t>(r.time_ms) * 1'000'000));
    StackTrace st;
    if (detail::lookup_stack(site.stack, st)) info.stack_trace = st;
    info.weight = sample_weight(r.size);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<StackStats> MemoryTracker::aggregate(bool by_stack) const {
  using Key = std::pair<std::uint32_t, std::tuple<std::string_view, std::uint32_t, std::string_view,
                                                  std::string_view, std::string_view>>;
  std::map<Key, StackStats> merged;
  auto entry = [&](const detail::SiteKey& k) -> SiteStats& {
    const std::uint32_t stack = by_stack ? k.stack : 0;
    StackStats& s = merged[{stack, {k.file, k.line, k.function, k.type, k.allocator}}];
    if (stack && !s.stack.depth) (void)detail::lookup_stack(stack, s.stack);
    s.site.location = {k.file, k.function, k.line};
    s.site.type_name = k.type;
    s.site.allocator = k.allocator;
    return s.site;
  };
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    const detail::TrackerShard& shard = shards_[i];
    detail::SpinGuard guard(shards_[i].lock);
    shard.sites.for_each([&](const detail::SiteEntry& e) {
      SiteStats& s = entry(e.key);
      s.total_count += e.total_count;
      s.total_bytes += e.total_bytes;
      s.temporary_count += e.temporary_count;
      s.temporary_bytes += e.temporary_bytes;
    });
    shard.records.for_each([&](const detail::Record& r) {
      SiteStats& s = entry(shard.sites[r.site].key);
      const double w = sample_weight(r.size);
      s.live_count += w;
      ++s.live_records;
      s.live_bytes += w * static_cast<double>(r.size);
    });
  }
  std::vector<StackStats> out;
  out.reserve(merged.size());
  for (auto& [key, s] : merged) out.push_back(s);
  detail::sort_by_bytes(out);
  return out;
}

namespace {
/// The figures of `stacks` per call site (their stacks merged), in report order.
std::vector<SiteStats> per_site(const std::vector<StackStats>& stacks) {
  std::map<std::tuple<std::string_view, std::uint32_t, std::string_view, std::string_view, std::string_view>, StackStats>
      by_site;
  for (const StackStats& st : stacks) {
    const SiteStats& site = st.site;
    detail::add_site_figures(
        by_site[{site.location.file, site.location.line, site.location.function, site.type_name, site.allocator}].site,
        site);
  }
  std::vector<StackStats> merged;
  merged.reserve(by_site.size());
  for (auto& [key, st] : by_site) merged.push_back(st);
  detail::sort_by_bytes(merged);
  std::vector<SiteStats> out;
  out.reserve(merged.size());
  for (const StackStats& st : merged) out.push_back(st.site);
  return out;
}
}  // namespace

std::vector<SiteStats> MemoryTracker::sites() const { return per_site(aggregate(false)); }

std::vector<StackStats> MemoryTracker::stacks() const {
  std::vector<StackStats> out = aggregate(true);
  std::erase_if(out, [](const StackStats& s) { return s.stack.depth == 0; });
  return out;
}

TrackerSnapshot MemoryTracker::snapshot() const {
  TrackerSnapshot s;
  s.tracker = name();
  s.mode = options_.mode;
  s.sample_interval = sampled() ? options_.sample_interval : 0;
  s.elapsed_ms = static_cast<double>(detail::coarse_now_ns() - start_ns_) / 1e6;
  s.stacks = aggregate(true);
  s.sites = per_site(s.stacks);  // one pass over the records, not two
  for (const SiteStats& site : s.sites) {
    s.temporary_count += site.temporary_count;
    s.temporary_bytes += site.temporary_bytes;
  }
  double counts[65] = {}, bytes[65] = {};
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    const detail::TrackerShard& shard = shards_[i];
    detail::SpinGuard guard(shards_[i].lock);
    for (std::size_t c = 0; c < 65; ++c) {
      counts[c] += shard.sizes[c].count;
      bytes[c] += shard.sizes[c].bytes;
    }
  }
  for (unsigned c = 0; c < 65; ++c)
    if (counts[c] > 0)
      s.sizes.push_back({c ? std::size_t(1) << (c - 1) : 0, c ? (std::size_t(2) << (c - 1)) - 1 : 0, counts[c], bytes[c]});
  {
    detail::SpinGuard guard(timeline_->merging);
    const unsigned shift = timeline_->shift.load(std::memory_order_relaxed);
    s.timeline_interval_ms = static_cast<double>(std::uint64_t(1) << shift);
    for (std::size_t i = 0; i < detail::Timeline::points; ++i) {
      const std::size_t low = timeline_->point[i].low.load(std::memory_order_relaxed);
      if (low == SIZE_MAX) continue;
      s.timeline.push_back({static_cast<double>(i) * s.timeline_interval_ms, low,
                            std::max(low, timeline_->point[i].high.load(std::memory_order_relaxed))});
    }
  }
  s.current_bytes = current_usage();
  s.peak_bytes = peak_usage();
  s.allocation_count = allocation_count();
  s.live_count = live_count();
  s.total_bytes = total_allocated();
  s.unmatched_frees = unmatched_frees();
  s.timeline.push_back({s.elapsed_ms, s.current_bytes, s.current_bytes});
  s.allocators = live_allocator_stats();
  std::erase_if(s.allocators, [&](const memory_stats& a) { return a.tracker != this; });
  return s;
}

// ---- Budgets -------------------------------------------------------------------------------------

std::size_t format_budget_report(const budget_report& r, char* buffer, std::size_t size) noexcept {
  // A limit left at SIZE_MAX is no limit: "any" (it printed as 18446744073709551615).
  char bytes[24] = "any", allocations[24] = "any";
  if (r.budget.bytes != SIZE_MAX) std::snprintf(bytes, sizeof bytes, "%zu", r.budget.bytes);
  if (r.budget.allocations != SIZE_MAX) std::snprintf(allocations, sizeof allocations, "%zu", r.budget.allocations);
  const int n = std::snprintf(buffer, size,
                              "memory budget exceeded: %zu bytes in %zu allocations, budget %s bytes / %s "
                              "allocations (%s, scope at %s:%u)",
                              r.bytes, r.allocations, bytes, allocations, r.tracker, r.location.file,
                              static_cast<unsigned>(r.location.line));
  return n < 0 ? 0 : std::min(static_cast<std::size_t>(n), size ? size - 1 : 0);
}

void report_budget_exceeded(const budget_report& r) {
  char text[256];
  format_budget_report(r, text, sizeof text);
  report_misuse({error_kind::assertion, r.tracker, nullptr, r.bytes, 0, text, r.location.file,
                 static_cast<unsigned>(r.location.line)});
}

}  // namespace core::memory
