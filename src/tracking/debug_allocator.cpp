// DebugAllocator's compiled parts: the set of its blocks and the report of a misuse with the
// block's allocation site.
#include "tracker_tables.hpp"

#include <core/memory/tracking/debug_allocator.hpp>

#include <cstdio>

namespace core::memory::detail {
namespace {

struct AddressSlot {
  const void* p;
};
struct AddressTraits {
  static bool used(const AddressSlot& s) noexcept { return s.p != nullptr; }
  static const void* key(const AddressSlot& s) noexcept { return s.p; }
  static std::size_t hash(const AddressSlot& s) noexcept { return mix_pointer(s.p); }
};

class AddressTable : public ProbedTable<AddressSlot, AddressTraits> {
 public:
  bool insert(const void* p) noexcept {
    if (!reserve_one()) return false;
    std::size_t i = home(AddressSlot{p});
    for (; slots_[i].p; i = next(i))
      if (slots_[i].p == p) return true;
    slots_[i].p = p;
    ++size_;
    return true;
  }
};

AddressTable& table(void* t) noexcept { return *static_cast<AddressTable*>(t); }

}  // namespace

AddressSet::AddressSet() noexcept : table_(new (std::nothrow) AddressTable) {}
AddressSet::~AddressSet() { delete static_cast<AddressTable*>(table_); }
bool AddressSet::insert(const void* p) noexcept { return table_ && p && table(table_).insert(p); }
bool AddressSet::erase(const void* p) noexcept {
  AddressSlot out;
  return table_ && table(table_).erase(p, out);
}
bool AddressSet::contains(const void* p) const noexcept { return table_ && p && table(table_).find(p); }
std::size_t AddressSet::size() const noexcept { return table_ ? table(table_).size() : 0; }
void AddressSet::for_each(void (*f)(const void*, void*), void* context) const {
  if (table_) table(table_).for_each([&](const AddressSlot& s) { f(s.p, context); });
}

void report_debug_misuse(error_kind kind, const void* p, std::size_t size, std::size_t alignment, const char* what,
                         const DebugHeader* allocated_at) noexcept {
  char message[384];
  if (allocated_at) {
    std::snprintf(message, sizeof message, "%s; block of %zu bytes allocated at %s:%u (%s)", what,
                  allocated_at->size, allocated_at->file ? allocated_at->file : "?",
                  static_cast<unsigned>(allocated_at->line), allocated_at->function ? allocated_at->function : "?");
  } else {
    std::snprintf(message, sizeof message, "%s", what);
  }
  report_misuse({kind, "core::memory::DebugAllocator", p, size, alignment, message,
                 allocated_at ? allocated_at->file : nullptr, allocated_at ? allocated_at->line : 0u});
}

}  // namespace core::memory::detail
