#pragma once
// The library's containers in a managed segment, as the cross-process test and its child program
// (tests/system/shm_containers_child.cpp) both spell them: named objects are found by type.
// fill(): what the child builds; expect_filled(): what the parent checks, at its own address.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>
#include <core/memory/system/managed_shared_memory.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace test::shm_containers {

namespace cm = core::memory;
template <class T>
using Alloc = cm::SharedMemoryAllocator<T>;

using Text = cm::SmallVector<char, 16, Alloc<char>>;  // inline up to 16 chars, in the segment beyond
struct Order {
  std::uint32_t id;
  double price;
  Text note;
};
using Small = cm::SmallVector<int, 8, Alloc<int>>;
using Orders = cm::StableVector<Order, 64, Alloc<Order>>;
using Ring = cm::CircularBuffer<Text, Alloc<Text>>;
using Index = cm::FlatMap<int, Text, std::less<int>, cm::SmallVector<int, 4, Alloc<int>>, std::vector<Text, Alloc<Text>>>;
using Keys = cm::FlatSet<int, std::less<int>, std::vector<int, Alloc<int>>>;
using Nested = std::vector<Small, Alloc<Small>>;

inline std::string text_of(int i) { return "item " + std::to_string(i) + (i % 3 == 0 ? " with a longer tail" : ""); }
inline Text text(cm::ManagedSharedMemory& m, const std::string& s) { return Text(s.begin(), s.end(), m.get_allocator<char>()); }
inline bool same(const Text& t, const std::string& s) { return std::string_view(t.data(), t.size()) == s; }

constexpr int count = 500;

/// Builds every container as a named object and fills it.
inline void fill(cm::ManagedSharedMemory& m) {
  auto* small = m.construct<Small>("small", m.get_allocator<int>());
  auto* orders = m.construct<Orders>("orders", m.get_allocator<Order>());
  auto* ring = m.construct<Ring>("ring", std::size_t{64}, m.get_allocator<Text>());
  auto* index = m.construct<Index>("index", m.get_allocator<int>());
  auto* keys = m.construct<Keys>("keys", m.get_allocator<int>());
  auto* nested = m.construct<Nested>("nested", m.get_allocator<Small>());
  for (int i = 0; i < count; ++i) {
    small->push_back(i * 3);
    orders->emplace(Order{static_cast<std::uint32_t>(i), i * 0.5, text(m, text_of(i))});
    ring->push_back(text(m, text_of(i)));  // keeps the last 64
    index->try_emplace((i * 7919) % 1000, text(m, text_of(i)));
    keys->insert((i * 31) % 2000);
    if (i % 50 == 0) {
      nested->emplace_back(m.get_allocator<int>());
      for (int j = 0; j <= i / 50; ++j) nested->back().push_back(i + j);
    }
  }
  for (auto it = orders->begin(); it != orders->end();) {  // holes: every third order erased
    if (it->id % 3 == 0) it = orders->erase(it);
    else ++it;
  }
}

/// Empty if the containers hold what fill() put in them, else what is wrong.
inline std::string check_filled(cm::ManagedSharedMemory& m) {
  auto* small = m.find<Small>("small");
  auto* orders = m.find<Orders>("orders");
  auto* ring = m.find<Ring>("ring");
  auto* index = m.find<Index>("index");
  auto* keys = m.find<Keys>("keys");
  auto* nested = m.find<Nested>("nested");
  if (!small || !orders || !ring || !index || !keys || !nested) return "a named container is missing";
  if (small->size() != count) return "small: size";
  for (int i = 0; i < count; ++i)
    if ((*small)[static_cast<std::size_t>(i)] != i * 3) return "small: value";
  std::size_t n = 0;
  for (const Order& o : *orders) {
    if (o.id % 3 == 0 || o.price != o.id * 0.5 || !same(o.note, text_of(static_cast<int>(o.id)))) return "orders: value";
    ++n;
  }
  if (n != orders->size() || n != count - (count + 2) / 3) return "orders: size";
  if (ring->size() != 64) return "ring: size";
  for (int i = 0; i < 64; ++i)
    if (!same((*ring)[static_cast<std::size_t>(i)], text_of(count - 64 + i))) return "ring: value";
  if (index->size() != count) return "index: size";
  for (int i = 0; i < count; ++i) {
    auto it = index->find((i * 7919) % 1000);
    if (it == index->end() || !same(it->second, text_of(i))) return "index: value";
  }
  if (!std::is_sorted(keys->begin(), keys->end()) || keys->size() != count) return "keys";
  if (nested->size() != count / 50) return "nested: size";
  for (std::size_t r = 0; r < nested->size(); ++r)
    if ((*nested)[r].size() != r + 1 || (*nested)[r].back() != static_cast<int>(r * 50 + r)) return "nested: value";
  const char* why = m.validate();
  return why ? std::string("heap: ") + why : std::string();
}

/// What the parent changes and the second child checks: growth past inline storage and blocks,
/// erasures, a wrap of the ring, a rehoming of every Text.
inline void modify(cm::ManagedSharedMemory& m) {
  auto* small = m.find<Small>("small");
  small->erase(small->begin(), small->begin() + 100);
  small->insert(small->begin(), {-1, -2, -3});
  auto* orders = m.find<Orders>("orders");
  for (int i = 0; i < 200; ++i) orders->emplace(Order{static_cast<std::uint32_t>(10000 + i), 1.0, text(m, text_of(10000 + i))});
  auto* ring = m.find<Ring>("ring");
  for (int i = 0; i < 10; ++i) ring->push_back(text(m, "parent " + std::to_string(i)));
  auto* index = m.find<Index>("index");
  index->insert_or_assign(-5, text(m, "negative key, a long value that is not inline"));
  index->erase(index->begin(), index->begin() + 10);
  m.find<Keys>("keys")->clear();
}

inline std::string check_modified(cm::ManagedSharedMemory& m) {
  auto* small = m.find<Small>("small");
  if (small->size() != count - 100 + 3 || (*small)[0] != -1 || (*small)[3] != 300) return "small after the parent";
  std::size_t added = 0;
  for (const Order& o : *m.find<Orders>("orders"))
    if (o.id >= 10000) added += same(o.note, text_of(static_cast<int>(o.id))) ? 1 : 0;
  if (added != 200) return "orders after the parent";
  auto* ring = m.find<Ring>("ring");
  if (ring->size() != 64 || !same(ring->back(), "parent 9") || !same(ring->front(), text_of(count - 64 + 10)))
    return "ring after the parent";
  auto* index = m.find<Index>("index");
  if (index->size() != count + 1 - 10 || index->contains(-5)) return "index after the parent";  // -5 was first: erased
  if (!m.find<Keys>("keys")->empty()) return "keys after the parent";
  const char* why = m.validate();
  return why ? std::string("heap: ") + why : std::string();
}

}  // namespace test::shm_containers
