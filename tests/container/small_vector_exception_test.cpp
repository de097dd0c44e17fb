// Exception safety: an element type that throws on the k-th copy or move, and an allocator that
// fails the k-th allocation, for every k across each operation. Nothing may leak, and where
// std::vector gives the strong guarantee the contents must be unchanged after a failure.

#include <core/memory/container/small_vector.hpp>

#include "support/fault_injection.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#if CORE_MEMORY_EXCEPTIONS

namespace cm = core::memory;

namespace {

using cm::test::FailingAllocator;
using cm::test::g_countdown;
using cm::test::Thrower;

using Vec = cm::SmallVector<Thrower, 4, FailingAllocator<Thrower>>;

std::vector<int> values(const Vec& v) {
  std::vector<int> out;
  for (const auto& x : v) out.push_back(x.v);
  return out;
}

Vec filled(int n) {
  Vec v;
  for (int i = 0; i < n; ++i) v.emplace_back(i);
  return v;
}

struct Case {
  const char* name;
  bool strong;
  std::function<void(Vec&)> op;
};

}  // namespace

TEST(SmallVectorExceptions, EveryFailurePointLeavesNoLeakAndKeepsTheStrongGuarantee) {
  const Thrower outside(99);
  const std::vector<Case> cases = {
      {"push_back copy when full (inline -> heap)", true, [&](Vec& v) { v.push_back(outside); }},
      {"push_back of an own element when full", true, [](Vec& v) { v.push_back(v[0]); }},
      {"emplace_back when full", true, [](Vec& v) { v.emplace_back(7); }},
      {"reserve", true, [](Vec& v) { v.reserve(40); }},
      {"insert at end", true, [&](Vec& v) { v.insert(v.end(), outside); }},
      {"copy construction", true, [](Vec& v) { Vec copy(v); }},
      {"insert in the middle", false, [&](Vec& v) { v.insert(v.begin() + 1, outside); }},
      {"insert n copies", false, [&](Vec& v) { v.insert(v.begin() + 2, 5, outside); }},
      {"resize up", false, [&](Vec& v) { v.resize(v.size() + 6, outside); }},
      {"assign", false, [&](Vec& v) { v.assign(9, outside); }},
      {"erase", false, [](Vec& v) { v.erase(v.begin()); }},
      {"copy assignment", false, [](Vec& v) {
         Vec other = filled(12);
         v = other;
       }},
      {"swap with a longer vector", false, [](Vec& v) {  // v may need a heap buffer: may throw, never terminates
         Vec other = filled(12);
         v.swap(other);
         v.swap(other);
       }},
      {"move assignment from a larger inline buffer", false, [](Vec& v) {
         cm::SmallVector<Thrower, 16, FailingAllocator<Thrower>> other;
         for (int i = 0; i < 12; ++i) other.emplace_back(i);
         static_cast<cm::SmallVectorImpl<Thrower, FailingAllocator<Thrower>>&>(v) = std::move(other);
       }},
  };
  for (int size : {4, 8}) {  // full inline buffer, full heap buffer
    for (const Case& c : cases) {
      bool completed = false;
      for (int k = 1; k < 200 && !completed; ++k) {
        const long live_before = Thrower::live;
        {
          Vec v = filled(size);
          const std::vector<int> before = values(v);
          g_countdown = k;
          try {
            c.op(v);
            completed = true;
          } catch (const std::exception&) {
            if (c.strong) {
              EXPECT_EQ(values(v), before) << c.name << ", failure " << k;
            }
            for (const auto& x : v) EXPECT_GE(x.v, 0) << "elements stay valid: " << c.name;
          }
          g_countdown = -1;
          EXPECT_EQ(Thrower::live, live_before + static_cast<long>(v.size())) << c.name << ", failure " << k;
        }
        EXPECT_EQ(Thrower::live, live_before) << "leak in " << c.name << ", failure " << k;
      }
      EXPECT_TRUE(completed) << c.name << " never completed";
    }
  }
}

TEST(SmallVectorExceptions, SwapAndMoveThatMustAllocateThrowInsteadOfTerminating) {
  // int moves never throw, so only the allocation can: these operations must not be noexcept.
  using IntVec = cm::SmallVector<int, 4, FailingAllocator<int>>;
  IntVec small{1, 2}, large{1, 2, 3, 4, 5, 6, 7, 8, 9};
  g_countdown = 1;  // the next allocation fails
  EXPECT_THROW(small.swap(large), std::bad_alloc);
  g_countdown = -1;
  EXPECT_EQ(small, (IntVec{1, 2})) << "strong: nothing changed";
  EXPECT_EQ(large.size(), 9u);

  cm::SmallVector<int, 16, FailingAllocator<int>> inline16{1, 2, 3, 4, 5, 6, 7, 8, 9};
  g_countdown = 1;
  auto& small_base = static_cast<cm::SmallVectorImpl<int, FailingAllocator<int>>&>(small);
  EXPECT_THROW(small_base = std::move(inline16), std::bad_alloc);
  g_countdown = -1;
  static_assert(!noexcept(small.swap(large)));
  static_assert(noexcept(IntVec(std::move(small))), "same N, same allocator: never allocates");
}

TEST(StaticVectorExceptions, FullVectorThrowsAndStaysIntact) {
  cm::StaticVector<std::string, 2> v{"a", "b"};
  EXPECT_THROW(v.push_back("c"), std::bad_alloc);
  EXPECT_THROW(v.insert(v.begin(), 2, "x"), std::bad_alloc);
  EXPECT_EQ(v, (cm::StaticVector<std::string, 2>{"a", "b"}));
}

#endif
