#pragma once
/// SourceLocation: where a call was made, for the trackers' call sites, with a fallback for
/// compilers whose library lacks std::source_location.

#include <cstdint>

#if defined(__has_include)
#if __has_include(<source_location>)
#include <source_location>
#endif
#endif

namespace core::memory {

/// Where an allocation was made: std::source_location where the compiler has it (g++ 11+),
/// __builtin_FILE/FUNCTION/LINE otherwise (clang 14 with libstdc++ 12), which both compilers
/// expand at the call site of a function taking `SourceLocation loc = SourceLocation::current()`.
struct SourceLocation {
  const char* file = "";
  const char* function = "";
  std::uint_least32_t line = 0;

#if defined(__cpp_lib_source_location) && __cpp_lib_source_location >= 201907L
  [[nodiscard]] static constexpr SourceLocation current(
      std::source_location loc = std::source_location::current()) noexcept {
    return {loc.file_name(), loc.function_name(), loc.line()};
  }
#else
  [[nodiscard]] static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                                        const char* function = __builtin_FUNCTION(),
                                                        std::uint_least32_t line = __builtin_LINE()) noexcept {
    return {file, function, line};
  }
#endif
};

}  // namespace core::memory
