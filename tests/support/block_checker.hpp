#pragma once
// Records live blocks with a fill pattern each, and checks alignment, non-overlap and that every
// live block still holds its pattern (so no allocator handed the same bytes out twice).

#include <core/memory/util/align.hpp>
#include <core/memory/util/memory_utils.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <iterator>
#include <map>

namespace test {

class BlockChecker {
 public:
  /// Records a fresh block, checks its alignment and that it overlaps no live block, fills it.
  void add(void* p, std::size_t size, std::size_t alignment) {
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(core::memory::is_aligned(p, alignment)) << p << " alignment " << alignment;
    auto* c = static_cast<unsigned char*>(p);
    const std::size_t n = size ? size : 1;
    auto next = live_.lower_bound(c);
    if (next != live_.end()) {
      EXPECT_LE(c + n, next->first) << "overlaps the next live block";
    }
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      EXPECT_LE(prev->first + prev->second.size, c) << "overlaps the previous live block";
    }
    const unsigned char tag = static_cast<unsigned char>(++counter_ % 251 + 1);
    core::memory::fill(p, size, tag);
    live_[c] = {n, size, tag};
  }

  /// Checks the block's pattern and forgets it.
  void remove(void* p) {
    auto it = live_.find(static_cast<unsigned char*>(p));
    ASSERT_NE(it, live_.end()) << "unknown block " << p;
    EXPECT_TRUE(core::memory::check_pattern(p, it->second.filled, it->second.tag)) << "block " << p << " was overwritten";
    live_.erase(it);
  }

  /// Checks every live block's pattern.
  void verify_all() const {
    for (const auto& [p, b] : live_)
      EXPECT_TRUE(core::memory::check_pattern(p, b.filled, b.tag)) << "block " << static_cast<const void*>(p) << " was overwritten";
  }

  void forget_all() { live_.clear(); }
  [[nodiscard]] std::size_t size() const { return live_.size(); }

 private:
  struct Block {
    std::size_t size;
    std::size_t filled;
    unsigned char tag;
  };
  std::map<unsigned char*, Block> live_;
  unsigned counter_ = 0;
};

}  // namespace test
