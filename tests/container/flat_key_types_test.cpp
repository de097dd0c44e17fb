// The flat containers' tuned paths (inline-assembly select, radix sort, branch-free search) are
// chosen by the key type and comparator. Every key type either compiler offers, standard and
// extended, under every built-in order, against std::map / std::multiset: bulk builds across the
// radix-sort and prefetch thresholds, one-by-one inserts, and every lookup. This source is compiled
// twice, with -std=gnu++20 and -std=c++20 (tests/CMakeLists.txt): under gnu++20 std::is_integral
// admits __int128, which a 64-bit compare once took for a register key. The c++20 build runs the
// 128-bit types alone (CORE_MEMORY_TEST_DIALECT_TYPES_ONLY): no other type's traits differ.

#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/small_vector.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <type_traits>
#include <vector>

namespace cm = core::memory;

namespace {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;
#if defined(__clang__)
__extension__ typedef _BitInt(7) bit7;
__extension__ typedef unsigned _BitInt(37) ubit37;
__extension__ typedef _BitInt(64) bit64;
__extension__ typedef _BitInt(128) bit128;
__extension__ typedef unsigned _BitInt(100) ubit100;
#endif

enum Plain : int { plain_a, plain_b };
enum class Scoped8 : std::int8_t {};
enum class ScopedU64 : std::uint64_t {};
enum class Scoped128 : u128 {};

[[maybe_unused]] int g_pool[64];  // pointer keys point into one array, so std::less and < agree

/// A random key, often near zero, at the extremes, or differing from another only in high bits.
template <class K>
K random_key(std::mt19937_64& rng) {
  if constexpr (std::is_pointer_v<K>) {
    return &g_pool[rng() % 64];
  } else if constexpr (std::is_enum_v<K>) {
    return static_cast<K>(random_key<std::underlying_type_t<K>>(rng));
  } else if constexpr (std::is_floating_point_v<K>) {
    return static_cast<K>(static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 8.0);
  } else if constexpr (std::is_same_v<K, bool>) {
    return (rng() & 1) != 0;
  } else {
    const u128 hi = rng(), lo = rng();
    const u128 bits = (hi << 64) | lo;
    switch (rng() % 5) {
      case 0: return static_cast<K>(static_cast<i128>(rng() % 21) - 10);  // near zero, both signs
      case 1: return static_cast<K>(bits & ~u128{0} << 60);               // high bits only
      case 2: return static_cast<K>(static_cast<u128>(rng() % 8) << 64);  // beyond 64 bits
      case 3: return static_cast<K>(~u128{0} >> (rng() % 128));           // extremes
      default: return static_cast<K>(bits);
    }
  }
}

/// The first difference from std found, or nullptr (plain compares, not gtest assertions, so
/// that 30 key types x 4 orders stay cheap to compile).
/// FlatMap's key sequence: std::vector, except for bool (std::vector<bool> has no elements to
/// refer to; FlatMap rejects it), where a contiguous SmallVector keeps the register-key path.
template <class K>
using MapKeys = std::conditional_t<std::is_same_v<K, bool>, cm::SmallVector<bool, 8>, std::vector<K>>;
template <class K, class Comp>
using Map = cm::FlatMap<K, int, Comp, MapKeys<K>>;
template <class K, class Comp>
using MultiMap = cm::FlatMultiMap<K, int, Comp, MapKeys<K>>;

template <class K, class Comp>
const char* check_map(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<K, int>> input;
  for (std::size_t i = 0; i < n; ++i) input.emplace_back(random_key<K>(rng), static_cast<int>(i));
  const Map<K, Comp> bulk(input.begin(), input.end());
  const MultiMap<K, Comp> multi(input.begin(), input.end());
  std::map<K, int, Comp> ref;
  std::multimap<K, int, Comp> multi_ref;
  Map<K, Comp> one_by_one;
  for (const auto& [k, v] : input) {
    ref.insert({k, v});
    multi_ref.insert({k, v});
    one_by_one.insert({k, v});
  }
  const auto same = [](const auto& a, const auto& b) { return a.first == b.first && a.second == b.second; };
  if (!std::equal(bulk.begin(), bulk.end(), ref.begin(), ref.end(), same)) return "bulk-built map";
  if (!std::equal(multi.begin(), multi.end(), multi_ref.begin(), multi_ref.end(), same)) return "bulk-built multimap";
  if (!(one_by_one == bulk)) return "map built one by one";
  const auto pos = [](const auto& c, auto it) {
    return static_cast<std::size_t>(std::distance(c.begin(), typename std::remove_cvref_t<decltype(c)>::const_iterator(it)));
  };
  for (int probe = 0; probe < 400; ++probe) {
    const K k = probe % 2 ? input[rng() % n].first : random_key<K>(rng);
    if (bulk.contains(k) != (ref.count(k) == 1) || (bulk.find(k) == bulk.end()) != (ref.find(k) == ref.end()))
      return "find / contains";
    if (bulk.index_of(bulk.lower_bound(k)) != pos(ref, ref.lower_bound(k))) return "lower_bound";
    if (bulk.index_of(bulk.upper_bound(k)) != pos(ref, ref.upper_bound(k))) return "upper_bound";
    if (multi.count(k) != multi_ref.count(k)) return "multimap count";
    const auto [lo, hi] = multi.equal_range(k);
    const auto [rlo, rhi] = multi_ref.equal_range(k);
    if (multi.index_of(lo) != pos(multi_ref, rlo) || multi.index_of(hi) != pos(multi_ref, rhi))
      return "multimap equal_range";
  }
  return nullptr;
}

template <class K, class Comp>
const char* check_set(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<K> input;
  for (std::size_t i = 0; i < n; ++i) input.push_back(random_key<K>(rng));
  const cm::FlatSet<K, Comp> set(input.begin(), input.end());
  const cm::FlatMultiSet<K, Comp> multi(input.begin(), input.end());
  const std::set<K, Comp> ref(input.begin(), input.end());
  const std::multiset<K, Comp> multi_ref(input.begin(), input.end());
  if (!std::equal(set.begin(), set.end(), ref.begin(), ref.end())) return "bulk-built set";
  if (!std::equal(multi.begin(), multi.end(), multi_ref.begin(), multi_ref.end())) return "bulk-built multiset";
  const auto pos = [](const auto& c, auto it) {
    return static_cast<std::size_t>(std::distance(c.begin(), typename std::remove_cvref_t<decltype(c)>::const_iterator(it)));
  };
  for (int probe = 0; probe < 400; ++probe) {
    const K k = probe % 2 ? input[rng() % n] : random_key<K>(rng);
    if (set.contains(k) != (ref.count(k) == 1)) return "set contains";
    if (multi.count(k) != multi_ref.count(k)) return "multiset count";
    if (set.index_of(set.lower_bound(k)) != pos(ref, ref.lower_bound(k))) return "set lower_bound";
    if (multi.index_of(multi.upper_bound(k)) != pos(multi_ref, multi_ref.upper_bound(k))) return "multiset upper_bound";
  }
  return nullptr;
}

/// Past the 64 KiB prefetch threshold of the search: a multiset against a sorted vector (cheaper
/// than std::multiset under the sanitizers).
template <class K, class Comp>
const char* check_large(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<K> input;
  for (std::size_t i = 0; i < n; ++i) input.push_back(random_key<K>(rng));
  const cm::FlatMultiSet<K, Comp> multi(input.begin(), input.end());
  std::sort(input.begin(), input.end(), Comp());
  if (!std::equal(multi.begin(), multi.end(), input.begin(), input.end())) return "large bulk-built multiset";
  for (int probe = 0; probe < 2000; ++probe) {
    const K k = probe % 2 ? input[rng() % n] : random_key<K>(rng);
    if (multi.index_of(multi.lower_bound(k)) !=
            static_cast<std::size_t>(std::lower_bound(input.begin(), input.end(), k, Comp()) - input.begin()) ||
        multi.index_of(multi.upper_bound(k)) !=
            static_cast<std::size_t>(std::upper_bound(input.begin(), input.end(), k, Comp()) - input.begin()))
      return "large multiset bounds";
  }
  return nullptr;
}

template <class K>
class FlatKeyTypes : public ::testing::Test {};

#if CORE_MEMORY_TEST_DIALECT_TYPES_ONLY
// The -std=c++20 build: only the types whose traits (and so tuned paths) differ between the
// dialects, beside int; the other types take the same paths as under gnu++20, tested there.
using KeyTypes = ::testing::Types<int, i128, u128, Scoped128>;
#elif CORE_MEMORY_TEST_REPRESENTATIVE_TYPES
// Under the sanitizers: one integer type per size and signedness, both floating-point types, an
// unscoped and two scoped enums, a pointer. The character types, long, plain char and the 64-bit
// enum take the paths of the integers and enums of their size; all 25 run in the release and
// clang builds. A third less compile.
using KeyTypes = ::testing::Types<bool, signed char, unsigned char, short, char16_t, int, unsigned, long long,
                                  unsigned long long, i128, u128, float, double, Plain, Scoped8, Scoped128, const int*>;
#else
using KeyTypes = ::testing::Types<bool, char, signed char, unsigned char, wchar_t, char8_t, char16_t, char32_t, short,
                                  unsigned short, int, unsigned, long, unsigned long, long long, unsigned long long,
                                  i128, u128, float, double, Plain, Scoped8, ScopedU64, Scoped128, const int*
#if defined(__clang__)
                                  ,
                                  bit7, ubit37, bit64, bit128, ubit100
#endif
                                  >;
#endif
TYPED_TEST_SUITE(FlatKeyTypes, KeyTypes);

TYPED_TEST(FlatKeyTypes, EveryOrderMatchesStd) {
  using K = TypeParam;
  const auto ok = [](const char* failure) { return failure ? failure : "ok"; };
  // Sizes: tiny, past the radix sort's threshold (512), past the 64 KiB prefetch threshold.
  for (std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{40}, std::size_t{700}}) {
    const std::uint64_t seed = 0x5eed + n;
    EXPECT_STREQ(ok(check_map<K, std::less<K>>(n, seed)), "ok") << "std::less<K>, n = " << n;
    EXPECT_STREQ(ok(check_map<K, std::greater<>>(n, seed)), "ok") << "std::greater<>, n = " << n;
    EXPECT_STREQ(ok(check_set<K, std::less<>>(n, seed)), "ok") << "std::less<>, n = " << n;
    EXPECT_STREQ(ok(check_set<K, std::greater<K>>(n, seed)), "ok") << "std::greater<K>, n = " << n;
  }
  EXPECT_STREQ(ok(check_large<K, std::less<K>>(70000, 7)), "ok");
  EXPECT_STREQ(ok(check_large<K, std::greater<>>(70000, 7)), "ok");
}

/// The reproduction: five __int128 keys that differ only above bit 63.
TEST(FlatKeyTypes, Int128KeysDifferingInHighBitsStayDistinct) {
  cm::FlatMap<i128, int> m;
  for (int i = 0; i < 5; ++i) m[static_cast<i128>(i) << 64] = i;
  EXPECT_EQ(m.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(m.at(static_cast<i128>(i) << 64), i);
  EXPECT_FALSE(m.contains(i128{0} + 1));
}

}  // namespace
