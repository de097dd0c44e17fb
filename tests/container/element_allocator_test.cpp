// Elements, and the temporaries built before room is made for them, are built with the
// container's allocator (uses-allocator construction, as std::vector does): for every container
// with a std allocator x every operation that builds an element (push, emplace at the end and in
// the middle, insert of one of the container's own elements, fill insert/resize/assign with one,
// the overwriting pushes of a full ring, slot-map insertion, FlatMap's try_emplace/operator[]/
// insert_or_assign, whose key and value are built before the sequences make room) over
// std::pmr::string elements under
// a pmr container. The default resource is replaced by one that counts: an element or temporary
// built without the container's allocator draws from it. The container's resource fails the test
// on a free of a block it does not own.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>

#include "support/owning_resource.hpp"

#include <gtest/gtest.h>

#include <memory_resource>
#include <string>

namespace cm = core::memory;
using cm::test::OwningResource;

namespace {

using String = std::pmr::string;
using Alloc = std::pmr::polymorphic_allocator<String>;

/// Makes `r` the default resource while it lives.
class DefaultResource {
 public:
  explicit DefaultResource(std::pmr::memory_resource* r) : previous_(std::pmr::set_default_resource(r)) {}
  ~DefaultResource() { std::pmr::set_default_resource(previous_); }
  DefaultResource(const DefaultResource&) = delete;
  DefaultResource& operator=(const DefaultResource&) = delete;

 private:
  std::pmr::memory_resource* previous_;
};

/// Long enough not to fit a string's inline buffer: every string allocates.
const char* text(int i) {
  static const char* const texts[] = {"a string too long for the small buffer, number zero",
                                      "a string too long for the small buffer, number one",
                                      "a string too long for the small buffer, number two",
                                      "a string too long for the small buffer, number three"};
  return texts[i % 4];
}

/// Runs `op` on a container made by `make`, with the default resource counting; every element
/// must be in `mine` (and hold it), and nothing may come from the default resource.
template <class Make, class Op>
void check(const char* what, Make make, Op op) {
  SCOPED_TRACE(what);
  OwningResource mine("container's resource"), fallback("default resource");
  {
    auto c = make(&mine);
    {
      DefaultResource guard(&fallback);
      op(c);
    }
    EXPECT_EQ(fallback.allocations(), 0u) << "an element or a temporary was built without the container's allocator";
    for (const String& s : c) {
      EXPECT_EQ(s.get_allocator().resource(), &mine);
      EXPECT_TRUE(s.empty() || mine.holds(s.data())) << "(a moved-from string is empty)";
    }
  }
}

template <std::size_t N>
using Small = cm::SmallVector<String, N, Alloc>;

template <std::size_t N>
Small<N> small_vector(OwningResource* r, int n) {
  Small<N> v{Alloc(r)};
  for (int i = 0; i < n; ++i) v.emplace_back(text(i));
  return v;
}

}  // namespace

TEST(ElementAllocator, SmallVectorBuildsElementsAndTemporariesWithItsAllocator) {
  for (int n : {3, 4, 6}) {  // inline with room, inline and full, on the heap
    auto make = [n](OwningResource* r) { return small_vector<4>(r, n); };
    check("push_back(element)", make, [](auto& v) { v.push_back(v[0]); });
    check("emplace_back(args)", make, [](auto& v) { v.emplace_back(text(3)); });
    check("emplace(middle, args)", make, [](auto& v) { v.emplace(v.begin() + 1, text(3)); });
    check("emplace(middle, count, char)", make, [](auto& v) { v.emplace(v.begin() + 1, std::size_t{60}, 'x'); });
    check("insert(middle, element)", make, [](auto& v) { v.insert(v.begin() + 1, v[2]); });
    check("insert(middle, moved element)", make, [](auto& v) { v.insert(v.begin() + 1, std::move(v[2])); });
    check("insert(middle, n, element)", make, [](auto& v) { v.insert(v.begin() + 1, 3, v[2]); });
    check("insert(end, n, element)", make, [](auto& v) { v.insert(v.end(), 9, v[0]); });
    check("resize(grown, element)", make, [](auto& v) { v.resize(v.capacity() + 3, v[1]); });
    check("assign(n, element)", make, [](auto& v) { v.assign(2, v[1]); });
    check("assign(many, element)", make, [](auto& v) { v.assign(20, v[1]); });
    check("copy with an allocator", make, [](auto& v) {
      Small<4> copy(v, v.get_allocator());
      v = copy;
    });
  }
}

TEST(ElementAllocator, CircularBufferBuildsElementsAndTemporariesWithItsAllocator) {
  for (int n : {2, 3}) {  // with room, full (the pushes overwrite)
    auto make = [n](OwningResource* r) {
      cm::CircularBuffer<String, Alloc> b(3, Alloc(r));
      for (int i = 0; i < n; ++i) b.emplace_back(text(i));
      return b;
    };
    check("push_back(element)", make, [](auto& b) { b.push_back(b[0]); });
    check("push_back(last element)", make, [](auto& b) { b.push_back(b.back()); });
    check("push_front(element)", make, [](auto& b) { b.push_front(b[1]); });
    check("emplace_back(args)", make, [](auto& b) { b.emplace_back(text(3)); });
    check("emplace_front(args)", make, [](auto& b) { b.emplace_front(std::size_t{60}, 'y'); });
    check("try_emplace_back(args)", make, [](auto& b) { (void)b.try_emplace_back(text(3)); });
    check("set_capacity", make, [](auto& b) { b.set_capacity(5); });
  }
}

TEST(ElementAllocator, StableVectorBuildsElementsWithItsAllocator) {
  auto make = [](OwningResource* r) {
    cm::StableVector<String, 64, Alloc> v{Alloc(r)};
    for (int i = 0; i < 3; ++i) v.emplace(text(i));
    return v;
  };
  check("emplace(args)", make, [](auto& v) { v.emplace(text(3)); });
  check("push_back(element)", make, [](auto& v) { v.push_back(*v.begin()); });
  check("reuse of an erased slot", make, [](auto& v) {
    v.erase(v.begin());
    v.emplace(std::size_t{60}, 'z');
  });
  check("copy with an allocator", make, [](auto& v) {
    cm::StableVector<String, 64, Alloc> copy(v, v.get_allocator());
    v = copy;
  });
}

TEST(ElementAllocator, FlatMapBuildsKeysAndValuesWithItsSequencesAllocator) {
  using Map = cm::FlatMap<String, String, std::less<>, std::pmr::vector<String>, std::pmr::vector<String>>;
  auto make = [](OwningResource* r) {
    Map m{std::pmr::polymorphic_allocator<String>(r)};
    for (int i = 0; i < 3; ++i) m.try_emplace(String(text(i), r), text(i));
    return m;
  };
  auto check_map = [&](const char* what, auto op) {
    SCOPED_TRACE(what);
    OwningResource mine("map's resource"), fallback("default resource");
    {
      Map m = make(&mine);
      {
        DefaultResource guard(&fallback);
        op(m, &mine);
      }
      EXPECT_EQ(fallback.allocations(), 0u) << "a key or value was built without the sequences' allocator";
      for (const auto& [k, v] : m) {
        EXPECT_TRUE(mine.holds(k.data()));
        EXPECT_TRUE(v.empty() || mine.holds(v.data()));
      }
    }
  };
  check_map("try_emplace(key, args)", [](Map& m, OwningResource*) { m.try_emplace(text(3), text(1)); });
  check_map("try_emplace(hint, key, args)", [](Map& m, OwningResource*) { m.try_emplace(m.end(), "zzzz", text(1)); });
  check_map("operator[](key)", [](Map& m, OwningResource* r) { m[String(text(3), r)] = text(2); });
  check_map("insert_or_assign(new key)", [](Map& m, OwningResource*) { m.insert_or_assign(text(3), text(0)); });
}
