#include <core/memory/util/align.hpp>
#include <core/memory/util/size_math.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <new>
#include <vector>

namespace cm = core::memory;

static_assert(cm::is_power_of_two(1) && cm::is_power_of_two(4096) && !cm::is_power_of_two(0));
static_assert(cm::align_up(13, 8) == 16 && cm::align_down(13, 8) == 8);
static_assert(cm::checked_mul(3, 5) == 15, "checked arithmetic is usable in constant expressions");

TEST(Align, PowerOfTwoMatchesDefinition) {
  for (std::size_t x = 0; x < 5000; ++x) {
    bool expected = false;
    for (std::size_t p = 1; p != 0 && p <= x; p <<= 1) expected |= (p == x);
    EXPECT_EQ(cm::is_power_of_two(x), expected) << x;
    EXPECT_EQ(cm::is_valid_alignment(x), expected) << x;
  }
  EXPECT_TRUE(cm::is_power_of_two(std::size_t{1} << 63));
  EXPECT_FALSE(cm::is_power_of_two(std::numeric_limits<std::size_t>::max()));
}

TEST(Align, ValidAlignmentUpToMatchesDefinition) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> values = {max, max - 1, max / 2, max / 2 + 2, (std::size_t{1} << 63) + 1};
  for (std::size_t x = 0; x < 5000; ++x) values.push_back(x);
  for (unsigned k = 0; k < 64; ++k)
    for (std::size_t d : {std::size_t{0}, std::size_t{1}, max})  // 2^k, 2^k + 1, 2^k - 1
      values.push_back((std::size_t{1} << k) + d);
  for (unsigned k = 0; k < 64; ++k) {
    const std::size_t limit = std::size_t{1} << k;
    for (std::size_t x : values)
      EXPECT_EQ(cm::is_valid_alignment_up_to(x, limit), cm::is_valid_alignment(x) && x <= limit) << x << " " << limit;
  }
}

TEST(Align, RoundingAgreesWithArithmetic) {
  for (std::size_t a = 1; a <= 65536; a <<= 1) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, a - 1, a, a + 1, 3 * a + 5, std::size_t{1000003}}) {
      const std::size_t up = cm::align_up(n, a);
      const std::size_t down = cm::align_down(n, a);
      EXPECT_EQ(up % a, 0u);
      EXPECT_EQ(down % a, 0u);
      EXPECT_GE(up, n);
      EXPECT_LT(up - n, a);
      EXPECT_LE(down, n);
      EXPECT_LT(n - down, a);
      EXPECT_EQ(cm::is_aligned(n, a), n % a == 0);
    }
  }
}

TEST(Align, Logarithms) {
  EXPECT_EQ(cm::log2_floor(1), 0u);
  EXPECT_EQ(cm::log2_ceil(1), 0u);
  for (unsigned k = 1; k < 63; ++k) {
    const std::size_t p = std::size_t{1} << k;
    EXPECT_EQ(cm::log2_floor(p), k);
    EXPECT_EQ(cm::log2_ceil(p), k);
    EXPECT_EQ(cm::log2_floor(p + 1), k);
    EXPECT_EQ(cm::log2_ceil(p + 1), k + 1);
    EXPECT_EQ(cm::next_power_of_two(p - 1), k == 1 ? 1u : p);
    EXPECT_EQ(cm::next_power_of_two(p + 1), p << 1);
  }
}

TEST(Align, Pointers) {
  alignas(4096) static unsigned char buffer[8192];
  for (std::size_t a = 1; a <= 4096; a <<= 1) {
    for (std::size_t off = 0; off < 70; ++off) {
      unsigned char* p = buffer + off;
      unsigned char* up = cm::align_up(p, a);
      unsigned char* down = cm::align_down(p, a);
      EXPECT_TRUE(cm::is_aligned(up, a));
      EXPECT_TRUE(cm::is_aligned(down, a));
      EXPECT_EQ(static_cast<std::size_t>(up - p), cm::align_offset(p, a));
      EXPECT_LT(static_cast<std::size_t>(up - p), a);
      EXPECT_LT(static_cast<std::size_t>(p - down), a);
      EXPECT_EQ(cm::is_aligned(p, a), up == p);
    }
  }
  const unsigned char* cp = buffer + 3;
  EXPECT_EQ(cm::align_up(cp, 8), buffer + 8);
}

TEST(SizeMath, OverflowIsDetected) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  std::size_t out = 0;
  EXPECT_FALSE(cm::mul_overflows(1u << 20, 1u << 20, out));
  EXPECT_EQ(out, std::size_t{1} << 40);
  EXPECT_TRUE(cm::mul_overflows(max / 2 + 1, 2, out));
  EXPECT_FALSE(cm::mul_overflows(max, 1, out));
  EXPECT_FALSE(cm::add_overflows(max - 1, 1, out));
  EXPECT_EQ(out, max);
  EXPECT_TRUE(cm::add_overflows(max, 1, out));
  EXPECT_EQ(cm::checked_mul(0, max), 0u);
  EXPECT_EQ(cm::checked_add(max - 5, 5), max);
  EXPECT_EQ(cm::checked_align_up(max - 15, 16), max - 15);
  EXPECT_EQ(cm::array_bytes<std::uint64_t>(max / 8), max / 8 * 8);
}

#if CORE_MEMORY_EXCEPTIONS
TEST(SizeMath, OverflowThrowsBadArrayNewLength) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  EXPECT_THROW((void)cm::checked_mul(max / 3, 4), std::bad_array_new_length);
  EXPECT_THROW((void)cm::checked_add(max, 1), std::bad_array_new_length);
  EXPECT_THROW((void)cm::checked_align_up(max - 2, 16), std::bad_array_new_length);
  EXPECT_THROW((void)cm::array_bytes<std::uint64_t>(max / 8 + 1), std::bad_array_new_length);
}
#endif

TEST(SizeMathDeathTest, OverflowWithoutExceptionsReachesHandler) {
  if (cm::exceptions_enabled) GTEST_SKIP() << "exceptions are on: overflow throws";
  volatile std::size_t big = std::numeric_limits<std::size_t>::max();
  EXPECT_DEATH((void)cm::checked_mul(big, 2), "bad array length, size 18446744073709551615: size arithmetic "
                                              "overflowed: 18446744073709551615 \\* 2");
  EXPECT_DEATH((void)cm::array_bytes<std::uint64_t>(big / 4, "core::memory::Test"),
               "bad array length in core::memory::Test, size 4611686018427387903: size arithmetic "
               "overflowed: 4611686018427387903 \\* 8");
}
