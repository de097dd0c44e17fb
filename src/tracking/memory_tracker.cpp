// MemoryTracker: sharded tables of live blocks, usage and peak, sampling, and the reports.
#include "tracker_tables.hpp"

#include <core/memory/tracking/memory_budget.hpp>
#include <core/memory/tracking/memory_stats.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/util/error.hpp>

#include <algorithm>
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

struct alignas(false_sharing_range) TrackerShard {
  SpinLock lock;
  RecordTable records;
  SiteTable sites;
  double total_count = 0;
  double total_bytes = 0;
  double live_count = 0;
  std::uint64_t unmatched = 0;
};

namespace {

constexpr std::size_t shard_count = 64;

TrackerShard& shard_for(TrackerShard* shards, const void* p) noexcept {
  const auto h = (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull;
  return shards[h >> 58];
}

std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
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
      sampled_(options.mode == tracking_mode::sampled),
      units_per_byte_(detail::units_per_byte(options.sample_interval)),
      inverse_interval_(static_cast<double>(units_per_byte_) / detail::sample_unit),
      stack_depth_(options.stack_depth < StackTrace::max_depth ? options.stack_depth
                                                               : unsigned(StackTrace::max_depth)),
      start_ns_(detail::coarse_now_ns()),
      shards_(new detail::TrackerShard[detail::shard_count]) {
  if (options.stack_depth) detail::prepare_stack_capture(options.stack);
  if (sampled_) {
    filter_ = new std::atomic<std::uint16_t>[std::size_t(1) << filter_bits];
    for (std::size_t i = 0; i < (std::size_t(1) << filter_bits); ++i) filter_[i].store(0, std::memory_order_relaxed);
  }
}

MemoryTracker::~MemoryTracker() {
  delete[] shards_;
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
  if (!sampled_) return 1;
  // 1 / (1 - exp(-x)) with expm1 for accuracy when x is small.
  return -1.0 / std::expm1(-static_cast<double>(size) * inverse_interval_);
}

std::size_t MemoryTracker::weighted_bytes(std::size_t size) const noexcept {
  if (!sampled_) return size;
  return static_cast<std::size_t>(std::llround(static_cast<double>(size) * sample_weight(size)));
}

void MemoryTracker::add_usage(std::size_t bytes) noexcept {
  const std::size_t now = current_.value.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::size_t peak = peak_.value.load(std::memory_order_relaxed);
  while (now > peak && !peak_.value.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void MemoryTracker::record(void* ptr, std::size_t size, std::size_t alignment, const char* type,
                           const char* allocator, SourceLocation loc) noexcept {
  if (!ptr) return;
  const double weight = sample_weight(size);
  if (!(weight < std::numeric_limits<double>::infinity())) return;  // size 0 is never sampled
  detail::SiteKey key{or_empty(loc.file),   or_empty(loc.function), or_empty(type), or_empty(allocator),
                      static_cast<std::uint32_t>(loc.line), 0};
  if (const unsigned depth = stack_depth_.load(std::memory_order_relaxed)) {
    const void* frames[StackTrace::max_depth];
    const auto n = detail::capture_frames(frames, depth, 1 + options_.stack_skip, options_.stack);
    key.stack = detail::intern_stack(frames, static_cast<std::uint32_t>(n));
  }
  const auto time_ms = static_cast<std::uint32_t>((detail::coarse_now_ns() - start_ns_) / 1'000'000);
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
      }
    }
  }
  if (!ok) return;  // no memory for the tables: the block stays unrecorded
  // A block recorded again without a free in between: its old record is dropped.
  if (replaced) current_.value.fetch_sub(weighted_bytes(old.size), std::memory_order_relaxed);
  else if (sampled_) filter_[filter_index(ptr)].fetch_add(1, std::memory_order_relaxed);
  add_usage(weighted_bytes(size));
}

void MemoryTracker::forget(void* ptr) noexcept {
  if (!ptr) return;
  detail::TrackerShard& s = detail::shard_for(shards_, ptr);
  detail::Record old;
  {
    detail::SpinGuard guard(s.lock);
    if (!s.records.erase(ptr, old)) {
      if (!sampled_) ++s.unmatched;
      return;
    }
    s.live_count -= sample_weight(old.size);
  }
  if (sampled_) filter_[filter_index(ptr)].fetch_sub(1, std::memory_order_relaxed);
  current_.value.fetch_sub(weighted_bytes(old.size), std::memory_order_relaxed);
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
  }
  if (filter_)
    for (std::size_t i = 0; i < (std::size_t(1) << filter_bits); ++i) filter_[i].store(0, std::memory_order_relaxed);
  current_.value.store(0, std::memory_order_relaxed);
  peak_.value.store(0, std::memory_order_relaxed);
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

std::vector<SiteStats> MemoryTracker::sites() const {
  using Key = std::tuple<std::string_view, std::uint32_t, std::string_view, std::string_view, std::string_view>;
  std::map<Key, SiteStats> merged;
  auto entry = [&](const detail::SiteKey& k) -> SiteStats& {
    SiteStats& s = merged[Key{k.file, k.line, k.function, k.type, k.allocator}];
    s.location = {k.file, k.function, k.line};
    s.type_name = k.type;
    s.allocator = k.allocator;
    return s;
  };
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    const detail::TrackerShard& shard = shards_[i];
    detail::SpinGuard guard(shards_[i].lock);
    shard.sites.for_each([&](const detail::SiteEntry& e) {
      SiteStats& s = entry(e.key);
      s.total_count += e.total_count;
      s.total_bytes += e.total_bytes;
    });
    shard.records.for_each([&](const detail::Record& r) {
      SiteStats& s = entry(shard.sites[r.site].key);
      const double w = sample_weight(r.size);
      s.live_count += w;
      s.live_bytes += w * static_cast<double>(r.size);
    });
  }
  std::vector<SiteStats> out;
  out.reserve(merged.size());
  for (auto& [key, s] : merged) out.push_back(s);
  std::stable_sort(out.begin(), out.end(), [](const SiteStats& a, const SiteStats& b) {
    return a.live_bytes != b.live_bytes ? a.live_bytes > b.live_bytes : a.total_bytes > b.total_bytes;
  });
  return out;
}

std::vector<StackStats> MemoryTracker::stacks() const {
  std::map<std::pair<std::uint32_t, std::tuple<std::string_view, std::uint32_t, std::string_view, std::string_view,
                                               std::string_view>>,
           StackStats>
      merged;
  auto entry = [&](const detail::SiteKey& k) -> StackStats& {
    StackStats& s = merged[{k.stack, {k.file, k.line, k.function, k.type, k.allocator}}];
    if (!s.stack.depth) (void)detail::lookup_stack(k.stack, s.stack);
    s.site.location = {k.file, k.function, k.line};
    s.site.type_name = k.type;
    s.site.allocator = k.allocator;
    return s;
  };
  for (std::size_t i = 0; i < detail::shard_count; ++i) {
    const detail::TrackerShard& shard = shards_[i];
    detail::SpinGuard guard(shards_[i].lock);
    shard.sites.for_each([&](const detail::SiteEntry& e) {
      if (!e.key.stack) return;
      StackStats& s = entry(e.key);
      s.site.total_count += e.total_count;
      s.site.total_bytes += e.total_bytes;
    });
    shard.records.for_each([&](const detail::Record& r) {
      const detail::SiteKey& k = shard.sites[r.site].key;
      if (!k.stack) return;
      StackStats& s = entry(k);
      const double w = sample_weight(r.size);
      s.site.live_count += w;
      s.site.live_bytes += w * static_cast<double>(r.size);
    });
  }
  std::vector<StackStats> out;
  out.reserve(merged.size());
  for (auto& [key, s] : merged) out.push_back(s);
  std::stable_sort(out.begin(), out.end(), [](const StackStats& a, const StackStats& b) {
    return a.site.live_bytes != b.site.live_bytes ? a.site.live_bytes > b.site.live_bytes
                                                  : a.site.total_bytes > b.site.total_bytes;
  });
  return out;
}

// ---- Reports ------------------------------------------------------------------------------------

namespace {

void write_json_string(std::ostream& os, std::string_view s) {
  os << '"';
  for (const char c : s) {
    switch (c) {
      case '"': os << "\\\""; break;
      case '\\': os << "\\\\"; break;
      case '\n': os << "\\n"; break;
      case '\t': os << "\\t"; break;
      case '\r': os << "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          os << buffer;
        } else {
          os << c;
        }
    }
  }
  os << '"';
}

/// A figure: an integer when exact, else with up to 3 decimals.
void write_number(std::ostream& os, double x) {
  char buffer[40];
  if (x == std::floor(x) && std::fabs(x) < 9e15) std::snprintf(buffer, sizeof buffer, "%.0f", x);
  else std::snprintf(buffer, sizeof buffer, "%.3f", x);
  os << buffer;
}

/// The fields of a site, without braces: "file":..,"line":..,...,"total_count":..
void write_site_json(std::ostream& os, const SiteStats& s) {
  os << "\"file\":";
  write_json_string(os, s.location.file);
  os << ",\"line\":" << s.location.line << ",\"function\":";
  write_json_string(os, s.location.function);
  os << ",\"type\":";
  write_json_string(os, s.type_name);
  os << ",\"allocator\":";
  write_json_string(os, s.allocator);
  os << ",\"live_bytes\":";
  write_number(os, s.live_bytes);
  os << ",\"live_count\":";
  write_number(os, s.live_count);
  os << ",\"total_bytes\":";
  write_number(os, s.total_bytes);
  os << ",\"total_count\":";
  write_number(os, s.total_count);
}

std::string pointer_text(const void* p) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "0x%" PRIxPTR, reinterpret_cast<std::uintptr_t>(p));
  return buffer;
}

void write_site_text(std::ostream& os, const SourceLocation& loc, const char* type, const char* allocator) {
  if (*loc.file) os << loc.file << ':' << loc.line;
  else os << "unknown site";
  if (*loc.function) os << " (" << loc.function << ')';
  if (*type) os << " type " << type;
  if (*allocator) os << " allocator " << allocator;
}

/// "  live bytes  live count  total bytes  total count  site" as one row.
void write_site_row(std::ostream& os, const SiteStats& s) {
  char line[96];
  std::snprintf(line, sizeof line, "  %10.0f %12.0f %12.0f %12.0f  ", s.live_bytes, s.live_count, s.total_bytes,
                s.total_count);
  os << line;
  write_site_text(os, s.location, s.type_name, s.allocator);
  os << '\n';
}

double age_ms(const AllocationInfo& a, std::int64_t now_ns) {
  const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(a.timestamp.time_since_epoch()).count();
  return static_cast<double>(now_ns - t) / 1e6;
}

}  // namespace

void write_stacks_text(std::ostream& os, const std::vector<StackStats>& stacks, std::size_t limit) {
  std::size_t shown = 0;
  for (const StackStats& st : stacks) {
    if (shown++ == limit) {
      os << "  ... and " << stacks.size() - limit << " more stacks\n";
      break;
    }
    write_site_row(os, st.site);
    st.stack.print(os, "      ");
  }
}

void MemoryTracker::dump_allocations(std::ostream& os) const {
  for (const AllocationInfo& a : find_leaks()) {
    os << "  " << pointer_text(a.address) << ' ' << a.size << " bytes";
    if (a.alignment) os << " (align " << a.alignment << ')';
    if (a.weight != 1) {
      os << " (stands for ";
      write_number(os, a.weight);
      os << " allocations)";
    }
    os << " at ";
    write_site_text(os, a.location, a.type_name, a.allocator);
    os << '\n';
    if (a.stack_trace) a.stack_trace->print(os, "      ");
  }
}

void MemoryTracker::generate_report(std::ostream& os, report_format format) const {
  const std::vector<SiteStats> site_list = sites();
  const std::vector<AllocationInfo> live = find_leaks();
  const std::vector<StackStats> stack_list = stacks();
  std::vector<memory_stats> allocators = live_allocator_stats();
  std::erase_if(allocators, [&](const memory_stats& s) { return s.tracker != this; });
  const std::int64_t now = detail::coarse_now_ns();
  if (format == report_format::text) {
    os << "core-memory: " << name() << (sampled_ ? " (sampled every ~" : " (exact");
    if (sampled_) os << options_.sample_interval << " bytes, figures are estimates";
    os << "): " << current_usage() << " bytes live in " << live_count() << " blocks, peak " << peak_usage()
       << " bytes; " << allocation_count() << " allocations of " << total_allocated() << " bytes in all\n";
    os << "  live bytes   live count  total bytes  total count  site\n";
    std::size_t shown = 0;
    for (const SiteStats& s : site_list) {
      if (++shown > 20) break;
      write_site_row(os, s);
    }
    if (!stack_list.empty()) {
      os << "top stacks:\n";
      write_stacks_text(os, stack_list, 20);
    }
    if (!allocators.empty()) {
      os << "allocators:\n";
      for (const memory_stats& a : allocators) {
        os << "  " << a.name << ": " << a.bytes_in_use << " bytes in " << a.live_count << " blocks, peak "
           << a.peak_bytes << ", " << a.allocation_count << " allocations";
        if (a.upstream_bytes) os << ", holds " << *a.upstream_bytes << " bytes upstream";
        if (a.fragmentation) os << ", fragmentation " << *a.fragmentation;
        os << '\n';
      }
    }
    if (!live.empty()) {
      os << "live blocks:\n";
      dump_allocations(os);
    }
    return;
  }
  os << "{\"tracker\":";
  write_json_string(os, name());
  os << ",\"mode\":\"" << (sampled_ ? "sampled" : "exact") << "\",\"sample_interval\":"
     << (sampled_ ? options_.sample_interval : 0) << ",\"current_bytes\":" << current_usage()
     << ",\"peak_bytes\":" << peak_usage() << ",\"allocation_count\":" << allocation_count()
     << ",\"live_count\":" << live_count() << ",\"total_bytes\":" << total_allocated()
     << ",\"unmatched_frees\":" << unmatched_frees() << ",\n\"sites\":[";
  bool first = true;
  for (const SiteStats& s : site_list) {
    os << (first ? "\n" : ",\n") << '{';
    first = false;
    write_site_json(os, s);
    os << '}';
  }
  os << "],\n\"live\":[";
  first = true;
  for (const AllocationInfo& a : live) {
    os << (first ? "\n" : ",\n") << "{\"address\":\"" << pointer_text(a.address) << "\",\"size\":" << a.size
       << ",\"alignment\":" << a.alignment << ",\"type\":";
    first = false;
    write_json_string(os, a.type_name);
    os << ",\"allocator\":";
    write_json_string(os, a.allocator);
    os << ",\"file\":";
    write_json_string(os, a.location.file);
    os << ",\"line\":" << a.location.line << ",\"function\":";
    write_json_string(os, a.location.function);
    os << ",\"age_ms\":";
    write_number(os, age_ms(a, now));
    os << ",\"weight\":";
    write_number(os, a.weight);
    os << ",\"stack\":[";
    if (a.stack_trace) {
      for (std::uint32_t i = 0; i < a.stack_trace->depth; ++i) {
        if (i) os << ',';
        write_json_string(os, detail::describe_frame(a.stack_trace->frames[i]));
      }
    }
    os << "]}";
  }
  os << "],\n\"allocators\":[";
  first = true;
  for (const memory_stats& a : allocators) {
    os << (first ? "\n" : ",\n") << "{\"name\":";
    first = false;
    write_json_string(os, a.name);
    os << ",\"bytes_in_use\":" << a.bytes_in_use << ",\"peak_bytes\":" << a.peak_bytes
       << ",\"allocation_count\":" << a.allocation_count << ",\"live_count\":" << a.live_count
       << ",\"upstream_bytes\":";
    if (a.upstream_bytes) os << *a.upstream_bytes;
    else os << "null";
    os << ",\"fragmentation\":";
    if (a.fragmentation) write_number(os, *a.fragmentation);
    else os << "null";
    os << '}';
  }
  os << "],\n\"stacks\":[";
  first = true;
  for (const StackStats& st : stack_list) {
    os << (first ? "\n" : ",\n") << "{\"frames\":[";
    first = false;
    for (std::uint32_t i = 0; i < st.stack.depth; ++i) {
      if (i) os << ',';
      write_json_string(os, detail::describe_frame(st.stack.frames[i]));
    }
    os << "],";
    write_site_json(os, st.site);
    os << '}';
  }
  os << "]}\n";
}

void MemoryTracker::generate_report() const { generate_report(std::cerr); }

std::size_t MemoryTracker::check_leaks_and_report() const {
  const std::vector<AllocationInfo> live = find_leaks();
  if (live.empty()) return 0;
  std::size_t bytes = 0;
  for (const AllocationInfo& a : live) bytes += a.size;
  std::cerr << "core-memory: " << name() << ": " << live.size() << " blocks (" << bytes << " bytes) leaked:\n";
  dump_allocations(std::cerr);
  std::cerr.flush();
  char message[256];
  const AllocationInfo& first = live.front();
  std::snprintf(message, sizeof message, "%zu blocks (%zu bytes) leaked; first at %s:%u", live.size(), bytes,
                first.location.file, static_cast<unsigned>(first.location.line));
  report_misuse({error_kind::leak, name(), first.address, bytes, 0, message, first.location.file,
                 static_cast<unsigned>(first.location.line)});
  return live.size();
}

// ---- Budgets -------------------------------------------------------------------------------------

std::size_t format_budget_report(const budget_report& r, char* buffer, std::size_t size) noexcept {
  const int n = std::snprintf(buffer, size,
                              "memory budget exceeded: %zu bytes in %zu allocations, budget %zu bytes / %zu "
                              "allocations (%s, scope at %s:%u)",
                              r.bytes, r.allocations, r.budget.bytes, r.budget.allocations, r.tracker,
                              r.location.file, static_cast<unsigned>(r.location.line));
  return n < 0 ? 0 : std::min(static_cast<std::size_t>(n), size ? size - 1 : 0);
}

void report_budget_exceeded(const budget_report& r) {
  char text[256];
  format_budget_report(r, text, sizeof text);
  report_misuse({error_kind::assertion, r.tracker, nullptr, r.bytes, 0, text, r.location.file,
                 static_cast<unsigned>(r.location.line)});
}

}  // namespace core::memory
