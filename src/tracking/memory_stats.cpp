// The registry of live TrackingAllocators: an intrusive list behind a mutex (taken only when an
// allocator is made or destroyed and when the figures are listed).
#include <core/memory/tracking/memory_stats.hpp>

#include <mutex>

namespace core::memory {
namespace {

struct Registry {
  std::mutex mutex;
  detail::StatsSource* head = nullptr;
  detail::StatsSource* tail = nullptr;
};

Registry& registry() noexcept {
  alignas(Registry) static unsigned char storage[sizeof(Registry)];
  static Registry* r = new (storage) Registry();  // never destroyed: allocators may outlive statics
  return *r;
}

}  // namespace

namespace detail {

void register_stats_source(StatsSource* source) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  source->prev = r.tail;
  source->next = nullptr;
  (r.tail ? r.tail->next : r.head) = source;
  r.tail = source;
}

void unregister_stats_source(StatsSource* source) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  (source->prev ? source->prev->next : r.head) = source->next;
  (source->next ? source->next->prev : r.tail) = source->prev;
  source->prev = source->next = nullptr;
}

}  // namespace detail

std::vector<memory_stats> live_allocator_stats() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<memory_stats> out;
  for (const detail::StatsSource* s = r.head; s; s = s->next) out.push_back(s->read(s->owner));
  return out;
}

}  // namespace core::memory
