#include <core/memory/container/stable_vector.hpp>

#include "support/element_types.hpp"
#include "support/offset_allocators.hpp"
#include "support/owning_resource.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cm = core::memory;

namespace {
using cm::test::make;
using cm::test::value_of;

template <class T>
class StableVectorDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(StableVectorDifferential, cm::test::ElementAllocatorTypes);  // T* and offset_ptr

TYPED_TEST(StableVectorDifferential, RandomOperationsAgainstAModel) {
  using T = typename TypeParam::value_type;
  using SV = cm::StableVector<T, 64, typename TypeParam::template allocator<T>>;
  const cm::test::LiveCountGuard guard;
  SV v;
  struct Live {
    typename SV::Handle h;
    const T* p;
    int value;
  };
  std::map<std::uint32_t, Live> model;  // by slot: the iteration order
  std::vector<typename SV::Handle> stale;
  std::mt19937 rng(6);
  for (int step = 0; step < 30000; ++step) {
    const auto op = rng() % 10;
    if (op < 6 || model.empty()) {
      const int x = static_cast<int>(rng() % 1000);
      const auto pick = rng() % 3;
      const auto h = pick == 0 ? v.emplace(make<T>(x)) : pick == 1 ? v.push_back(make<T>(x)) : v.emplace_back(make<T>(x));
      ASSERT_TRUE(v.is_valid(h));
      ASSERT_EQ(model.count(h.slot), 0u) << "slot handed out twice";
      model[h.slot] = {h, v.get(h), value_of(make<T>(x))};
    } else if (op < 9) {
      auto it = model.lower_bound(static_cast<std::uint32_t>(rng() % (model.rbegin()->first + 1u)));  // O(log n)
      if (rng() % 2) {
        v.erase(it->second.h);
      } else {  // erase through an iterator: the one returned is the next element
        auto next = v.erase(v.get_iterator(it->second.p));
        auto mnext = std::next(it);
        ASSERT_EQ(next == v.end(), mnext == model.end());
        if (mnext != model.end()) {
          ASSERT_EQ(&*next, mnext->second.p);
        }
      }
      stale.push_back(it->second.h);
      model.erase(it);
    } else if (rng() % 20 == 0) {
      v.shrink_to_fit();
    }
    if (step % 97 == 0) {
      ASSERT_EQ(v.size(), model.size());
      auto mit = model.begin();
      for (auto it = v.begin(); it != v.end(); ++it, ++mit) {
        ASSERT_NE(mit, model.end());
        ASSERT_EQ(&*it, mit->second.p) << "element moved";
        ASSERT_EQ(value_of(*it), mit->second.value);
        ASSERT_EQ(it.handle(), mit->second.h);
      }
      ASSERT_EQ(mit, model.end());
      mit = model.begin();
      std::as_const(v).for_each([&](const T& x) {
        ASSERT_EQ(&x, mit->second.p);
        ++mit;
      });
      ASSERT_EQ(mit, model.end());
      for (const auto& h : stale) ASSERT_FALSE(v.is_valid(h)) << "stale handle accepted";
      for (const auto& [slot, live] : model) {
        ASSERT_EQ(v.get(live.h), live.p);
        if ((slot + static_cast<std::uint32_t>(step)) % 8 == 0) {  // get_iterator walks the blocks: a rotating eighth
          ASSERT_EQ(v.get_iterator(live.p).handle(), live.h);
        }
      }
    }
  }
}
}  // namespace

TEST(StableVector, HandlesDetectReuseOfTheirSlot) {
  cm::StableVector<int> v;
  const auto a = v.emplace(1);
  v.erase(a);
  const auto b = v.emplace(2);
  EXPECT_EQ(a.slot, b.slot) << "the freed slot is reused";
  EXPECT_FALSE(v.is_valid(a)) << "but the old handle knows it is not its element";
  EXPECT_EQ(v.get(a), nullptr);
  EXPECT_EQ(*v.get(b), 2);
  EXPECT_FALSE(v.is_valid(cm::StableVector<int>::Handle{}));
  int outside = 0;
  EXPECT_EQ(v.get_iterator(&outside), v.end());
}

TEST(StableVector, ReserveShrinkAndCounts) {
  auto token = std::make_shared<int>(0);
  {
    cm::StableVector<std::shared_ptr<int>, 64> v;
    v.reserve(300);
    EXPECT_EQ(v.block_count(), 5u);
    std::vector<cm::StableVector<std::shared_ptr<int>, 64>::Handle> hs;
    for (int i = 0; i < 300; ++i) hs.push_back(v.push_back(token));
    EXPECT_EQ(token.use_count(), 301);
    for (std::size_t i = 100; i < 300; ++i) v.erase(hs[i]);
    v.shrink_to_fit();
    EXPECT_EQ(v.block_count(), 2u) << "trailing empty blocks released";
    EXPECT_EQ(token.use_count(), 101);
    for (int i = 0; i < 50; ++i) v.push_back(token);  // reuses the freed slots of block 1 first
    EXPECT_EQ(v.block_count(), 3u);
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(StableVectorDeathTest, StaleHandleIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::StableVector<int> v;
  const auto a = v.emplace(1);
  v.erase(a);
  EXPECT_DEATH((void)v[a], "stale or foreign handle");
}

// Found by fuzzing: a released block's slot numbers come back with a new block; the handles into
// the released block must stay invalid.
TEST(StableVector, HandlesStayInvalidAcrossShrinkAndRegrow) {
  cm::StableVector<int, 64> v;
  std::vector<cm::StableVector<int, 64>::Handle> hs;
  for (int i = 0; i < 100; ++i) hs.push_back(v.emplace(i));
  for (std::size_t i = 64; i < 100; ++i) v.erase(hs[i]);
  v.shrink_to_fit();
  EXPECT_EQ(v.block_count(), 1u);
  for (int i = 0; i < 40; ++i) (void)v.emplace(-i);  // the slots of the released block again
  for (std::size_t i = 64; i < 100; ++i) EXPECT_FALSE(v.is_valid(hs[i])) << i;
  for (std::size_t i = 0; i < 64; ++i) EXPECT_TRUE(v.is_valid(hs[i])) << i;
}

TEST(StableVector, MoveOnlyElements) {
  cm::StableVector<std::unique_ptr<int>> v;
  const auto h = v.emplace(std::make_unique<int>(7));
  const auto g = v.push_back(std::make_unique<int>(8));
  EXPECT_EQ(**v.get(h), 7);
  v.erase(g);
  cm::StableVector<std::unique_ptr<int>> moved(std::move(v));
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(**moved.get(h), 7);
}

TEST(StableVector, ForEachVisitsFullAndPartialWordsInOrder) {
  cm::StableVector<int, 128> v;
  std::vector<cm::StableVector<int, 128>::Handle> hs;
  for (int i = 0; i < 1000; ++i) hs.push_back(v.emplace(i));
  for (int i = 130; i < 200; ++i) v.erase(hs[static_cast<std::size_t>(i)]);  // some words partial, some empty
  v.erase(hs[999]);
  std::vector<int> seen, expected;
  v.for_each([&](int& x) { seen.push_back(x); });
  for (int x : v) expected.push_back(x);
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(seen.size(), v.size());
  v.for_each([](int& x) { x = -x; });
  EXPECT_EQ(*v.get(hs[5]), -5);
}

TEST(StableVector, SetBitDecoderListsEveryBitInOrder) {
  std::mt19937_64 rng(3);
  std::vector<std::uint64_t> words{0, 1, std::uint64_t{1} << 63, ~std::uint64_t{0}, 0x5555555555555555u,
                                   0xff00ff00ff00ff00u, 0x8000000000000001u};
  for (int i = 0; i < 1000; ++i) words.push_back(rng() & rng());  // about a quarter of the bits
  for (int i = 0; i < 1000; ++i) words.push_back(rng() | rng());  // about three quarters
  for (const std::uint64_t w : words) {
    std::vector<std::size_t> expected, got;
    for (std::size_t b = 0; b < 64; ++b)
      if ((w >> b) & 1u) expected.push_back(b);
    cm::detail::for_each_set_bit(w, [&](std::size_t b) { got.push_back(b); });
    ASSERT_EQ(got, expected) << std::hex << w;
  }
}

TEST(StableVector, IteratorsCompareByPosition) {
  cm::StableVector<int> v;
  std::vector<cm::StableVector<int>::Handle> hs;
  for (int i = 0; i < 10; ++i) hs.push_back(v.emplace(i));
  auto a = std::next(v.begin(), 3);
  v.erase(hs[7]);  // changes the occupancy word `a` was made from
  const auto b = std::next(v.begin(), 3);
  EXPECT_EQ(a, b);
  cm::StableVector<int>::const_iterator c = a;
  EXPECT_EQ(c, b);
  EXPECT_EQ(*c, 3);
  EXPECT_NE(a, v.end());
  for (int i = 0; i < 10; ++i)
    if (i != 7) v.erase(hs[static_cast<std::size_t>(i)]);
  EXPECT_EQ(v.begin(), v.end());
  // Same bit of different words; the last element of a word against end().
  cm::StableVector<int> w;
  for (int i = 0; i < 129; ++i) w.emplace(i);
  EXPECT_NE(w.begin(), std::next(w.begin(), 64));
  EXPECT_EQ(*std::next(w.begin(), 64), 64);
  EXPECT_NE(std::next(w.begin(), 128), w.end());
  EXPECT_EQ(std::next(w.begin(), 129), w.end());
  EXPECT_EQ(std::distance(w.begin(), w.end()), 129);
}

TEST(StableVector, CopyKeepsSlotsAndGenerationsSoHandlesWorkInTheCopy) {
  const cm::test::LiveCountGuard guard;
  using SV = cm::StableVector<cm::test::Counted>;
  SV v;
  std::vector<SV::Handle> hs;
  for (int i = 0; i < 200; ++i) hs.push_back(v.emplace(i));
  for (int i = 0; i < 200; i += 3) v.erase(hs[static_cast<std::size_t>(i)]);
  const SV copy(v);
  ASSERT_EQ(copy.size(), v.size());
  for (int i = 0; i < 200; ++i) {
    const auto& h = hs[static_cast<std::size_t>(i)];
    ASSERT_EQ(copy.is_valid(h), v.is_valid(h)) << i;
    if (v.is_valid(h)) {
      EXPECT_EQ(copy.get(h)->v, i);
      EXPECT_NE(copy.get(h), v.get(h)) << "a copy has its own elements";
    }
  }
  SV assigned;
  assigned.emplace(-1);
  assigned = copy;
  EXPECT_EQ(assigned.size(), v.size());
  EXPECT_EQ(assigned.get(hs[1])->v, 1);
  // Both go on independently: the next insertion lands in the same free slot in each.
  EXPECT_EQ(assigned.emplace(7), v.emplace(7));
}

TEST(StableVector, MoveAssignmentKeepsHandlesAndGenerationFloor) {
  using SV = cm::StableVector<int>;
  SV a;
  std::vector<SV::Handle> hs;
  for (int i = 0; i < 130; ++i) hs.push_back(a.emplace(i));  // three blocks
  for (int i = 64; i < 130; ++i) a.erase(hs[static_cast<std::size_t>(i)]);
  a.shrink_to_fit();  // releases the third block: its slot numbers may come back
  SV b;
  b.emplace(99);
  b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.emplace(5).slot, 0u) << "a moved-from vector is empty and usable";
  EXPECT_EQ(*b.get(hs[10]), 10);
  for (int i = 0; i < 200; ++i) b.emplace(i);  // regrows over the released slot numbers
  for (int i = 128; i < 130; ++i) EXPECT_FALSE(b.is_valid(hs[static_cast<std::size_t>(i)])) << "stale after the move too";
  SV c(std::move(b));
  EXPECT_EQ(*c.get(hs[10]), 10);
  swap(c, b);
  EXPECT_EQ(*b.get(hs[10]), 10);
}

TEST(StableVector, MoveAssignmentAcrossUnequalAllocatorsMovesTheElements) {
  using SV = cm::StableVector<std::string, 64, std::pmr::polymorphic_allocator<std::string>>;
  std::pmr::monotonic_buffer_resource r1, r2;
  SV a{std::pmr::polymorphic_allocator<std::string>(&r1)};
  SV b{std::pmr::polymorphic_allocator<std::string>(&r2)};
  const auto h = a.emplace("kept in its slot, moved to the other resource");
  a.emplace("x");
  b = std::move(a);
  EXPECT_EQ(b.get_allocator().resource(), &r2) << "polymorphic_allocator does not propagate";
  ASSERT_TRUE(b.is_valid(h));
  EXPECT_EQ(*b.get(h), "kept in its slot, moved to the other resource");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
}

// Class 4: reserve is linear (blocks plus a logarithmic number of bookkeeping allocations, however
// it is called) and bounded by max_size().
TEST(StableVector, ReserveIsLinearAndBounded) {
  cm::test::OwningResource r("resource");
  using A = std::pmr::polymorphic_allocator<int>;
  {
    cm::StableVector<int, 64, A> v{A(&r)};
    v.reserve(400000);
    EXPECT_GE(v.capacity(), 400000u);
    EXPECT_EQ(v.block_count(), 6250u);
    EXPECT_LE(r.allocations(), 6250u + 2) << "one allocation per block, one for each bookkeeping vector";
    EXPECT_LE(r.bytes_allocated(), 400000u * (sizeof(int) + 4 + 4 + 1) + 6250u * 16) << "linear in bytes";
  }
  const std::size_t before = r.allocations();
  {
    cm::StableVector<int, 64, A> v{A(&r)};
    std::vector<cm::StableVector<int, 64, A>::Handle> hs;
    for (int i = 0; i < 6400; ++i) hs.push_back(v.emplace(i));
    for (std::size_t i = 0; i < hs.size(); i += 2) v.erase(hs[i]);  // free slots to carry along
    for (std::size_t n = 6400; n <= 400000; n += 64) v.reserve(n);  // block by block
    EXPECT_EQ(v.block_count(), 6250u);
    EXPECT_LE(r.allocations() - before, 6250u + 2 * 20) << "bookkeeping grows geometrically";
    EXPECT_EQ(v.size(), 3200u);
  }
  cm::StableVector<int> v;
  [[maybe_unused]] const auto h = v.emplace(5);
  EXPECT_EQ(v.max_size(), (std::size_t{UINT32_MAX} / 64) * 64);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(v.reserve(SIZE_MAX), std::length_error);
  EXPECT_THROW(v.reserve(v.max_size() + 1), std::length_error);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(v[h], 5);
#else
  EXPECT_DEATH(v.reserve(SIZE_MAX), "exceeds max_size");
#endif
}

// Class 8: a handle from another StableVector is not valid here (handles are salted per
// container); hardened builds report operator[] and erase through it.
TEST(StableVector, HandlesOfAnotherVectorAreNotValid) {
  cm::StableVector<int> a, b;
  std::vector<cm::StableVector<int>::Handle> ha, hb;
  for (int i = 0; i < 200; ++i) ha.push_back(a.emplace(i)), hb.push_back(b.emplace(-i));
  for (std::size_t i = 0; i < ha.size(); i += 3) a.erase(ha[i]), ha[i] = a.emplace(7);  // generations move on
  for (const auto h : ha) EXPECT_FALSE(b.is_valid(h)) << h.slot;
  for (const auto h : hb) EXPECT_FALSE(a.is_valid(h)) << h.slot;
  for (const auto h : ha) EXPECT_TRUE(a.is_valid(h));
  const cm::StableVector<int> copy = a;  // a copy accepts the original's handles, by design
  for (const auto h : ha) EXPECT_TRUE(copy.is_valid(h));
  cm::StableVector<int> moved(std::move(a));
  for (const auto h : ha) EXPECT_TRUE(moved.is_valid(h)) << "handles follow the moved elements";
}

TEST(StableVectorDeathTest, ForeignHandleIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::StableVector<int> a, b;
  const auto h = a.emplace(1);
  (void)b.emplace(2);
  EXPECT_DEATH((void)b[h], "stale or foreign handle");
  EXPECT_DEATH(b.erase(h), "erase of a stale or foreign handle");
}

// Class 6: erased slots of 1-, 2-, 4- and 8-byte elements are poisoned as finely as ASan allows.
template <class T>
class StableVectorSmallElementDeathTest : public ::testing::Test {};
using SmallElements = ::testing::Types<char, short, float, double>;
TYPED_TEST_SUITE(StableVectorSmallElementDeathTest, SmallElements);

TYPED_TEST(StableVectorSmallElementDeathTest, ReadsOfErasedSlotsAreReported) {
  using T = TypeParam;
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  cm::StableVector<T> v;
  std::vector<typename cm::StableVector<T>::Handle> hs;
  for (int i = 0; i < 64; ++i) hs.push_back(v.emplace(static_cast<T>(i)));
  std::vector<const T*> where;
  for (const auto h : hs) where.push_back(v.get(h));
  // Erase slots 8..15 in an order that leaves each one between live or free neighbours, and the
  // last slot (the free slots of the next word are not in its granule; nothing follows it).
  for (const std::size_t i : {9, 8, 11, 15, 13, 10, 12, 14}) v.erase(hs[i]);
  auto read = [](const T* p) { (void)*static_cast<const volatile T*>(p); };
  for (std::size_t i = 8; i < 16; ++i) EXPECT_DEATH(read(where[i]), "use-after-poison") << "erased slot " << i;
  read(where[7]);
  read(where[16]);
  v.erase(hs[63]);
  v.erase(hs[62]);
  // A granule addressable only in part is reported by the kind of the granule after it: here the
  // block's bookkeeping, addressable, so ASan calls it an unknown crash.
  EXPECT_DEATH(read(where[63]), "AddressSanitizer: (use-after-poison|unknown-crash)");
  EXPECT_DEATH(read(where[62]), "AddressSanitizer: (use-after-poison|unknown-crash)");
  (void)v.emplace(T{});  // reuses slot 62
  read(where[62]);
}

// The container basics that apply to a slot map.
TEST(StableVector, EqualityAndAllocator) {
  cm::test::OwningResource r("resource");
  using A = std::pmr::polymorphic_allocator<int>;
  cm::StableVector<int, 64, A> a{A(&r)}, b{A(&r)};
  EXPECT_EQ(a, b);
  const auto h = a.emplace(1);
  (void)a.emplace(2);
  EXPECT_NE(a, b);
  (void)b.emplace(1), (void)b.emplace(2);
  EXPECT_EQ(a, b);
  a.erase(h);
  (void)a.emplace(3);  // slot 0 again: 3 2 against 1 2
  EXPECT_NE(a, b);
  EXPECT_EQ(a.get_allocator().resource(), &r);
  const cm::StableVector<int, 64, A> c(a, A(&r));
  EXPECT_EQ(c, a);
}

// clear() destroys every element by a walk of the occupancy words (not an erase per element):
// every handle dies, including those of slots freed before, the blocks stay, the slots are filled
// from the first again; the destructor destroys what is left (and skips the walk for ints).
TEST(StableVector, ClearDestroysEverythingAndInvalidatesEveryHandle) {
  auto token = std::make_shared<int>(7);
  cm::StableVector<std::shared_ptr<int>> v;
  std::vector<cm::StableVector<std::shared_ptr<int>>::Handle> handles;
  for (int i = 0; i < 200; ++i) handles.push_back(v.emplace(token));
  for (int i = 0; i < 200; i += 3) v.erase(handles[static_cast<std::size_t>(i)]);
  EXPECT_EQ(token.use_count(), 1 + static_cast<long>(v.size()));
  const auto blocks = v.block_count();
  v.clear();
  EXPECT_EQ(token.use_count(), 1) << "every element destroyed";
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.begin(), v.end());
  EXPECT_EQ(v.block_count(), blocks) << "blocks kept";
  for (const auto& h : handles) EXPECT_FALSE(v.is_valid(h));
  std::vector<cm::StableVector<std::shared_ptr<int>>::Handle> again;
  for (int i = 0; i < 150; ++i) again.push_back(v.emplace(token));
  EXPECT_EQ(v.block_count(), blocks) << "the kept slots are reused";
  for (const auto& h : handles) EXPECT_FALSE(v.is_valid(h)) << "old handles stay dead after the slots are reused";
  for (const auto& h : again) ASSERT_TRUE(v.is_valid(h));
  std::size_t seen = 0;
  for (const auto& p : v) seen += p == token ? 1 : 0;
  EXPECT_EQ(seen, 150u);
  {
    cm::StableVector<std::shared_ptr<int>> w;
    for (int i = 0; i < 70; ++i) (void)w.emplace(token);
  }
  EXPECT_EQ(token.use_count(), 151) << "the destructor destroyed w's elements";
}

namespace {
/// Checks which slot each insertion takes against a model: the most recently freed slot first
/// (a stack), else the lowest never used one; shrink_to_fit drops the slots of released blocks
/// from the stack. Every copy, move and swap (also across unequal allocators, which rebuild the
/// slots in their own memory) must carry the same free list, and handles stay valid.
template <class SV>
void check_free_slot_order(const typename SV::allocator_type& a1, const typename SV::allocator_type& a2) {
  using T = typename SV::value_type;
  auto value = [](int i) {
    if constexpr (std::is_same_v<T, int>) return i;
    else {
      const std::string s = std::to_string(i) + " is long enough to live outside the string";
      return T(s.begin(), s.end());
    }
  };
  SV v(a1);
  std::vector<std::uint32_t> stack;  // the model's free slots, most recent last
  std::uint32_t fresh = 0;           // the model's lowest never used slot
  std::map<std::uint32_t, typename SV::Handle> live;
  std::mt19937 rng(9);
  for (int step = 0; step < 20000; ++step) {
    const bool growing = step / 1500 % 2 == 0;  // phases that fill blocks and that empty them
    const auto op = rng() % 16;
    if (op < (growing ? 10u : 4u) || live.empty()) {
      const std::uint32_t expected = stack.empty() ? fresh++ : stack.back();
      if (!stack.empty()) stack.pop_back();
      const auto h = v.emplace(value(step));
      ASSERT_EQ(h.slot, expected) << "step " << step;
      live[h.slot] = h;
    } else if (op < 15) {
      const auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      v.erase(it->second);
      stack.push_back(it->first);
      live.erase(it);
    } else if (rng() % 2) {
      v.shrink_to_fit();
      const auto limit = static_cast<std::uint32_t>(v.capacity());
      std::erase_if(stack, [&](std::uint32_t s) { return s >= limit; });
      fresh = std::min(fresh, limit);
    } else {
      switch (rng() % 5) {
        case 0: {  // copy with the other allocator, copy-assign back
          SV c(v, a2);
          v = c;
          break;
        }
        case 1: {  // move with the other allocator, move-assign back
          SV c(std::move(v), a2);
          v = std::move(c);
          break;
        }
        case 2: {  // swap there and back
          SV c(a2);
          v.swap(c);
          c.swap(v);
          break;
        }
        case 3: {  // plain move and back
          SV c(std::move(v));
          v = std::move(c);
          break;
        }
        default:
          v = SV(v);
      }
      ASSERT_EQ(v.get_allocator(), a1);
    }
    if (step % 101 == 0) {
      ASSERT_EQ(v.size(), live.size());
      for (const auto& [slot, h] : live) ASSERT_TRUE(v.is_valid(h)) << "slot " << slot;
    }
  }
}
}  // namespace

TEST(StableVector, FreeSlotsAreReusedMostRecentFirstThroughShrinksCopiesMovesAndSwaps) {
  check_free_slot_order<cm::StableVector<int>>({}, {});
  check_free_slot_order<cm::StableVector<int, 64, cm::test::OffsetHeapAllocator<int>>>({}, {});
  using Pmr = std::pmr::polymorphic_allocator<std::pmr::string>;
  std::pmr::unsynchronized_pool_resource r1, r2;
  check_free_slot_order<cm::StableVector<std::pmr::string, 128, Pmr>>(Pmr(&r1), Pmr(&r2));
}
