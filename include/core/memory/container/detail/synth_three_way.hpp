#pragma once
/// The standard's synth-three-way ([expos.only.entity]): <=> where the types have it, else a
/// weak ordering derived from <, so containers order element types that define only <.

#include <compare>
#include <concepts>
#include <utility>

namespace core::memory::detail {

struct synth_three_way_t {
  template <class U, class V>
  constexpr auto operator()(const U& a, const V& b) const
    requires requires {
      { a < b } -> std::convertible_to<bool>;
      { b < a } -> std::convertible_to<bool>;
    }
  {
    if constexpr (std::three_way_comparable_with<U, V>) {
      return a <=> b;
    } else {
      return a < b ? std::weak_ordering::less : b < a ? std::weak_ordering::greater : std::weak_ordering::equivalent;
    }
  }
};
inline constexpr synth_three_way_t synth_three_way{};

template <class T>
using synth_three_way_result = decltype(synth_three_way(std::declval<const T&>(), std::declval<const T&>()));

}  // namespace core::memory::detail
