// Defect class: alignment validation (issue 9, class 3). Every allocator x every alignment class x
// every allocation entry point x {handler returns, handler aborts}, against DESIGN-NOTES:
// - a power of two the allocator can serve: an aligned block, no report;
// - 0 or not a power of two: reported as invalid_alignment once (naming the request's size and
//   alignment), at every check level; if the handler returns the request fails as exhaustion
//   (allocate throws out_of_memory, or without exceptions aborts as exhaustion does; try_allocate
//   returns null);
// - a power of two too large to serve (2^40, 2^63): exhaustion, no report, never a misaligned block.
// The behaviour is the same at every CORE_MEMORY_CHECK_LEVEL: this file runs in every preset.

#include <core/memory.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "support/allocator_subjects.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

constexpr std::size_t top_bit = std::size_t{1} << 63;
constexpr std::size_t invalid_alignments[] = {0, 3, 24, std::numeric_limits<std::size_t>::max()};
constexpr std::size_t huge_alignments[] = {std::size_t{1} << 40, top_bit};
constexpr std::size_t sizes[] = {0, 1, 100};

/// Every power of two up to 4096 (all allocators serve these for small requests).
std::vector<std::size_t> valid_alignments() {
  std::vector<std::size_t> v;
  for (std::size_t a = 1; a <= 4096; a *= 2) v.push_back(a);
  return v;
}

/// The allocation entry points of a RawAllocator: allocate, try_allocate, allocate_at_least.
enum class entry { allocate, try_allocate, allocate_at_least };
constexpr entry entries[] = {entry::allocate, entry::try_allocate, entry::allocate_at_least};

const char* name(entry e) {
  switch (e) {
    case entry::allocate: return "allocate";
    case entry::try_allocate: return "try_allocate";
    default: return "allocate_at_least";
  }
}

/// Calls `e`; returns the block (null if try_allocate failed). Throws what allocate throws.
template <class A>
void* call(A& a, entry e, std::size_t size, std::size_t align) {
  using traits = cm::allocator_traits<A>;
  switch (e) {
    case entry::allocate: return test::escape(a.allocate(size, align));  // clang elides unused heap calls
    case entry::try_allocate: return test::escape(traits::try_allocate(a, size, align));
    default: {
      const cm::allocation_result r = traits::allocate_at_least(a, size, align);
      EXPECT_GE(r.size, size);
      return test::escape(r.ptr);
    }
  }
}

template <class S>
class AlignmentMatrix : public test::subjects::Fixture<S> {};

TYPED_TEST_SUITE(AlignmentMatrix, test::subjects::All, test::subjects::Names);

TYPED_TEST(AlignmentMatrix, PowersOfTwoAreServedAligned) {
  test::MisuseCapture capture;
  for (std::size_t align : valid_alignments()) {
    for (std::size_t size : sizes) {
      for (entry e : entries) {
        SCOPED_TRACE(testing::Message() << name(e) << " size " << size << " alignment " << align);
        void* p = call(this->a, e, size, align);
        ASSERT_NE(p, nullptr);
        EXPECT_TRUE(cm::is_aligned(p, align)) << p;
        std::memset(p, 0x5A, size);
        this->a.deallocate(p, size, align);
      }
    }
  }
  EXPECT_EQ(capture.count(), 0u);
}

TYPED_TEST(AlignmentMatrix, InvalidAlignmentIsReportedThenFailsAsExhaustion) {
  test::MisuseCapture capture;
  for (std::size_t align : invalid_alignments) {
    for (std::size_t size : sizes) {
      for (entry e : entries) {
        SCOPED_TRACE(testing::Message() << name(e) << " size " << size << " alignment " << align);
        const std::size_t before = capture.count();
        if (e == entry::try_allocate) {
          EXPECT_EQ(call(this->a, e, size, align), nullptr);
        } else {
#if CORE_MEMORY_EXCEPTIONS
          EXPECT_THROW((void)call(this->a, e, size, align), cm::out_of_memory);
#else
          // Exhaustion without exceptions aborts after the handler (which returns here).
          EXPECT_DEATH((void)call(this->a, e, size, align), "out of memory in");
          continue;
#endif
        }
        ASSERT_EQ(capture.count(), before + 1) << "reported exactly once";
        EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
        EXPECT_EQ(capture.last().alignment, align);
        EXPECT_EQ(capture.last().size, size);
        EXPECT_FALSE(capture.last().allocator.empty());
      }
    }
  }
}

TYPED_TEST(AlignmentMatrix, InvalidAlignmentReachesTheDefaultHandler) {
  ::testing::FLAGS_gtest_death_test_style = "fast";  // one fork per case, no re-execution
  for (std::size_t align : invalid_alignments) {
    for (entry e : entries) {
      SCOPED_TRACE(testing::Message() << name(e) << " alignment " << align);
      // (a report leaves out an alignment of 0)
      const std::string alignment = align ? ", alignment " + std::to_string(align) : "";
      EXPECT_DEATH((void)call(this->a, e, 8, align), "invalid alignment in .*size 8" + alignment);
    }
  }
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
}

TYPED_TEST(AlignmentMatrix, HugeAlignmentFailsCleanly) {
  if (!TypeParam::graceful) GTEST_SKIP() << "exhaustion of a std::pmr resource cannot be caught without exceptions";
  test::MisuseCapture capture;
  for (std::size_t align : huge_alignments) {
    for (std::size_t size : sizes) {
      for (entry e : entries) {
        SCOPED_TRACE(testing::Message() << name(e) << " size " << size << " alignment " << align);
        void* p = nullptr;
        if (e == entry::try_allocate) {
          p = call(this->a, e, size, align);
        } else {
#if CORE_MEMORY_EXCEPTIONS
          try {
            p = call(this->a, e, size, align);
          } catch (const std::bad_alloc& ex) {  // out_of_memory, or what a std::pmr resource throws
            if (const auto* oom = dynamic_cast<const cm::out_of_memory*>(&ex)) {
              EXPECT_EQ(oom->alignment(), align);
            }
          }
#else
          continue;  // exhaustion aborts without exceptions
#endif
        }
        if (p) {  // served (a system that overcommits 2^40 bytes): then aligned
          EXPECT_TRUE(cm::is_aligned(p, align)) << p;
          this->a.deallocate(p, size, align);
        }
      }
    }
  }
  EXPECT_EQ(capture.count(), 0u) << "a valid alignment is never misuse";
}

/// StdAllocator<T, A>::allocate_aligned over every allocator: the same rules, in objects.
TYPED_TEST(AlignmentMatrix, StdAllocatorAllocateAligned) {
  using Alloc = cm::StdAllocator<std::uint32_t, typename TypeParam::allocator>;
  Alloc alloc(this->a);
  test::MisuseCapture capture;
  for (std::size_t align : valid_alignments()) {
    std::uint32_t* p = alloc.allocate_aligned(5, align);
    EXPECT_TRUE(cm::is_aligned(p, align < 4 ? 4 : align));
    std::fill_n(p, 5, 7u);
    alloc.deallocate_aligned(p, 5, align);
  }
  EXPECT_EQ(capture.count(), 0u);
  for (std::size_t align : invalid_alignments) {
#if CORE_MEMORY_EXCEPTIONS
    const std::size_t before = capture.count();
    EXPECT_THROW((void)alloc.allocate_aligned(5, align), cm::out_of_memory);
    ASSERT_EQ(capture.count(), before + 1) << "reported exactly once";
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
    EXPECT_EQ(capture.last().alignment, align);
#else
    EXPECT_DEATH((void)alloc.allocate_aligned(5, align), "out of memory in");
#endif
  }
}

}  // namespace

// The allocators whose alignment is a constructor parameter (node or object alignment): every
// power of two they support gives aligned blocks; 0, a non-power of two, or one beyond what they
// support is reported as invalid_alignment once, and if the handler returns they fall back to
// their default alignment (still usable, every block aligned to at least max_align_t).
namespace {

/// Powers of two up to `max_tested` must work; beyond it, those above `limit` (if any) are invalid.
template <class Make>
void check_constructor_alignment(Make make, std::size_t max_tested, std::size_t limit) {
  for (std::size_t align = 1; align <= max_tested; align *= 2) {
    test::MisuseCapture capture;
    auto pool = make(align);
    void* p[3];
    for (void*& q : p) {
      q = pool->allocate_one();
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(cm::is_aligned(q, align)) << "alignment " << align;
      std::memset(q, 0x3C, 24);
    }
    for (void* q : p) pool->deallocate_one(q);
    EXPECT_EQ(capture.count(), 0u) << "alignment " << align;
  }
  std::vector<std::size_t> invalid = {0, 3, 24, std::numeric_limits<std::size_t>::max()};
  if (limit < top_bit) invalid.push_back(limit * 2);
  for (std::size_t align : invalid) {
    test::MisuseCapture capture;
    auto pool = make(align);
    ASSERT_EQ(capture.count(), 1u) << "alignment " << align;
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
    EXPECT_EQ(capture.last().alignment, align);
    void* q = pool->allocate_one();
    EXPECT_TRUE(cm::is_aligned(q, alignof(std::max_align_t)));
    std::memset(q, 0x3C, 24);
    pool->deallocate_one(q);
  }
}

/// allocate_one / deallocate_one over a SlabCache, a MemoryPool or a GrowingPool of 24-byte objects.
template <class P>
struct Nodes : P {
  using P::P;
  void* allocate_one() {
    if constexpr (requires(P& p) { p.allocate_object(); }) return this->allocate_object();
    else return this->allocate_node();
  }
  void deallocate_one(void* q) {
    if constexpr (requires(P& p) { p.allocate_object(); }) this->deallocate_object(q);
    else this->deallocate_node(q);
  }
};

TEST(AlignmentMatrixConstructors, SlabCacheObjectAlignment) {
  check_constructor_alignment([](std::size_t a) { return std::make_unique<Nodes<cm::SlabCache>>(24, a); }, 4096, 4096);
}

TEST(AlignmentMatrixConstructors, MemoryPoolNodeAlignment) {
  // Every power of two is supported; 2^40 and 2^63 are valid but fail as exhaustion on use.
  check_constructor_alignment([](std::size_t a) { return std::make_unique<Nodes<cm::MemoryPool>>(24, a); }, 4096, top_bit);
  check_constructor_alignment([](std::size_t a) { return std::make_unique<Nodes<cm::GrowingPool>>(24, a); }, 4096, top_bit);
  test::MisuseCapture capture;
  for (std::size_t align : huge_alignments) {
    Nodes<cm::MemoryPool> pool(24, align);
    EXPECT_EQ(test::escape(pool.try_allocate_node()), nullptr) << align;
  }
  EXPECT_EQ(capture.count(), 0u);
}

TEST(AlignmentMatrixConstructors, ObjectPoolOfOverAlignedType) {
  struct alignas(256) Wide {
    int x = 7;
  };
  cm::ObjectPool<Wide> pool(4);
  std::vector<Wide*> objects;
  for (int i = 0; i < 9; ++i) {
    objects.push_back(pool.acquire());
    EXPECT_TRUE(cm::is_aligned(objects.back(), 256));
    EXPECT_EQ(objects.back()->x, 7);
  }
  for (Wide* w : objects) pool.release(w);
}

}  // namespace
