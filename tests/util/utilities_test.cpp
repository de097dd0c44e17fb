#include <core/memory/util/align.hpp>
#include <core/memory/util/aligned_storage.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/memory_barrier.hpp>
#include <core/memory/util/memory_utils.hpp>
#include <core/memory/util/prefetch.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cm = core::memory;

TEST(CacheLine, PaddedValuesNeverShareALine) {
  static_assert(cm::false_sharing_range >= cm::cache_line_size);
  static_assert(sizeof(cm::CachePadded<std::uint64_t>) == cm::false_sharing_range);
  static_assert(sizeof(cm::CachePadded<char[200]>) % cm::false_sharing_range == 0);
  std::vector<cm::CachePadded<std::uint64_t>> counters(8);
  for (std::size_t i = 0; i + 1 < counters.size(); ++i) {
    EXPECT_TRUE(cm::is_aligned(&counters[i].value, cm::false_sharing_range));
    EXPECT_FALSE(cm::same_cache_line(&counters[i].value, &counters[i + 1].value));
    EXPECT_GE(reinterpret_cast<const char*>(&counters[i + 1].value) - reinterpret_cast<const char*>(&counters[i].value),
              static_cast<std::ptrdiff_t>(cm::false_sharing_range));
  }
  cm::CachePadded<std::string> s("padded");
  EXPECT_EQ(*s, "padded");
  EXPECT_EQ(s->size(), 6u);
  s.get() += "!";
  EXPECT_EQ(s.value, "padded!");
}

TEST(CacheLine, RuntimeLineSizeIsSane) {
  const std::size_t n = cm::runtime_cache_line_size();
  EXPECT_TRUE(cm::is_power_of_two(n));
  EXPECT_GE(n, 16u);
  EXPECT_LE(n, 512u);
  alignas(64) char line[128];
  EXPECT_TRUE(cm::same_cache_line(&line[0], &line[63]));
  EXPECT_FALSE(cm::same_cache_line(&line[63], &line[64]));
}

TEST(Prefetch, HintsNeverFault) {
  std::vector<int> data(10000, 1);
  cm::prefetch_read(data.data());
  cm::prefetch_write<cm::locality::none>(data.data() + 100);
  cm::prefetch_read<cm::locality::low>(data.data() + 200);
  cm::prefetch_write<cm::locality::moderate>(data.data() + 300);
  cm::prefetch_range(data.data() + 1, data.size() * sizeof(int) - 8);
  cm::prefetch_range(data.data(), 0);
  // A prefetch of an unmapped address is only a hint: it must not fault.
  cm::prefetch_read(nullptr);
  cm::prefetch_write(reinterpret_cast<const void*>(std::uintptr_t{0x10}));
  long sum = 0;
  for (int v : data) sum += v;
  EXPECT_EQ(sum, 10000);
}

namespace {
struct Tracked {
  static inline int alive = 0;
  static inline int constructed = 0;
  int value;
  std::string text;
  Tracked(int v, std::string t) : value(v), text(std::move(t)) { ++alive, ++constructed; }
  ~Tracked() { --alive; }
};
struct alignas(256) OverAligned {
  unsigned char bytes[3];
};
}  // namespace

TEST(AlignedStorage, ConstructsAndDestroysInPlace) {
  cm::AlignedStorage<Tracked, 4> storage;
  static_assert(decltype(storage)::capacity() == 4);
  static_assert(sizeof(storage) == 4 * sizeof(Tracked));
  EXPECT_TRUE(cm::is_aligned(storage.data(), alignof(Tracked)));
  for (int i = 0; i < 4; ++i) storage.construct_at(static_cast<std::size_t>(i), i, std::string(40, char('a' + i)));
  EXPECT_EQ(Tracked::alive, 4);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(storage[i].value, static_cast<int>(i));
    EXPECT_EQ(storage.data()[i].text, std::string(40, char('a' + i)));
  }
  static_cast<const cm::AlignedStorage<Tracked, 4>&>(storage)[2];
  for (std::size_t i = 0; i < 4; ++i) storage.destroy_at(i);
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::constructed, 4);
}

TEST(AlignedStorage, SingleObjectAndOverAlignment) {
  cm::AlignedStorage<OverAligned> one;
  static_assert(alignof(decltype(one)) == 256);
  EXPECT_TRUE(cm::is_aligned(one.bytes(), 256));
  one.construct(OverAligned{{1, 2, 3}});
  EXPECT_EQ(one.get().bytes[2], 3);
  one.destroy();
  cm::AlignedStorage<OverAligned, 3> many;
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(cm::is_aligned(&many[i], 256));
}

TEST(MemoryUtils, SecureZeroClearsEveryByte) {
  for (std::size_t n : {0u, 1u, 7u, 64u, 1000u}) {
    std::vector<unsigned char> secret(n + 2, 0xAB);
    cm::secure_zero(secret.data() + 1, n);
    EXPECT_EQ(secret.front(), 0xAB);
    EXPECT_EQ(secret.back(), 0xAB);
    EXPECT_TRUE(cm::check_pattern(secret.data() + 1, n, 0));
  }
}

TEST(MemoryUtils, FindMismatchFindsEveryPosition) {
  std::vector<unsigned char> buf(300);
  // Every start offset (covers the unaligned head), every length, and a mismatch at every position.
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 31u, 64u, 257u}) {
      cm::fill(buf.data() + start, len, cm::fill_byte::freed);
      EXPECT_EQ(cm::find_mismatch(buf.data() + start, len, cm::fill_byte::freed), nullptr);
      for (std::size_t bad = 0; bad < len; ++bad) {
        buf[start + bad] = 0;
        EXPECT_EQ(cm::find_mismatch(buf.data() + start, len, cm::fill_byte::freed), buf.data() + start + bad);
        EXPECT_FALSE(cm::check_pattern(buf.data() + start, len, cm::fill_byte::freed));
        buf[start + bad] = cm::fill_byte::freed;
      }
    }
  }
}

TEST(MemoryBarrier, BackoffSpinsThenYields) {
  cm::Backoff backoff;
  int rounds = 0;
  while (!backoff.is_yielding()) {
    backoff.pause();
    ++rounds;
  }
  EXPECT_EQ(rounds, 7);  // 1, 2, 4, ..., 64 pauses
  backoff.pause();       // yields now; still returns
  EXPECT_TRUE(backoff.is_yielding());
  backoff.reset();
  EXPECT_FALSE(backoff.is_yielding());
  cm::compiler_barrier();
  cm::cpu_pause();
}
