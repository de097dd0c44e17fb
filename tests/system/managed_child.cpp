// The child program of the managed segment tests: a separate image started with fork+exec, so it
// maps the segment at an address of its own. Exits 0 on success and prints why not.
//   fill <name>          : builds the shared types (managed_shared_memory_support.hpp) as named
//                          objects "numbers", "table", "strings", and records its data() address
//                          as "child_base"
//   check <name>         : finds what the parent built with the same layout and checks it
//   grow <name> <bytes>  : allocates <bytes> (the segment grows), fills them with 0x5a and records
//                          the offset as "grown"
//   churn <name>         : allocates and frees forever (the parent kills it)

#include <core/memory/system/managed_shared_memory.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "system/managed_shared_memory_support.hpp"

namespace cm = core::memory;
using namespace test::shm;

namespace {

int fail(const char* what) {
  std::fprintf(stderr, "managed_child: %s\n", what);
  return 1;
}

int fill(cm::ManagedSharedMemory& m) {
  auto* numbers = m.construct<IntVec>("numbers", m.get_allocator<int>());
  for (int i = 0; i < fill_numbers; ++i) numbers->push_back(i);
  auto* table = m.construct<Table>("table", m.get_allocator<IntVec>());
  for (int r = 0; r < fill_rows; ++r) {
    table->emplace_back(m.get_allocator<int>());
    for (int c = 0; c <= r; ++c) table->back().push_back(r * 1000 + c);
  }
  auto* strings = m.construct<Strings>("strings", m.get_allocator<String>());
  for (int i = 0; i < 100; ++i) strings->push_back(to_shared(long_text(i), m.get_allocator<char>()));
  *m.construct<std::uintptr_t>("child_base") = reinterpret_cast<std::uintptr_t>(m.data());
  return m.validate() == nullptr ? 0 : fail("invalid heap after fill");
}

int check(cm::ManagedSharedMemory& m) {
  auto* numbers = m.find<IntVec>("numbers");
  auto* table = m.find<Table>("table");
  auto* strings = m.find<Strings>("strings");
  if (!numbers || !table || !strings) return fail("named objects not found");
  if (numbers->size() != static_cast<std::size_t>(fill_numbers)) return fail("numbers: wrong size");
  for (int i = 0; i < fill_numbers; ++i)
    if ((*numbers)[static_cast<std::size_t>(i)] != i) return fail("numbers: wrong value");
  if (table->size() != static_cast<std::size_t>(fill_rows)) return fail("table: wrong size");
  for (int r = 0; r < fill_rows; ++r)
    for (int c = 0; c <= r; ++c)
      if ((*table)[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)] != r * 1000 + c) return fail("table: wrong value");
  for (int i = 0; i < 100; ++i)
    if (!same((*strings)[static_cast<std::size_t>(i)], long_text(i))) return fail("strings: wrong value");
  // Modify: the parent checks this.
  numbers->push_back(-1);
  (*strings)[0] = to_shared("changed by the child", m.get_allocator<char>());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage");
  const std::string cmd = argv[1];
  cm::ManagedSharedMemory m = cm::ManagedSharedMemory::open(argv[2]);
  if (cmd == "fill") return fill(m);
  if (cmd == "check") return check(m);
  if (cmd == "grow" && argc == 4) {
    const std::size_t bytes = std::strtoull(argv[3], nullptr, 10);
    void* p = m.allocate(bytes);
    std::memset(p, 0x5a, bytes);
    *m.construct<std::uint64_t>("grown") = m.offset_of(p);
    return 0;
  }
  if (cmd == "churn") {
    std::mt19937_64 rng(static_cast<std::uint64_t>(::getpid()));
    std::vector<std::pair<void*, std::size_t>> live;
    for (;;) {
      if (live.size() < 100 && (live.empty() || rng() % 2 == 0)) {
        const std::size_t s = rng() % 300;
        if (void* p = m.try_allocate(s)) live.emplace_back(p, s);
      } else {
        const std::size_t k = rng() % live.size();
        m.deallocate(live[k].first, live[k].second);
        live[k] = live.back();
        live.pop_back();
      }
    }
  }
  return fail("unknown command");
}
