// The spec's small vector pattern: small results without heap allocation.
#include <core/memory.hpp>

#include <cstdio>
#include <vector>

namespace cm = core::memory;

struct Edge {
  int target;
};
struct Node {
  std::vector<Edge> edges;
};

cm::SmallVector<int, 8> get_neighbors(const Node& node) {
  cm::SmallVector<int, 8> result;  // inline storage for <= 8 items
  for (const auto& edge : node.edges) result.push_back(edge.target);
  return result;  // moved out
}

// Any SmallVector<int, N> can be passed as the size-erased base.
long sum(const cm::SmallVectorImpl<int>& v) {
  long s = 0;
  for (int x : v) s += x;
  return s;
}

int main() {
  Node small{{{1}, {2}, {3}}}, large{};
  for (int i = 0; i < 20; ++i) large.edges.push_back({i});
  const auto a = get_neighbors(small);
  const auto b = get_neighbors(large);
  std::printf("small: %zu neighbours, on the stack: %s; large: %zu neighbours, on the stack: %s; sums %ld %ld\n",
              a.size(), a.on_stack() ? "yes" : "no", b.size(), b.on_stack() ? "yes" : "no", sum(a), sum(b));
  return a.on_stack() && !b.on_stack() && sum(b) == 190 ? 0 : 1;
}
