#pragma once
/// GoogleTest glue for ScopedMemoryBudget: a budget that is exceeded becomes a non-fatal test
/// failure at the line that declared the budget. Include only in tests (needs gtest).
///
///   CORE_MEMORY_EXPECT_BUDGET(budget, tracker, .bytes = 4096, .allocations = 10);
///   run_the_code();   // the scope ends: a failure names what was used and the budget

#include <core/memory/tracking/memory_budget.hpp>

#include <gtest/gtest.h>

namespace core::memory::testing {

/// Records a GoogleTest failure at the budget's declaration.
inline void gtest_budget_failure(const budget_report& report) {
  char text[256];
  format_budget_report(report, text, sizeof text);
  ADD_FAILURE_AT(report.location.file, static_cast<int>(report.location.line)) << text;
}

}  // namespace core::memory::testing

/// Declares a ScopedMemoryBudget `name` on `tracker` with the MemoryBudget initialised from the
/// rest (designators), whose excess is a test failure.
#define CORE_MEMORY_EXPECT_BUDGET(name, tracker, ...)                                        \
  ::core::memory::ScopedMemoryBudget name(::core::memory::MemoryBudget{__VA_ARGS__}, (tracker), \
                                          &::core::memory::testing::gtest_budget_failure)
