// The tracker's reports: text, JSON and the self-contained HTML page, of the live tracker and of the
// diff of two snapshots (formats in memory_tracker.hpp's file comment).
#include "live_summary.hpp"
#include "report_page.hpp"
#include "tracker_tables.hpp"

#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/util/error.hpp>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace core::memory {
namespace {

/// The length of the well-formed UTF-8 sequence at the start of `s` (which starts with a byte of
/// 0x80 or more), or 0 if it is not one (a stray byte, an overlong form, a surrogate, beyond U+10FFFF).
std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  if (n == 3 && ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0))) return 0;  // overlong, surrogate
  if (n == 4 && ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90))) return 0;  // overlong, > U+10FFFF
  return n;
}

void write_json_string(std::ostream& os, std::string_view s) {
  os << '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Names come from the program (types, files, paths): bytes that are not UTF-8 would make
      // the whole document unreadable to a JSON parser, so each becomes U+FFFD.
      if (const std::size_t n = utf8_sequence(s.substr(i))) {
        os.write(s.data() + i, static_cast<std::streamsize>(n));
        i += n - 1;
      } else {
        os << "\\ufffd";
      }
      continue;
    }
    switch (c) {
      case '"': os << "\\\""; break;
      case '\\': os << "\\\\"; break;
      case '\n': os << "\\n"; break;
      case '\t': os << "\\t"; break;
      case '\r': os << "\\r"; break;
      case '<': os << "\\u003c"; break;  // so "</script>" cannot end the HTML page's data early
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

/// A total of `after` less that of `before`; the whole of `after` if it is less (the tracker was
/// cleared in between: what it counted since).
std::size_t since(std::size_t after, std::size_t before) noexcept { return after >= before ? after - before : after; }

/// A figure: an integer when exact, else with up to 3 decimals.
void write_number(std::ostream& os, double x) {
  char buffer[40];
  if (x == std::floor(x) && std::fabs(x) < 9e15) std::snprintf(buffer, sizeof buffer, "%.0f", x);
  else std::snprintf(buffer, sizeof buffer, "%.3f", x);
  os << buffer;
}

/// The fields of a site, without braces: "file":..,"line":..,...,"temporary_bytes":..
void write_site_json(std::ostream& os, const SiteStats& s) {
  os << "\"file\":";
  write_json_string(os, s.location.file);
  os << ",\"line\":" << s.location.line << ",\"function\":";
  write_json_string(os, s.location.function);
  os << ",\"type\":";
  write_json_string(os, s.type_name);
  os << ",\"allocator\":";
  write_json_string(os, s.allocator);
  const std::pair<const char*, double> figures[] = {
      {"live_bytes", s.live_bytes},   {"live_count", s.live_count},           {"total_bytes", s.total_bytes},
      {"total_count", s.total_count}, {"temporary_count", s.temporary_count}, {"temporary_bytes", s.temporary_bytes}};
  for (const auto& [key, value] : figures) {
    os << ",\"" << key << "\":";
    write_number(os, value);
  }
}

/// Writes `items` as a JSON array, one per line, each by `write`.
template <class Range, class F>
void write_array(std::ostream& os, const char* key, const Range& items, F write) {
  os << ",\n\"" << key << "\":[";
  bool first = true;
  for (const auto& item : items) {
    os << (first ? "\n" : ",\n");
    first = false;
    write(item);
  }
  os << ']';
}

/// How frames are written: as strings (JSON report), or as indices into "frame_names" (HTML).
class FrameWriter {
 public:
  explicit FrameWriter(bool interned) : interned_(interned) {}
  void write(std::ostream& os, const StackTrace& stack) {
    os << '[';
    for (std::uint32_t i = 0; i < stack.depth; ++i) {
      if (i) os << ',';
      if (!interned_) {
        write_json_string(os, detail::describe_frame(stack.frames[i]));
        continue;
      }
      const auto [at, added] = index_.try_emplace(stack.frames[i], names_.size());
      if (added) names_.push_back(detail::describe_frame(stack.frames[i]));
      os << at->second;
    }
    os << ']';
  }
  void write_names(std::ostream& os) const {
    write_array(os, "frame_names", names_, [&](const std::string& n) { write_json_string(os, n); });
  }

 private:
  bool interned_;
  std::unordered_map<const void*, std::size_t> index_;
  std::vector<std::string> names_;
};

void write_stacks_json(std::ostream& os, const std::vector<StackStats>& stacks, FrameWriter& frames) {
  write_array(os, "stacks", stacks, [&](const StackStats& st) {
    os << "{\"frames\":";
    frames.write(os, st.stack);
    os << (st.merged ? ",\"merged\":true," : ",");
    write_site_json(os, st.site);
    os << '}';
  });
}

void write_sizes_json(std::ostream& os, const std::vector<SizeClassStats>& sizes) {
  write_array(os, "sizes", sizes, [&](const SizeClassStats& c) {
    os << '[' << c.min_size << ',' << c.max_size << ',';
    write_number(os, c.count);
    os << ',';
    write_number(os, c.bytes);
    os << ']';
  });
}

/// The fields of a snapshot every report has: totals, sites, timeline, sizes, allocators (no
/// stacks, no live blocks), after "{".
void write_snapshot_fields(std::ostream& os, const TrackerSnapshot& s) {
  os << "\"tracker\":";
  write_json_string(os, s.tracker);
  os << ",\"mode\":\"" << (s.mode == tracking_mode::sampled ? "sampled" : "exact")
     << "\",\"sample_interval\":" << s.sample_interval << ",\"elapsed_ms\":";
  write_number(os, std::round(s.elapsed_ms));
  os << ",\"current_bytes\":" << s.current_bytes << ",\"peak_bytes\":" << s.peak_bytes
     << ",\"allocation_count\":" << s.allocation_count << ",\"live_count\":" << s.live_count
     << ",\"total_bytes\":" << s.total_bytes << ",\"unmatched_frees\":" << s.unmatched_frees
     << ",\"temporary_count\":";
  write_number(os, s.temporary_count);
  os << ",\"temporary_bytes\":";
  write_number(os, s.temporary_bytes);
  os << ",\"timeline_interval_ms\":";
  write_number(os, s.timeline_interval_ms);
  write_array(os, "timeline", s.timeline, [&](const UsagePoint& p) {
    os << '[';
    write_number(os, std::round(p.start_ms));
    os << ',' << p.low << ',' << p.high << ']';
  });
  write_sizes_json(os, s.sizes);
  write_array(os, "sites", s.sites, [&](const SiteStats& site) {
    os << '{';
    write_site_json(os, site);
    os << '}';
  });
  write_array(os, "allocators", s.allocators, [&](const memory_stats& a) {
    os << "{\"name\":";
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
  });
}

/// The page around `data` (a JSON object whose strings escape '<').
void write_html(std::ostream& os, const std::string& title, const std::string& data) {
  std::string escaped;
  for (const char c : title) {
    if (c == '<') escaped += "&lt;";
    else if (c == '&') escaped += "&amp;";
    else escaped += c;
  }
  os << detail::report_page_head << escaped << detail::report_page_body << data << detail::report_page_tail;
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

/// "  live bytes  live count  total bytes  total count  site" as one row (signed: a diff's row).
void write_site_row(std::ostream& os, const SiteStats& s, bool is_signed = false) {
  char line[96];
  std::snprintf(line, sizeof line, is_signed ? "  %+10.0f %+12.0f %+12.0f %+12.0f  " : "  %10.0f %12.0f %12.0f %12.0f  ",
                s.live_bytes, s.live_count, s.total_bytes, s.total_count);
  os << line;
  write_site_text(os, s.location, s.type_name, s.allocator);
  os << '\n';
}

double age_ms(const AllocationInfo& a, std::int64_t now_ns) {
  const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(a.timestamp.time_since_epoch()).count();
  return static_cast<double>(now_ns - t) / 1e6;
}

/// One line per record (address, size, alignment, weight, site) and its stack.
void write_records(std::ostream& os, const std::vector<AllocationInfo>& records) {
  for (const AllocationInfo& a : records) {
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

void MemoryTracker::dump_allocations(std::ostream& os) const { write_records(os, find_leaks()); }

namespace {

constexpr std::size_t html_stacks_kept = 2000;

/// The stacks an HTML page shows: the `keep` largest by each figure, and the others merged.
std::vector<StackStats> bound_stacks(std::vector<StackStats> stacks, std::size_t keep) {
  if (stacks.size() <= keep) return stacks;
  // Keep the `keep` largest by each figure the flame graph shows.
  std::vector<bool> kept(stacks.size());
  std::vector<std::size_t> order(stacks.size());
  for (double SiteStats::*figure : {&SiteStats::total_bytes, &SiteStats::total_count, &SiteStats::live_bytes,
                                    &SiteStats::temporary_count}) {
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                      [&](std::size_t a, std::size_t b) { return stacks[a].site.*figure > stacks[b].site.*figure; });
    for (std::size_t i = 0; i < keep; ++i) kept[order[i]] = true;
  }
  std::vector<StackStats> out, rest;
  for (std::size_t i = 0; i < stacks.size(); ++i) (kept[i] ? out : rest).push_back(stacks[i]);
  // Merge the others on their outermost frames (fewer until they fit), so every figure keeps its
  // total and the callers high in the graph keep their width.
  for (std::uint32_t frames = 8;; frames /= 2) {
    using Key = std::pair<std::vector<const void*>, std::tuple<const char*, std::uint32_t, const char*, const char*,
                                                               const char*>>;
    std::map<Key, StackStats> merged;
    for (const StackStats& st : rest) {
      const std::uint32_t n = std::min(frames, st.stack.depth);
      const void* const* outer = st.stack.frames + (st.stack.depth - n);
      const SiteStats& site = st.site;
      StackStats& m = merged[{std::vector<const void*>(outer, outer + n),
                              {site.location.file, site.location.line, site.location.function, site.type_name,
                               site.allocator}}];
      if (m.stack.depth == 0 && n) {
        m.stack.depth = n;
        std::copy(outer, outer + n, m.stack.frames);
      }
      m.merged = true;
      detail::add_site_figures(m.site, site);
    }
    if (merged.size() <= keep || frames == 0) {
      for (auto& [key, m] : merged) out.push_back(m);
      return out;
    }
  }
}

}  // namespace

void MemoryTracker::generate_report(std::ostream& os, report_format format) const {
  const TrackerSnapshot snap = snapshot();
  if (format == report_format::html) {
    std::ostringstream data;
    FrameWriter frames(true);
    data << '{';
    write_snapshot_fields(data, snap);
    write_stacks_json(data, bound_stacks(snap.stacks, html_stacks_kept), frames);
    frames.write_names(data);
    data << "}\n";
    write_html(os, "core-memory: " + snap.tracker, data.str());
    return;
  }
  std::vector<StackStats> stack_list = snap.stacks;
  std::erase_if(stack_list, [](const StackStats& s) { return s.stack.depth == 0; });
  const std::vector<AllocationInfo> live = find_leaks();
  if (format == report_format::text) {
    os << "core-memory: " << name() << (sampled() ? " (sampled every ~" : " (exact");
    if (sampled()) os << options_.sample_interval << " bytes, figures are estimates";
    os << "): " << snap.current_bytes << " bytes live in " << snap.live_count << " blocks, peak " << snap.peak_bytes
       << " bytes; " << snap.allocation_count << " allocations of " << snap.total_bytes << " bytes in all, ";
    write_number(os, snap.temporary_count);
    os << " temporary\n";
    os << "  live bytes   live count  total bytes  total count  site\n";
    std::size_t shown = 0;
    for (const SiteStats& s : snap.sites) {
      if (++shown > 20) break;
      write_site_row(os, s);
    }
    if (!stack_list.empty()) {
      os << "top stacks:\n";
      write_stacks_text(os, stack_list, 20);
    }
    if (!snap.allocators.empty()) {
      os << "allocators:\n";
      for (const memory_stats& a : snap.allocators) {
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
  const std::int64_t now = detail::coarse_now_ns();
  os << '{';
  write_snapshot_fields(os, snap);
  write_array(os, "live", live, [&](const AllocationInfo& a) {
    os << "{\"address\":\"" << pointer_text(a.address) << "\",\"size\":" << a.size << ",\"alignment\":" << a.alignment
       << ",\"type\":";
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
    os << ",\"stack\":";
    FrameWriter(false).write(os, a.stack_trace ? *a.stack_trace : StackTrace{});
    os << '}';
  });
  FrameWriter frames(false);
  write_stacks_json(os, stack_list, frames);
  os << "}\n";
}

void MemoryTracker::generate_report() const { generate_report(std::cerr); }

namespace detail {

LiveSummary summarize_records(const std::vector<AllocationInfo>& records, bool sampled) {
  double count = 0;
  LiveSummary s{0, 0, sampled ? records.size() : 0};
  for (const AllocationInfo& a : records) {
    count += a.weight;
    s.bytes += static_cast<std::size_t>(std::llround(static_cast<double>(a.size) * a.weight));  // as weighted_bytes
  }
  s.count = static_cast<std::size_t>(std::llround(count));
  return s;
}

LiveSummary summarize_live(const MemoryTracker& t, const std::vector<AllocationInfo>& live) {
  if (t.options().mode != tracking_mode::sampled) return summarize_records(live, false);
  return {t.live_count(), t.current_usage(), live.size()};
}

void add_site_figures(SiteStats& to, const SiteStats& from, double sign) {
  to.location = from.location;
  to.type_name = from.type_name;
  to.allocator = from.allocator;
  to.live_bytes += sign * from.live_bytes;
  to.live_count += sign * from.live_count;
  to.live_records = sign > 0 ? to.live_records + from.live_records : to.live_records - std::min(to.live_records, from.live_records);
  to.total_bytes += sign * from.total_bytes;
  to.total_count += sign * from.total_count;
  to.temporary_count += sign * from.temporary_count;
  to.temporary_bytes += sign * from.temporary_bytes;
}

void sort_by_bytes(std::vector<StackStats>& stacks) {
  std::stable_sort(stacks.begin(), stacks.end(), [](const StackStats& a, const StackStats& b) {
    return a.site.live_bytes != b.site.live_bytes ? a.site.live_bytes > b.site.live_bytes
                                                  : a.site.total_bytes > b.site.total_bytes;
  });
}

void write_live_summary(std::ostream& os, const LiveSummary& s, const char* verb) {
  os << (s.samples ? "about " : "") << s.count << " blocks (" << s.bytes << " bytes) " << verb;
  if (s.samples) os << ", estimated from " << s.samples << " sampled blocks";
}

}  // namespace detail

std::size_t MemoryTracker::check_leaks_and_report() const {
  const std::vector<AllocationInfo> live = find_leaks();
  if (live.empty()) return 0;
  const detail::LiveSummary s = detail::summarize_live(*this, live);
  std::cerr << "core-memory: " << name() << ": ";
  detail::write_live_summary(std::cerr, s, "leaked");
  std::cerr << ":\n";
  write_records(std::cerr, live);
  std::cerr.flush();
  char message[256];
  const AllocationInfo& first = live.front();
  const char* about = s.samples ? "about " : "";
  if (*first.location.file)
    std::snprintf(message, sizeof message, "%s%zu blocks (%zu bytes) leaked; first at %s:%u", about, s.count, s.bytes,
                  first.location.file, static_cast<unsigned>(first.location.line));
  else
    std::snprintf(message, sizeof message, "%s%zu blocks (%zu bytes) leaked; the first has no recorded site", about,
                  s.count, s.bytes);
  report_misuse({error_kind::leak, name(), first.address, s.bytes, 0, message, first.location.file,
                 static_cast<unsigned>(first.location.line)});
  return live.size();
}

// ---- Snapshot diff -------------------------------------------------------------------------------

std::vector<StackStats> diff_stacks(const TrackerSnapshot& before, const TrackerSnapshot& after, bool by_stack) {
  // Sites are told apart by their strings' contents (two snapshots may come from different runs of
  // a report, never from different processes: frames are addresses).
  using Key = std::pair<std::vector<const void*>,
                        std::tuple<std::string_view, std::uint32_t, std::string_view, std::string_view, std::string_view>>;
  std::map<Key, StackStats> merged;
  auto add = [&](const StackStats& st, double sign) {
    Key key{{}, {st.site.location.file, st.site.location.line, st.site.location.function, st.site.type_name,
                 st.site.allocator}};
    if (by_stack) key.first.assign(st.stack.frames, st.stack.frames + st.stack.depth);
    StackStats& d = merged[key];
    if (by_stack) d.stack = st.stack;
    detail::add_site_figures(d.site, st.site, sign);
  };
  for (const StackStats& st : after.stacks) add(st, 1);
  for (const StackStats& st : before.stacks) add(st, -1);
  std::vector<StackStats> out;
  for (auto& [key, d] : merged) {
    const SiteStats& s = d.site;
    if (s.live_bytes != 0 || s.live_count != 0 || s.total_bytes != 0 || s.total_count != 0 || s.temporary_count != 0)
      out.push_back(d);
  }
  detail::sort_by_bytes(out);
  return out;
}

void write_diff(std::ostream& os, const TrackerSnapshot& before, const TrackerSnapshot& after, report_format format) {
  const std::vector<StackStats> sites = diff_stacks(before, after, false);
  std::vector<StackStats> stacks = diff_stacks(before, after, true);
  std::vector<SizeClassStats> sizes = after.sizes;
  for (SizeClassStats& c : sizes)
    for (const SizeClassStats& b : before.sizes)
      if (b.min_size == c.min_size) {
        c.count -= b.count;
        c.bytes -= b.bytes;
      }
  std::erase_if(sizes, [](const SizeClassStats& c) { return c.count == 0 && c.bytes == 0; });
  if (format == report_format::text) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "core-memory diff: %s from %.0f ms to %.0f ms\n  live: %zu -> %zu bytes (%+.0f) in %zu -> %zu blocks "
                  "(%+.0f); peak %zu -> %zu\n  allocated in between: %zu allocations of %zu bytes, ",
                  after.tracker.c_str(), before.elapsed_ms, after.elapsed_ms, before.current_bytes,
                  after.current_bytes, double(after.current_bytes) - double(before.current_bytes), before.live_count,
                  after.live_count, double(after.live_count) - double(before.live_count), before.peak_bytes,
                  after.peak_bytes, since(after.allocation_count, before.allocation_count),
                  since(after.total_bytes, before.total_bytes));
    os << line;
    write_number(os, after.temporary_count - before.temporary_count);
    os << " temporary\n  live bytes   live count  total bytes  total count  site (after - before)\n";
    for (const StackStats& s : sites) write_site_row(os, s.site, true);
    std::erase_if(stacks, [](const StackStats& s) { return s.stack.depth == 0; });
    if (!stacks.empty()) {
      os << "stacks:\n";
      for (const StackStats& st : stacks) {
        write_site_row(os, st.site, true);
        st.stack.print(os, "      ");
      }
    }
    return;
  }
  const bool html = format == report_format::html;
  std::ostringstream out;
  std::ostream& js = html ? out : os;
  js << "{\"kind\":\"diff\",\"tracker\":";
  write_json_string(js, after.tracker);
  js << ",\"before_ms\":";
  write_number(js, std::round(before.elapsed_ms));
  js << ",\"after_ms\":";
  write_number(js, std::round(after.elapsed_ms));
  for (const TrackerSnapshot* s : {&before, &after}) {
    js << ",\"" << (s == &before ? "before" : "after") << "\":{\"current_bytes\":" << s->current_bytes
       << ",\"peak_bytes\":" << s->peak_bytes << ",\"allocation_count\":" << s->allocation_count
       << ",\"live_count\":" << s->live_count << ",\"total_bytes\":" << s->total_bytes << ",\"temporary_count\":";
    write_number(js, s->temporary_count);
    js << '}';
  }
  write_array(js, "sites", sites, [&](const StackStats& s) {
    js << '{';
    write_site_json(js, s.site);
    js << '}';
  });
  if (!html) std::erase_if(stacks, [](const StackStats& s) { return s.stack.depth == 0; });
  FrameWriter frames(html);
  write_stacks_json(js, html ? bound_stacks(std::move(stacks), html_stacks_kept) : stacks, frames);
  write_sizes_json(js, sizes);
  if (html) frames.write_names(js);
  js << "}\n";
  if (html) write_html(os, "core-memory diff: " + after.tracker, out.str());
}

}  // namespace core::memory
