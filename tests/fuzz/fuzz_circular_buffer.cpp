// Differential fuzzing: CircularBuffer (overwriting push_* or rejecting try_push_*) against a
// bounded std::deque, with set_capacity, and assignment and swap against a second buffer whose
// allocator uses another memory resource (each buffer must keep its own memory).
#include <core/memory/container/circular_buffer.hpp>

#include <algorithm>
#include <deque>
#include <memory_resource>
#include <string>

#include "fuzz_common.hpp"

namespace cm = core::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::size_t cap1 = 1 + in.byte() % 9;
  const bool overwrite = in.byte() % 2;
  std::pmr::unsynchronized_pool_resource r1, r2;
  using A = std::pmr::polymorphic_allocator<std::string>;
  cm::CircularBuffer<std::string, A> b(cap1, A(&r1));
  std::deque<std::string> d;
  cm::CircularBuffer<std::string, A> b2(1 + in.byte() % 9, A(&r2));
  std::deque<std::string> d2;
  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::string x(in.byte() % 20, static_cast<char>('a' + op % 26));
    const std::size_t cap = b.capacity(), cap2 = b2.capacity();
    switch (op % 10) {
      case 0: { const bool room = d.size() < cap; if (!room && overwrite) d.pop_front(); if (room || overwrite) d.push_back(x);
          FUZZ_CHECK((overwrite ? (b.push_back(x), true) : b.try_push_back(x)) == (room || overwrite)); } break;
      case 1: { const bool room = d.size() < cap; if (!room && overwrite) d.pop_back(); if (room || overwrite) d.push_front(x);
          FUZZ_CHECK((overwrite ? (b.push_front(x), true) : b.try_push_front(x)) == (room || overwrite)); } break;
      case 2: if (!d.empty()) { b.pop_front(); d.pop_front(); } break;
      case 3: if (!d.empty()) { b.pop_back(); d.pop_back(); } break;
      case 4: if (!d.empty()) { const std::size_t k = in.byte() % d.size(); b.rotate(b.cbegin() + static_cast<long>(k));
          std::rotate(d.begin(), d.begin() + static_cast<long>(k), d.end()); } break;
      case 5: (void)b.linearize(); FUZZ_CHECK(b.is_linearized()); break;
      case 6: { const std::size_t n = 1 + in.byte() % 9; b.set_capacity(n); if (d.size() > n) d.resize(n); } break;
      case 7: b2.push_back(x); if (d2.size() == cap2) d2.pop_front(); d2.push_back(x); break;
      case 8: if (op & 0x80) { b = b2; d = d2; } else { b = std::move(b2); d = d2; b2.clear(); d2.clear(); }
          break;
      case 9: swap(b, b2); std::swap(d, d2); break;
    }
    FUZZ_CHECK(b.get_allocator().resource() == &r1 && b2.get_allocator().resource() == &r2);
    FUZZ_CHECK(std::equal(b.begin(), b.end(), d.begin(), d.end()));
    FUZZ_CHECK(std::equal(b2.begin(), b2.end(), d2.begin(), d2.end()));
  }
  return 0;
}
