// Allocator fuzzing with a shadow map of live blocks: FreeListAllocator, BuddyAllocator and
// MemoryPool serve random requests and frees; every block is filled with its own byte and checked
// at free, and no two live blocks may overlap.
#include <core/memory/allocator/buddy_allocator.hpp>
#include <core/memory/allocator/freelist_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/util/memory_utils.hpp>

#include <iterator>
#include <map>
#include <vector>

#include "fuzz_common.hpp"

namespace cm = core::memory;

namespace {
struct Block {
  std::size_t size, align;
  unsigned char tag;
  int which;
};

template <class A>
void run(A& a, fuzz::Input& in, std::map<unsigned char*, Block>& live, int which) {
  const std::uint8_t op = in.byte();
  if (op % 3 != 0 || live.empty()) {
    const std::size_t size = 1 + in.u16() % 3000;
    const std::size_t align = std::size_t{1} << (in.byte() % 9);
    auto* p = static_cast<unsigned char*>(a.try_allocate(size, align));
    if (!p) return;
    FUZZ_CHECK(cm::is_aligned(p, align));
    auto next = live.lower_bound(p);
    if (next != live.end()) FUZZ_CHECK(p + size <= next->first);
    if (next != live.begin()) FUZZ_CHECK(std::prev(next)->first + std::prev(next)->second.size <= p);
    const auto tag = static_cast<unsigned char>(op | 1);
    cm::fill(p, size, tag);
    live[p] = {size, align, tag, which};
  } else {
    auto it = std::next(live.begin(), static_cast<long>(in.byte() % live.size()));
    if (it->second.which != which) return;
    FUZZ_CHECK(cm::check_pattern(it->first, it->second.size, it->second.tag));
    a.deallocate(it->first, it->second.size, it->second.align);
    live.erase(it);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  cm::FreeListAllocator freelist(1 << 16, in.byte() % 2 ? cm::fit_policy::best : cm::fit_policy::first);
  cm::BuddyAllocator buddy(32, 1 << 16);
  cm::MemoryPool pool(64, 16, 8);
  std::map<unsigned char*, Block> live;
  while (!in.done()) {
    switch (in.byte() % 3) {
      case 0: run(freelist, in, live, 0); break;
      case 1: run(buddy, in, live, 1); break;
      case 2: run(pool, in, live, 2); break;
    }
  }
  for (auto& [p, b] : live) {
    FUZZ_CHECK(cm::check_pattern(p, b.size, b.tag));
    if (b.which == 0) freelist.deallocate(p, b.size, b.align);
    else if (b.which == 1) buddy.deallocate(p, b.size, b.align);
    else pool.deallocate(p, b.size, b.align);
  }
  FUZZ_CHECK(freelist.bytes_allocated() == 0);
  FUZZ_CHECK(freelist.free_block_count() <= 1);  // all coalesced (0 if the region was never used)
  FUZZ_CHECK(buddy.bytes_allocated() == 0);
  return 0;
}
