// Sampled tracking: per-site estimates of bytes and counts (allocated in all, and still live) within
// 10% of the exact figures on a synthetic workload, with a fixed seed; frees of blocks that were
// not sampled cost nothing and are not counted as unmatched. Addresses are made up (never
// dereferenced): only the sampled ones are stored.
#include <core/memory/tracking/memory_tracker.hpp>

#include <gtest/gtest.h>

#include "support/misuse_capture.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cm = core::memory;

namespace {

struct Exact {
  double total_bytes = 0, total_count = 0, live_bytes = 0, live_count = 0;
};

void expect_within(double estimate, double exact, double tolerance, const std::string& what) {
  EXPECT_LE(std::fabs(estimate - exact), tolerance * exact) << what << ": estimate " << estimate << ", exact " << exact;
}

TEST(SampledTracking, PerSiteEstimatesAreWithinTenPercent) {
  // A smaller mean interval than the default 512 KiB keeps the workload short; the estimator is the
  // same whatever the interval (the test of the default is below).
  cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = 64 * 1024});
  cm::MemoryTracker::set_sampling_seed(42);
  std::map<std::string, Exact> exact;
  std::uintptr_t next_address = 0x10000000;
  auto fake = [&](std::size_t size) {
    void* p = reinterpret_cast<void*>(next_address);
    next_address += (size + 15) / 16 * 16 + 16;
    return p;
  };
  auto allocate = [&](const char* site, std::size_t size) {
    void* p = fake(size);
    t.record_allocation(p, size, 0, site, nullptr, cm::SourceLocation{"workload", "allocate", 1});
    Exact& e = exact[site];
    e.total_bytes += double(size), e.total_count += 1, e.live_bytes += double(size), e.live_count += 1;
    return p;
  };
  auto free_block = [&](const char* site, void* p, std::size_t size) {
    t.record_deallocation(p);
    Exact& e = exact[site];
    e.live_bytes -= double(size), e.live_count -= 1;
  };
  std::uint64_t x = 88172645463325252ull;
  auto random = [&] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
  // Small blocks, half freed again; mixed sizes; blocks about the interval; blocks far above it.
  for (int i = 0; i < 1'500'000; ++i) {
    void* p = allocate("small", 48);
    if (i % 2) free_block("small", p, 48);
  }
  for (int i = 0; i < 200'000; ++i) {
    const std::size_t size = 100 + random() % 1900;
    void* p = allocate("mixed", size);
    if (random() % 4 == 0) free_block("mixed", p, size);
  }
  for (int i = 0; i < 3000; ++i) allocate("interval-sized", 64 * 1024);
  for (int i = 0; i < 300; ++i) allocate("huge", 4 << 20);

  std::map<std::string, cm::SiteStats> estimated;
  for (const cm::SiteStats& s : t.sites()) estimated[s.type_name] = s;
  ASSERT_EQ(estimated.size(), 4u);
  for (const auto& [site, e] : exact) {
    const cm::SiteStats& s = estimated[site];
    expect_within(s.total_bytes, e.total_bytes, 0.10, site + " total bytes");
    expect_within(s.total_count, e.total_count, 0.10, site + " total count");
    expect_within(s.live_bytes, e.live_bytes, 0.10, site + " live bytes");
    expect_within(s.live_count, e.live_count, 0.10, site + " live count");
  }
  double live = 0, total = 0;
  for (const auto& [site, e] : exact) live += e.live_bytes, total += e.total_bytes;
  expect_within(double(t.current_usage()), live, 0.10, "current usage");
  expect_within(double(t.total_allocated()), total, 0.10, "total allocated");
  EXPECT_EQ(t.unmatched_frees(), 0u);
  // Far fewer records than allocations: about one per interval.
  const std::vector<cm::AllocationInfo> records = t.find_leaks();
  EXPECT_LT(records.size(), std::size_t(total / (64 * 1024) * 1.2));
  // Each site states the samples its estimates stand on; a snapshot's sites are the same figures.
  std::map<std::string, std::size_t> samples;
  for (const cm::AllocationInfo& r : records) ++samples[r.type_name];
  const cm::TrackerSnapshot snap = t.snapshot();
  ASSERT_EQ(snap.sites.size(), estimated.size());
  for (const cm::SiteStats& s : snap.sites) {
    EXPECT_EQ(s.live_records, samples[s.type_name]) << s.type_name;
    EXPECT_EQ(s.live_records, estimated[s.type_name].live_records) << s.type_name;
    EXPECT_DOUBLE_EQ(s.live_bytes, estimated[s.type_name].live_bytes) << s.type_name;
    EXPECT_DOUBLE_EQ(s.total_count, estimated[s.type_name].total_count) << s.type_name;
  }
}

TEST(SampledTracking, DefaultIntervalSamplesAboutOncePer512KiB) {
  cm::MemoryTracker t({.mode = cm::tracking_mode::sampled});
  EXPECT_EQ(t.options().sample_interval, 512u * 1024);
  cm::MemoryTracker::set_sampling_seed(7);
  constexpr std::size_t n = 400'000, size = 1024;  // 400 MB: about 800 samples
  for (std::size_t i = 0; i < n; ++i)
    t.record_allocation(reinterpret_cast<void*>(0x1000 + i * 2048), size, "kib");
  const auto records = t.find_leaks();
  const double expected_samples = double(n) * -std::expm1(-double(size) / (512.0 * 1024));
  EXPECT_NEAR(double(records.size()), expected_samples, 0.15 * expected_samples);
  ASSERT_FALSE(records.empty());
  EXPECT_NEAR(records[0].weight, 1.0 / -std::expm1(-1024.0 / (512 * 1024)), 1e-9);
  expect_within(double(t.current_usage()), double(n * size), 0.10, "usage");
  expect_within(double(t.allocation_count()), double(n), 0.10, "count");
}

TEST(SampledTracking, ZeroSizedBlocksAreNeverSampledAndSeedsReproduce) {
  auto run = [](std::uint64_t seed) {
    cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = 4096});
    cm::MemoryTracker::set_sampling_seed(seed);
    for (std::size_t i = 0; i < 10000; ++i) {
      t.record_allocation(reinterpret_cast<void*>(0x1000 + i * 64), 0, "empty");
      t.record_allocation(reinterpret_cast<void*>(0x100000 + i * 64), 40, "forty");
    }
    std::vector<const void*> sampled;
    for (const auto& a : t.find_leaks()) {
      EXPECT_NE(a.size, 0u);
      sampled.push_back(a.address);
    }
    EXPECT_FALSE(sampled.empty());
    return sampled;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));  // other seed, other blocks sampled
}

/// Sizes from 2 GiB up take another path through the sampling clock (the product of size and
/// units may overflow there): the same probabilities, and an overflowing product is sampled.
TEST(SampledTracking, HugeBlocksAreSampledWithTheSameProbability) {
  cm::MemoryTracker::set_sampling_seed(11);
  {  // 1-byte interval: 2^31 bytes is 2^63 units, beyond int64: always sampled.
    cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = 1});
    for (std::size_t i = 0; i < 100; ++i)
      t.record_allocation(reinterpret_cast<void*>(0x10000 + i * 4096), std::size_t(1) << 31, "huge");
    EXPECT_EQ(t.find_leaks().size(), 100u);
  }
  {  // 4 GiB interval: a 2 GiB block is sampled with probability 1 - e^-0.5 = 39%, one just
     // below 2 GiB the same (the two paths agree).
    cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = std::size_t(1) << 32});
    constexpr std::size_t n = 4000;
    for (std::size_t i = 0; i < n; ++i) {
      t.record_allocation(reinterpret_cast<void*>(0x10000 + i * 4096), std::size_t(1) << 31, "at 2 GiB");
      t.record_allocation(reinterpret_cast<void*>(0x80000000 + i * 4096), (std::size_t(1) << 31) - 64, "below");
    }
    std::size_t at = 0, below = 0;
    for (const auto& a : t.find_leaks()) (a.size == std::size_t(1) << 31 ? at : below) += 1;
    const double expected = n * -std::expm1(-0.5);
    EXPECT_NEAR(double(at), expected, 0.08 * expected);
    EXPECT_NEAR(double(below), expected, 0.08 * expected);
  }
}

}  // namespace

// Defect (review): the interval reports stated was the one asked for, not the one the fixed-point
// clock uses (2^32 / a whole number of units a byte): 3e9 bytes was used as 2^32, 0 as 1.
TEST(SampledTracking, ReportsStateTheIntervalReallyUsed) {
  const auto used = [](std::size_t asked) {
    cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = asked});
    return t.snapshot().sample_interval;
  };
  EXPECT_EQ(used(512 * 1024), 512u * 1024);
  EXPECT_EQ(used(1000), 1000u);
  EXPECT_EQ(used(3000000000), std::size_t{1} << 32);
  EXPECT_EQ(used(std::size_t{1} << 40), std::size_t{1} << 32);
  EXPECT_EQ(used(0), 1u);
}

// Defect (review): a sampled tracker's leak report counted its samples (21 blocks, 210 bytes)
// where its estimates said 2,000 blocks of 20,000 bytes. The report gives the estimates, as such.
TEST(SampledTracking, ALeakReportGivesTheEstimates) {
  cm::MemoryTracker t({.name = "sampled leaks", .mode = cm::tracking_mode::sampled, .sample_interval = 1000});
  std::uintptr_t address = 0x10000000;
  for (int i = 0; i < 2000; ++i, address += 64) t.record_allocation(reinterpret_cast<void*>(address), 10);
  const std::size_t samples = t.find_leaks().size();
  ASSERT_GT(samples, 0u);
  ASSERT_LT(samples, 100u);
  test::MisuseCapture capture;
  testing::internal::CaptureStderr();
  EXPECT_EQ(t.check_leaks_and_report(), samples);
  const std::string text = testing::internal::GetCapturedStderr();
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_NE(capture.last().text.find("about "), std::string::npos) << capture.last().text;
  EXPECT_NE(text.find("about " + std::to_string(t.live_count()) + " blocks (" + std::to_string(t.current_usage())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("estimated from " + std::to_string(samples) + " sampled blocks"), std::string::npos) << text;
  expect_within(static_cast<double>(t.current_usage()), 20000, 0.3, "estimated leaked bytes");
}
