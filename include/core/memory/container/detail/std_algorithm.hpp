#pragma once
/// What the flat containers take from <algorithm>, <functional> and <numeric> (sorting, binary
/// search, std::less/greater, iota): with libstdc++ the internal headers that define them, so
/// that a file including a flat container does not also parse the parallel algorithms, the ranges
/// algorithms and std::function; elsewhere (or with CORE_MEMORY_FULL_STD_HEADERS) the standard
/// headers.

#include <core/memory/container/detail/std_core.hpp>

#if defined(__GLIBCXX__) && !defined(CORE_MEMORY_FULL_STD_HEADERS)
#include <bits/stl_algo.h>
#include <bits/stl_function.h>
#include <bits/stl_numeric.h>
#include <bits/uses_allocator.h>
#else
#include <algorithm>
#include <functional>
#include <numeric>
#endif
