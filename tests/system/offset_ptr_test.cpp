// offset_ptr and atomic_offset_ptr: null, copies, position independence (the same bytes read
// through two mappings of one file at two addresses), the fancy-pointer protocol std containers
// rely on, and the atomic operations under real threads.
#include <core/memory/system/offset_ptr.hpp>
#include <core/memory/system/os.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace cm = core::memory;
namespace os = core::memory::detail::os;

namespace {

static_assert(std::contiguous_iterator<cm::offset_ptr<int>>);
static_assert(std::contiguous_iterator<cm::offset_ptr<const int>>);
static_assert(std::is_same_v<std::pointer_traits<cm::offset_ptr<int>>::rebind<double>, cm::offset_ptr<double>>);
static_assert(std::is_same_v<std::pointer_traits<cm::offset_ptr<int>>::element_type, int>);
static_assert(std::is_convertible_v<cm::offset_ptr<int>, cm::offset_ptr<const int>>);
static_assert(std::is_convertible_v<cm::offset_ptr<int>, cm::offset_ptr<void>>);
static_assert(!std::is_convertible_v<cm::offset_ptr<void>, cm::offset_ptr<int>>);
static_assert(std::is_constructible_v<cm::offset_ptr<int>, cm::offset_ptr<void>>);  // static_cast
static_assert(!std::is_convertible_v<cm::offset_ptr<const int>, cm::offset_ptr<int>>);
static_assert(!std::is_trivially_copyable_v<cm::offset_ptr<int>>);  // a copy recomputes its distance
static_assert(sizeof(cm::offset_ptr<int>) == sizeof(void*));
static_assert(cm::atomic_offset_ptr<int>::is_always_lock_free);

// constexpr where no address is needed.
constexpr bool constexpr_null() {
  cm::offset_ptr<int> p;
  cm::offset_ptr<int> q = nullptr;
  return !p && !q && p == nullptr && p.offset() == 1;
}
static_assert(constexpr_null());

struct Base {
  int b = 1;
};
struct Derived : Base {
  int d = 2;
};

TEST(OffsetPtr, NullIsDistanceOneAndZeroPointsToItself) {
  cm::offset_ptr<int> p;
  EXPECT_FALSE(p);
  EXPECT_EQ(p.get(), nullptr);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(p.offset(), 1);
  // Zeroed bytes are a pointer to the offset_ptr itself, not null (the documented trap).
  alignas(cm::offset_ptr<char>) unsigned char raw[sizeof(cm::offset_ptr<char>)] = {};
  auto* z = std::launder(reinterpret_cast<cm::offset_ptr<char>*>(raw));
  EXPECT_EQ(static_cast<void*>(z->get()), static_cast<void*>(raw));
  int x = 0;
  cm::offset_ptr<int> q(&x);
  q = nullptr;
  EXPECT_FALSE(q);
}

TEST(OffsetPtr, CopiesPointAtTheSameTargetFromAnywhere) {
  int target = 42;
  cm::offset_ptr<int> a(&target);
  auto copy = std::make_unique<cm::offset_ptr<int>>(a);  // elsewhere in memory
  EXPECT_EQ(copy->get(), &target);
  EXPECT_NE(copy->offset(), a.offset());
  cm::offset_ptr<int> assigned;
  assigned = *copy;
  EXPECT_EQ(*assigned, 42);
  swap(a, assigned);
  EXPECT_EQ(a.get(), &target);
  EXPECT_EQ(assigned.get(), &target);
}

struct Node {
  int value;
  cm::offset_ptr<Node> next;
};

TEST(OffsetPtr, BytesCopiedElsewhereStillLinkTheirOwnCopies) {
  // A list whose nodes and links are all in one buffer; memcpy the buffer and walk the copy.
  alignas(Node) unsigned char a[sizeof(Node) * 4], b[sizeof(Node) * 4];
  Node* nodes = reinterpret_cast<Node*>(a);
  for (int i = 0; i < 4; ++i) new (&nodes[i]) Node{i * 10, i < 3 ? &nodes[i + 1] : nullptr};
  std::memcpy(b, a, sizeof a);
  Node* copy = std::launder(reinterpret_cast<Node*>(b));
  int n = 0;
  for (Node* p = copy; p != nullptr; p = p->next.get(), ++n) {
    EXPECT_EQ(p->value, n * 10);
    EXPECT_GE(reinterpret_cast<unsigned char*>(p), b);
    EXPECT_LT(reinterpret_cast<unsigned char*>(p), b + sizeof b);
  }
  EXPECT_EQ(n, 4);
}

TEST(OffsetPtr, ArithmeticComparisonAndIterationAsOnRawPointers) {
  int v[8];
  std::iota(v, v + 8, 0);
  cm::offset_ptr<int> first(v), last(v + 8);
  EXPECT_EQ(last - first, 8);
  EXPECT_EQ(first[3], 3);
  EXPECT_EQ(*(first + 5), 5);
  EXPECT_EQ(*(2 + first), 2);
  EXPECT_EQ((last - 1).get(), v + 7);
  cm::offset_ptr<int> it = first;
  EXPECT_EQ(*it++, 0);
  EXPECT_EQ(*++it, 2);
  EXPECT_EQ(*it--, 2);
  EXPECT_EQ(*--it, 0);
  it += 4;
  EXPECT_EQ(*it, 4);
  it -= 1;
  EXPECT_EQ(*it, 3);
  EXPECT_LT(first, last);
  EXPECT_GT(last, it);
  EXPECT_TRUE(first == v);
  EXPECT_TRUE(first < v + 1);
  std::reverse(first, last);
  EXPECT_EQ(v[0], 7);
  std::sort(first, last);
  EXPECT_TRUE(std::is_sorted(v, v + 8));
  EXPECT_EQ(std::accumulate(first, last, 0), 28);
  EXPECT_EQ(std::to_address(first + 2), v + 2);
  EXPECT_EQ(std::pointer_traits<cm::offset_ptr<int>>::pointer_to(v[6]).get(), v + 6);
  EXPECT_EQ(std::hash<cm::offset_ptr<int>>{}(first), std::hash<int*>{}(v));
}

TEST(OffsetPtr, ConvertsAsRawPointersDo) {
  Derived d;
  cm::offset_ptr<Derived> pd(&d);
  cm::offset_ptr<Base> pb = pd;  // derived to base: adjusts like Base*
  EXPECT_EQ(pb.get(), static_cast<Base*>(&d));
  EXPECT_EQ(cm::static_pointer_cast<Derived>(pb).get(), &d);
  cm::offset_ptr<void> pv = pd;
  cm::offset_ptr<Derived> back(pv);  // explicit, like static_cast<Derived*>(void*)
  EXPECT_EQ(back.get(), &d);
  cm::offset_ptr<const Derived> pc = pd;
  EXPECT_EQ(cm::const_pointer_cast<Derived>(pc).get(), &d);
  EXPECT_EQ(cm::reinterpret_pointer_cast<char>(pd).get(), reinterpret_cast<char*>(&d));
  cm::offset_ptr<Derived> none;
  cm::offset_ptr<Base> none_base = none;  // null stays null through conversions
  EXPECT_FALSE(none_base);
}

/// A std allocator whose pointer is an offset_ptr (over operator new), as SharedMemoryAllocator is.
template <class T>
struct OffsetAllocator {
  using value_type = T;
  using pointer = cm::offset_ptr<T>;
  using const_pointer = cm::offset_ptr<const T>;
  using void_pointer = cm::offset_ptr<void>;
  using const_void_pointer = cm::offset_ptr<const void>;
  OffsetAllocator() = default;
  template <class U>
  OffsetAllocator(const OffsetAllocator<U>&) noexcept {}  // NOLINT
  pointer allocate(std::size_t n) { return pointer(static_cast<T*>(::operator new(n * sizeof(T)))); }
  void deallocate(pointer p, std::size_t) noexcept { ::operator delete(p.get()); }
  friend bool operator==(const OffsetAllocator&, const OffsetAllocator&) = default;
};

TEST(OffsetPtr, StdContainersRunOnAnAllocatorWithOffsetPointers) {
  std::vector<std::string, OffsetAllocator<std::string>> v;
  for (int i = 0; i < 1000; ++i) v.push_back("element number " + std::to_string(i));
  v.erase(v.begin() + 10, v.begin() + 20);
  v.insert(v.begin(), "first");
  EXPECT_EQ(v.size(), 991u);
  EXPECT_EQ(v.front(), "first");
  EXPECT_EQ(v[11], "element number 20");
  // Nested: the inner vectors' offset_ptrs move with them when the outer one reallocates.
  using Inner = std::vector<int, OffsetAllocator<int>>;
  std::vector<Inner, OffsetAllocator<Inner>> nested;
  for (int i = 0; i < 100; ++i) nested.emplace_back(static_cast<std::size_t>(i), i);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(std::count(nested[static_cast<std::size_t>(i)].begin(), nested[static_cast<std::size_t>(i)].end(), i), i);
  // (libstdc++ 12's std::basic_string converts its pointer to char* implicitly, so it cannot take
  // a fancy pointer: in shared memory, strings are SmallVector<char> or fixed arrays.)
}

/// One memfd mapped at two addresses: what is written through one view is read through the other.
class TwoViews : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(os::create_anonymous_file(&fd_), 0);
    ASSERT_EQ(os::resize_file(fd_, size), 0);
    ASSERT_EQ(os::map(fd_, 0, size, os::map_mode::read_write, false, nullptr, &a_), 0);
    ASSERT_EQ(os::map(fd_, 0, size, os::map_mode::read_write, false, nullptr, &b_), 0);
    ASSERT_NE(a_, b_);
  }
  void TearDown() override {
    os::release(a_, size);
    os::release(b_, size);
    os::close_file(fd_);
  }
  static constexpr std::size_t size = 1 << 16;
  int fd_ = -1;
  void* a_ = nullptr;
  void* b_ = nullptr;
};

struct Shared {
  cm::offset_ptr<int> values;
  cm::atomic_offset_ptr<int> current;
  int storage[16];
};

TEST_F(TwoViews, PointersWrittenThroughOneMappingWorkThroughTheOther) {
  auto* sa = new (a_) Shared{};
  for (int i = 0; i < 16; ++i) sa->storage[i] = i * i;
  sa->values = sa->storage;
  sa->current.store(sa->storage + 5, std::memory_order_release);
  auto* sb = static_cast<Shared*>(b_);
  EXPECT_EQ(static_cast<void*>(sb->values.get()), static_cast<char*>(b_) + offsetof(Shared, storage));
  EXPECT_EQ(sb->values[4], 16);
  int* cur = sb->current.load(std::memory_order_acquire);
  EXPECT_EQ(*cur, 25);
  EXPECT_EQ(static_cast<void*>(cur), static_cast<void*>(sb->storage + 5));
  // A compare-exchange through view b is seen through view a in a's terms.
  EXPECT_TRUE(sb->current.compare_exchange_strong(cur, sb->storage + 7));
  EXPECT_EQ(sa->current.load(), sa->storage + 7);
}

TEST(AtomicOffsetPtr, OperationsFollowStdAtomicOfPointer) {
  int v[4] = {1, 2, 3, 4};
  cm::atomic_offset_ptr<int> p;
  EXPECT_EQ(p.load(), nullptr);
  p.store(v);
  EXPECT_EQ(p.exchange(v + 1), v);
  int* expected = v;  // stale
  EXPECT_FALSE(p.compare_exchange_strong(expected, v + 2));
  EXPECT_EQ(expected, v + 1);  // receives the current value
  EXPECT_TRUE(p.compare_exchange_strong(expected, nullptr));
  EXPECT_EQ(static_cast<int*>(p), nullptr);
  expected = nullptr;
  while (!p.compare_exchange_weak(expected, v + 3, std::memory_order_acq_rel)) {
  }
  EXPECT_EQ(*p.load(std::memory_order_acquire), 4);
  p = nullptr;
  EXPECT_EQ(p.load(), nullptr);
}

TEST(AtomicOffsetPtr, LockFreeStackPushedByTwoThreads) {
  // A Treiber stack pushed by two threads (pops only after both joined): every node arrives once.
  struct Item {
    int id;
    Item* next;
  };
  constexpr int per_thread = 20000;
  std::vector<Item> items(2 * per_thread);
  cm::atomic_offset_ptr<Item> top;
  auto push_range = [&](int first) {
    for (int i = first; i < first + per_thread; ++i) {
      Item* item = &items[static_cast<std::size_t>(i)];
      item->id = i;
      Item* head = top.load(std::memory_order_relaxed);
      do item->next = head;  // published by the release below
      while (!top.compare_exchange_weak(head, item, std::memory_order_release, std::memory_order_relaxed));
    }
  };
  std::thread t1(push_range, 0), t2(push_range, per_thread);
  t1.join();
  t2.join();
  std::vector<bool> seen(items.size());
  int count = 0;
  for (Item* it = top.load(std::memory_order_acquire); it != nullptr; it = it->next, ++count) {
    ASSERT_FALSE(seen[static_cast<std::size_t>(it->id)]);
    seen[static_cast<std::size_t>(it->id)] = true;
  }
  EXPECT_EQ(count, 2 * per_thread);
}

}  // namespace
