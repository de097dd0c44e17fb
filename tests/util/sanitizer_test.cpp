// The sanitizer hooks must let AddressSanitizer see real bugs through the library.

#include <core/memory/util/sanitizer.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace cm = core::memory;

TEST(Sanitizer, PoisonIsVisibleToAsan) {
  alignas(64) static unsigned char buffer[256];
  cm::poison_memory(buffer + 64, 64);
  EXPECT_EQ(cm::is_poisoned(buffer + 64), cm::asan_enabled);
  EXPECT_EQ(cm::is_poisoned(buffer + 127), cm::asan_enabled);
  EXPECT_FALSE(cm::is_poisoned(buffer + 63));
  EXPECT_FALSE(cm::is_poisoned(buffer + 128));
  cm::unpoison_memory(buffer + 64, 64);
  EXPECT_FALSE(cm::is_poisoned(buffer + 64));
}

TEST(SanitizerDeathTest, ReadingPoisonedMemoryIsReported) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on in this build";
  alignas(64) static unsigned char buffer[128];
  EXPECT_DEATH(
      {
        cm::poison_memory(buffer + 64, 64);
        volatile unsigned char* p = buffer + 70;
        (void)*p;
      },
      "use-after-poison");
}

TEST(SanitizerDeathTest, ContainerAnnotationCatchesReadPastSize) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on in this build";
  EXPECT_DEATH(
      {
        auto* storage = new long[16];
        // Capacity 16, size 4: elements 4..15 must not be touched.
        cm::annotate_contiguous_container(storage, storage + 16, storage + 16, storage + 4);
        volatile long* p = storage + 6;
        (void)*p;
      },
      "container-overflow");
}

TEST(Sanitizer, AnnotationRoundTripLeavesMemoryUsable) {
  std::vector<long> storage(16, 0);
  long* b = storage.data();
  cm::annotate_contiguous_container(b, b + 16, b + 16, b + 4);
  EXPECT_EQ(cm::is_poisoned(b + 8), cm::asan_enabled);
  cm::annotate_contiguous_container(b, b + 16, b + 4, b + 16);
  EXPECT_FALSE(cm::is_poisoned(b + 8));
  b[15] = 1;
  EXPECT_EQ(b[15], 1);
}
