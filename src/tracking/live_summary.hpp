#pragma once
// How reports state the blocks live (or leaked) at a moment: counted when the tracker is exact;
// when it samples, its weighted estimates and the samples behind them. One wording for the
// tracker's own reports and the preloaded tracker's.

#include <core/memory/tracking/memory_tracker.hpp>

#include <cstddef>
#include <ostream>
#include <vector>

namespace core::memory::detail {

struct LiveSummary {
  std::size_t count = 0, bytes = 0;  // estimates when sampled
  std::size_t samples = 0;           // the records they are estimated from; 0 when exact
};

/// The figures of `records` alone, from their weights (estimates when `sampled`).
LiveSummary summarize_records(const std::vector<AllocationInfo>& records, bool sampled);
/// The figures of `live` (what find_leaks() returned) as `t` states them: when sampled, its
/// running estimates.
LiveSummary summarize_live(const MemoryTracker& t, const std::vector<AllocationInfo>& live);
/// Adds `sign` (1 or -1) times the figures of `from` to `to`, and takes `from`'s names (one site).
/// Records are counted, never below 0.
void add_site_figures(SiteStats& to, const SiteStats& from, double sign = 1);
/// Orders `stacks` as reports list them: by live bytes, then by total bytes, descending (stable).
void sort_by_bytes(std::vector<StackStats>& stacks);
/// "3 blocks (96 bytes) leaked", or "about 2000 blocks (210000 bytes) leaked, estimated from 21
/// sampled blocks" (`verb`: "leaked", "live").
void write_live_summary(std::ostream& os, const LiveSummary& s, const char* verb);

}  // namespace core::memory::detail
