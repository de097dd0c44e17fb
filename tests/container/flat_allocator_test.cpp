// Allocator propagation of the flat containers, as a matrix: FlatMap, FlatMultiMap, FlatSet,
// FlatMultiSet x {copy assignment, move assignment, swap, copy and move construction with an
// allocator} x {equal, unequal allocators} x {propagating, not propagating}. Each sequence must end
// in memory of the resource its own allocator names (a non-propagating allocator stays; a
// propagating one moves with the contents), with the expected elements. The resources record the
// blocks they own and abort on a free of a block they do not own.

#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory_resource>
#include <string>
#include <type_traits>
#include <vector>

namespace cm = core::memory;

namespace {

/// A resource that records its blocks, aborts on a foreign free, and reports leaks.
class RecordingResource : public std::pmr::memory_resource {
 public:
  RecordingResource() = default;
  RecordingResource(const RecordingResource&) = delete;
  RecordingResource& operator=(const RecordingResource&) = delete;
  ~RecordingResource() override { EXPECT_TRUE(blocks_.empty()) << blocks_.size() << " blocks leaked"; }

  /// True if `p` lies inside a block of this resource.
  bool owns(const void* p) const {
    const auto* c = static_cast<const char*>(p);
    auto it = blocks_.upper_bound(c);
    if (it == blocks_.begin()) return false;
    --it;
    return c >= it->first && c < it->first + it->second;
  }

 private:
  void* do_allocate(std::size_t n, std::size_t a) override {
    void* p = std::pmr::new_delete_resource()->allocate(n, a);
    blocks_[static_cast<const char*>(p)] = n;
    return p;
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    const auto it = blocks_.find(static_cast<const char*>(p));
    if (it == blocks_.end() || it->second != n) {
      std::fprintf(stderr, "RecordingResource %p: free of %p (%zu bytes) that it does not own\n",
                   static_cast<void*>(this), p, n);
      std::abort();
    }
    blocks_.erase(it);
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }

  std::map<const char*, std::size_t> blocks_;
};

/// A stateful allocator over a RecordingResource that propagates on copy, move and swap.
template <class T>
struct Propagating {
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  RecordingResource* r;
  explicit Propagating(RecordingResource* res) noexcept : r(res) {}
  template <class U>
  Propagating(const Propagating<U>& o) noexcept : r(o.r) {}  // NOLINT
  T* allocate(std::size_t n) { return static_cast<T*>(r->allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { r->deallocate(p, n * sizeof(T), alignof(T)); }
  friend bool operator==(const Propagating& a, const Propagating& b) noexcept { return a.r == b.r; }
};

template <class A>
const std::pmr::memory_resource* resource_of(const A& a) {
  if constexpr (requires { a.resource(); }) return a.resource();
  else return a.r;
}

/// The sequences of a flat container, whatever its kind.
template <class C>
auto sequences(const C& c) {
  if constexpr (requires { c.values(); }) return std::pair{&c.keys(), &c.values()};
  else return std::pair{&c.keys(), &c.keys()};
}

/// True if every sequence of `c` is in memory of `r` and its allocator names `r`.
template <class C>
bool lives_in(const C& c, const RecordingResource& r) {
  const auto [keys, values] = sequences(c);
  return resource_of(keys->get_allocator()) == &r && resource_of(values->get_allocator()) == &r &&
         (keys->empty() || r.owns(keys->data())) && (values->empty() || r.owns(values->data()));
}

template <class C, class A>
C make_container(const A& a, int first) {
  C c(a);
  for (int i = first; i < first + 20; ++i) {
    if constexpr (requires { c.values(); }) c.emplace(i, std::string(40, static_cast<char>('a' + i % 26)));
    else c.emplace(i);
  }
  return c;
}

template <class Alloc, template <class> class Rebind>
struct Kinds {
  using Map = cm::FlatMap<int, std::string, std::less<int>, std::vector<int, Rebind<int>>,
                          std::vector<std::string, Rebind<std::string>>>;
  using MultiMap = cm::FlatMultiMap<int, std::string, std::less<int>, std::vector<int, Rebind<int>>,
                                    std::vector<std::string, Rebind<std::string>>>;
  using Set = cm::FlatSet<int, std::less<int>, std::vector<int, Rebind<int>>>;
  using MultiSet = cm::FlatMultiSet<int, std::less<int>, std::vector<int, Rebind<int>>>;
};

template <class T>
using Pmr = std::pmr::polymorphic_allocator<T>;

}  // namespace

template <class C>
class FlatAllocators : public ::testing::Test {};

template <class C, bool Propagates>
struct Case {
  using type = C;
  static constexpr bool propagates = Propagates;
};

using Cases = ::testing::Types<Case<Kinds<void, Pmr>::Map, false>, Case<Kinds<void, Pmr>::MultiMap, false>,
                               Case<Kinds<void, Pmr>::Set, false>, Case<Kinds<void, Pmr>::MultiSet, false>,
                               Case<Kinds<void, Propagating>::Map, true>, Case<Kinds<void, Propagating>::MultiMap, true>,
                               Case<Kinds<void, Propagating>::Set, true>, Case<Kinds<void, Propagating>::MultiSet, true>>;
TYPED_TEST_SUITE(FlatAllocators, Cases);

template <class C>
auto allocator_for(RecordingResource* r) {
  using Seq = std::remove_cvref_t<decltype(std::declval<const C&>().keys())>;
  return typename Seq::allocator_type(r);
}

template <class C>
std::vector<int> keys_of(const C& c) {
  return {c.keys().begin(), c.keys().end()};
}

TYPED_TEST(FlatAllocators, AssignmentSwapAndConstructionKeepOrMoveAllocators) {
  using C = typename TypeParam::type;
  constexpr bool propagates = TypeParam::propagates;
  for (const bool equal : {true, false}) {
    SCOPED_TRACE(equal ? "equal allocators" : "unequal allocators");
    RecordingResource ra, rb_own;
    RecordingResource& rb = equal ? ra : rb_own;
    const auto a = allocator_for<C>(&ra);
    const auto b = allocator_for<C>(&rb);
    const auto expect_a = keys_of(make_container<C>(a, 0));
    const auto expect_b = keys_of(make_container<C>(b, 100));
    {  // copy assignment: the target keeps its allocator unless it propagates
      C x = make_container<C>(a, 0);
      const C y = make_container<C>(b, 100);
      x = y;
      EXPECT_EQ(keys_of(x), expect_b);
      EXPECT_TRUE(lives_in(x, propagates ? rb : ra));
      EXPECT_TRUE(lives_in(y, rb));
    }
    {  // move assignment
      C x = make_container<C>(a, 0);
      C y = make_container<C>(b, 100);
      x = std::move(y);
      EXPECT_EQ(keys_of(x), expect_b);
      EXPECT_TRUE(lives_in(x, propagates ? rb : ra));
      EXPECT_TRUE(y.empty());
      y = make_container<C>(b, 5);  // the moved-from container is usable
    }
    {  // swap
      C x = make_container<C>(a, 0);
      C y = make_container<C>(b, 100);
      x.swap(y);
      EXPECT_EQ(keys_of(x), expect_b);
      EXPECT_EQ(keys_of(y), expect_a);
      EXPECT_TRUE(lives_in(x, propagates ? rb : ra));
      EXPECT_TRUE(lives_in(y, propagates ? ra : rb));
      swap(x, y);
      EXPECT_EQ(keys_of(x), expect_a);
      EXPECT_TRUE(lives_in(x, ra));
      EXPECT_TRUE(lives_in(y, rb));
    }
    {  // copy and move construction with an allocator: always the given one
      const C y = make_container<C>(b, 100);
      const C copy(y, a);
      EXPECT_EQ(keys_of(copy), expect_b);
      EXPECT_TRUE(lives_in(copy, ra));
      C z = make_container<C>(b, 100);
      const C moved(std::move(z), a);
      EXPECT_EQ(keys_of(moved), expect_b);
      EXPECT_TRUE(lives_in(moved, ra));
      EXPECT_TRUE(z.empty());
    }
  }
}

TEST(FlatAllocators, UsesAllocatorProtocol) {
  using M = cm::FlatMap<int, std::pmr::string, std::less<int>, std::pmr::vector<int>, std::pmr::vector<std::pmr::string>>;
  using S = cm::FlatSet<int, std::less<int>, std::pmr::vector<int>>;
  static_assert(std::uses_allocator_v<M, std::pmr::polymorphic_allocator<std::byte>>);
  static_assert(std::uses_allocator_v<S, std::pmr::polymorphic_allocator<std::byte>>);
  static_assert(!std::uses_allocator_v<cm::FlatMap<int, int>, std::pmr::polymorphic_allocator<std::byte>>);
  RecordingResource r;
  std::pmr::vector<M> maps(&r);
  maps.emplace_back();  // built with the vector's allocator
  maps.back().emplace(1, std::pmr::string(50, 'x'));
  maps.push_back(maps.back());  // copied with the vector's allocator
  EXPECT_TRUE(lives_in(maps[0], r));
  EXPECT_TRUE(lives_in(maps[1], r));
  EXPECT_EQ(maps[1].at(1), std::pmr::string(50, 'x'));
  EXPECT_TRUE(r.owns(maps[1].values()[0].data())) << "the strings too, through the vector's uses-allocator construction";
  std::pmr::vector<S> sets(&r);
  sets.emplace_back();
  sets.back().insert(3);
  EXPECT_TRUE(lives_in(sets[0], r));
}
