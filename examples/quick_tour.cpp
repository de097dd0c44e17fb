// The README's example (kept identical to it): a frame arena, a message pool and the containers.
#include <core/memory.hpp>
#include <cstdio>
#include <memory_resource>
#include <string>
#include <utility>
#include <vector>

namespace cm = core::memory;

struct Message {
  Message(int i, std::string t) : id(i), text(std::move(t)) {}
  int id;
  std::string text;
};

int main() {
  // Per-frame memory: bump allocation, rolled back when the scope closes.
  cm::Arena frame(64 * 1024);
  for (int f = 0; f < 3; ++f) {
    cm::Arena::ResourceScope scope(frame);  // a Scope that is also a std::pmr::memory_resource
    float* particles = frame.allocate<float>(1000);
    std::pmr::vector<int> visible(&scope);  // std containers on the same memory
    for (int i = 0; i < 100; ++i) visible.push_back(i);
    particles[0] = static_cast<float>(visible.size());
  }

  // Pooled objects with RAII handles: O(1) in any order, back to the pool when the handle dies.
  cm::ObjectPool<Message> messages(64);
  auto hello = messages.make_unique(1, "hello");

  // Any allocator under a std container.
  std::vector<int, cm::StdAllocator<int, cm::AlignedAllocator<64>>> lanes(256, 1);

  // Containers: no heap for up to 8 elements, keys in one sorted array, stable slots with handles.
  cm::SmallVector<int, 8> neighbours = {4, 8, 15, 16, 23, 42};
  cm::FlatMap<std::string, int, std::less<>> ids;
  ids["alice"] = 1;
  ids["bob"] = 2;
  cm::StableVector<Message> entities;
  auto handle = entities.emplace(7, "entity");
  cm::CircularBuffer<int> last(4);
  for (int i = 0; i < 10; ++i) last.push_back(i);  // overwrites the oldest: keeps 6 7 8 9
  const bool accepted = last.try_push_back(10);     // refuses when full: false

  const bool ok = hello->id == 1 && lanes.size() == 256 && neighbours.size() == 6 &&
                  ids.find(std::string_view("bob"))->second == 2 && entities[handle].id == 7 &&
                  last.front() == 6 && !accepted;
  entities.erase(handle);
  std::printf("quick tour: %s, stale handle %s\n", ok ? "ok" : "FAILED",
              entities.is_valid(handle) ? "still valid (bug)" : "detected");
  return ok && !entities.is_valid(handle) ? 0 : 1;
}
