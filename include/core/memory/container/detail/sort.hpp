#pragma once
/// Sorting for the flat containers' bulk construction and insertion: sort_together sorts the keys
/// (and the values alongside) stably, keeping the first of equivalent keys if asked. Integer keys
/// under the built-in orders go through an LSD radix sort; other keys are sorted by compares.

#include <core/memory/container/detail/std_algorithm.hpp>
#include <core/memory/container/detail/search.hpp>
#include <core/memory/util/config.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace core::memory::detail {

/// Runs `f`; if it throws, runs `recover` and rethrows (without exceptions, just runs `f`).
template <class F, class R>
decltype(auto) recover_on_throw(F&& f, R&& recover) {
#if CORE_MEMORY_EXCEPTIONS
  try {
    return f();
  } catch (...) {
    recover();
    throw;
  }
#else
  (void)recover;
  return f();
#endif
}

/// Runs `f`, which changes containers `a` and `b` together; if it throws, empties both (each is
/// then valid, if not as it was) and rethrows.
template <class A, class F>
void clear_both_on_throw(A& a, A& b, F&& f) {
  detail::recover_on_throw(f, [&] {
    a.clear();
    b.clear();
  });
}

/// seq.reserve(n) for the sequences that have it (std::deque has not: a no-op there).
template <class Seq>
void reserve_if_possible(Seq& seq, std::size_t n) {
  if constexpr (requires { seq.reserve(n); }) seq.reserve(n);
}

/// Makes room for `n` elements in `seq` (if it has reserve), on the heap if `seq` is on an inline
/// buffer that the heap can replace (SmallVector).
template <class Seq>
void reserve_off_inline(Seq& seq, std::size_t n) {
  if constexpr (requires { seq.on_stack(); }) {
    if (seq.on_stack() && seq.capacity() < seq.max_size()) n = std::max<std::size_t>(n, seq.capacity() + 1);
  }
  reserve_if_possible(seq, n);
}

/// Makes room for `n` elements in `seq` (if it has reserve), growing at least geometrically so
/// that repeated small appends stay amortized O(1).
template <class Seq>
void grow_for(Seq& seq, std::size_t n) {
  if constexpr (requires { seq.reserve(n); }) {
    if (n > seq.capacity()) seq.reserve(std::max<std::size_t>(n, 2 * seq.capacity()));
  }
}

/// True if `keys` (from position `from` on) is sorted by `comp`, strictly (no equivalent
/// neighbours) unless `multi`.
template <class Keys, class Comp>
bool is_sorted_keys(const Keys& keys, const Comp& comp, bool multi, std::size_t from = 0) {
  for (std::size_t i = from + 1; i < keys.size(); ++i)
    if (multi ? comp(keys[i], keys[i - 1]) : !comp(keys[i - 1], keys[i])) return false;
  return true;
}

/// Integer keys of at most 64 bits under std::less / std::greater: sorted by a radix sort of their
/// order bits. The named types of register_key (not std::is_integral, which admits __int128 under
/// gnu++20); bool and pointers go to the compare sort.
template <class Key, class Comp>
inline constexpr bool radix_sortable =
    register_key<Key> && !std::is_pointer_v<Key> && !std::is_same_v<Key, bool> && scalar_search<Key, Key, Comp>;

/// `k` as unsigned bits (32 or 64) ordered as `Comp` orders the keys.
template <class Comp, class Key>
auto order_bits(Key k) {
  using U = std::conditional_t<(sizeof(Key) > 4), std::uint64_t, std::uint32_t>;
  auto u = static_cast<U>(k);
  if constexpr (std::is_signed_v<Key>)  // sign-extended, then the sign bit flipped
    u = static_cast<U>(static_cast<std::make_signed_t<U>>(k)) ^ (U{1} << (8 * sizeof(U) - 1));
  if constexpr (std::is_same_v<Comp, std::greater<>> || std::is_same_v<Comp, std::greater<Key>>) u = ~u;
  return u;
}

/// A 32-bit key's order bits and its position as one integer: sorting these sorts the keys
/// stably (ties keep their order, as positions are distinct). See position_of.
inline std::uint64_t pack_position(std::uint32_t bits, std::size_t i) noexcept {
  return (std::uint64_t{bits} << 32) | i;
}
inline std::size_t position_of(std::uint64_t packed) noexcept { return packed & 0xffffffffu; }

/// Sorts `v` stably by `bits(x)`, an unsigned integer of `Bytes` bytes: an LSD radix sort, a byte
/// per pass (a pass over a byte that is the same everywhere is skipped). O(n), and no compare to
/// mispredict: std::sort spends most of its time on mispredicted compares of random keys.
template <unsigned Bytes, class T, class Bits>
void radix_sort(std::vector<T>& v, Bits bits) {
  std::vector<T> scratch(v.size());
  std::size_t counts[Bytes][256] = {};
  for (const T& x : v) {
    const auto b = bits(x);
    for (unsigned d = 0; d < Bytes; ++d) ++counts[d][(b >> (8 * d)) & 0xffu];
  }
  for (unsigned d = 0; d < Bytes; ++d) {
    if (counts[d][(bits(v[0]) >> (8 * d)) & 0xffu] == v.size()) continue;
    std::size_t at = 0;
    for (std::size_t& c : counts[d]) at += std::exchange(c, at);
    for (const T& x : v) scratch[counts[d][(bits(x) >> (8 * d)) & 0xffu]++] = x;
    v.swap(scratch);
  }
}

/// Below this many keys std::sort beats the radix sort's fixed passes.
inline constexpr std::size_t radix_sort_min = 512;

/// sorted_order for integer keys: (order bits, position) records sorted by the bits; positions are
/// in order already, so a stable sort on the bits alone ties as stable_sort would.
template <class Keys, class Comp>
std::vector<std::size_t> radix_sorted_order(const Keys& keys, bool sorted, bool unique) {
  using Key = typename Keys::value_type;
  const std::size_t n = keys.size();
  if constexpr (sizeof(Key) <= 4 && sizeof(std::size_t) == 8) {
    if (n <= UINT32_MAX) {
      // Packed into one integer, (bits << 32 | position): sorted and de-duplicated in place, then
      // the positions kept in place too.
      std::vector<std::size_t> packed(n);
      for (std::size_t i = 0; i < n; ++i) packed[i] = pack_position(order_bits<Comp>(keys[i]), i);
      if (!sorted && n >= radix_sort_min) {
        detail::radix_sort<4>(packed, [](std::size_t x) { return x >> 32; });
      } else if (!sorted) {
        detail::sort(packed.begin(), packed.end());
      }
      if (unique)
        packed.erase(detail::unique(packed.begin(), packed.end(), [](auto a, auto b) { return (a >> 32) == (b >> 32); }),
                     packed.end());
      for (std::size_t& p : packed) p = position_of(p);
      return packed;
    }
  }
  using Bits = decltype(order_bits<Comp>(Key{}));
  std::vector<std::pair<Bits, std::size_t>> records(n);
  for (std::size_t i = 0; i < n; ++i) records[i] = {order_bits<Comp>(keys[i]), i};
  if (!sorted && n >= radix_sort_min) {
    detail::radix_sort<sizeof(Bits)>(records, [](const auto& r) { return r.first; });
  } else if (!sorted) {
    detail::sort(records.begin(), records.end());
  }
  if (unique)
    records.erase(
        detail::unique(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
        records.end());
  std::vector<std::size_t> order(records.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = records[i].second;
  return order;
}

/// sorted_order (below) by compares, for any keys.
template <class Keys, class Comp>
std::vector<std::size_t> compare_sorted_order(const Keys& keys, const Comp& comp, bool sorted, bool unique) {
  using Key = typename Keys::value_type;
  const std::size_t n = keys.size();
  std::vector<std::size_t> order(n);
  if constexpr (std::is_trivially_copyable_v<Key> && sizeof(Key) <= 16) {
    // Small trivial keys: sort (key, position) pairs directly, without an indirection per compare.
    std::vector<std::pair<Key, std::size_t>> tagged(n);
    for (std::size_t i = 0; i < n; ++i) tagged[i] = {keys[i], i};
    if (!sorted)  // ties broken by position: the order a stable sort would give
      detail::sort(tagged.begin(), tagged.end(), [&](const auto& a, const auto& b) {
        return comp(a.first, b.first) || (!comp(b.first, a.first) && a.second < b.second);
      });
    for (std::size_t i = 0; i < n; ++i) order[i] = tagged[i].second;
  } else {
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    if (!sorted)  // ties broken by position, as above
      detail::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return comp(keys[a], keys[b]) || (!comp(keys[b], keys[a]) && a < b);
      });
  }
  if (unique) {  // the first of each run of equivalent keys survives
    const auto last =
        detail::unique(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return !comp(keys[a], keys[b]); });
    order.erase(last, order.end());
  }
  return order;
}

/// The positions of `keys` in sorted order, stable (equivalent keys keep their order), with only
/// the first of each run of equivalent keys if `unique`. `sorted`: the keys already are.
template <class Keys, class Comp>
std::vector<std::size_t> sorted_order(const Keys& keys, const Comp& comp, bool sorted, bool unique) {
  using Key = typename Keys::value_type;
  if constexpr (radix_sortable<Key, Comp>) {
    return detail::radix_sorted_order<Keys, Comp>(keys, sorted, unique);
  } else {
    return detail::compare_sorted_order(keys, comp, sorted, unique);
  }
}

/// Calls f(i) for each position of `keys` (a flat container's) in `comp`'s order, stable. Under a
/// stateless comparator they already are in it; another object of a stateful one may order them
/// differently (merge took them in the source's order, and a review saw elements neither moved
/// nor left behind).
template <class Keys, class Comp, class F>
void for_each_in_order(const Keys& keys, const Comp& comp, F f) {
  if constexpr (std::is_empty_v<Comp>) {
    for (std::size_t i = 0, n = keys.size(); i < n; ++i) f(i);
  } else {
    for (const std::size_t i : detail::sorted_order(keys, comp, false, false)) f(i);
  }
}

/// Sequences of real elements (not proxies, as std::vector<bool>'s) whose moves cannot throw.
template <class Seq>
inline constexpr bool real_nothrow_moves = std::is_lvalue_reference_v<decltype(std::declval<Seq&>()[0])> &&
                                           std::is_nothrow_move_constructible_v<typename Seq::value_type>;

/// Sequences that take moved elements, once reserved, without failing: real elements whose moves
/// cannot throw, in a sequence with reserve (so no allocation either).
template <class Seq>
inline constexpr bool moves_without_failing = real_nothrow_moves<Seq> && requires(Seq& s, std::size_t n) { s.reserve(n); };

/// Elements a sequence builds with its allocator (std::pmr::string in a std::pmr::vector): moved
/// into a sequence with another allocator, they are copied into its memory, which may fail.
template <class Seq>
inline constexpr bool builds_with_allocator =
    requires { typename Seq::allocator_type; } &&
    std::uses_allocator_v<typename Seq::value_type, typename Seq::allocator_type>;

/// Whether moving the elements of `from` into `to` (reserved for them) cannot fail.
template <class Seq>
bool moves_cannot_fail([[maybe_unused]] const Seq& to, [[maybe_unused]] const Seq& from) {
  if constexpr (!moves_without_failing<Seq>) return false;
  else if constexpr (builds_with_allocator<Seq>) return to.get_allocator() == from.get_allocator();
  else return true;
}

/// Appends `from[i]` to `to` (reserved for it): moved if `move`, else copied (so a failure
/// leaves `from` whole), and moved anyway if the elements cannot be copied (as std::vector's
/// growth does).
template <class Seq>
void append_from(Seq& to, Seq& from, std::size_t i, bool move) {
  if constexpr (!std::is_copy_constructible_v<typename Seq::value_type>) {
    to.push_back(std::move(from[i]));
  } else {
    if (move) to.push_back(std::move(from[i]));
    else to.push_back(typename Seq::value_type(std::as_const(from)[i]));
  }
}

/// The positions 0 .. n-1, for gather_together.
struct all_positions {
  struct iterator {
    std::size_t i;
    std::size_t operator*() const noexcept { return i; }
    iterator& operator++() noexcept { return ++i, *this; }
    bool operator!=(const iterator& o) const noexcept { return i != o.i; }
  };
  std::size_t n;
  iterator begin() const noexcept { return {0}; }
  iterator end() const noexcept { return {n}; }
};

/// Appends the elements at `positions` of `keys` and of `values` (unless null) to `to_keys` and
/// `to_values`, reserved for them. Every copy comes before the first move out of either
/// sequence, and only moves that cannot fail are made (moves_cannot_fail), so a failure leaves
/// both as they were.
template <class Keys, class Values, class Positions>
void gather_together(Keys& to_keys, Keys& keys, Values* to_values, Values* values, const Positions& positions) {
  const bool move_keys = detail::moves_cannot_fail(to_keys, keys);
  const bool move_values = values && detail::moves_cannot_fail(*to_values, *values);
  if (!move_keys)
    for (const std::size_t i : positions) append_from(to_keys, keys, i, false);
  if (values && !move_values)
    for (const std::size_t i : positions) append_from(*to_values, *values, i, false);
  if (move_keys)
    for (const std::size_t i : positions) append_from(to_keys, keys, i, true);
  if (move_values)
    for (const std::size_t i : positions) append_from(*to_values, *values, i, true);
}

/// Sequences whose elements sort_together may rearrange in place: real elements whose moves
/// (and move assignments) cannot throw, so a rearrangement cannot stop half-way.
template <class Seq>
inline constexpr bool sortable_in_place = real_nothrow_moves<Seq> && std::is_nothrow_move_assignable_v<typename Seq::value_type>;

/// Below this many elements, sort_together sorts in place by insertion: no allocation, and fewer
/// steps than building an order for so few.
inline constexpr std::size_t insertion_sort_max = 16;

/// Stable insertion sort of `keys`, `values` alongside (when given). Only for callers that empty
/// both if a compare throws (the element being placed is then lost; all others stay, valid).
template <class Keys, class Values, class Comp>
void insertion_sort_together(Keys& keys, Values* values, const Comp& comp) {
  const std::size_t n = keys.size();
  for (std::size_t i = 1; i < n; ++i) {
    if (!comp(keys[i], keys[i - 1])) continue;
    auto k = std::move(keys[i]);
    std::size_t j = i;
    if (values) {
      auto v = std::move((*values)[i]);
      do {
        keys[j] = std::move(keys[j - 1]);
        (*values)[j] = std::move((*values)[j - 1]);
      } while (--j > 0 && comp(k, keys[j - 1]));
      (*values)[j] = std::move(v);
    } else {
      do keys[j] = std::move(keys[j - 1]);
      while (--j > 0 && comp(k, keys[j - 1]));
    }
    keys[j] = std::move(k);
  }
}

/// Keeps the first of each run of equivalent keys of sorted `keys` (and the values alongside).
template <class Keys, class Values, class Comp>
void unique_together(Keys& keys, Values* values, const Comp& comp) {
  const std::size_t n = keys.size();
  if (n == 0) return;
  std::size_t out = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (!comp(keys[out], keys[i])) continue;
    if (++out != i) {
      keys[out] = std::move(keys[i]);
      if (values) (*values)[out] = std::move((*values)[i]);
    }
  }
  const auto end = static_cast<std::ptrdiff_t>(out + 1);
  keys.erase(keys.begin() + end, keys.end());
  if (values) values->erase(values->begin() + end, values->end());
}

/// Integer keys and trivially copyable values (values may be absent: `values` null), which may
/// be permuted in place through copies of their bytes.
template <class Keys, class Values, class Comp>
inline constexpr bool permutable_records = radix_sortable<typename Keys::value_type, Comp> &&
                                           sortable_in_place<Keys> && sortable_in_place<Values> &&
                                           std::is_trivially_copyable_v<typename Values::value_type>;
/// Those that radix_sort_records may sort, from radix_sort_min keys on: its records are made
/// default-constructed, so the values must be default constructible (a map of values without a
/// default constructor did not compile).
template <class Keys, class Values, class Comp>
inline constexpr bool radix_sortable_records =
    permutable_records<Keys, Values, Comp> && std::is_default_constructible_v<typename Values::value_type>;

/// Stable radix sort of integer `keys` and `values` (when given) as one array of (key, value)
/// records, written back in place: where gathering keys and values by a sorted order allocates
/// both sequences anew and reads them at random (10^5 pairs: 2 allocations fewer, 10-15% faster).
template <class Keys, class Values, class Comp>
void radix_sort_records(Keys& keys, Values* values) {
  using Key = typename Keys::value_type;
  struct record {
    Key key;
    typename Values::value_type value;
  };
  const std::size_t n = keys.size();
  std::vector<record> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    records[i].key = keys[i];
    if (values) records[i].value = (*values)[i];
  }
  detail::radix_sort<sizeof(order_bits<Comp>(Key{}))>(records, [](const record& x) { return order_bits<Comp>(x.key); });
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = records[i].key;
    if (values) (*values)[i] = records[i].value;
  }
}

/// Up to this many keys the scratch arrays of the sorts below are on the stack (at most 4 KiB).
inline constexpr std::size_t stack_sort_max = 128;

/// `n` elements of scratch space: on the stack up to N, else one heap array. Trivial types only
/// (the elements are left uninitialized).
template <class T, std::size_t N>
class scratch_buffer {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>);

 public:
  explicit scratch_buffer(std::size_t n) : heap_(n > N ? new T[n] : nullptr) {}
  scratch_buffer(const scratch_buffer&) = delete;
  scratch_buffer& operator=(const scratch_buffer&) = delete;
  ~scratch_buffer() { delete[] heap_; }
  T* data() noexcept { return heap_ ? heap_ : local_; }

 private:
  T local_[N];
  T* heap_;
};

/// Below radix_sort_min keys of at most 32 bits (with trivially copyable values of at most 16
/// bytes), sort_together sorts packed (order bits, position) integers and writes the keys and
/// values back in place from copies (on the stack up to stack_sort_max, else in one scratch
/// array), where building an order and gathering into new sequences allocates three times.
template <class Keys, class Values, class Comp>
inline constexpr bool stack_sortable = permutable_records<Keys, Values, Comp> &&
                                       sizeof(typename Keys::value_type) <= 4 &&
                                       sizeof(typename Values::value_type) <= 16;

template <class Keys, class Values, class Comp>
void stack_sort_together(Keys& keys, Values* values) {
  using Key = typename Keys::value_type;
  using Value = typename Values::value_type;
  const std::size_t n = keys.size();
  scratch_buffer<std::uint64_t, stack_sort_max> packed_buffer(n);
  scratch_buffer<Key, stack_sort_max> old_keys_buffer(n);
  std::uint64_t* const packed = packed_buffer.data();
  Key* const old_keys = old_keys_buffer.data();
  for (std::size_t i = 0; i < n; ++i) {
    old_keys[i] = keys[i];
    packed[i] = pack_position(order_bits<Comp>(keys[i]), i);
  }
  detail::sort(packed, packed + n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = old_keys[position_of(packed[i])];
  if (values) {
    struct raw {  // a Value's bytes (Value may have no default constructor)
      alignas(Value) std::byte bytes[sizeof(Value)];
    };
    scratch_buffer<raw, stack_sort_max> old_values_buffer(n);
    raw* const old_values = old_values_buffer.data();
    for (std::size_t i = 0; i < n; ++i) std::memcpy(&old_values[i], &(*values)[i], sizeof(Value));
    for (std::size_t i = 0; i < n; ++i)  // (through void*: Value is trivially copyable, if not trivial)
      std::memcpy(static_cast<void*>(&(*values)[i]), &old_values[position_of(packed[i])], sizeof(Value));
  }
}

/// For building an empty flat container from fewer than radix_sort_min elements with keys of at
/// most 32 bits: calls emit(i) for the positions i of keys key_of(0 .. n-1) in sorted order,
/// stably, and with `unique` only for the first of each run of equal keys. The positions are
/// sorted aside (on the stack up to stack_sort_max), so the container receives each element once
/// and in place.
template <class Comp, class KeyOf, class Emit>
void for_each_sorted_position(std::size_t n, KeyOf key_of, bool unique, Emit emit) {
  scratch_buffer<std::uint64_t, stack_sort_max> buffer(n);
  std::uint64_t* const packed = buffer.data();
  for (std::size_t i = 0; i < n; ++i) packed[i] = pack_position(order_bits<Comp>(key_of(i)), i);
  detail::sort(packed, packed + n);
  for (std::size_t i = 0; i < n; ++i)
    if (!unique || i == 0 || (packed[i] >> 32) != (packed[i - 1] >> 32)) emit(position_of(packed[i]));
}

/// Makes room for swap_in: for sequences whose swap may fail (SmallVector: its swap moves
/// elements between inline buffers), all four get room for the larger and leave their inline
/// buffers where they can, so the swap exchanges heap buffers and moves no element. (A
/// StaticVector has no heap: its swap may still fail, and swap_in then empties both.) Call
/// before the first element is moved out of `keys` or `values`.
template <class Keys, class Values>
void reserve_for_swap_in(Keys& keys, Keys& new_keys, Values* values, Values* new_values) {
  if constexpr (!std::is_nothrow_swappable_v<Keys> || !std::is_nothrow_swappable_v<Values>) {
    const std::size_t room = keys.size();  // no fewer than the sorted result
    detail::reserve_off_inline(keys, room);
    detail::reserve_off_inline(new_keys, room);
    if (values) {
      detail::reserve_off_inline(*values, room);
      detail::reserve_off_inline(*new_values, room);
    }
  }
}

/// Swaps the sorted `new_keys` and `new_values` (when given, made room for by
/// reserve_for_swap_in) in for `keys` and `values`, without failing for sequences whose swap is
/// noexcept (std::vector, std::deque); if another's swap still fails, both sequences are emptied,
/// so they never end out of step.
template <class Keys, class Values>
void swap_in(Keys& keys, Keys& new_keys, Values* values, Values* new_values) {
  using std::swap;
  if constexpr (std::is_nothrow_swappable_v<Keys> && std::is_nothrow_swappable_v<Values>) {
    swap(keys, new_keys);
    if (values) swap(*values, *new_values);
  } else {
    detail::recover_on_throw(
        [&] {
          swap(keys, new_keys);
          if (values) swap(*values, *new_values);
        },
        [&] {
          keys.clear();
          if (values) values->clear();
        });
  }
}

/// Sorts `keys` (and `values` alongside, when given) by `comp`, stably, and with `unique`
/// keeps the first of each run of equivalent keys. O(n log n).
/// With `may_permute` (the caller empties both sequences if this throws: a bulk construction, or
/// an insertion into an empty container) and elements that move without throwing, a few
/// elements (or sorted ones with duplicates) are sorted in place by insertion (10 pairs: 3
/// allocations fewer), fewer than radix_sort_min small integer keys with small trivially copyable
/// values through packed positions (stack_sort_together), more by radix_sort_records.
/// (Tried and slower: applying the sorted order in place by cycles, each step waiting on the
/// previous one's load; and std::sort of (key, position, value) records below radix_sort_min,
/// 1.3x slower at 100 pairs than sorting packed (key, position) integers and gathering.)
/// Otherwise the result is built aside (copying elements whose move may throw) and swapped in
/// only when complete (swap_in): a failure leaves both sequences as they were.
template <class Keys, class Values, class Comp>
void sort_together(Keys& keys, Values* values, const Comp& comp, bool unique, bool may_permute = false) {
  bool sorted = true, distinct = true;
  for (std::size_t i = 1; i < keys.size() && sorted; ++i) {
    sorted = !comp(keys[i], keys[i - 1]);
    distinct = distinct && comp(keys[i - 1], keys[i]);
  }
  if (sorted && (distinct || !unique)) return;
  if constexpr (sortable_in_place<Keys> && sortable_in_place<Values>) {
    if (may_permute) {
      const std::size_t n = keys.size();
      bool done = sorted;
      if (!done && n <= insertion_sort_max) {
        detail::insertion_sort_together(keys, values, comp);
        done = true;
      }
      if constexpr (stack_sortable<Keys, Values, Comp>) {
        if (!done && n < radix_sort_min) {
          detail::stack_sort_together<Keys, Values, Comp>(keys, values);
          done = true;
        }
      }
      if constexpr (radix_sortable_records<Keys, Values, Comp>) {
        if (!done && n >= radix_sort_min) {
          detail::radix_sort_records<Keys, Values, Comp>(keys, values);
          done = true;
        }
      }
      if (done) {
        if (unique) detail::unique_together(keys, values, comp);
        return;
      }
    }
  }
  const std::vector<std::size_t> order = detail::sorted_order(keys, comp, sorted, unique);
  // Every allocation and every copy comes before the first move out of `keys` or `values`, so
  // a failure anywhere leaves them as they were.
  Keys new_keys(keys.get_allocator());
  detail::reserve_if_possible(new_keys, order.size());
  if (values) {
    Values new_values(values->get_allocator());
    detail::reserve_if_possible(new_values, order.size());
    detail::reserve_for_swap_in(keys, new_keys, values, &new_values);
    detail::gather_together(new_keys, keys, &new_values, values, order);
    detail::swap_in(keys, new_keys, values, &new_values);
  } else {
    detail::reserve_for_swap_in(keys, new_keys, values, values);
    detail::gather_together(new_keys, keys, values, values, order);
    detail::swap_in(keys, new_keys, values, values);
  }
}

}  // namespace core::memory::detail
