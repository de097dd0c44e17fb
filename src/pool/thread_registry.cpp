// The registry of pools with per-thread heaps, each thread's list of its heaps (handed back to
// their pools when the thread exits), the fork hooks, and the pools' metadata pages. Nothing
// here calls malloc: the process allocator stands on it.

#include <core/memory/pool/detail/thread_registry.hpp>
#include <core/memory/system/os.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <mutex>
#include <new>

#include <pthread.h>
#include <sched.h>

namespace core::memory::detail {

void* allocate_metadata(std::size_t bytes) noexcept {
  void* p = nullptr;
  return os::map_anonymous(bytes, &p) == 0 ? p : nullptr;
}

void free_metadata(void* p, std::size_t bytes) noexcept {
  if (p) (void)os::release(p, bytes);
}

namespace {

std::atomic<std::uint64_t> next_owner_id{1};

/// Live owners. Constant-initialised and never destroyed: pools with static storage duration
/// may retire after other statics are gone, and the first malloc may come before any
/// constructor has run.
struct Registry {
  std::mutex mutex;
  HeapOwner** owners = nullptr;
  std::size_t size = 0;
  std::size_t capacity = 0;
  void*** tables = nullptr;  // the direct array of every thread that holds heaps
  std::size_t tables_size = 0;
  std::size_t tables_capacity = 0;
  std::uint64_t direct_taken = 0;  // bit i: direct entry i belongs to a live pool
  static_assert(direct_slots <= 64);

  HeapOwner* find(std::uint64_t id) const noexcept {
    for (std::size_t i = 0; i < size; ++i)
      if (owners[i]->owner_id() == id) return owners[i];
    return nullptr;
  }

  /// Adds a thread's direct array to the list whose entries retiring pools clear (under mutex).
  bool add_table(void** table) noexcept {
    if (tables_size == tables_capacity && !grow_metadata(tables, tables_size, tables_capacity, 512)) return false;
    tables[tables_size++] = table;
    return true;
  }
  void remove_table(void** table) noexcept {
    auto* end = tables + tables_size;
    auto* it = std::find(tables, end, table);
    if (it != end) {
      *it = end[-1];
      --tables_size;
    }
  }
};
constinit Registry registry;

}  // namespace

struct RegistryAccess {
  static std::atomic<std::size_t>& pins(HeapOwner& o) noexcept { return o.exit_pins_; }
};

namespace {

/// A heap the calling thread holds. The owner's address is used only once its id is found among
/// the live pools (a pool destroyed and another built at its address have different ids).
struct HeldHeap {
  std::uint64_t id;
  HeapOwner* owner;
  void* heap;
};

/// The heaps of the calling thread (trivial, so it needs no construction or registration).
struct ThreadHeaps {
  HeldHeap* entries;
  std::size_t size;
  std::size_t capacity;
  bool exiting;
  bool keyed;     // the exit hook is armed for this thread
  bool direct;    // its direct array is in the registry's list
};
constinit thread_local ThreadHeaps thread_heaps = {nullptr, 0, 0, false, false, false};

constexpr std::size_t no_direct_entry = direct_slots * sizeof(void*);  // the never-written entry

/// Hands the exiting thread's heaps back; runs as the pthread key's destructor.
void on_thread_exit(void*) noexcept {
  ThreadHeaps& t = thread_heaps;
  t.exiting = true;
  std::fill(std::begin(thread_heap_slots), std::end(thread_heap_slots), HeapSlot{0, nullptr});
  {
    std::lock_guard lock(registry.mutex);
    // Under the lock: a retiring pool clears entries of this array too.
    std::fill(std::begin(thread_direct_heaps), std::end(thread_direct_heaps), nullptr);
    if (t.direct) registry.remove_table(thread_direct_heaps);
    t.direct = false;
    // The live owners of the heaps are pinned (retire waits for them), and the heaps go back
    // without the lock: abandon_heap may call upstream, and a pool upstream that this thread
    // never used takes the registry's lock, maybe under a lock of the pool handing back.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < t.size; ++i) {
      if (registry.find(t.entries[i].id)) {
        RegistryAccess::pins(*t.entries[i].owner).fetch_add(1, std::memory_order_relaxed);  // relaxed: under the lock
        t.entries[kept++] = t.entries[i];
      }
    }
    t.size = kept;
  }
  for (std::size_t i = 0; i < t.size; ++i) {
    HeapOwner* o = t.entries[i].owner;
    o->abandon_heap(t.entries[i].heap);
    // release: the retiring thread (acquire) sees the heap handed back before it destroys it.
    RegistryAccess::pins(*o).fetch_sub(1, std::memory_order_release);
  }
  free_metadata(t.entries, t.capacity * sizeof(HeldHeap));
  t.entries = nullptr;
  t.size = t.capacity = 0;
}

void fork_prepare() noexcept {
  // Pools over pools nest their locks (a node pool's upstream lock over its page pool's) in an
  // order the registry does not know: take every pool's locks or none, and retry, so that a
  // thread holding some (and maybe waiting for the registry's) can finish meanwhile.
  for (;;) {
    registry.mutex.lock();
    std::size_t i = 0;
    while (i < registry.size && registry.owners[i]->try_prepare_fork()) ++i;
    if (i == registry.size) return;
    while (i-- > 0) registry.owners[i]->after_fork(false, nullptr);
    registry.mutex.unlock();
    sched_yield();
  }
}
void fork_parent() noexcept {
  for (std::size_t i = registry.size; i-- > 0;) registry.owners[i]->after_fork(false, nullptr);
  registry.mutex.unlock();
}
void fork_child() noexcept {
  ThreadHeaps& t = thread_heaps;
  // Threads that were handing heaps back do not exist in the child: nothing to wait for.
  for (std::size_t i = 0; i < registry.size; ++i)
    RegistryAccess::pins(*registry.owners[i]).store(0, std::memory_order_relaxed);
  // The other threads' arrays do not exist in the child.
  registry.tables_size = 0;
  if (t.direct) (void)registry.add_table(thread_direct_heaps);  // capacity is there: it was listed
  for (std::size_t i = registry.size; i-- > 0;) {
    HeapOwner* o = registry.owners[i];
    void* survivor = nullptr;
    for (std::size_t k = 0; k < t.size; ++k)
      if (t.entries[k].id == o->owner_id()) survivor = t.entries[k].heap;
    o->after_fork(true, survivor);
  }
  registry.mutex.unlock();
}

pthread_key_t exit_key;
pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
bool exit_key_ok = false;

void make_exit_key() noexcept {
  exit_key_ok = pthread_key_create(&exit_key, [](void* v) { on_thread_exit(v); }) == 0;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/// Arms the exit hook for the calling thread (a non-null value makes the key's destructor run).
bool arm_exit_hook(ThreadHeaps& t) noexcept {
  if (t.keyed) return true;
  pthread_once(&exit_key_once, make_exit_key);
  if (!exit_key_ok || pthread_setspecific(exit_key, &t) != 0) return false;
  t.keyed = true;
  return true;
}

/// Drops the entries of pools that no longer exist (they can never match again).
void prune(ThreadHeaps& t) noexcept {
  std::lock_guard lock(registry.mutex);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < t.size; ++i)
    if (registry.find(t.entries[i].id)) t.entries[kept++] = t.entries[i];
  t.size = kept;
}

}  // namespace

// relaxed: only uniqueness matters; the id reaches other threads with the pool itself.
HeapOwner::HeapOwner() noexcept
    : id_(next_owner_id.fetch_add(1, std::memory_order_relaxed)),
      slot_offset_(heap_slot_of(id_) * sizeof(HeapSlot)),
      direct_offset_(no_direct_entry) {}

HeapOwner::~HeapOwner() { retire(); }

bool HeapOwner::enlist() noexcept {
  pthread_once(&exit_key_once, make_exit_key);  // the fork hooks, before any pool can be locked
  std::lock_guard lock(registry.mutex);
  if (enlisted_) return true;
  if (registry.size == registry.capacity && !grow_metadata(registry.owners, registry.size, registry.capacity, 512)) return false;
  registry.owners[registry.size++] = this;
  enlisted_ = true;
  if (~registry.direct_taken & ((std::uint64_t{1} << direct_slots) - 1)) {
    const auto i = static_cast<std::size_t>(std::countr_one(registry.direct_taken));
    registry.direct_taken |= std::uint64_t{1} << i;
    // release: a thread that reads this offset (acquire) sees the entry cleared by retire.
    direct_offset_.store(i * sizeof(void*), std::memory_order_release);
  }
  return true;
}

void HeapOwner::unlist() noexcept {
  std::lock_guard lock(registry.mutex);
  if (!enlisted_) return;
  auto* end = registry.owners + registry.size;
  auto* it = std::find(registry.owners, end, this);
  if (it != end) {
    *it = end[-1];
    --registry.size;
  }
  enlisted_ = false;
  // The direct entry goes back only once no thread's array names this pool's heaps: the next
  // pool to own it must not find them.
  if (const std::size_t d = direct_offset_.load(std::memory_order_relaxed); d != no_direct_entry) {
    const std::size_t i = d / sizeof(void*);
    for (std::size_t k = 0; k < registry.tables_size; ++k) registry.tables[k][i] = nullptr;
    registry.direct_taken &= ~(std::uint64_t{1} << i);
    direct_offset_.store(no_direct_entry, std::memory_order_relaxed);
  }
}

void HeapOwner::retire() noexcept {
  unlist();
  // Exiting threads pinned the pool under the lock before it was unlisted: wait until their
  // heaps are back. acquire: pairs with on_thread_exit's release.
  while (exit_pins_.load(std::memory_order_acquire) != 0) sched_yield();
}

void HeapOwner::cache_direct(void* heap) noexcept {
  // acquire: as in cached_thread_heap. Only the calling thread writes its array outside the
  // registry's lock, and only the entry of a live pool it uses.
  const std::size_t d = direct_offset_.load(std::memory_order_acquire);
  if (d != no_direct_entry) thread_direct_heaps[d / sizeof(void*)] = heap;
}

void* HeapOwner::find_thread_heap() noexcept {
  void* h = detail::find_thread_heap(id_);
  if (h) cache_direct(h);
  return h;
}

void* find_thread_heap_slow(std::uint64_t owner) noexcept {
  ThreadHeaps& t = thread_heaps;
  if (t.exiting) return nullptr;
  for (std::size_t i = 0; i < t.size; ++i) {
    if (t.entries[i].id == owner) {
      thread_heap_slots[heap_slot_of(owner)] = {owner, t.entries[i].heap};
      return t.entries[i].heap;
    }
  }
  return nullptr;
}

bool attach_thread_heap(HeapOwner& owner, void* heap) noexcept {
  ThreadHeaps& t = thread_heaps;
  if (t.exiting || !arm_exit_hook(t)) return false;
  if (!t.direct) {  // retiring pools clear their entries in the arrays of the list
    std::lock_guard lock(registry.mutex);
    if (!registry.add_table(thread_direct_heaps)) return false;
    t.direct = true;
  }
  if (t.size == t.capacity) {
    prune(t);
    if (t.size == t.capacity && !grow_metadata(t.entries, t.size, t.capacity, 256)) return false;
  }
  t.entries[t.size++] = {owner.owner_id(), &owner, heap};
  thread_heap_slots[heap_slot_of(owner.owner_id())] = {owner.owner_id(), heap};
  owner.cache_direct(heap);
  return true;
}

}  // namespace core::memory::detail
