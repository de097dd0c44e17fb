// Differential fuzzing: SmallVector and StaticVector against std::vector.
#include <core/memory/container/small_vector.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace cm = core::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  cm::SmallVector<std::string, 4> v;
  std::vector<std::string> ref;
  cm::StaticVector<int, 16> sv;
  std::vector<int> sref;
  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::string x(in.byte() % 24, static_cast<char>('a' + op % 26));
    const std::size_t pos = ref.empty() ? 0 : in.byte() % (ref.size() + 1);
    switch (op % 12) {
      case 0:
        if (op & 0x80) {  // the same through unchecked_push_back, into room made first
          if (v.size() == v.capacity()) v.reserve(v.size() + 1 + in.byte() % 4);
          FUZZ_CHECK(&v.unchecked_push_back(x) == &v.back());
        } else {
          v.push_back(x);
        }
        ref.push_back(x);
        break;
      case 1: if (!ref.empty()) { v.pop_back(); ref.pop_back(); } break;
      case 2: v.insert(v.begin() + pos, x); ref.insert(ref.begin() + static_cast<long>(pos), x); break;
      case 3: if (pos < ref.size()) { v.erase(v.begin() + pos); ref.erase(ref.begin() + static_cast<long>(pos)); } break;
      case 4: { const std::size_t n = in.byte() % 20; v.resize(n); ref.resize(n); } break;
      case 5: if (!ref.empty()) { const std::size_t i = pos % ref.size(); const std::size_t n = in.byte() % 6;
          v.insert(v.begin() + pos, n, v[i]); ref.insert(ref.begin() + static_cast<long>(pos), n, ref[i]); } break;
      case 6: if (!ref.empty()) { v.push_back(v[pos % ref.size()]); ref.push_back(ref[pos % ref.size()]); } break;
      case 7: v.shrink_to_fit(); break;
      case 8: v.reserve(in.byte() % 40); break;
      case 9: { cm::SmallVector<std::string, 4> copy(v); v = std::move(copy); } break;
      case 10: { const int k = op; const bool room = sref.size() < 16; const bool ok = sv.try_push_back(k) != nullptr;
          if (room) sref.push_back(k);
          FUZZ_CHECK(ok == room); } break;
      case 11: if (!sref.empty()) { const std::size_t i = pos % sref.size(); sv.erase(sv.begin() + i); sref.erase(sref.begin() + static_cast<long>(i)); } break;
    }
    FUZZ_CHECK(v.size() == ref.size());
    FUZZ_CHECK(std::equal(v.begin(), v.end(), ref.begin(), ref.end()));
    FUZZ_CHECK(std::equal(sv.begin(), sv.end(), sref.begin(), sref.end()));
  }
  return 0;
}
