#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "support/misuse_capture.hpp"

namespace cm = core::memory;

TEST(Error, KindsHaveNames) {
  using K = cm::error_kind;
  for (K k : {K::out_of_memory, K::bad_array_length, K::invalid_alignment, K::invalid_size, K::double_free,
              K::foreign_pointer, K::interior_pointer, K::lifo_violation, K::buffer_overrun, K::leak,
              K::use_after_free, K::assertion, K::system_error, K::capacity_exceeded}) {
    EXPECT_NE(std::string(cm::to_string(k)), "unknown error");
  }
  EXPECT_STREQ(cm::to_string(K::double_free), "double free");
}

TEST(Error, ReportIsFormattedCompletely) {
  int object = 0;
  cm::error_report r{cm::error_kind::double_free, "core::memory::Pool", &object, 48, 16, "block freed twice",
                     "pool.hpp", 42};
  char text[256];
  const std::size_t n = cm::format_report(r, text, sizeof text);
  const std::string s(text);
  EXPECT_EQ(n, s.size());
  EXPECT_NE(s.find("double free in core::memory::Pool at 0x"), std::string::npos) << s;
  EXPECT_NE(s.find("size 48"), std::string::npos) << s;
  EXPECT_NE(s.find("alignment 16"), std::string::npos) << s;
  EXPECT_NE(s.find("block freed twice"), std::string::npos) << s;
  EXPECT_NE(s.find("[pool.hpp:42]"), std::string::npos) << s;
}

TEST(Error, FormatTruncatesSafely) {
  cm::error_report r{cm::error_kind::leak, "a-very-long-allocator-name", nullptr, 1, 1, "detail", nullptr, 0};
  char small[8];
  std::memset(small, 'x', sizeof small);
  const std::size_t n = cm::format_report(r, small, sizeof small);
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(small[7], '\0');
  EXPECT_EQ(cm::format_report(r, small, 0), 0u);
}

TEST(Error, OutOfMemoryNamesAllocatorAndRequest) {
  cm::out_of_memory e("core::memory::Arena", 1024, 64);
  const std::bad_alloc& base = e;
  EXPECT_STREQ(base.what(), "core::memory::Arena: out of memory allocating 1024 bytes (alignment 64)");
  EXPECT_STREQ(e.allocator(), "core::memory::Arena");
  EXPECT_EQ(e.size(), 1024u);
  EXPECT_EQ(e.alignment(), 64u);
}

#if CORE_MEMORY_EXCEPTIONS
TEST(Error, ThrowDelegatesThrowTheStandardTypes) {
  EXPECT_THROW(cm::throw_out_of_memory("x", 1, 1), std::bad_alloc);
  EXPECT_THROW(cm::throw_out_of_memory("x", 1, 1), cm::out_of_memory);
  EXPECT_THROW(cm::throw_bad_array_length(), std::bad_array_new_length);
}
#endif

TEST(Error, HandlerCanBeReplacedAndRestored) {
  const cm::misuse_handler original = cm::get_misuse_handler();
  EXPECT_EQ(original, &cm::default_misuse_handler);
  {
    test::MisuseCapture capture;
    EXPECT_NE(cm::get_misuse_handler(), original);
    int x = 0;
    cm::report_misuse({cm::error_kind::foreign_pointer, "test", &x, 8, 8, nullptr, nullptr, 0});
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
    EXPECT_EQ(capture.last().address, &x);
    EXPECT_EQ(capture.last().allocator, "test");
  }
  EXPECT_EQ(cm::get_misuse_handler(), original);
  // nullptr restores the default.
  cm::set_misuse_handler(nullptr);
  EXPECT_EQ(cm::get_misuse_handler(), &cm::default_misuse_handler);
}

TEST(ErrorDeathTest, DefaultHandlerPrintsAndAborts) {
  EXPECT_DEATH(cm::report_misuse({cm::error_kind::double_free, "core::memory::Pool", nullptr, 32, 0, nullptr,
                                  nullptr, 0}),
               "core-memory: double free in core::memory::Pool, size 32");
}

TEST(ErrorDeathTest, FatalErrorsAbortEvenIfTheHandlerReturns) {
  EXPECT_DEATH(
      {
        test::MisuseCapture capture;
        cm::detail::fatal_error({cm::error_kind::assertion, "c", nullptr, 0, 0, "unrecoverable", nullptr, 0});
      },
      "assertion failed in c: unrecoverable");
}

TEST(ErrorDeathTest, InvalidAlignmentFailsLikeExhaustion) {
  test::MisuseCapture capture;
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(cm::detail::fail_invalid_alignment("alloc", 10, 3), cm::out_of_memory);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
  EXPECT_EQ(capture.last().alignment, 3u);
#else
  EXPECT_DEATH(cm::detail::fail_invalid_alignment("alloc", 10, 3), "out of memory in alloc");
#endif
}

// The tiers: a disabled check does not evaluate its expression; an enabled one that fails aborts
// with the expression, file and line.
TEST(CheckTiers, EnabledExactlyPerLevel) {
  int evaluated = 0;
  CORE_MEMORY_HARDEN_ASSERT("t", ++evaluated > 0, "hardened");
  CORE_MEMORY_ASSERT("t", ++evaluated > 0, "debug");
  CORE_MEMORY_EXPENSIVE_ASSERT("t", ++evaluated > 0, "expensive");
  EXPECT_EQ(evaluated, int(cm::checks::hardened) + int(cm::checks::debug) + int(cm::checks::expensive));
  EXPECT_EQ(cm::checks::hardened, cm::check_level >= 1);
#ifdef NDEBUG
  EXPECT_EQ(cm::checks::debug, cm::check_level >= 2);
#else
  EXPECT_TRUE(cm::checks::debug) << "debug builds default to at least the debug tier";
#endif
}

TEST(CheckTiersDeathTest, FailedCheckNamesExpressionAndLocation) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off in this build";
  [[maybe_unused]] const int value = 3;
  EXPECT_DEATH(CORE_MEMORY_HARDEN_ASSERT("core::memory::Test", value == 4, "value must be four"),
               "assertion failed in core::memory::Test: value must be four \\(value == 4\\) \\[.*error_test.cpp:[0-9]+\\]");
}
