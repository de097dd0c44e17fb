// Bump allocation: core-memory's Arena against a hand-written bump pointer (the floor),
// std::pmr::monotonic_buffer_resource (called directly and through the virtual interface),
// foonathan's memory_stack, and malloc for scale. 32-byte blocks, 16-byte alignment; the arena
// is reset every 1024 blocks, which all the rows do alike. "bump" rows write each block once,
// "bump_alloc_only" rows only keep the pointers: the allocator's own cost.

#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/stack_allocator.hpp>

#include <benchmark/benchmark.h>
#include <foonathan/memory/memory_stack.hpp>

#include <cstdlib>
#include <memory_resource>

#include "bench_common.hpp"

namespace cm = core::memory;

namespace {

constexpr std::size_t size = 32, align = 16, per_round = bench::batch;

/// The floor: a hand-written bump pointer for blocks whose size is a multiple of their alignment
/// (no alignment step), with the bounds check and out-of-line refill any real one needs (the
/// refill call is also what keeps a compiler from holding `top` in a register across the loop,
/// exactly as for the arena).
struct HandBump {
  alignas(64) static inline std::byte buffer[1 << 20];
  std::byte* top = buffer;
  std::byte* end = buffer + sizeof buffer;
  void* allocate(std::size_t n, std::size_t) {
    if (static_cast<std::size_t>(end - top) < n) [[unlikely]]
      return refill(n);
    void* p = top;
    top += n;
    return p;
  }
  __attribute__((noinline)) void* refill(std::size_t n) {
    top = buffer;  // a real one would get a new block here
    void* p = top;
    top += n;
    return p;
  }
  void reset() { top = buffer; }
};

/// Makes the optimiser compute `p` without forcing anything else through memory (unlike
/// benchmark::DoNotOptimize, whose memory clobber would spill the allocator's state every block).
inline void keep(const void* p) { asm volatile("" : : "r"(p)); }

/// With Touch false, only the pointers are kept: the allocator's own cost, without the cache
/// traffic of writing 32 KiB per round.
template <bool Touch, class Alloc, class Reset>
void bump_rounds(benchmark::State& state, Alloc& alloc, Reset reset) {
  for (auto _ : state) {
    for (std::size_t i = 0; i < per_round; ++i) {
      auto* p = static_cast<std::uint64_t*>(alloc.allocate(size, align));
      if constexpr (Touch) *p = 1;
      keep(p);
    }
    benchmark::ClobberMemory();
    reset();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_round));
}

template <bool Touch>
void BM_hand_bump(benchmark::State& state) {
  HandBump b;
  bump_rounds<Touch>(state, b, [&] { b.reset(); });
}
BENCHMARK_TEMPLATE(BM_hand_bump, true)->Name("bump/hand-written bump pointer/32");
BENCHMARK_TEMPLATE(BM_hand_bump, false)->Name("bump_alloc_only/hand-written bump pointer/32");

template <bool Touch>
void BM_arena(benchmark::State& state) {
  cm::Arena arena(1 << 20);
  bump_rounds<Touch>(state, arena, [&] { arena.reset(); });
}
BENCHMARK_TEMPLATE(BM_arena, true)->Name("bump/cm::Arena/32");
BENCHMARK_TEMPLATE(BM_arena, false)->Name("bump_alloc_only/cm::Arena/32");

template <bool Touch>
void BM_arena_scope(benchmark::State& state) {
  cm::Arena arena(1 << 20);
  for (auto _ : state) {
    cm::Arena::Scope scope(arena);
    for (std::size_t i = 0; i < per_round; ++i) {
      auto* p = static_cast<std::uint64_t*>(arena.allocate(size, align));
      if constexpr (Touch) *p = 1;
      keep(p);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_round));
}
BENCHMARK_TEMPLATE(BM_arena_scope, true)->Name("bump/cm-scope::Arena::Scope/32");
BENCHMARK_TEMPLATE(BM_arena_scope, false)->Name("bump_alloc_only/cm-scope::Arena::Scope/32");

template <bool Touch>
void BM_stack(benchmark::State& state) {
  cm::StackAllocator stack(1 << 20);
  bump_rounds<Touch>(state, stack, [&] { stack.reset(); });
}
BENCHMARK_TEMPLATE(BM_stack, true)->Name("bump/cm-stack::StackAllocator/32");
BENCHMARK_TEMPLATE(BM_stack, false)->Name("bump_alloc_only/cm-stack::StackAllocator/32");

template <bool Touch>
void BM_monotonic_direct(benchmark::State& state) {
  std::pmr::monotonic_buffer_resource r(1 << 20);
  struct {
    std::pmr::monotonic_buffer_resource* r;
    void* allocate(std::size_t n, std::size_t a) { return r->allocate(n, a); }
  } direct{&r};
  bump_rounds<Touch>(state, direct, [&] { r.release(); });
}
BENCHMARK_TEMPLATE(BM_monotonic_direct, true)->Name("bump/pmr::monotonic_buffer_resource/32");
BENCHMARK_TEMPLATE(BM_monotonic_direct, false)->Name("bump_alloc_only/pmr::monotonic_buffer_resource/32");

template <bool Touch>
void BM_monotonic_virtual(benchmark::State& state) {
  std::pmr::monotonic_buffer_resource r(1 << 20);
  std::pmr::memory_resource* base = &r;
  benchmark::DoNotOptimize(base);
  struct {
    std::pmr::memory_resource* r;
    void* allocate(std::size_t n, std::size_t a) { return r->allocate(n, a); }
  } through{base};
  bump_rounds<Touch>(state, through, [&] { r.release(); });
}
BENCHMARK_TEMPLATE(BM_monotonic_virtual, true)->Name("bump/pmr::monotonic_buffer_resource (virtual)/32");
BENCHMARK_TEMPLATE(BM_monotonic_virtual, false)->Name("bump_alloc_only/pmr::monotonic_buffer_resource (virtual)/32");

template <bool Touch>
void BM_foonathan_stack(benchmark::State& state) {
  foonathan::memory::memory_stack<> stack(1 << 20);
  const auto start = stack.top();
  struct {
    foonathan::memory::memory_stack<>* s;
    void* allocate(std::size_t n, std::size_t a) { return s->allocate(n, a); }
  } s{&stack};
  bump_rounds<Touch>(state, s, [&] { stack.unwind(start); });
}
BENCHMARK_TEMPLATE(BM_foonathan_stack, true)->Name("bump/foonathan::memory_stack/32");
BENCHMARK_TEMPLATE(BM_foonathan_stack, false)->Name("bump_alloc_only/foonathan::memory_stack/32");

// --- scope pairs: open a scope (or take a marker), allocate 32 bytes and write them, roll back ---
// The allocator is reached through a pointer and its state kept in memory (ClobberMemory every
// pair), as when code shares it: what a short-lived scope costs in real use.

/// `x`'s address, laundered so the optimiser cannot treat the object as a local.
template <class T>
T* through_pointer(T& x) {
  T* p = &x;
  benchmark::DoNotOptimize(p);
  return p;
}

template <class Pair>
void scope_pairs(benchmark::State& state, Pair pair) {
  for (auto _ : state) {
    pair();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

inline void write_block(void* p) {
  *static_cast<std::uint64_t*>(p) = 1;
  keep(p);
}

void BM_pair_hand_bump(benchmark::State& state) {
  HandBump storage;
  HandBump* b = through_pointer(storage);
  scope_pairs(state, [b] {
    std::byte* saved = b->top;
    write_block(b->allocate(size, align));
    b->top = saved;
  });
}
BENCHMARK(BM_pair_hand_bump)->Name("scope_pair/hand-written bump pointer/32");

void BM_pair_arena_scope(benchmark::State& state) {
  cm::Arena storage(1 << 20);
  cm::Arena* arena = through_pointer(storage);
  scope_pairs(state, [arena] {
    cm::Arena::Scope scope(*arena);
    write_block(arena->allocate(size, align));
  });
}
BENCHMARK(BM_pair_arena_scope)->Name("scope_pair/cm::Arena::Scope/32");

void BM_pair_arena_resource_scope(benchmark::State& state) {
  cm::Arena storage(1 << 20);
  cm::Arena* arena = through_pointer(storage);
  scope_pairs(state, [arena] {
    cm::Arena::ResourceScope scope(*arena);
    write_block(arena->allocate(size, align));
  });
}
BENCHMARK(BM_pair_arena_resource_scope)->Name("scope_pair/cm-pmr::Arena::ResourceScope/32");

void BM_pair_arena_marker(benchmark::State& state) {
  cm::Arena storage(1 << 20);
  cm::Arena* arena = through_pointer(storage);
  scope_pairs(state, [arena] {
    const auto m = arena->mark();
    write_block(arena->allocate(size, align));
    arena->rewind(m);
  });
}
BENCHMARK(BM_pair_arena_marker)->Name("scope_pair/cm-marker::Arena mark+rewind/32");

void BM_pair_monotonic(benchmark::State& state) {
  alignas(64) static std::byte buffer[1 << 16];
  std::pmr::monotonic_buffer_resource storage(buffer, sizeof buffer, std::pmr::null_memory_resource());
  auto* r = through_pointer(storage);
  scope_pairs(state, [r] {
    write_block(r->allocate(size, align));
    r->release();
  });
}
BENCHMARK(BM_pair_monotonic)->Name("scope_pair/pmr::monotonic_buffer_resource release()/32");

void BM_pair_foonathan(benchmark::State& state) {
  foonathan::memory::memory_stack<> storage(1 << 20);
  auto* s = through_pointer(storage);
  scope_pairs(state, [s] {
    const auto m = s->top();
    write_block(s->allocate(size, align));
    s->unwind(m);
  });
}
BENCHMARK(BM_pair_foonathan)->Name("scope_pair/foonathan::memory_stack unwind/32");

void BM_malloc(benchmark::State& state) {
  void* blocks[per_round];
  for (auto _ : state) {
    for (auto& b : blocks) bench::touch(b = std::malloc(size));
    for (void* b : blocks) std::free(b);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_round));
}
BENCHMARK(BM_malloc)->Name("bump/malloc/32");

}  // namespace
