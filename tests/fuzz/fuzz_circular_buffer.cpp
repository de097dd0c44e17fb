// Differential fuzzing: CircularBuffer (overwriting push_* or rejecting try_push_*) against a bounded std::deque.
#include <core/memory/container/circular_buffer.hpp>

#include <algorithm>
#include <deque>
#include <string>

#include "fuzz_common.hpp"

namespace cm = core::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::size_t cap = 1 + in.byte() % 9;
  const bool overwrite = in.byte() % 2;
  cm::CircularBuffer<std::string> b(cap);
  std::deque<std::string> d;
  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::string x(in.byte() % 20, static_cast<char>('a' + op % 26));
    switch (op % 6) {
      case 0: { const bool room = d.size() < cap; if (!room && overwrite) d.pop_front(); if (room || overwrite) d.push_back(x);
          FUZZ_CHECK((overwrite ? (b.push_back(x), true) : b.try_push_back(x)) == (room || overwrite)); } break;
      case 1: { const bool room = d.size() < cap; if (!room && overwrite) d.pop_back(); if (room || overwrite) d.push_front(x);
          FUZZ_CHECK((overwrite ? (b.push_front(x), true) : b.try_push_front(x)) == (room || overwrite)); } break;
      case 2: if (!d.empty()) { b.pop_front(); d.pop_front(); } break;
      case 3: if (!d.empty()) { b.pop_back(); d.pop_back(); } break;
      case 4: if (!d.empty()) { const std::size_t k = in.byte() % d.size(); b.rotate(b.cbegin() + static_cast<long>(k));
          std::rotate(d.begin(), d.begin() + static_cast<long>(k), d.end()); } break;
      case 5: (void)b.linearize(); FUZZ_CHECK(b.is_linearized()); break;
    }
    FUZZ_CHECK(std::equal(b.begin(), b.end(), d.begin(), d.end()));
  }
  return 0;
}
