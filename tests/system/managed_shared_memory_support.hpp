#pragma once
// Types the managed segment tests and their child program (tests/system/managed_child.cpp) share:
// named objects are found by type, so both must spell them the same.

#include <core/memory/system/managed_shared_memory.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace test::shm {

namespace cm = core::memory;
using IntVec = std::vector<int, cm::SharedMemoryAllocator<int>>;
using Table = std::vector<IntVec, cm::SharedMemoryAllocator<IntVec>>;
// libstdc++'s std::basic_string keeps raw pointers (no fancy pointer support): text is a vector.
using String = std::vector<char, cm::SharedMemoryAllocator<char>>;
using Strings = std::vector<String, cm::SharedMemoryAllocator<String>>;

/// What the child builds with "fill": numbers 0..n-1, a table whose row r holds r*1000 + 0..r,
/// a long string and a vector of strings.
constexpr int fill_numbers = 10000;
constexpr int fill_rows = 50;
inline String to_shared(const std::string& s, const cm::SharedMemoryAllocator<char>& a) { return String(s.begin(), s.end(), a); }
inline bool same(const String& a, const std::string& b) { return std::string(a.begin(), a.end()) == b; }
inline std::string long_text(int i) { return "text number " + std::to_string(i) + std::string(40, static_cast<char>('a' + i % 26)); }

}  // namespace test::shm
