// detail::SegmentHeap, the managed segment's heap, over plain shared memory: one memfd mapped at
// two addresses (the heap is position-independent: built through one view, used through the
// other), the allocation matrix, exhaustion and growth, every misuse it reports, and crash
// consistency: a child process killed at every ordered step of every chain change, and at random
// instants 1,000 times, leaves a heap the survivor repairs and validates.
#include <core/memory/system/detail/segment_heap.hpp>
#include <core/memory/system/os.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "support/misuse_capture.hpp"

namespace cm = core::memory;
namespace os = core::memory::detail::os;
using Heap = cm::detail::SegmentHeap;

namespace {

/// A memfd of `bytes` mapped twice (MAP_SHARED), so writes through one view are read through the
/// other at another address; forked children share it too.
class TwoViews {
 public:
  explicit TwoViews(std::size_t bytes) : bytes_(bytes) {
    if (os::create_anonymous_file(&fd_) != 0 || os::resize_file(fd_, bytes) != 0) std::abort();
    if (os::map(fd_, 0, bytes, os::map_mode::read_write, false, nullptr, &a_) != 0) std::abort();
    if (os::map(fd_, 0, bytes, os::map_mode::read_write, false, nullptr, &b_) != 0) std::abort();
  }
  ~TwoViews() {
    (void)os::release(a_, bytes_);
    (void)os::release(b_, bytes_);
    (void)os::close_file(fd_);
  }
  TwoViews(const TwoViews&) = delete;
  TwoViews& operator=(const TwoViews&) = delete;
  [[nodiscard]] std::byte* a() const { return static_cast<std::byte*>(a_); }
  [[nodiscard]] std::byte* b() const { return static_cast<std::byte*>(b_); }
  [[nodiscard]] Heap* heap_a() const { return std::launder(reinterpret_cast<Heap*>(a_)); }
  [[nodiscard]] Heap* heap_b() const { return std::launder(reinterpret_cast<Heap*>(b_)); }
  /// The address in view B of `p` in view A.
  [[nodiscard]] std::byte* in_b(void* p) const { return b() + (static_cast<std::byte*>(p) - a()); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_;
  int fd_ = -1;
  void* a_ = nullptr;
  void* b_ = nullptr;
};

void expect_valid(const Heap* h) {
  std::uint64_t at = 0;
  const char* why = h->validate(&at);
  EXPECT_EQ(why, nullptr) << why << " at offset " << at;
}

struct Live {
  std::byte* p;
  std::size_t size, align;
  unsigned char fill;
};

bool intact(const Live& l) {
  for (std::size_t i = 0; i < l.size; ++i)
    if (l.p[i] != std::byte{l.fill}) return false;
  return true;
}

TEST(SegmentHeap, BuiltThroughOneViewUsedThroughAnotherAddress) {
  TwoViews v(1 << 20);
  ASSERT_NE(Heap::format(v.a(), v.bytes()), nullptr);
  Heap* ha = v.heap_a();
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    void* p = ha->try_allocate(static_cast<std::size_t>(i) * 13 + 1, 16);
    ASSERT_NE(p, nullptr);
    std::memset(p, i, static_cast<std::size_t>(i) * 13 + 1);
    blocks.push_back(p);
  }
  Heap* hb = v.heap_b();
  expect_valid(hb);
  EXPECT_EQ(hb->stats().live_blocks, 100u);
  // Free every other block through B, allocate through B, free the rest through A.
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    EXPECT_EQ(static_cast<unsigned char>(*v.in_b(blocks[i])), i);
    hb->deallocate(v.in_b(blocks[i]), i * 13 + 1, 16);
  }
  expect_valid(ha);
  void* q = hb->try_allocate(500, 64);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(ha->owns(v.a() + (static_cast<std::byte*>(q) - v.b())));
  for (std::size_t i = 1; i < blocks.size(); i += 2) ha->deallocate(blocks[i], i * 13 + 1, 16);
  hb->deallocate(q, 500, 64);
  expect_valid(ha);
  EXPECT_EQ(ha->stats().live_blocks, 0u);
  EXPECT_EQ(ha->stats().free_blocks, 1u);
}

TEST(SegmentHeap, AllocationMatrixAlignmentsSizesNonOverlapReuse) {
  TwoViews v(8 << 20);
  Heap* h = Heap::format(v.a(), v.bytes());
  ASSERT_NE(h, nullptr);
  const cm::detail::segment_heap_stats fresh = h->stats();
  EXPECT_EQ(fresh.free_blocks, 1u);
  EXPECT_EQ(fresh.largest_free_block, Heap::max_request(v.bytes()));
  const std::size_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 100, 255, 256, 257, 1000, 4095, 4096, 65536, 100000};
  const std::size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 4096, 65536};
  std::vector<Live> live;
  unsigned char fill = 1;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t a : aligns) {
      for (std::size_t s : sizes) {
        auto* p = static_cast<std::byte*>(h->try_allocate(s, a));
        ASSERT_NE(p, nullptr) << s << " " << a;
        EXPECT_TRUE(cm::is_aligned(p, std::max<std::size_t>(a, 16))) << s << " " << a;
        EXPECT_GE(h->usable_size(p), s);
        EXPECT_TRUE(h->owns(p));
        std::memset(p, fill, s);
        live.push_back({p, s, a, fill});
        fill = static_cast<unsigned char>(fill % 250 + 1);
      }
      expect_valid(h);
    }
    for (const Live& l : live) EXPECT_TRUE(intact(l)) << l.size << " " << l.align;  // no overlap
    // Free half (every other), then the rest: the freed space is reused in round 2.
    for (std::size_t i = 0; i < live.size(); i += 2) h->deallocate(live[i].p, live[i].size, live[i].align);
    expect_valid(h);
    for (std::size_t i = 1; i < live.size(); i += 2) EXPECT_TRUE(intact(live[i]));
    for (std::size_t i = 1; i < live.size(); i += 2) h->deallocate(live[i].p, live[i].size, live[i].align);
    live.clear();
    expect_valid(h);
    const auto st = h->stats();
    EXPECT_EQ(st.live_blocks, 0u);
    EXPECT_EQ(st.used_bytes, 0u);
    EXPECT_EQ(st.free_blocks, 1u);  // everything merged back
    EXPECT_EQ(st.free_bytes, fresh.free_bytes);
    EXPECT_EQ(st.largest_free_block, fresh.largest_free_block);
  }
}

TEST(SegmentHeap, RandomTrafficAgainstAModelStaysValid) {
  TwoViews v(4 << 20);
  Heap* h = Heap::format(v.a(), v.bytes());
  ASSERT_NE(h, nullptr);
  std::mt19937_64 rng(12);
  std::vector<Live> live;
  std::size_t failures = 0;
  for (int i = 0; i < 20000; ++i) {
    if (live.empty() || rng() % 100 < 55) {
      const std::size_t s = rng() % 4 == 0 ? rng() % 20000 : rng() % 300;
      const std::size_t a = std::size_t{1} << (rng() % 4 == 0 ? rng() % 13 : rng() % 5);
      auto* p = static_cast<std::byte*>(h->try_allocate(s, a));
      if (!p) {
        ++failures;
        continue;
      }
      ASSERT_TRUE(cm::is_aligned(p, a));
      const auto f = static_cast<unsigned char>(rng() % 255 + 1);
      std::memset(p, f, s);
      live.push_back({p, s, a, f});
    } else {
      const std::size_t k = rng() % live.size();
      ASSERT_TRUE(intact(live[k]));
      h->deallocate(live[k].p, live[k].size, live[k].align);
      live[k] = live.back();
      live.pop_back();
    }
    if (i % 997 == 0) expect_valid(h);
  }
  expect_valid(h);
  std::size_t used = 0;
  for (const Live& l : live) used += h->usable_size(l.p) + Heap::header;
  EXPECT_EQ(h->stats().used_bytes, used);
  EXPECT_EQ(h->stats().live_blocks, live.size());
}

TEST(SegmentHeap, ExhaustionIsNullAndMaxRequestIsExact) {
  TwoViews v(1 << 20);
  Heap* h = Heap::format(v.a(), v.bytes());
  const std::size_t max = Heap::max_request(v.bytes());
  EXPECT_EQ(h->try_allocate(max + 1, 16), nullptr);
  void* p = h->try_allocate(max, 16);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(h->try_allocate(0, 16), nullptr);  // nothing left at all
  h->deallocate(p, max, 16);
  // Absurd sizes and alignments are exhaustion, not wrap-around.
  for (std::size_t s : {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX / 2, std::size_t{1} << 47})
    EXPECT_EQ(h->try_allocate(s, 16), nullptr) << s;
  EXPECT_EQ(h->try_allocate(1, std::size_t{1} << 62), nullptr);
  EXPECT_EQ(h->try_allocate(1, std::size_t{1} << 20), nullptr);  // the heap is 1 MiB
  // Fill with small blocks until null, then everything comes back.
  std::vector<void*> all;
  while (void* q = h->try_allocate(100, 16)) all.push_back(q);
  EXPECT_GT(all.size(), 5000u);
  expect_valid(h);
  EXPECT_LT(h->stats().free_bytes, 160u);
  for (void* q : all) h->deallocate(q, 100, 16);
  expect_valid(h);
  EXPECT_EQ(h->stats().largest_free_block, max);
}

TEST(SegmentHeap, ExtendAppendsTheNewRangeMergedWithAFreeTail) {
  TwoViews v(1 << 20);
  Heap* h = Heap::format(v.a(), 64 << 10);
  ASSERT_NE(h, nullptr);
  void* big = h->try_allocate(40 << 10, 16);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(h->try_allocate(40 << 10, 16), nullptr);
  h->extend(256 << 10);  // the free tail and the new range become one block
  expect_valid(h);
  EXPECT_EQ(h->stats().free_blocks, 1u);
  void* more = h->try_allocate(150 << 10, 16);
  ASSERT_NE(more, nullptr);
  void* rest = h->try_allocate(h->stats().largest_free_block, 16);  // fill exactly
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(h->stats().free_blocks, 0u);
  h->extend(512 << 10);  // the tail is live: a separate free block
  expect_valid(h);
  EXPECT_EQ(h->stats().free_blocks, 1u);
  h->extend(512 << 10);  // no change
  h->extend(100);        // never shrinks
  expect_valid(h);
  EXPECT_EQ(h->extent(), std::size_t{512} << 10);
  h->deallocate(big, 40 << 10, 16);
  h->deallocate(more, 150 << 10, 16);
  h->deallocate(rest, 0, 16);
  expect_valid(h);
  EXPECT_EQ(h->stats().largest_free_block, Heap::max_request(512 << 10));
}

// Misuse: every kind the heap reports, with the heap intact after the handler returns.
TEST(SegmentHeap, MisuseIsReportedAndTheHeapStaysIntact) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  TwoViews v(1 << 20);
  Heap* h = Heap::format(v.a(), v.bytes());
  auto* p = static_cast<std::byte*>(h->try_allocate(100, 16));
  auto* q = static_cast<std::byte*>(h->try_allocate(100, 16));
  test::MisuseCapture capture;
  struct Case {
    void* ptr;
    std::size_t size;
    cm::error_kind kind;
    const char* text;
  };
  int outside = 0;
  h->deallocate(q, 100, 16);  // q is free now
  const Case cases[] = {
      {&outside, 4, cm::error_kind::foreign_pointer, "pointer is not in this segment's heap"},
      {v.a() + 16, 4, cm::error_kind::foreign_pointer, "pointer is not in this segment's heap"},
      {p + 16, 4, cm::error_kind::interior_pointer, "not the start of a block, or the block's header is corrupt"},
      {p + 8, 4, cm::error_kind::interior_pointer, "not the start of a block, or the block's header is corrupt"},
      {q, 100, cm::error_kind::double_free, "block is already free"},
      {p, 200, cm::error_kind::invalid_size, "size is larger than the block"},
  };
  for (const Case& c : cases) {
    const std::size_t before = capture.count();
    h->deallocate(c.ptr, c.size, 16);
    ASSERT_EQ(capture.count(), before + 1) << c.text;
    EXPECT_EQ(capture.last().kind, c.kind) << c.text;
    EXPECT_EQ(capture.last().allocator, "core::memory::ManagedSharedMemory");
    EXPECT_EQ(capture.last().address, c.ptr);
    EXPECT_NE(capture.last().text.find(c.text), std::string::npos) << capture.last().text;
    expect_valid(h);
  }
  // An overrun of the block before: freeing that block finds its neighbour's header overwritten.
  auto* before = static_cast<std::byte*>(h->try_allocate(100, 16));
  auto* after = static_cast<std::byte*>(h->try_allocate(100, 16));
  ASSERT_EQ(after, before + h->usable_size(before) + 8);
  std::uint64_t tag_word;
  std::memcpy(&tag_word, after - 8, 8);
  std::memset(before, 0x42, h->usable_size(before) + 8);
  h->deallocate(before, 100, 16);
  EXPECT_EQ(capture.last().kind, cm::error_kind::buffer_overrun);
  EXPECT_NE(capture.last().text.find("the header of the next block is overwritten"), std::string::npos);
  std::memcpy(after - 8, &tag_word, 8);  // repaired by hand: both free normally
  const std::size_t reports = capture.count();
  h->deallocate(before, 100, 16);
  h->deallocate(after, 100, 16);
  EXPECT_EQ(capture.count(), reports) << capture.last().text;
  expect_valid(h);
  // A header overwritten by an overrun of the block before it.
  std::uint64_t saved;
  std::memcpy(&saved, q - 8, 8);
  auto* r = static_cast<std::byte*>(h->try_allocate(100, 16));
  ASSERT_EQ(r, q);
  std::memset(r - 8, 0x41, 8);
  h->deallocate(r, 100, 16);
  EXPECT_EQ(capture.last().kind, cm::error_kind::interior_pointer);
  EXPECT_NE(capture.last().text.find("header is corrupt"), std::string::npos);
  // Recovery refuses a chain with a corrupt header and says where.
  const std::size_t before_recovery = capture.count();
  std::uint64_t at = 0;
  EXPECT_STREQ(h->recover(v.bytes(), &at), "block header is corrupt");
  EXPECT_EQ(at, static_cast<std::size_t>(r - 8 - v.a()));
  EXPECT_EQ(capture.count(), before_recovery);  // a state to report to the caller, not a misuse
}

TEST(SegmentHeapDeathTest, MisuseMessages) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  TwoViews v(1 << 20);
  Heap* h = Heap::format(v.a(), v.bytes());
  auto* p = static_cast<std::byte*>(h->try_allocate(100, 16));
  EXPECT_DEATH(h->deallocate(p + 32, 100, 16),
               "interior pointer in core::memory::ManagedSharedMemory at 0x[0-9a-f]+, size 100, alignment 16: not the "
               "start of a block, or the block's header is corrupt");
  h->deallocate(p, 100, 16);
  EXPECT_DEATH(h->deallocate(p, 100, 16),
               "double free in core::memory::ManagedSharedMemory at 0x[0-9a-f]+, size 100, alignment 16: block is "
               "already free");
  int x = 0;
  EXPECT_DEATH(h->deallocate(&x, 4, 4),
               "foreign pointer in core::memory::ManagedSharedMemory at 0x[0-9a-f]+, size 4, alignment 4: pointer "
               "is not in this segment's heap");
}

// Crash consistency -------------------------------------------------------------------------

/// Random traffic on `h` (forever if `ops` is 0); with `keep` live blocks at most.
void traffic(Heap* h, std::uint64_t seed, std::size_t ops, std::size_t keep, std::size_t limit) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<void*, std::size_t>> live;
  live.reserve(keep);
  for (std::size_t i = 0; ops == 0 || i < ops; ++i) {
    if (live.size() < keep && (live.empty() || rng() % 2 == 0)) {
      const std::size_t s = rng() % 8 == 0 ? rng() % 5000 : rng() % 200;
      const std::size_t a = std::size_t{1} << (rng() % 8 == 0 ? rng() % 10 : rng() % 5);
      if (void* p = h->try_allocate(s, a)) live.emplace_back(p, a);
      const std::size_t grown = h->extent() + 4096 * (rng() % 4 + 1);
      if (rng() % 64 == 0 && grown <= limit) h->extend(grown);
    } else {
      const std::size_t k = rng() % live.size();
      h->deallocate(live[k].first, 0, live[k].second);
      live[k] = live.back();
      live.pop_back();
    }
  }
}

/// After a child died: repair, validate, and prove the heap still works.
void repair_and_check(Heap* h, std::size_t limit, const std::string& what) {
  std::uint64_t at = 0;
  const char* broken = h->recover(limit, &at);
  ASSERT_EQ(broken, nullptr) << what << ": " << broken << " at offset " << at;
  const char* why = h->validate(&at);
  ASSERT_EQ(why, nullptr) << what << ": " << why << " at offset " << at;
  void* p = h->try_allocate(64, 16);
  ASSERT_NE(p, nullptr) << what;
  h->deallocate(p, 64, 16);
  ASSERT_EQ(h->validate(), nullptr) << what;
}

int kill_step = 0;
int kill_countdown = 0;

TEST(SegmentHeapCrash, KilledAtEveryOrderedStepOfEveryChainChange) {
  if constexpr (!cm::checks::debug) GTEST_SKIP() << "the step hook exists in debug builds";
  const int steps[] = {1, 2, 3, 10, 11, 20, 21, 22, 30, 31};
  constexpr std::size_t bytes = 4 << 20;
  TwoViews v(bytes);
  int kills = 0;
  for (int s : steps) {
    for (int nth : {1, 2, 5, 17, 60}) {
      Heap* h = Heap::format(v.a(), 256 << 10);
      ASSERT_NE(h, nullptr);
      traffic(h, 7, 300, 40, bytes);  // a fragmented heap to start from
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        kill_step = s;
        kill_countdown = nth;
        cm::detail::segment_heap_step_hook = [](int step) noexcept {
          if (step == kill_step && --kill_countdown == 0) ::raise(SIGKILL);
        };
        traffic(v.heap_b(), static_cast<std::uint64_t>(s * 100 + nth), 20000, 60, bytes);
        ::_exit(0);
      }
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      const std::string what = "step " + std::to_string(s) + " hit " + std::to_string(nth);
      if (WIFSIGNALED(status)) {
        EXPECT_EQ(WTERMSIG(status), SIGKILL) << what;
        ++kills;
      } else {
        EXPECT_EQ(WEXITSTATUS(status), 0) << what;
      }
      repair_and_check(v.heap_b(), bytes, what);
      traffic(h, 99, 500, 40, bytes);  // and it keeps working
      ASSERT_EQ(h->validate(), nullptr) << what;
    }
  }
  EXPECT_GE(kills, 45);  // every step is reached by the traffic (a few late hits may not be)
}

TEST(SegmentHeapCrash, KilledAtRandomInstantsAThousandTimes) {
  constexpr std::size_t bytes = 4 << 20;
  TwoViews v(bytes);
  Heap* h = Heap::format(v.a(), 1 << 20);
  std::mt19937_64 rng(2024);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int runs = 0;
  for (; runs < 1000 && std::chrono::steady_clock::now() < deadline; ++runs) {
    if (h->stats().free_bytes < (256u << 10) || h->extent() > (3u << 20)) h = Heap::format(v.a(), 1 << 20);  // leaks pile up
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      traffic(v.heap_b(), rng(), 0, 200, bytes);
      ::_exit(0);
    }
    ::usleep(static_cast<useconds_t>(rng() % 400));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    repair_and_check(h, bytes, "run " + std::to_string(runs));
  }
  EXPECT_EQ(runs, 1000);
}

}  // namespace
