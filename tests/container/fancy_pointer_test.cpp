// The containers on an allocator whose pointer is offset_ptr<T>, in memory mapped at two
// addresses (one memfd mapped twice, as two processes map one shared segment): each container is
// built and filled in the region through mapping A, then mapping A is made inaccessible and the
// container is read, modified (growth, erase, insert, swap, shrink) and destroyed through mapping
// B, against a std counterpart. Any address the container kept instead of an offset (its buffer,
// its inline buffer, its allocator's arena, a block table) points into A and faults. The arena
// checks every free (size, double free) and that nothing is left. Also: with pointer = T* the
// containers are exactly as large as before.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>

#include "support/offset_allocators.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace cm = core::memory;

namespace {

using cm::test::RegionAllocator;
using cm::test::RegionArena;

// With pointer = T*, every container has the size it had with T* members (the figures before
// fancy-pointer support, on LP64).
static_assert(sizeof(void*) != 8 || sizeof(cm::SmallVectorImpl<int>) == 32);
static_assert(sizeof(void*) != 8 || sizeof(cm::SmallVector<int, 8>) == 64);
static_assert(sizeof(void*) != 8 || sizeof(cm::SmallVector<std::string, 2>) == 96);
static_assert(sizeof(void*) != 8 || sizeof(cm::SmallVector<char, 16, std::allocator<char>, std::uint32_t>) == 40);
static_assert(sizeof(void*) != 8 || sizeof(cm::StableVector<int>) == 56);  // 72 with two std::vectors
static_assert(sizeof(void*) != 8 || sizeof(cm::CircularBuffer<int>) == 48);
static_assert(sizeof(void*) != 8 || sizeof(cm::FlatMap<int, int>) == 48);
static_assert(sizeof(void*) != 8 || sizeof(cm::FlatSet<int>) == 24);
static_assert(sizeof(void*) != 8 || sizeof(cm::FlatMap<int, int, std::less<int>, cm::SmallVector<int, 4>, cm::SmallVector<int, 4>>) == 96);
// An offset_ptr is a pointer's size: a stateless offset_ptr allocator costs nothing either.
template <class T>
using OffsetHeap = cm::test::OffsetHeapAllocator<T>;
static_assert(sizeof(cm::SmallVector<int, 8, OffsetHeap<int>>) == sizeof(cm::SmallVector<int, 8>));
static_assert(sizeof(cm::StableVector<int, 64, OffsetHeap<int>>) == sizeof(cm::StableVector<int>));
static_assert(sizeof(cm::CircularBuffer<int, OffsetHeap<int>>) == sizeof(cm::CircularBuffer<int>));
// The std meaning of pointer: the allocator's.
static_assert(std::is_same_v<cm::SmallVector<int, 8, OffsetHeap<int>>::pointer, cm::offset_ptr<int>>);
static_assert(std::is_same_v<cm::SmallVector<int, 8>::pointer, int*>);

constexpr std::size_t region_size = std::size_t{16} << 20;

/// A string that can live in the region: its characters inline or in the region's arena.
using Text = cm::SmallVector<char, 12, RegionAllocator<char>>;

std::string str(const Text& t) { return {t.begin(), t.end()}; }
std::string text_of(int i) { return std::string(static_cast<std::size_t>(i % 30), static_cast<char>('a' + i % 26)); }

class FancyPointers : public ::testing::Test {
 protected:
  void TearDown() override {
    maps_.lock_a(false);
    EXPECT_EQ(arena_b_->live_blocks(), 0u) << "blocks leaked in the region";
  }

  /// An allocator of the arena, as seen through the current mapping.
  template <class T>
  RegionAllocator<T> alloc() const {
    return RegionAllocator<T>(arena_);
  }
  Text text(int i) const {
    const std::string s = text_of(i);
    return Text(s.begin(), s.end(), alloc<char>());
  }
  /// Builds a C in the region (through mapping A).
  template <class C, class... Args>
  C* make(Args&&... args) {
    return ::new (arena_a_->allocate(sizeof(C), alignof(C))) C(std::forward<Args>(args)...);
  }
  /// From now on everything goes through mapping B, and mapping A faults: returns `c` there.
  template <class C>
  C* to_b(C* c) {
    maps_.lock_a(true);
    arena_ = arena_b_;
    return maps_.in_b(c);
  }
  /// Back to mapping A (accessible again): returns `c` (in B) there.
  template <class C>
  C* to_a(C* c) {
    maps_.lock_a(false);
    arena_ = arena_a_;
    return maps_.in_a(c);
  }
  /// Destroys a C made by make(), through the current mapping.
  template <class C>
  void destroy(C* c) {
    c->~C();
    arena_->deallocate(c, sizeof(C));
  }
  /// True if [p, p + n) lies in mapping B.
  bool in_b(const void* p, std::size_t n = 1) const {
    const auto* c = static_cast<const char*>(p);
    const auto* b = static_cast<const char*>(maps_.b());
    return c >= b && c + n <= b + region_size;
  }

  cm::test::TwoMappings maps_{region_size};
  RegionArena* arena_a_ = RegionArena::create(maps_.a(), region_size);
  RegionArena* arena_b_ = maps_.in_b(arena_a_);
  RegionArena* arena_ = arena_a_;  // the current mapping's
};

template <class V>
std::vector<std::string> strings(const V& v) {
  std::vector<std::string> out;
  for (const auto& t : v) out.push_back(str(t));
  return out;
}

TEST_F(FancyPointers, AnAddressKeptFromMappingAFaultsThroughB) {
  int* p = make<int>(5);
  int* q = to_b(p);
  EXPECT_EQ(*q, 5);
  EXPECT_DEATH((void)*static_cast<volatile int*>(p), "");
  destroy(q);
}

TEST_F(FancyPointers, SmallVectorOfIntsInlineAndOnTheArena) {
  using V = cm::SmallVector<int, 8, RegionAllocator<int>>;
  V* small = make<V>(alloc<int>());  // stays in its inline buffer: a pointer into itself
  V* large = make<V>(alloc<int>());  // grows into the arena
  std::vector<int> ref_small, ref_large;
  for (int i = 0; i < 5; ++i) small->push_back(i), ref_small.push_back(i);
  for (int i = 0; i < 100; ++i) large->push_back(i * 3), ref_large.push_back(i * 3);
  ASSERT_TRUE(small->on_stack());
  ASSERT_FALSE(large->on_stack());

  small = to_b(small);
  large = to_b(large);
  EXPECT_TRUE(in_b(small->data(), small->size() * sizeof(int)));
  EXPECT_TRUE(in_b(large->data(), large->size() * sizeof(int)));
  EXPECT_EQ(std::vector<int>(small->begin(), small->end()), ref_small);
  EXPECT_EQ(std::vector<int>(large->begin(), large->end()), ref_large);
  EXPECT_EQ(small->get_allocator().arena(), arena_b_);

  for (int i = 0; i < 50; ++i) small->push_back(-i), ref_small.push_back(-i);  // inline -> arena
  small->insert(small->begin() + 3, 7, 42), ref_small.insert(ref_small.begin() + 3, 7, 42);
  large->erase(large->begin() + 10, large->begin() + 90), ref_large.erase(ref_large.begin() + 10, ref_large.begin() + 90);
  large->shrink_to_fit();  // 20 elements: a smaller arena buffer
  EXPECT_EQ(std::vector<int>(small->begin(), small->end()), ref_small);
  EXPECT_EQ(std::vector<int>(large->begin(), large->end()), ref_large);
  large->resize(6), ref_large.resize(6);
  large->shrink_to_fit();  // back inline
  EXPECT_TRUE(large->on_stack());
  small->swap(*large), ref_small.swap(ref_large);  // equal allocators: buffers exchanged
  EXPECT_EQ(std::vector<int>(small->begin(), small->end()), ref_small);
  EXPECT_EQ(std::vector<int>(large->begin(), large->end()), ref_large);
  *small = *large, ref_small = ref_large;
  *large = std::move(*small), ref_large = std::move(ref_small), ref_small.clear();
  EXPECT_EQ(std::vector<int>(large->begin(), large->end()), ref_large);
  EXPECT_TRUE(small->empty());
  destroy(small);
  destroy(large);
}

TEST_F(FancyPointers, SmallVectorOfTextsDifferentialAcrossTheMappings) {
  // Nested: the texts' own buffers (inline or in the arena) move with them.
  using V = cm::SmallVector<Text, 4, RegionAllocator<Text>>;
  V* v = make<V>(alloc<Text>());
  std::vector<std::string> ref;
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    const auto pos = rng() % (ref.size() + 1);
    v->insert(v->begin() + static_cast<std::ptrdiff_t>(pos), text(i));
    ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(pos), text_of(i));
  }
  v = to_b(v);
  ASSERT_EQ(strings(*v), ref);
  for (int step = 0; step < 3000; ++step) {
    const auto pos = ref.empty() ? 0 : rng() % ref.size();
    switch (rng() % 6) {
      case 0: {
        v->push_back(text(step));
        ref.push_back(text_of(step));
      } break;
      case 1:
        if (!ref.empty()) v->erase(v->begin() + static_cast<std::ptrdiff_t>(pos)), ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(pos));
        break;
      case 2:
        if (!ref.empty()) {
          v->insert(v->begin() + static_cast<std::ptrdiff_t>(pos), (*v)[ref.size() - 1]);  // an own element
          ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(pos), std::string(ref.back()));
        }
        break;
      case 3:
        if (!ref.empty()) (*v)[pos].push_back('!'), ref[pos].push_back('!');
        break;
      case 4:
        if (rng() % 20 == 0) v->shrink_to_fit();
        break;
      case 5:
        if (rng() % 50 == 0) {
          v->resize(ref.size() / 2, text(1));
          ref.resize(ref.size() / 2);
        }
        break;
    }
    ASSERT_EQ(v->size(), ref.size());
  }
  EXPECT_EQ(strings(*v), ref);
  for (const Text& t : *v) EXPECT_TRUE(in_b(t.data(), t.size()));
  destroy(v);
}

TEST_F(FancyPointers, StdVectorOfTexts) {
  using V = std::vector<Text, RegionAllocator<Text>>;
  V* v = make<V>(alloc<Text>());
  for (int i = 0; i < 100; ++i) v->push_back(text(i));
  v = to_b(v);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(str((*v)[static_cast<std::size_t>(i)]), text_of(i));
  const std::string s = text_of(7);
  for (int i = 0; i < 100; ++i) v->emplace(v->begin(), s.begin(), s.end(), v->get_allocator());
  v->erase(v->begin() + 50, v->begin() + 150);
  EXPECT_EQ(v->size(), 100u);
  EXPECT_EQ(str(v->front()), s);
  EXPECT_EQ(str(v->back()), text_of(99));
  destroy(v);
}

TEST_F(FancyPointers, StableVectorKeepsHandlesAndSlotsAcrossTheMappings) {
  using S = cm::StableVector<Text, 64, RegionAllocator<Text>>;
  S* s = make<S>(alloc<Text>());
  std::map<std::uint32_t, std::pair<S::Handle, std::string>> model;  // by slot: iteration order
  std::vector<S::Handle> stale;
  for (int i = 0; i < 300; ++i) {  // five blocks
    const auto h = s->emplace(text(i));
    model[h.slot] = {h, text_of(i)};
  }
  for (std::uint32_t slot = 0; slot < 300; slot += 7) {
    s->erase(model[slot].first);
    stale.push_back(model[slot].first);
    model.erase(slot);
  }
  s = to_b(s);
  auto check = [&] {
    ASSERT_EQ(s->size(), model.size());
    auto it = model.begin();
    for (auto e = s->begin(); e != s->end(); ++e, ++it) {
      ASSERT_EQ(e.handle(), it->second.first);
      ASSERT_EQ(str(*e), it->second.second);
      ASSERT_TRUE(in_b(&*e, sizeof(Text)));
    }
    for (const auto& [slot, entry] : model) ASSERT_TRUE(s->is_valid(entry.first));
    for (const auto& h : stale) ASSERT_FALSE(s->is_valid(h));
  };
  check();
  std::mt19937 rng(8);
  for (int step = 0; step < 2000; ++step) {
    if (rng() % 3 != 0 || model.empty()) {
      const std::string t = text_of(step);
      const auto h = s->emplace(t.begin(), t.end(), s->get_allocator());
      ASSERT_EQ(model.count(h.slot), 0u);
      model[h.slot] = {h, t};
    } else {
      auto it = std::next(model.begin(), static_cast<std::ptrdiff_t>(rng() % model.size()));
      s->erase(it->second.first);
      stale.push_back(it->second.first);
      model.erase(it);
    }
  }
  check();
  std::size_t visited = 0;
  s->for_each([&](const Text&) { ++visited; });
  EXPECT_EQ(visited, model.size());
  S copy(*s);  // a copy (on the stack) in the same arena: same slots, handles valid in it
  for (const auto& [slot, entry] : model) ASSERT_EQ(str(copy[entry.first]), entry.second);
  s->clear();
  s->shrink_to_fit();
  EXPECT_EQ(s->block_count(), 0u);
  destroy(s);
}

TEST_F(FancyPointers, CircularBufferWrapsAndRotatesAcrossTheMappings) {
  using B = cm::CircularBuffer<Text, RegionAllocator<Text>>;
  B* b = make<B>(std::size_t{9}, alloc<Text>());
  std::deque<std::string> ref;
  for (int i = 0; i < 14; ++i) {  // full and wrapped
    b->push_back(text(i));
    ref.push_back(text_of(i));
    if (ref.size() > 9) ref.pop_front();
  }
  b->pop_front(), ref.pop_front();
  b = to_b(b);
  auto check = [&] {
    ASSERT_EQ(strings(*b), std::vector<std::string>(ref.begin(), ref.end()));
    std::vector<std::string> runs;
    for (const Text& t : b->array_one()) runs.push_back(str(t));
    for (const Text& t : b->array_two()) runs.push_back(str(t));
    ASSERT_EQ(runs, std::vector<std::string>(ref.begin(), ref.end()));
    for (const Text& t : *b) ASSERT_TRUE(in_b(&t, sizeof(Text)));
  };
  check();
  std::mt19937 rng(9);
  for (int step = 0; step < 3000; ++step) {
    const std::string t = text_of(step);
    switch (rng() % 7) {
      case 0: case 1:
        b->emplace_back(t.begin(), t.end(), b->get_allocator());
        if (ref.size() == 9) ref.pop_front();
        ref.push_back(t);
        break;
      case 2:
        b->emplace_front(t.begin(), t.end(), b->get_allocator());
        if (ref.size() == 9) ref.pop_back();
        ref.push_front(t);
        break;
      case 3: if (!ref.empty()) b->pop_front(), ref.pop_front(); break;
      case 4: if (!ref.empty()) b->pop_back(), ref.pop_back(); break;
      case 5:
        if (!ref.empty()) {
          const auto k = rng() % ref.size();
          b->rotate(b->cbegin() + static_cast<std::ptrdiff_t>(k));
          std::rotate(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(k), ref.end());
        }
        break;
      case 6: if (rng() % 10 == 0) (void)b->linearize(); break;
    }
    if (step % 50 == 0) check();
  }
  check();
  b->set_capacity(20);  // a new buffer from the arena, through B
  for (int i = 0; i < 15; ++i) {
    b->push_back(text(i));
    ref.push_back(text_of(i));
    if (ref.size() > 20) ref.pop_front();
  }
  check();
  destroy(b);
}

TEST_F(FancyPointers, FlatMapAndFlatSetOnEitherSequence) {
  // std::vector and SmallVector sequences, keys and values in the arena.
  using KV = std::vector<int, RegionAllocator<int>>;
  using TV = std::vector<Text, RegionAllocator<Text>>;
  using SK = cm::SmallVector<int, 8, RegionAllocator<int>>;
  using ST = cm::SmallVector<Text, 4, RegionAllocator<Text>>;
  using M1 = cm::FlatMap<int, Text, std::less<int>, KV, TV>;
  using M2 = cm::FlatMap<int, Text, std::less<int>, SK, ST>;
  using S1 = cm::FlatSet<int, std::less<int>, SK>;
  M1* m1 = make<M1>(alloc<int>());
  M2* m2 = make<M2>(alloc<int>());
  S1* s1 = make<S1>(alloc<int>());
  std::map<int, std::string> ref;
  std::set<int> ref_set;
  std::mt19937 rng(10);
  for (int i = 0; i < 200; ++i) {
    const int k = static_cast<int>(rng() % 500);
    m1->try_emplace(k, text(i));
    m2->try_emplace(k, text(i));
    s1->insert(k);
    ref.try_emplace(k, text_of(i));
    ref_set.insert(k);
  }
  m1 = to_b(m1);
  m2 = to_b(m2);
  s1 = to_b(s1);
  auto check = [&](const auto& m) {
    ASSERT_EQ(m.size(), ref.size());
    auto it = ref.begin();
    for (const auto& [k, v] : m) {
      ASSERT_EQ(k, it->first);
      ASSERT_EQ(str(v), it->second);
      ++it;
    }
  };
  check(*m1);
  check(*m2);
  ASSERT_TRUE(std::equal(s1->begin(), s1->end(), ref_set.begin(), ref_set.end()));
  for (int step = 0; step < 2000; ++step) {
    const int k = static_cast<int>(rng() % 500);
    const std::string t = text_of(step);
    switch (rng() % 4) {
      case 0: {
        const bool a = m1->insert_or_assign(k, text(step)).second;
        const bool b = m2->insert_or_assign(k, text(step)).second;
        ASSERT_EQ(a, ref.insert_or_assign(k, t).second);
        ASSERT_EQ(b, a);
      } break;
      case 1:
        ASSERT_EQ(m1->erase(k), ref.erase(k));
        m2->erase(k);
        break;
      case 2: ASSERT_EQ(s1->insert(k).second, ref_set.insert(k).second); break;
      case 3: ASSERT_EQ(s1->erase(k), ref_set.erase(k)); break;
    }
    if (auto it = m1->find(k); it != m1->end()) {
      ASSERT_TRUE(in_b(&it->second, sizeof(Text)));
    }
  }
  check(*m1);
  check(*m2);
  ASSERT_TRUE(std::equal(s1->begin(), s1->end(), ref_set.begin(), ref_set.end()));
  destroy(m1);
  destroy(m2);
  destroy(s1);
}

TEST_F(FancyPointers, ElementsAddedThroughOneMappingAreNotContainerOverflowThroughTheOther) {
  // AddressSanitizer's shadow belongs to one address range (one process): had a container
  // annotated its unused capacity or free slots through mapping A, A would report the elements
  // later added through mapping B as a container overflow. Containers on fancy pointers do not
  // annotate (this fails under ASan if they do).
  using V = cm::SmallVector<int, 8, RegionAllocator<int>>;
  using B = cm::CircularBuffer<int, RegionAllocator<int>>;
  using S = cm::StableVector<int, 64, RegionAllocator<int>>;
  V* v = make<V>(alloc<int>());
  B* b = make<B>(std::size_t{8}, alloc<int>());
  S* s = make<S>(alloc<int>());
  v->push_back(1), b->push_back(1);
  const auto h = s->emplace(1);
  v = to_b(v), b = to_b(b), s = to_b(s);
  for (int i = 2; i <= 5; ++i) v->push_back(i), b->push_back(i), (void)s->emplace(i);
  s->erase(h);
  v = to_a(v), b = to_a(b), s = to_a(s);
  EXPECT_EQ(std::vector<int>(v->begin(), v->end()), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(std::vector<int>(b->begin(), b->end()), (std::vector<int>{1, 2, 3, 4, 5}));
  std::vector<int> in_s;
  s->for_each([&](int x) { in_s.push_back(x); });
  std::sort(in_s.begin(), in_s.end());
  EXPECT_EQ(in_s, (std::vector<int>{2, 3, 4, 5}));
  destroy(v);
  destroy(b);
  destroy(s);
}

}  // namespace
