// Differential fuzzing: FlatMap and FlatMultiSet against std::map and std::multiset, including
// hinted inserts (any hint), sorted-range inserts and merge.
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "fuzz_common.hpp"

namespace cm = core::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  cm::FlatMap<int, int> f;
  std::map<int, int> m;
  cm::FlatMultiSet<int> fs;
  std::multiset<int> ms;
  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const int k = in.byte() % 80 - 8;
    const std::size_t h = in.byte();  // a hint position
    switch (op % 12) {
      case 0: FUZZ_CHECK(f.insert({k, op}).second == m.insert({k, op}).second); break;
      case 1: FUZZ_CHECK(f.erase(k) == m.erase(k)); break;
      case 2: f.insert_or_assign(k, op); m.insert_or_assign(k, op); break;
      case 3: { std::vector<std::pair<int, int>> b; const int n = in.byte() % 8;
          for (int i = 0; i < n; ++i) b.emplace_back(in.byte() % 64, i);
          f.insert(b.begin(), b.end()); m.insert(b.begin(), b.end()); } break;
      case 4: {  // the searches land on the same positions
        FUZZ_CHECK(std::distance(f.begin(), f.lower_bound(k)) == std::distance(m.begin(), m.lower_bound(k)));
        FUZZ_CHECK(std::distance(f.begin(), f.upper_bound(k)) == std::distance(m.begin(), m.upper_bound(k)));
        FUZZ_CHECK(std::distance(fs.begin(), fs.lower_bound(k)) == std::distance(ms.begin(), ms.lower_bound(k)));
        FUZZ_CHECK(std::distance(fs.begin(), fs.upper_bound(k)) == std::distance(ms.begin(), ms.upper_bound(k)));
        FUZZ_CHECK(fs.count(k) == ms.count(k) && f.contains(k) == m.contains(k));
      } break;
      case 5: fs.insert(k); ms.insert(k); break;
      case 6: FUZZ_CHECK(fs.erase(k) == ms.erase(k)); break;
      case 7: f[k] += 1; m[k] += 1; break;
      case 8: {
        const std::size_t at = h % (m.size() + 1);
        const auto it = f.try_emplace(f.nth(at), k, op);
        const auto rit = m.try_emplace(std::next(m.begin(), static_cast<long>(at)), k, op);
        FUZZ_CHECK(f.index_of(it) == static_cast<std::size_t>(std::distance(m.begin(), rit)));
      } break;
      case 9: {
        const std::size_t at = h % (ms.size() + 1);
        const auto it = fs.emplace_hint(fs.nth(at), k);
        const auto rit = ms.emplace_hint(std::next(ms.begin(), static_cast<long>(at)), k);
        FUZZ_CHECK(fs.index_of(it) == static_cast<std::size_t>(std::distance(ms.begin(), rit)));
      } break;
      case 10: {  // a sorted, unique batch
        std::map<int, int> b;
        for (int i = in.byte() % 8; i > 0; --i) b.emplace(in.byte() % 64, i);
        f.insert(cm::sorted_unique, b.begin(), b.end());
        m.insert(b.begin(), b.end());
      } break;
      case 11: {  // merge: keys present stay in the source
        std::map<int, int> b;
        for (int i = in.byte() % 8; i > 0; --i) b.emplace(in.byte() % 64, i);
        cm::FlatMap<int, int> fb(b.begin(), b.end());
        f.merge(fb);
        m.merge(b);
        FUZZ_CHECK(std::equal(fb.begin(), fb.end(), b.begin(), b.end(),
                              [](auto x, const auto& y) { return x.first == y.first && x.second == y.second; }));
      } break;
    }
    FUZZ_CHECK(f.size() == m.size());
    auto it = m.begin();
    for (auto [key, value] : f) {
      FUZZ_CHECK(key == it->first && value == it->second);
      ++it;
    }
    FUZZ_CHECK(std::equal(fs.begin(), fs.end(), ms.begin(), ms.end()));
  }
  return 0;
}
