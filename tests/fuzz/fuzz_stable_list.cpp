// Differential fuzzing: StableVector against a slot-keyed std::map (pointers must not move,
// stale handles and handles of another vector must be rejected, reserve must not disturb
// anything, a copy must accept the original's handles), and IntrusiveList against std::list.
#include <core/memory/container/intrusive_list.hpp>
#include <core/memory/container/stable_vector.hpp>

#include <deque>
#include <iterator>
#include <list>
#include <map>
#include <vector>

#include "fuzz_common.hpp"

namespace cm = core::memory;

namespace {
struct Node : cm::ListHook<> {
  int v = 0;
  bool in = false;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  using SV = cm::StableVector<int, 64>;
  SV sv;
  struct Live {
    SV::Handle h;
    const int* p;
  };
  std::map<std::uint32_t, Live> model;
  std::vector<SV::Handle> stale;
  SV other;  // its handles are never valid in sv
  std::vector<SV::Handle> foreign;

  std::deque<Node> nodes(32);
  for (int i = 0; i < 32; ++i) nodes[static_cast<std::size_t>(i)].v = i;
  cm::IntrusiveList<Node> list;
  std::list<int> ref;

  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::uint8_t arg = in.byte();
    switch (op % 10) {
      case 0: case 1: { const auto h = sv.emplace(arg); FUZZ_CHECK(model.count(h.slot) == 0); model[h.slot] = {h, sv.get(h)}; } break;
      case 2: if (!model.empty()) { auto it = std::next(model.begin(), arg % static_cast<long>(model.size()));
          sv.erase(it->second.h); stale.push_back(it->second.h); model.erase(it); } break;
      case 3: sv.shrink_to_fit(); break;
      case 4: { Node& n = nodes[arg % 32]; if (!n.in) { list.push_back(n); ref.push_back(n.v); n.in = true; } } break;
      case 5: { Node& n = nodes[arg % 32]; if (n.in) { list.remove(n); ref.remove(n.v); n.in = false; } } break;
      case 6: if (!list.empty()) { const int v = list.front().v; list.pop_front(); ref.pop_front(); nodes[static_cast<std::size_t>(v)].in = false; } break;
      case 7: sv.reserve(sv.size() + arg * 4u); break;
      case 8: if (foreign.size() < 256) foreign.push_back(other.emplace(arg)); break;
      case 9: { const SV copy = sv; for (const auto& [slot, live] : model) FUZZ_CHECK(copy.is_valid(live.h) && *copy.get(live.h) == *live.p);
          FUZZ_CHECK(copy == sv); } break;
    }
    for (const auto& h : foreign) FUZZ_CHECK(!sv.is_valid(h));
    FUZZ_CHECK(sv.size() == model.size());
    auto mit = model.begin();
    for (auto it = sv.begin(); it != sv.end(); ++it, ++mit) FUZZ_CHECK(mit != model.end() && &*it == mit->second.p);
    FUZZ_CHECK(mit == model.end());
    mit = model.begin();
    sv.for_each([&](const int& x) { FUZZ_CHECK(mit != model.end() && &x == (mit++)->second.p); });
    FUZZ_CHECK(mit == model.end());
    for (const auto& h : stale) FUZZ_CHECK(!sv.is_valid(h));
    FUZZ_CHECK(list.size() == ref.size());
    auto rit = ref.begin();
    for (const auto& n : list) FUZZ_CHECK(n.v == *rit++);
  }
  list.clear();
  return 0;
}
