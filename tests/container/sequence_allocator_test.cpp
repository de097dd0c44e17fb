// Allocator propagation matrix for CircularBuffer and StableVector: every container x {copy-assign,
// move-assign, swap, copy and move construction with an allocator} x {equal, unequal allocators}
// x {propagating, not}. Allocators: std::pmr::polymorphic_allocator and a propagating stateful
// allocator over resources that record their blocks and fail the test on a foreign free, and
// StdAllocator over two Arenas. After each operation every element must lie in memory of the
// allocator its container holds, and that allocator must be the one std containers would hold.
// (IntrusiveList does not allocate; BumpVector never frees and its arena moves with its segments.)

#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/stable_vector.hpp>
#include <core/memory/core/std_allocator.hpp>

#include "support/owning_resource.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <memory_resource>
#include <string>
#include <utility>
#include <vector>

namespace cm = core::memory;
using cm::test::OwningResource;
using cm::test::PropagatingAllocator;

namespace {

/// Two memory sources and the allocator over each; `owns(a, p)` says whether `p` is in a's memory.
struct PmrSetup {
  static constexpr bool propagates = false;
  template <class T>
  using alloc = std::pmr::polymorphic_allocator<T>;
  OwningResource r1{"resource 1"}, r2{"resource 2"};
  template <class T>
  alloc<T> make(int which) {
    return alloc<T>(which == 1 ? &r1 : &r2);
  }
  template <class T>
  static bool owns(const alloc<T>& a, const void* p) {
    return static_cast<OwningResource*>(a.resource())->holds(p);
  }
};

struct PropagatingSetup {
  static constexpr bool propagates = true;
  template <class T>
  using alloc = PropagatingAllocator<T>;
  OwningResource r1{"resource 1"}, r2{"resource 2"};
  template <class T>
  alloc<T> make(int which) {
    return alloc<T>(which == 1 ? r1 : r2);
  }
  template <class T>
  static bool owns(const alloc<T>& a, const void* p) {
    return a.resource->holds(p);
  }
};

struct ArenaSetup {
  static constexpr bool propagates = false;
  template <class T>
  using alloc = cm::StdAllocator<T, cm::Arena>;
  cm::Arena a1, a2;
  template <class T>
  alloc<T> make(int which) {
    return alloc<T>(which == 1 ? a1 : a2);
  }
  template <class T>
  static bool owns(const alloc<T>& a, const void* p) {
    return a.raw_allocator().owns(p);
  }
};

template <class A>
struct Ring {
  using type = cm::CircularBuffer<std::string, A>;
  static type make(const A& a) { return type(8, a); }
  static void add(type& c, const std::string& s) { c.push_back(s); }
};
template <class A>
struct Slots {
  using type = cm::StableVector<std::string, 64, A>;
  static type make(const A& a) { return type(a); }
  static void add(type& c, const std::string& s) { (void)c.emplace(s); }
};

template <class C>
std::vector<std::string> values(const C& c) {
  return {c.begin(), c.end()};
}

template <class Setup, template <class> class Kit>
void run_matrix() {
  using A = typename Setup::template alloc<std::string>;
  using K = Kit<A>;
  using C = typename K::type;
  // Long strings: their characters are on the heap, so a wrongly shared element would show.
  const std::vector<std::string> vx{"x0-long-enough-for-the-heap", "x1-long-enough-for-the-heap"};
  const std::vector<std::string> vy{"y0-long-enough-for-the-heap", "y1-long-enough-for-the-heap",
                                    "y2-long-enough-for-the-heap"};
  enum Op { copy_assign, move_assign, swap_op, copy_construct, move_construct };
  for (const bool equal : {true, false}) {
    for (const Op op : {copy_assign, move_assign, swap_op, copy_construct, move_construct}) {
      SCOPED_TRACE(testing::Message() << (equal ? "equal" : "unequal") << " allocators, operation " << op);
      Setup setup;
      const A a1 = setup.template make<std::string>(1);
      const A a2 = setup.template make<std::string>(equal ? 1 : 2);
      {
        C x = K::make(a1), y = K::make(a2);
        for (const auto& s : vx) K::add(x, s);
        for (const auto& s : vy) K::add(y, s);
        auto check = [&](const C& c, const A& expected_alloc, const std::vector<std::string>& expected) {
          EXPECT_TRUE(c.get_allocator() == expected_alloc) << "the container holds the expected allocator";
          EXPECT_EQ(values(c), expected);
          for (const auto& s : c) EXPECT_TRUE(Setup::owns(c.get_allocator(), &s)) << "element in its allocator's memory";
        };
        const bool p = Setup::propagates;
        switch (op) {
          case copy_assign:
            x = y;
            check(x, p ? a2 : a1, vy);
            check(y, a2, vy);
            break;
          case move_assign:
            x = std::move(y);
            check(x, p ? a2 : a1, vy);
            break;
          case swap_op:
            swap(x, y);
            check(x, p ? a2 : a1, vy);
            check(y, p ? a1 : a2, vx);
            break;
          case copy_construct: {
            const C z(y, a1);
            check(z, a1, vy);
            check(y, a2, vy);
          } break;
          case move_construct: {
            const C z(std::move(y), a1);
            check(z, a1, vy);
          } break;
        }
        // The destructors free every block through its own allocator: a foreign free fails the
        // test in OwningResource, a leak in its destructor.
      }
    }
  }
}

}  // namespace

TEST(AllocatorPropagation, CircularBufferPmr) { run_matrix<PmrSetup, Ring>(); }
TEST(AllocatorPropagation, CircularBufferPropagating) { run_matrix<PropagatingSetup, Ring>(); }
TEST(AllocatorPropagation, CircularBufferArenas) { run_matrix<ArenaSetup, Ring>(); }
TEST(AllocatorPropagation, StableVectorPmr) { run_matrix<PmrSetup, Slots>(); }
TEST(AllocatorPropagation, StableVectorPropagating) { run_matrix<PropagatingSetup, Slots>(); }
TEST(AllocatorPropagation, StableVectorArenas) { run_matrix<ArenaSetup, Slots>(); }

// The allocator-extended move constructor must move, not copy: move-only elements compile, and
// with an unequal allocator each element is moved into the new memory.
TEST(AllocatorPropagation, AllocatorExtendedMoveOfMoveOnlyElements) {
  OwningResource r1("resource 1"), r2("resource 2");
  using A = std::pmr::polymorphic_allocator<std::unique_ptr<int>>;
  cm::CircularBuffer<std::unique_ptr<int>, A> b(4, A(&r1));
  b.push_back(std::make_unique<int>(7));
  cm::CircularBuffer<std::unique_ptr<int>, A> b2(std::move(b), A(&r2));
  ASSERT_EQ(b2.size(), 1u);
  EXPECT_EQ(*b2.front(), 7);
  EXPECT_TRUE(r2.holds(&b2.front()));
  cm::CircularBuffer<std::unique_ptr<int>, A> b3(std::move(b2), A(&r2));  // equal: takes the buffer
  EXPECT_EQ(*b3.front(), 7);

  cm::StableVector<std::unique_ptr<int>, 64, A> v{A(&r1)};
  const auto h = v.emplace(std::make_unique<int>(8));
  cm::StableVector<std::unique_ptr<int>, 64, A> v2(std::move(v), A(&r2));
  ASSERT_TRUE(v2.is_valid(h)) << "the element keeps its slot and its handle";
  EXPECT_EQ(**v2.get(h), 8);
  EXPECT_TRUE(r2.holds(v2.get(h)));
}
