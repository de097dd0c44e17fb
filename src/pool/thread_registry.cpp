// The registry of pools with per-thread heaps, and each thread's list of its heaps, handed back
// to their pools when the thread exits.

#include <core/memory/pool/detail/thread_registry.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace core::memory::detail {
namespace {

std::atomic<std::uint64_t> next_owner_id{1};

/// Live owners. Never destroyed: pools with static storage duration may retire after the
/// registry's own statics would have been destroyed.
struct Registry {
  std::mutex mutex;
  HeapOwner** owners = nullptr;
  std::size_t size = 0;
  std::size_t capacity = 0;

  HeapOwner* find(std::uint64_t id) const noexcept {
    for (std::size_t i = 0; i < size; ++i)
      if (owners[i]->owner_id() == id) return owners[i];
    return nullptr;
  }
};

Registry& registry() noexcept {
  static Registry* r = ::new Registry;  // intentionally leaked, see above
  return *r;
}

/// Grows a malloc'd array; false if out of memory.
template <class T>
bool grow(T*& data, std::size_t& capacity) noexcept {
  const std::size_t n = capacity ? capacity * 2 : 8;
  void* p = std::realloc(data, n * sizeof(T));
  if (!p) return false;
  data = static_cast<T*>(p);
  capacity = n;
  return true;
}

constinit thread_local bool exiting = false;

/// The heaps of the calling thread; its destructor hands them back.
struct ThreadHeaps {
  HeapSlot* entries = nullptr;
  std::size_t size = 0;
  std::size_t capacity = 0;

  ~ThreadHeaps() {
    exiting = true;
    std::fill(std::begin(thread_heap_slots), std::end(thread_heap_slots), HeapSlot{0, nullptr});
    {
      Registry& r = registry();
      std::lock_guard lock(r.mutex);
      for (std::size_t i = 0; i < size; ++i)
        if (HeapOwner* o = r.find(entries[i].owner)) o->abandon_heap(entries[i].heap);
    }
    std::free(entries);
  }

  /// Drops the entries of pools that no longer exist (they can never match again).
  void prune() noexcept {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < size; ++i)
      if (r.find(entries[i].owner)) entries[kept++] = entries[i];
    size = kept;
  }
};

thread_local ThreadHeaps thread_heaps;

}  // namespace

// relaxed: only uniqueness matters; the id reaches other threads with the pool itself.
HeapOwner::HeapOwner() noexcept : id_(next_owner_id.fetch_add(1, std::memory_order_relaxed)) {}

HeapOwner::~HeapOwner() { retire(); }

bool HeapOwner::enlist() noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (enlisted_) return true;
  if (r.size == r.capacity && !grow(r.owners, r.capacity)) return false;
  r.owners[r.size++] = this;
  enlisted_ = true;
  return true;
}

void HeapOwner::retire() noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!enlisted_) return;
  auto* end = r.owners + r.size;
  auto* it = std::find(r.owners, end, this);
  if (it != end) {
    *it = end[-1];
    --r.size;
  }
  enlisted_ = false;
}

void* find_thread_heap_slow(std::uint64_t owner) noexcept {
  if (exiting) return nullptr;
  ThreadHeaps& t = thread_heaps;
  for (std::size_t i = 0; i < t.size; ++i) {
    if (t.entries[i].owner == owner) {
      thread_heap_slots[owner % heap_slots] = t.entries[i];
      return t.entries[i].heap;
    }
  }
  return nullptr;
}

bool attach_thread_heap(HeapOwner& owner, void* heap) noexcept {
  if (exiting) return false;
  ThreadHeaps& t = thread_heaps;
  if (t.size == t.capacity) {
    t.prune();
    if (t.size == t.capacity && !grow(t.entries, t.capacity)) return false;
  }
  t.entries[t.size++] = {owner.owner_id(), heap};
  thread_heap_slots[owner.owner_id() % heap_slots] = {owner.owner_id(), heap};
  return true;
}

}  // namespace core::memory::detail
