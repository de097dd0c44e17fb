#pragma once
/// ScopedMemoryBudget: fails when the code in a scope allocates more bytes or more blocks than
/// allowed (as memray's pytest plugin does for Python). The failure goes to a callback; the default
/// reports error_kind::assertion to the misuse handler. With GoogleTest, pass
/// `core::memory::testing::gtest_budget_failure` (tracking/gtest_budget.hpp) to make it a test
/// failure at the budget's line instead.
///
///   TEST(Parser, StaysSmall) {
///     core::memory::ScopedMemoryBudget budget({.bytes = 64 * 1024, .allocations = 100}, tracker);
///     parse(input);
///   }  // checked here

#include <core/memory/tracking/memory_tracker.hpp>

#include <cstddef>
#include <cstdint>

namespace core::memory {

/// Limits for a scope: bytes allocated in it (freed or not) and the number of allocations.
struct MemoryBudget {
  std::size_t bytes = SIZE_MAX;
  std::size_t allocations = SIZE_MAX;
};

/// What a scope used against its budget, and where the budget was declared.
struct budget_report {
  MemoryBudget budget;
  std::size_t bytes = 0;
  std::size_t allocations = 0;
  const char* tracker = "";
  SourceLocation location;
};

/// Writes "memory budget exceeded: <n> bytes in <m> allocations, budget <b> bytes / <c>
/// allocations" into `buffer` (what every failure reports); returns its length.
std::size_t format_budget_report(const budget_report& report, char* buffer, std::size_t size) noexcept;

/// The default failure: reports error_kind::assertion to the misuse handler with that text.
void report_budget_exceeded(const budget_report& report);

class ScopedMemoryBudget {
 public:
  using failure_handler = void (*)(const budget_report&);

  explicit ScopedMemoryBudget(MemoryBudget budget, const MemoryTracker& tracker = MemoryTracker::instance(),
                              failure_handler on_exceeded = &report_budget_exceeded,
                              SourceLocation loc = SourceLocation::current()) noexcept
      : scope_(tracker), budget_(budget), on_exceeded_(on_exceeded), location_(loc) {}
  /// Checks the budget (once, unless check() already failed).
  ~ScopedMemoryBudget() { (void)check(); }
  ScopedMemoryBudget(const ScopedMemoryBudget&) = delete;
  ScopedMemoryBudget& operator=(const ScopedMemoryBudget&) = delete;

  /// What the scope used so far.
  [[nodiscard]] budget_report usage() const noexcept {
    return {budget_, scope_.bytes_allocated(), scope_.allocations(), scope_.tracker().name(), location_};
  }
  /// True while within budget; the first time it is not, calls the failure handler.
  bool check() {
    if (failed_) return false;
    const budget_report r = usage();
    if (r.bytes <= budget_.bytes && r.allocations <= budget_.allocations) return true;
    failed_ = true;
    if (on_exceeded_) on_exceeded_(r);
    return false;
  }

 private:
  ScopedMemoryTracker scope_;
  MemoryBudget budget_;
  failure_handler on_exceeded_;
  SourceLocation location_;
  bool failed_ = false;
};

}  // namespace core::memory
