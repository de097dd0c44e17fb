// Runs one misuse of the library's allocators so that tests/valgrind/memcheck_test.sh can check
// that valgrind's memcheck reports it as it would for malloc: built with CORE_MEMORY_VALGRIND=1,
// the pools, arenas, slabs and the debug allocator describe their blocks to memcheck
// (util/sanitizer.hpp). Usage: memcheck_program <mode> (modes: see main).
#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/pool/object_pool.hpp>
#include <core/memory/tracking/debug_allocator.hpp>

#include <cstdio>
#include <cstring>
#include <string_view>

namespace cm = core::memory;

namespace {

// Kept reachable so only the blocks themselves can leak.
cm::MemoryPool* volatile g_pool = nullptr;
cm::Arena* volatile g_arena = nullptr;

__attribute__((noinline)) int read_after_free_from_pool() {
  cm::MemoryPool pool(64);
  auto* p = static_cast<volatile int*>(pool.allocate_node());
  p[0] = 7;
  pool.deallocate_node(const_cast<int*>(p));
  return p[1];  // memcheck: invalid read (of the node freed above)
}

__attribute__((noinline)) void leak_from_pool() {
  g_pool = new cm::MemoryPool(48);
  void* first = g_pool->allocate_node();  // the chunk's first node: the pool's bounds point at it
  void* p = g_pool->allocate_node();
  std::memset(p, 1, 48);  // and the pointer is dropped
  g_pool->deallocate_node(first);
}

__attribute__((noinline)) void leak_from_arena() {
  g_arena = new cm::Arena(4096);
  void* p = g_arena->allocate(100);
  std::memset(p, 2, 100);  // and the pointer is dropped
}

__attribute__((noinline)) int use_after_rewind() {
  cm::Arena arena(4096);
  auto marker = arena.mark();
  auto* p = static_cast<volatile int*>(arena.allocate(32));
  p[0] = 3;
  arena.rewind(marker);
  return p[0];  // memcheck: invalid read (the scope gave the block back)
}

__attribute__((noinline)) void overrun_slab() {
  cm::SlabAllocator slabs;
  auto* p = static_cast<volatile char*>(slabs.allocate(24, 8));
  for (int i = 0; i <= 32; ++i) p[i] = 'x';  // writes beyond the 24 bytes asked for
  slabs.deallocate(const_cast<char*>(p), 24, 8);
}

__attribute__((noinline)) int read_quarantined_block() {
  cm::DebugAllocator<cm::MallocAllocator> debug({});
  auto* p = static_cast<volatile int*>(debug.allocate(40, 8));
  p[0] = 5;
  debug.deallocate(const_cast<int*>(p), 40, 8);
  return p[2];  // memcheck: invalid read at once (the debug allocator alone sees only writes, later)
}

__attribute__((noinline)) void overrun_debug_block() {
  cm::DebugAllocator<cm::MallocAllocator> debug({});
  auto* p = static_cast<volatile char*>(debug.allocate(20, 8));
  p[20] = 'x';  // memcheck: invalid write at the faulty access (into the canary)
  p[20] = static_cast<char>(0xFD);  // mended, so the allocator's own canary check stays quiet
  debug.deallocate(const_cast<char*>(p), 20, 8);
}

__attribute__((noinline)) void clean() {
  cm::MemoryPool pool(32);
  cm::Arena arena(1024);
  cm::SlabAllocator slabs;
  cm::ObjectPool<std::string_view> objects;
  for (int round = 0; round < 3; ++round) {
    void* a = pool.allocate_node();
    std::memset(a, 0, 32);
    auto scope = arena.make_scope();
    char* b = static_cast<char*>(arena.allocate(600));  // the second one takes a new block
    std::memset(b, 1, 600);
    void* c = slabs.allocate(100, 16);
    std::memset(c, 2, 100);
    auto* v = objects.acquire("text");
    if (v->size() != 4 || b[599] != 1) std::abort();
    objects.release(v);
    cm::DebugAllocator<cm::MallocAllocator> debug({});
    void* d = debug.allocate(33, 16);
    std::memset(d, 3, 33);
    debug.deallocate(d, 33, 16);
    slabs.deallocate(c, 100, 16);
    pool.deallocate_node(a);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "pool-use-after-free") return read_after_free_from_pool() == 42 ? 1 : 0;
  if (mode == "pool-leak") leak_from_pool();
  else if (mode == "arena-leak") leak_from_arena();
  else if (mode == "arena-rewind-use") return use_after_rewind() == 42 ? 1 : 0;
  else if (mode == "slab-overrun") overrun_slab();
  else if (mode == "debug-use-after-free") return read_quarantined_block() == 42 ? 1 : 0;
  else if (mode == "debug-overrun") overrun_debug_block();
  else if (mode == "clean") clean();
  else {
    std::fprintf(stderr, "usage: memcheck_program pool-use-after-free|pool-leak|arena-leak|arena-rewind-use|slab-overrun|debug-use-after-free|debug-overrun|clean\n");
    return 2;
  }
  return 0;
}
