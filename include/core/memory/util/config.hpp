#pragma once
/// Feature detection and the three check tiers, fixed per translation unit by the build.
///
/// Tiers (CORE_MEMORY_CHECK_LEVEL):
///   0  off        -- release default: no checks beyond what the API promises.
///   1  hardened   -- cheap O(1) misuse checks that stay on in release (-DCORE_MEMORY_HARDENED=1).
///   2  debug      -- debug asserts and fill patterns; the default when NDEBUG is not defined.
///   3  expensive  -- full O(n) checks (-DCORE_MEMORY_EXPENSIVE_CHECKS=1).
/// Defining CORE_MEMORY_CHECK_LEVEL directly overrides the presets.

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define CORE_MEMORY_EXCEPTIONS 1
#else
#define CORE_MEMORY_EXCEPTIONS 0
#endif

#if defined(__cpp_rtti) || defined(__GXX_RTTI)
#define CORE_MEMORY_RTTI 1
#else
#define CORE_MEMORY_RTTI 0
#endif

#ifndef CORE_MEMORY_CHECK_LEVEL
#if defined(CORE_MEMORY_EXPENSIVE_CHECKS) && CORE_MEMORY_EXPENSIVE_CHECKS
#define CORE_MEMORY_CHECK_LEVEL 3
#elif !defined(NDEBUG)
#define CORE_MEMORY_CHECK_LEVEL 2
#elif defined(CORE_MEMORY_HARDENED) && CORE_MEMORY_HARDENED
#define CORE_MEMORY_CHECK_LEVEL 1
#else
#define CORE_MEMORY_CHECK_LEVEL 0
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CORE_MEMORY_LIKELY(x) __builtin_expect(!!(x), 1)
#define CORE_MEMORY_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CORE_MEMORY_NOINLINE __attribute__((noinline))
#define CORE_MEMORY_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CORE_MEMORY_LIKELY(x) (x)
#define CORE_MEMORY_UNLIKELY(x) (x)
#define CORE_MEMORY_NOINLINE
#define CORE_MEMORY_ALWAYS_INLINE inline
#endif

/// On a class whose layout or code depends on the check level: its symbols carry the level (an
/// ABI tag, "cm_check0" .. "cm_check3"), so translation units built at different levels never
/// share its out-of-line functions (one copy would serve both layouts: an ODR violation that broke
/// two pools that never met). Objects still must not pass between levels.
#define CORE_MEMORY_DETAIL_STR2(x) #x
#define CORE_MEMORY_DETAIL_STR(x) CORE_MEMORY_DETAIL_STR2(x)
#if defined(__GNUC__) || defined(__clang__)
#define CORE_MEMORY_LEVEL_ABI __attribute__((abi_tag("cm_check" CORE_MEMORY_DETAIL_STR(CORE_MEMORY_CHECK_LEVEL))))
#else
#define CORE_MEMORY_LEVEL_ABI
#endif

namespace core::memory {

/// The check tier this translation unit was compiled with (see the file comment).
inline constexpr int check_level = CORE_MEMORY_CHECK_LEVEL;

namespace checks {
inline constexpr bool hardened = check_level >= 1;   ///< O(1) misuse detection is on.
inline constexpr bool debug = check_level >= 2;      ///< Debug asserts and fill patterns are on.
inline constexpr bool expensive = check_level >= 3;  ///< O(n) consistency checks are on.
}  // namespace checks

/// True when the translation unit is compiled with exception support.
inline constexpr bool exceptions_enabled = CORE_MEMORY_EXCEPTIONS != 0;

}  // namespace core::memory
