// The precompiled header of the tests: GoogleTest and the standard headers most tests include.
// Parsing them took 1.2-1.7 s of each test source's compile; one precompiled copy per flag set
// (tests/CMakeLists.txt) saves about 150 CPU s a build. Library headers stay out of it, so that a
// test compiled at another check level or with other macros still sees them as written.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
