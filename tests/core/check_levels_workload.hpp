#pragma once
// The same work on every allocator whose layout or code depends on the check level, compiled into
// two translation units at two levels (check_levels_test.cpp at 1, check_levels_other.cpp at 0)
// and linked into one program. Their classes carry the level in their symbols
// (CORE_MEMORY_LEVEL_ABI), so each unit runs its own code; before, the linker kept one copy of
// each out-of-line member for both, and a pool built at one level ran the other's code (it
// reported exhaustion at once, or wrote past its nodes). Internal linkage: each unit has its own.

#include <core/memory.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace {

/// Allocates `n` blocks of `size` bytes from `a`, fills each, checks them, frees them newest
/// first; returns what went wrong ("" if nothing).
template <class A>
std::string exercise(const char* name, A& a, std::size_t n, std::size_t size) {
  std::vector<unsigned char*> blocks;
  std::string errors;
  for (std::size_t i = 0; i < n; ++i) {
    auto* p = static_cast<unsigned char*>(core::memory::allocator_traits<A>::try_allocate(a, size, 16));
    if (!p) {
      errors += std::string(name) + ": out of memory at block " + std::to_string(i) + "; ";
      break;
    }
    std::memset(p, static_cast<int>(i & 0xff), size);
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    for (std::size_t b = 0; b < size; ++b)
      if (blocks[i][b] != static_cast<unsigned char>(i & 0xff)) {
        errors += std::string(name) + ": block " + std::to_string(i) + " overwritten; ";
        b = size, i = blocks.size() - 1;
      }
  for (std::size_t i = blocks.size(); i-- > 0;) a.deallocate(blocks[i], size, 16);
  return errors;
}

/// Every level-dependent allocator, with this unit's level; the level is returned first.
inline std::string level_workload() {
  namespace cm = core::memory;
  std::string out = "level " + std::to_string(cm::check_level) + ": ";
  {
    cm::MemoryPool pool(48, 16, 64);
    out += exercise("MemoryPool", pool, 1000, 48);
  }
  {
    cm::PoolAllocator<std::uint64_t[6]> pool;
    out += exercise("PoolAllocator", pool, 1000, 48);
  }
  {
    cm::GrowingPool pool(48, 16);
    out += exercise("GrowingPool", pool, 1000, 48);
  }
  {
    cm::StackAllocator stack(1 << 20);
    out += exercise("StackAllocator", stack, 1000, 48);
  }
  {
    cm::Arena arena(4096);
    out += exercise("Arena", arena, 1000, 48);
  }
  {
    cm::FreeListAllocator list(1 << 20);
    out += exercise("FreeListAllocator", list, 1000, 48);
  }
  {
    cm::BuddyAllocator buddy(64, 1 << 20);
    out += exercise("BuddyAllocator", buddy, 1000, 48);
  }
  {
    cm::SlabAllocator slab;
    out += exercise("SlabAllocator", slab, 1000, 48);
  }
  {
    cm::ConcurrentPool pool(48, 16);
    out += exercise("ConcurrentPool", pool, 1000, 48);
  }
  {
    cm::ThreadPoolAllocator pool;
    out += exercise("ThreadPoolAllocator", pool, 1000, 48);
  }
  {
    cm::ObjectPool<std::string> pool;
    std::vector<std::string*> objects;
    for (int i = 0; i < 1000; ++i) objects.push_back(pool.acquire(std::to_string(i)));
    for (int i = 0; i < 1000; ++i)
      if (*objects[static_cast<std::size_t>(i)] != std::to_string(i)) out += "ObjectPool: object overwritten; ";
    for (std::string* s : objects) pool.release(s);
  }
  return out;
}

}  // namespace
