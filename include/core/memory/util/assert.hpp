#pragma once
/// Assertion macros for the three check tiers (see config.hpp). A failed check reaches the misuse
/// handler as error_kind::assertion with the expression, file and line, then aborts. A disabled
/// check compiles to nothing; its expression is not evaluated.

#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>

#define CORE_MEMORY_DETAIL_CHECK(component, expr, msg)                                              \
  (CORE_MEMORY_LIKELY(static_cast<bool>(expr))                                                     \
       ? void(0)                                                                                    \
       : ::core::memory::detail::fatal_error({::core::memory::error_kind::assertion, component,    \
                                              nullptr, 0, 0, msg " (" #expr ")", __FILE__,          \
                                              static_cast<unsigned>(__LINE__)}))

/// Checked at hardened level and above: cheap O(1) preconditions whose violation corrupts memory.
#if CORE_MEMORY_CHECK_LEVEL >= 1
#define CORE_MEMORY_HARDEN_ASSERT(component, expr, msg) CORE_MEMORY_DETAIL_CHECK(component, expr, msg)
#else
#define CORE_MEMORY_HARDEN_ASSERT(component, expr, msg) void(0)
#endif

/// Checked at debug level and above.
#if CORE_MEMORY_CHECK_LEVEL >= 2
#define CORE_MEMORY_ASSERT(component, expr, msg) CORE_MEMORY_DETAIL_CHECK(component, expr, msg)
#else
#define CORE_MEMORY_ASSERT(component, expr, msg) void(0)
#endif

/// Checked only at the expensive level: O(n) consistency checks.
#if CORE_MEMORY_CHECK_LEVEL >= 3
#define CORE_MEMORY_EXPENSIVE_ASSERT(component, expr, msg) CORE_MEMORY_DETAIL_CHECK(component, expr, msg)
#else
#define CORE_MEMORY_EXPENSIVE_ASSERT(component, expr, msg) void(0)
#endif
