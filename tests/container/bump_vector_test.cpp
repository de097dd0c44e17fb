#include <core/memory/container/bump_vector.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace cm = core::memory;

TEST(BumpVector, AddressesNeverChange) {
  cm::Arena arena;
  cm::BumpVector<std::string> v(arena);
  std::vector<const std::string*> addresses;
  for (int i = 0; i < 5000; ++i) {
    addresses.push_back(&v.emplace_back(std::to_string(i)));
    if (i % 500 == 0) {
      for (std::size_t j = 0; j < addresses.size(); ++j) {
        ASSERT_EQ(&v[j], addresses[j]) << "element moved";
      }
    }
  }
  for (std::size_t j = 0; j < addresses.size(); ++j) {
    ASSERT_EQ(&v[j], addresses[j]);
    ASSERT_EQ(*addresses[j], std::to_string(j));
  }
  EXPECT_EQ(v.size(), 5000u);
  EXPECT_GE(v.capacity(), 5000u);
  EXPECT_TRUE(arena.owns(addresses.back()));
  long sum = 0;
  for (const auto& s : v) sum += static_cast<long>(s.size());
  EXPECT_GT(sum, 0);
  EXPECT_EQ(v.end() - v.begin(), 5000);
}

TEST(BumpVector, MatchesStdVectorAndDestroysElements) {
  auto token = std::make_shared<int>(0);
  {
    cm::Arena arena(256);
    cm::BumpVector<std::shared_ptr<int>> v(arena);
    std::vector<std::shared_ptr<int>> ref;
    for (int i = 0; i < 1000; ++i) {
      v.push_back(token);
      ref.push_back(token);
    }
    EXPECT_EQ(token.use_count(), 2001);
    v.clear();
    EXPECT_EQ(token.use_count(), 1001);
    const std::size_t used = arena.bytes_used();
    for (int i = 0; i < 1000; ++i) v.push_back(token);
    EXPECT_EQ(arena.bytes_used(), used) << "segments are reused after clear";
  }
  EXPECT_EQ(token.use_count(), 1);
}
