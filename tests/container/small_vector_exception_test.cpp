// Exception safety: an element type that throws on the k-th copy or move, and an allocator that
// fails the k-th allocation, for every k across each operation. Nothing may leak, and where
// std::vector gives the strong guarantee the contents must be unchanged after a failure.

#include <core/memory/container/small_vector.hpp>

#include "support/element_types.hpp"
#include "support/fault_injection.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#if CORE_MEMORY_EXCEPTIONS

namespace cm = core::memory;

namespace {

using cm::test::FailingAllocator;
using cm::test::g_countdown;
using cm::test::Thrower;

/// A FailingAllocator with an identity: allocators with different ids are unequal (their memory
/// is freed only through an equal one, checked by the live-block count), each propagation trait
/// as chosen.
template <class T, bool Propagate, bool Offset = false>
struct TaggedFailingAllocator {
  using value_type = T;
  using pointer = typename FailingAllocator<T, Offset>::pointer;
  using propagate_on_container_copy_assignment = std::bool_constant<Propagate>;
  using propagate_on_container_move_assignment = std::bool_constant<Propagate>;
  using propagate_on_container_swap = std::bool_constant<Propagate>;
  int id = 0;
  TaggedFailingAllocator() = default;
  explicit TaggedFailingAllocator(int i) noexcept : id(i) {}
  template <class U>
  TaggedFailingAllocator(const TaggedFailingAllocator<U, Propagate, Offset>& o) noexcept : id(o.id) {}  // NOLINT
  template <class U>
  struct rebind {
    using other = TaggedFailingAllocator<U, Propagate, Offset>;
  };
  pointer allocate(std::size_t n) { return FailingAllocator<T, Offset>().allocate(n); }
  void deallocate(pointer p, std::size_t n) noexcept { FailingAllocator<T, Offset>().deallocate(p, n); }
  friend bool operator==(TaggedFailingAllocator a, TaggedFailingAllocator b) noexcept { return a.id == b.id; }
};

/// How much of the vector an operation keeps when it fails.
enum class guarantee {
  strong,           ///< unchanged, whatever failed
  strong_on_alloc,  ///< unchanged when an allocation failed (std: "no effects" unless T threw)
  basic,            ///< valid, nothing leaked
};

template <class V>
struct Case {
  const char* name;
  guarantee level;
  std::function<void(V&)> op;
};

template <class V>
V filled(int n, const typename V::allocator_type& a = {}) {
  V v(a);
  for (int i = 0; i < n; ++i) v.emplace_back(i);
  return v;
}

template <class V>
std::vector<int> values(const V& v) {
  std::vector<int> out;
  for (const auto& x : v) out.push_back(x.v);
  return out;
}

/// An input iterator (single pass, size unknown) over ints, yielding Throwers.
struct InputIt {
  using iterator_category = std::input_iterator_tag;
  using value_type = Thrower;
  using difference_type = std::ptrdiff_t;
  using pointer = const Thrower*;
  using reference = Thrower;
  int i = 0;
  Thrower operator*() const { return Thrower(i); }
  InputIt& operator++() { return ++i, *this; }
  void operator++(int) { ++i; }
  friend bool operator==(const InputIt&, const InputIt&) = default;
};

/// Runs each case on vectors of each size, failing the k-th event (allocation, copy or move) for
/// every k until the operation completes, and checks the guarantee, the elements and the count of
/// live elements (no leak, no double destroy) after each failure.
template <class V>
void every_failure(const std::vector<Case<V>>& cases, std::initializer_list<int> sizes,
                   const typename V::allocator_type& alloc = {}) {
  for (int size : sizes) {
    for (const Case<V>& c : cases) {
      bool completed = false;
      for (int k = 1; k < 400 && !completed; ++k) {
        const long live_before = Thrower::live;
        {
          V v = filled<V>(size, alloc);
          const std::vector<int> before = values(v);
          g_countdown = k;
          try {
            c.op(v);
            completed = true;
          } catch (const std::bad_alloc&) {
            if (c.level != guarantee::basic) {
              EXPECT_EQ(values(v), before) << c.name << ", size " << size << ", allocation " << k;
            }
          } catch (const std::runtime_error&) {
            if (c.level == guarantee::strong) {
              EXPECT_EQ(values(v), before) << c.name << ", size " << size << ", failure " << k;
            }
          }
          g_countdown = -1;
          for (const auto& x : v) EXPECT_GE(x.v, 0) << "elements stay valid: " << c.name;
          EXPECT_LE(v.size(), v.capacity()) << c.name;
          EXPECT_EQ(Thrower::live, live_before + static_cast<long>(v.size())) << c.name << ", size " << size << ", failure " << k;
          v.emplace_back(1);  // still usable
        }
        EXPECT_EQ(Thrower::live, live_before) << "leak in " << c.name << ", size " << size << ", failure " << k;
      }
      EXPECT_TRUE(completed) << c.name << " never completed";
    }
  }
}

}  // namespace

/// Every operation, on an allocator whose pointer is T* or (`Offset`) offset_ptr<T>.
template <bool Offset>
void every_operation_cases() {
  using A = FailingAllocator<Thrower, Offset>;
  using Vec = cm::SmallVector<Thrower, 4, A>;
  const Thrower outside(99);
  const std::vector<Thrower> many(40, Thrower(5));
  const std::vector<Thrower> few(3, Thrower(6));
  using G = guarantee;
  const std::vector<Case<Vec>> cases = {
      {"push_back copy", G::strong, [&](Vec& v) { v.push_back(outside); }},
      {"push_back move", G::strong, [](Vec& v) { v.push_back(Thrower(3)); }},
      {"push_back of an own element", G::strong, [](Vec& v) { v.push_back(v[0]); }},
      {"emplace_back", G::strong, [](Vec& v) { v.emplace_back(7); }},
      {"emplace_back of an own element", G::strong, [](Vec& v) { v.emplace_back(v.back()); }},
      {"insert at end", G::strong, [&](Vec& v) { v.insert(v.end(), outside); }},
      {"emplace at end", G::strong, [](Vec& v) { v.emplace(v.end(), 8); }},
      {"reserve", G::strong, [](Vec& v) { v.reserve(40); }},
      {"shrink_to_fit (heap to exact)", G::strong, [](Vec& v) { v.reserve(40), v.shrink_to_fit(); }},
      {"shrink_to_fit (heap to inline)", G::basic, [](Vec& v) { v.resize(2), v.shrink_to_fit(); }},
      {"resize up, default", G::strong, [](Vec& v) { v.resize(v.size() + 6); }},
      {"resize up, value", G::strong, [&](Vec& v) { v.resize(v.size() + 6, outside); }},
      {"resize up, own element", G::strong, [](Vec& v) { v.resize(v.size() + 6, v[0]); }},
      {"resize down", G::strong, [](Vec& v) { v.resize(1); }},
      {"insert in the middle", G::strong_on_alloc, [&](Vec& v) { v.insert(v.begin() + 1, outside); }},
      {"insert own element in the middle", G::strong_on_alloc, [](Vec& v) { v.insert(v.begin() + 1, v.back()); }},
      {"insert rvalue in the middle", G::strong_on_alloc, [](Vec& v) { v.insert(v.begin() + 1, Thrower(4)); }},
      {"emplace in the middle", G::strong_on_alloc, [](Vec& v) { v.emplace(v.begin(), 9); }},
      {"insert n copies", G::strong_on_alloc, [&](Vec& v) { v.insert(v.begin() + 2, 5, outside); }},
      {"insert n copies of an own element", G::strong_on_alloc, [](Vec& v) { v.insert(v.begin() + 1, 5, v[2]); }},
      {"insert range in the middle", G::strong_on_alloc, [&](Vec& v) { v.insert(v.begin() + 1, many.begin(), many.end()); }},
      {"insert short range in the middle", G::strong_on_alloc, [&](Vec& v) { v.insert(v.begin() + 1, few.begin(), few.end()); }},
      {"insert range at end (append)", G::strong_on_alloc, [&](Vec& v) { v.insert(v.end(), many.begin(), many.end()); }},
      {"insert input range", G::basic, [](Vec& v) { v.insert(v.begin() + 1, InputIt{0}, InputIt{7}); }},
      {"insert initializer list", G::strong_on_alloc, [](Vec& v) { v.insert(v.begin() + 1, {Thrower(1), Thrower(2), Thrower(3)}); }},
      {"assign n", G::basic, [&](Vec& v) { v.assign(9, outside); }},
      {"assign n of an own element", G::basic, [](Vec& v) { v.assign(9, v[1]); }},
      {"assign n, more than the capacity", G::strong, [&](Vec& v) { v.assign(40, outside); }},
      {"assign larger range", G::strong, [&](Vec& v) { v.assign(many.begin(), many.end()); }},
      {"assign short range", G::basic, [&](Vec& v) { v.assign(few.begin(), few.end()); }},
      {"assign input range", G::basic, [](Vec& v) { v.assign(InputIt{0}, InputIt{9}); }},
      {"assign initializer list", G::basic, [](Vec& v) { v.assign({Thrower(1), Thrower(2)}); }},
      {"operator= initializer list", G::basic, [](Vec& v) { v = {Thrower(1), Thrower(2), Thrower(3), Thrower(4), Thrower(5)}; }},
      {"erase one", G::basic, [](Vec& v) { v.erase(v.begin()); }},
      {"erase range", G::basic, [](Vec& v) { v.erase(v.begin(), v.begin() + 2); }},
      {"pop_back and clear", G::basic, [](Vec& v) { v.pop_back(), v.clear(); }},
      {"copy assignment from a larger vector", G::strong, [](Vec& v) { v = filled<Vec>(40); }},
      {"copy assignment from a smaller vector", G::basic, [](Vec& v) {
         const Vec other = filled<Vec>(2);
         v = other;
       }},
      {"copy assignment from the base", G::strong, [](Vec& v) {
         const cm::SmallVector<Thrower, 16, A> other = filled<cm::SmallVector<Thrower, 16, A>>(40);
         v = static_cast<const cm::SmallVectorImpl<Thrower, A>&>(other);
       }},
      {"move assignment", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(12);
         v = std::move(other);
       }},
      {"move assignment from a larger inline buffer", G::basic, [](Vec& v) {
         auto other = filled<cm::SmallVector<Thrower, 16, A>>(12);
         v = std::move(static_cast<cm::SmallVectorImpl<Thrower, A>&>(other));
       }},
      {"swap with a longer vector", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(12);
         v.swap(other);
         v.swap(other);
       }},
      {"swap with a shorter vector", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(1);
         swap(v, other);
       }},
      {"copy construction", G::strong, [](Vec& v) { Vec copy(v); }},
      {"copy construction with an allocator", G::strong, [](Vec& v) { Vec copy(v, v.get_allocator()); }},
      {"move construction", G::basic, [](Vec& v) { Vec moved(std::move(v)); }},
      {"move construction with an allocator", G::basic, [](Vec& v) { Vec moved(std::move(v), v.get_allocator()); }},
      {"construction from a count", G::strong, [](Vec&) { Vec made(9); }},
      {"construction from a count and value", G::strong, [&](Vec&) { Vec made(9, outside); }},
      {"construction from a range", G::strong, [&](Vec&) { Vec made(many.begin(), many.end()); }},
      {"construction from an input range", G::strong, [](Vec&) { Vec made(InputIt{0}, InputIt{9}); }},
  };
  every_failure(cases, {3, 4, 8});  // inline, full inline, heap
}

TEST(SmallVectorExceptions, EveryOperationEveryFailurePoint) {
  every_operation_cases<false>();
  every_operation_cases<true>();  // the same with offset_ptr as the allocator's pointer
}

/// Copy, move and swap between vectors whose allocators are unequal, with and without
/// propagation: the element-wise paths each may fail at any allocation, copy or move.
template <bool Propagate, bool Offset>
void unequal_allocator_cases() {
  using A = TaggedFailingAllocator<Thrower, Propagate, Offset>;
  using Vec = cm::SmallVector<Thrower, 4, A>;
  using G = guarantee;
  const std::vector<Case<Vec>> cases = {
      {"copy assignment, unequal", G::basic, [](Vec& v) {
         const Vec other = filled<Vec>(12, A(2));
         v = other;
       }},
      {"copy assignment, unequal, short", G::basic, [](Vec& v) {
         const Vec other = filled<Vec>(2, A(2));
         v = other;
       }},
      {"move assignment, unequal", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(12, A(2));
         v = std::move(other);
       }},
      {"move assignment, unequal, inline", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(3, A(2));
         v = std::move(other);
       }},
      {"swap, unequal, longer", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(12, A(2));
         swap(v, other);
       }},
      {"swap, unequal, shorter", G::basic, [](Vec& v) {
         Vec other = filled<Vec>(2, A(2));
         swap(v, other);
       }},
      {"move construction with an unequal allocator", G::basic, [](Vec& v) { Vec moved(std::move(v), A(2)); }},
      {"copy construction with an unequal allocator", G::strong, [](Vec& v) { Vec copy(v, A(2)); }},
  };
  every_failure(cases, {0, 3, 8}, A(1));  // empty, inline, heap
}

TEST(SmallVectorExceptions, UnequalAllocatorsEveryFailurePoint) {
  unequal_allocator_cases<false, false>();
  unequal_allocator_cases<true, false>();
  // Unequal and not propagating, with offset_ptr: what a shared-memory allocator is.
  unequal_allocator_cases<false, true>();
  unequal_allocator_cases<true, true>();
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

namespace {

/// Copies are events (may throw), moves never throw: a growth relocates such elements by moving
/// and destroying them in one pass, so only the allocation and the appended copy can fail.
struct CopyThrower {
  static inline long live = 0;
  int v;
  std::string pad = std::string(24, 'p');  // not trivially copyable
  explicit CopyThrower(int x = 0) : v(x) { ++live; }
  CopyThrower(const CopyThrower& o) : v(o.v), pad(o.pad) { cm::test::tick(), ++live; }
  CopyThrower(CopyThrower&& o) noexcept : v(o.v), pad(std::move(o.pad)) { ++live; }
  CopyThrower& operator=(const CopyThrower& o) { return cm::test::tick(), v = o.v, pad = o.pad, *this; }
  CopyThrower& operator=(CopyThrower&&) noexcept = default;
  ~CopyThrower() { --live; }
};
/// Move-only, and the move may throw: std::vector then gives only the basic guarantee.
struct ThrowingMoveOnly {
  static inline long live = 0;
  int v;
  explicit ThrowingMoveOnly(int x = 0) : v(x) { ++live; }
  ThrowingMoveOnly(ThrowingMoveOnly&& o) : v(o.v) { cm::test::tick(), ++live; }
  ThrowingMoveOnly& operator=(ThrowingMoveOnly&& o) { return cm::test::tick(), v = o.v, *this; }
  ~ThrowingMoveOnly() { --live; }
};
/// Trivially copyable but too large to reach the growth path by value.
struct Wide {
  int v;
  long pad[5];
  explicit Wide(int x = 0) : v(x), pad{} {}
};

template <class T>
long live_count() {
  if constexpr (requires { T::live; }) {
    return T::live;
  } else {
    return 0;  // (int, std::string, unique_ptr: LeakSanitizer sees leaks)
  }
}

/// The AddressSanitizer annotation of a vector: its elements addressable and, with a raw
/// pointer, the unused capacity poisoned (all but a last partial granule, which is never
/// poisoned); with a fancy pointer nothing is annotated.
template <class V>
bool annotated_as_expected(const V& v) {
  if constexpr (cm::asan_enabled) {
    using T = typename V::value_type;
    const auto* b = reinterpret_cast<const unsigned char*>(v.data());
    const std::size_t used = v.size() * sizeof(T), total = v.capacity() * sizeof(T);
    const auto poisoned_end = (reinterpret_cast<std::uintptr_t>(b) + total) & ~std::uintptr_t{7};
    constexpr bool raw = std::is_pointer_v<typename std::allocator_traits<typename V::allocator_type>::pointer>;
    for (std::size_t i = 0; i < total; ++i) {
      const bool want = raw && i >= used && reinterpret_cast<std::uintptr_t>(b + i) < poisoned_end;
      if (cm::is_poisoned(b + i) != want) {
        ADD_FAILURE() << "byte " << i << " of " << total << " (" << v.size() << " elements of " << sizeof(T)
                      << " bytes, capacity " << v.capacity() << "): poisoned " << cm::is_poisoned(b + i);
        return false;
      }
    }
  }
  (void)v;
  return true;
}

/// Every way of appending one element (push_back, emplace_back, insert/emplace at the end, of an
/// outside value, a temporary, or an element of the vector itself), on vectors of every size from
/// empty through full inline and full heap, failing the k-th allocation, copy or move for every
/// k: the vector is unchanged after a failure (valid, if `strong` is false), nothing leaks, the
/// annotation is right, and on success the returned reference is the new last element.
template <class T, bool Offset>
void every_append_every_failure(bool strong) {
  using A = FailingAllocator<T, Offset>;
  using V = cm::SmallVector<T, 4, A>;
  using cm::test::make;
  using cm::test::value_of;
  constexpr bool copyable = std::is_copy_constructible_v<T>;
  struct Op {
    const char* name;
    std::function<int(V&)> run;  // returns the value appended
  };
  std::vector<Op> ops = {
      {"push_back(temporary)", [](V& v) { return v.push_back(make<T>(41)), value_of(make<T>(41)); }},
      {"emplace_back(temporary), reference",
       [](V& v) {
         T& r = v.emplace_back(make<T>(42));
         EXPECT_EQ(&r, &v.back());
         return value_of(make<T>(42));
       }},
      {"emplace at the end", [](V& v) { return v.emplace(v.end(), make<T>(43)), value_of(make<T>(43)); }},
  };
  if constexpr (copyable) {
    ops.push_back({"push_back(outside copy)", [](V& v) {
                     const T outside = make<T>(44);  // (made without a copy: no event)
                     v.push_back(outside);
                     return value_of(make<T>(44));
                   }});
    ops.push_back({"push_back(v[0])", [](V& v) {
                     const int x = value_of(v[0]);
                     v.push_back(v[0]);
                     return x;
                   }});
    ops.push_back({"push_back(v.back())", [](V& v) {
                     const int x = value_of(v.back());
                     v.push_back(v.back());
                     return x;
                   }});
    ops.push_back({"emplace_back(v[0]), reference", [](V& v) {
                     const int x = value_of(v[0]);
                     T& r = v.emplace_back(v[0]);
                     EXPECT_EQ(&r, &v.back());
                     return x;
                   }});
    ops.push_back({"insert(end, v[0])", [](V& v) {
                     const int x = value_of(v[0]);
                     v.insert(v.end(), v[0]);
                     return x;
                   }});
  }
  for (int size = 0; size <= 9; ++size) {  // empty, inline, full inline (4), heap, full heap (8)
    for (const Op& op : ops) {
      if (size == 0 && std::string_view(op.name).find("v[0]") != std::string_view::npos) continue;
      if (size == 0 && std::string_view(op.name).find("back()") != std::string_view::npos) continue;
      bool completed = false;
      for (int k = 1; k < 100 && !completed; ++k) {
        const long live_before = live_count<T>();
        {
          // On the heap: an exception clears the annotations of the whole stack (ASan unpoisons
          // it when a throw may unwind frames), so an inline buffer there would show nothing.
          const auto holder = std::make_unique<V>();
          V& v = *holder;
          for (int i = 0; i < size; ++i) v.push_back(make<T>(i + 1));
          std::vector<int> before;
          for (const T& x : v) before.push_back(value_of(x));
          const T* data_before = v.data();
          const std::size_t capacity_before = v.capacity();
          g_countdown = k;
          int appended = 0;
          try {
            appended = op.run(v);
            completed = true;
          } catch (const std::exception&) {  // injected: runtime_error or bad_alloc
          }
          g_countdown = -1;
          std::vector<int> after;
          for (const T& x : v) after.push_back(value_of(x));
          if (completed) {
            before.push_back(appended);
            EXPECT_EQ(after, before) << op.name << ", size " << size;
          } else if (strong) {
            EXPECT_EQ(after, before) << op.name << ", size " << size << ", failure " << k;
            EXPECT_EQ(v.data(), data_before) << op.name << ", size " << size << ", failure " << k;
            EXPECT_EQ(v.capacity(), capacity_before) << op.name << ", size " << size << ", failure " << k;
          }
          EXPECT_LE(v.size(), v.capacity());
          EXPECT_TRUE(annotated_as_expected(v)) << op.name << ", size " << size << ", failure " << k << " " << typeid(T).name() << Offset;
          if constexpr (requires { T::live; }) {
            EXPECT_EQ(T::live, live_before + static_cast<long>(v.size())) << op.name << ", size " << size << ", failure " << k;
          }
          v.push_back(make<T>(50));  // still usable
          EXPECT_EQ(value_of(v.back()), value_of(make<T>(50)));
          EXPECT_TRUE(annotated_as_expected(v)) << op.name << ", size " << size << ", failure " << k << " " << typeid(T).name() << Offset;
        }
        EXPECT_EQ(live_count<T>(), live_before) << "leak in " << op.name << ", size " << size << ", failure " << k;
      }
      EXPECT_TRUE(completed) << op.name << " never completed";
    }
  }
}

}  // namespace

TEST(SmallVectorExceptions, EveryAppendEveryElementKindEveryFailurePoint) {
  every_append_every_failure<int, false>(true);   // passed to the growth path by value
  every_append_every_failure<Wide, false>(true);  // trivially copyable, by reference
  every_append_every_failure<std::string, false>(true);
  every_append_every_failure<std::unique_ptr<int>, false>(true);
  every_append_every_failure<CopyThrower, false>(true);
  every_append_every_failure<Thrower, false>(true);
  every_append_every_failure<ThrowingMoveOnly, false>(false);
  // offset_ptr as the allocator's pointer (the growth path returns one to the caller)
  every_append_every_failure<int, true>(true);
  every_append_every_failure<std::string, true>(true);
  every_append_every_failure<CopyThrower, true>(true);
  every_append_every_failure<Thrower, true>(true);
}

TEST(StaticVectorExceptions, FullVectorThrowsAndStaysIntact) {
  cm::StaticVector<std::string, 2> v{"a", "b"};
  EXPECT_THROW(v.push_back("c"), std::bad_alloc);
  EXPECT_THROW(v.insert(v.begin(), 2, "x"), std::bad_alloc);
  EXPECT_EQ(v, (cm::StaticVector<std::string, 2>{"a", "b"}));
}

// Defect (review): a resize that grows reallocated first and built the new elements after, so
// when the k-th of them threw, the vector had its old elements in a new, larger buffer: the
// capacity had changed and every pointer was invalid (std::vector: no effects). The new elements
// are built in the new buffer first now.
TEST(SmallVectorExceptions, AFailedGrowingResizeKeepsTheBufferAndTheCapacity) {
  using Vec = cm::SmallVector<Thrower, 4, FailingAllocator<Thrower>>;
  for (int k = 1; k < 40; ++k) {
    const long live_before = Thrower::live;
    {
      Vec v;
      for (int i = 0; i < 6; ++i) v.emplace_back(i);  // on the heap, capacity 8
      const Thrower* data = v.data();
      const std::size_t capacity = v.capacity();
      bool threw = false;
      g_countdown = k;
      try {
        v.resize(20, v[2]);  // the value is an element
      } catch (const std::exception&) {
        threw = true;
      }
      g_countdown = -1;
      if (!threw) {
        ASSERT_EQ(v.size(), 20u);
        for (std::size_t i = 6; i < 20; ++i) EXPECT_EQ(v[i].v, 2);
        break;
      }
      EXPECT_EQ(v.data(), data) << k;
      EXPECT_EQ(v.capacity(), capacity) << k;
      ASSERT_EQ(v.size(), 6u);
      for (int i = 0; i < 6; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)].v, i);
    }
    EXPECT_EQ(Thrower::live, live_before) << k;
  }
}

#endif
