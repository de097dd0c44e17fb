// Differential fuzzing: BumpVector on a small-block Arena against std::vector, checking after
// every step that no element ever moved (the container's promise) and that indexing, iteration
// and clear agree with the reference.
#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/bump_vector.hpp>

#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace cm = core::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  cm::Arena arena(64 + in.byte());  // small blocks: segments land in many of them
  cm::BumpVector<std::string> v(arena);
  std::vector<std::string> ref;
  std::vector<const std::string*> where;  // the address each element got when appended
  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::string x(in.byte() % 24, static_cast<char>('a' + op % 26));
    switch (op % 5) {
      case 0: case 1: where.push_back(&v.emplace_back(x)); ref.push_back(x); break;
      case 2: { const std::size_t n = in.byte() % 40;
          for (std::size_t i = 0; i < n; ++i) { v.push_back(x); where.push_back(&v.back()); ref.push_back(x); } } break;
      case 3: if (!ref.empty()) { const std::size_t i = in.u16() % ref.size(); v[i] += 'z'; ref[i] += 'z'; } break;
      case 4: if (op % 8 == 4) { v.clear(); ref.clear(); where.clear(); } break;
    }
    FUZZ_CHECK(v.size() == ref.size());
    FUZZ_CHECK(v.capacity() >= v.size());
    std::size_t i = 0;
    for (const auto& s : v) {
      FUZZ_CHECK(&s == where[i]);  // never moved
      FUZZ_CHECK(s == ref[i]);
      FUZZ_CHECK(&v[i] == where[i]);
      ++i;
    }
    FUZZ_CHECK(i == ref.size());
  }
  return 0;
}
