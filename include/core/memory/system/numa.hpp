#pragma once
/// NUMA: which nodes exist (sysfs), where memory is placed (bind to nodes, prefer one,
/// interleave over several: the mbind system call, no libnuma needed), and where a page really
/// is (move_pages) and what policy it has (get_mempolicy). NumaAllocator wraps any allocator so
/// that its blocks follow a policy; with one node (most machines) every policy places memory on
/// it, and the same code spreads memory on a multi-node machine.
///
/// Policies apply to whole pages and take effect when a page is first touched (pages already
/// present are migrated when a policy is set), so a thread on another node touching the memory
/// first does not defeat a bind.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/system/error.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/system/virtual_memory.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <optional>

namespace core::memory {

/// A set of NUMA node numbers (0 to 1023).
class NodeSet {
  using word = detail::os::node_mask_word;
  static constexpr std::size_t bits = 8 * sizeof(word);

 public:
  static constexpr unsigned max_nodes = detail::os::max_numa_nodes;

  NodeSet() noexcept = default;
  NodeSet(std::initializer_list<unsigned> nodes) noexcept {
    for (unsigned n : nodes) insert(n);
  }

  /// The nodes that are online (/sys/devices/system/node/online; node 0 alone where the kernel
  /// has no NUMA support).
  [[nodiscard]] static NodeSet online() noexcept {
    NodeSet s;
    if (detail::os::online_nodes(s.mask_) != 0) s = NodeSet{0};
    return s;
  }

  /// Adds `node` (ignored beyond max_nodes).
  void insert(unsigned node) noexcept {
    if (node < max_nodes) mask_[node / bits] |= word{1} << (node % bits);
  }
  [[nodiscard]] bool contains(unsigned node) const noexcept {
    return node < max_nodes && (mask_[node / bits] >> (node % bits) & 1) != 0;
  }
  [[nodiscard]] std::size_t count() const noexcept {
    std::size_t n = 0;
    for (word w : mask_) n += static_cast<std::size_t>(__builtin_popcountl(w));
    return n;
  }
  [[nodiscard]] bool empty() const noexcept { return count() == 0; }
  /// True if every node of this set is in `other`.
  [[nodiscard]] bool is_subset_of(const NodeSet& other) const noexcept {
    for (std::size_t i = 0; i < detail::os::node_mask_words; ++i)
      if (mask_[i] & ~other.mask_[i]) return false;
    return true;
  }
  /// Calls f(node) for each node, in increasing order.
  template <class F>
  void for_each(F f) const {
    for (std::size_t i = 0; i < detail::os::node_mask_words; ++i)
      for (word w = mask_[i]; w != 0; w &= w - 1) f(static_cast<unsigned>(i * bits + __builtin_ctzl(w)));
  }
  friend bool operator==(const NodeSet& a, const NodeSet& b) noexcept {
    for (std::size_t i = 0; i < detail::os::node_mask_words; ++i)
      if (a.mask_[i] != b.mask_[i]) return false;
    return true;
  }

  /// The bit mask the system calls take.
  [[nodiscard]] const word* mask() const noexcept { return mask_; }
  [[nodiscard]] word* mask() noexcept { return mask_; }

 private:
  word mask_[detail::os::node_mask_words] = {};
};

/// Bytes of memory on `node` (sysfs), 0 if unknown.
[[nodiscard]] inline std::size_t numa_node_memory(unsigned node) noexcept { return detail::os::node_memory(node); }

/// Where pages go.
enum class NumaPolicy : unsigned char {
  local,       ///< On the node of the CPU that first touches the page (the default).
  bind,        ///< Only on the given nodes (exhaustion there is an allocation failure).
  preferred,   ///< On the given node when it has memory, elsewhere otherwise.
  interleave,  ///< Page by page round-robin over the given nodes (bandwidth for shared data).
};

static_assert(static_cast<int>(NumaPolicy::interleave) == static_cast<int>(detail::os::numa_policy::interleave) &&
              static_cast<int>(NumaPolicy::preferred) == static_cast<int>(detail::os::numa_policy::preferred) &&
              static_cast<int>(NumaPolicy::bind) == static_cast<int>(detail::os::numa_policy::bind));

/// A policy and its nodes, as the kernel reports it for a page.
struct MemoryPolicy {
  NumaPolicy policy = NumaPolicy::local;
  NodeSet nodes;
};

/// Sets the policy of the pages holding [p, p + size) (p page-aligned, as the system requires);
/// pages already present move to comply. Throws std::system_error (EINVAL for a bad range or
/// nodes, EFAULT for unmapped memory, ENOMEM, EIO when pages cannot be moved).
inline void numa_bind(void* p, std::size_t size, NumaPolicy policy, const NodeSet& nodes) {
  const int e = detail::os::bind_memory(p, size, static_cast<detail::os::numa_policy>(policy), nodes.mask(), true);
  if (e != 0) [[unlikely]] {
    char text[80];
    std::snprintf(text, sizeof text, "(at 0x%zx, %zu bytes)", static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p)), size);
    detail::throw_system_error(e, "core::memory::numa_bind", "mbind", nullptr, text);
  }
}

/// The policy of the page holding `p`. Throws std::system_error (EFAULT if nothing is mapped).
[[nodiscard]] inline MemoryPolicy memory_policy_of(const void* p) {
  MemoryPolicy r;
  detail::os::numa_policy policy{};
  if (const int e = detail::os::memory_policy(p, &policy, r.nodes.mask()); e != 0) [[unlikely]] {
    char text[48];
    std::snprintf(text, sizeof text, "(at 0x%zx)", static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p)));
    detail::throw_system_error(e, "core::memory::memory_policy_of", "get_mempolicy", nullptr, text);
  }
  r.policy = static_cast<NumaPolicy>(policy);
  return r;
}

/// The node holding the page of `p`; empty if the page is not present (never touched, or
/// swapped out) or not mapped. Does not fault the page in.
[[nodiscard]] inline std::optional<unsigned> numa_node_of(const void* p) noexcept {
  int node = -1;
  if (detail::os::node_of(align_down(p, detail::os::page_size()), &node) != 0 || node < 0) return std::nullopt;
  return static_cast<unsigned>(node);
}

/// A RawAllocator whose blocks follow a NUMA policy: each block is taken from `Upstream` as
/// whole pages (size rounded up, aligned to at least a page) and bound with mbind before it is
/// handed out. With the default PageAllocator every block is its own mapping; over a
/// VirtualMemoryAllocator the blocks come from one reservation. Exhaustion (upstream, or the
/// bound nodes full) is out_of_memory / null. Where the kernel has no NUMA calls or a sandbox
/// refuses them (containers without CAP_SYS_NICE), blocks are handed out unbound when that
/// places them as asked (the local policy, or a machine with one node), and refused otherwise.
/// Thread-safe when Upstream is.
template <RawAllocator Upstream = PageAllocator>
class NumaAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::NumaAllocator";
  static constexpr bool is_thread_safe = allocator_traits<Upstream>::is_thread_safe;

  /// Blocks placed by `policy` on `nodes` (ignored for local; preferred uses the lowest node).
  /// Nodes that are empty or not online are reported (misuse, kind assertion) and the policy
  /// becomes local if the handler returns.
  NumaAllocator(NumaPolicy policy, const NodeSet& nodes)
    requires allocator_traits<Upstream>::is_stateless
      : NumaAllocator(policy, nodes, detail::allocator_ref<Upstream>(Upstream{})) {}
  NumaAllocator(NumaPolicy policy, const NodeSet& nodes, Upstream& upstream)
      : NumaAllocator(policy, nodes, detail::allocator_ref<Upstream>(upstream)) {}

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return detail::allocate_or_throw(*this, size, align);
  }

  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    const std::size_t page = detail::os::page_size();
    if (size > max_size()) return nullptr;
    const std::size_t bytes = align_up(size != 0 ? size : 1, page);
    const std::size_t block_align = align > page ? align : page;
    void* p = allocator_traits<Upstream>::try_allocate(upstream_.get(), bytes, block_align);
    if (!p) return nullptr;
    const int error = detail::os::bind_memory(p, bytes, static_cast<detail::os::numa_policy>(policy_), nodes_.mask(), true);
    // A kernel without NUMA calls (ENOSYS), or a sandbox that refuses them (EPERM: Docker's
    // default seccomp profile without CAP_SYS_NICE): the block stays where first touch puts it,
    // which is what was asked when the policy is local or the machine has one node.
    if (error != 0 && !((error == ENOSYS || error == EPERM) && unplaced_is_placed_)) [[unlikely]] {
      allocator_traits<Upstream>::deallocate(upstream_.get(), p, bytes, block_align);
      return nullptr;
    }
    return p;
  }

  void deallocate(void* p, std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t page = detail::os::page_size();
    allocator_traits<Upstream>::deallocate(upstream_.get(), p, align_up(size != 0 ? size : 1, page),
                                           align > page ? align : page);
  }

  [[nodiscard]] std::size_t max_size() const noexcept {
    const std::size_t m = allocator_traits<Upstream>::max_size(upstream_.get());
    return m - m % detail::os::page_size();
  }
  [[nodiscard]] NumaPolicy policy() const noexcept { return policy_; }
  [[nodiscard]] const NodeSet& nodes() const noexcept { return nodes_; }
  [[nodiscard]] Upstream& upstream() const noexcept { return upstream_.get(); }

 private:
  NumaAllocator(NumaPolicy policy, const NodeSet& nodes, detail::allocator_ref<Upstream> upstream)
      : upstream_(upstream), policy_(policy), nodes_(nodes) {
    const NodeSet online = policy_ == NumaPolicy::local ? NodeSet{} : NodeSet::online();  // (sysfs: read once)
    if (policy_ == NumaPolicy::local) {
      nodes_ = NodeSet{};
    } else if (nodes_.empty() || !nodes_.is_subset_of(online)) [[unlikely]] {
      report_misuse({error_kind::assertion, allocator_name, nullptr, nodes_.count(), 0,
                     "NUMA nodes must be a non-empty set of online nodes", nullptr, 0});
      policy_ = NumaPolicy::local;
      nodes_ = NodeSet{};
    } else if (policy_ == NumaPolicy::preferred) {
      unsigned first = NodeSet::max_nodes;
      nodes_.for_each([&](unsigned n) { first = n < first ? n : first; });
      nodes_ = NodeSet{first};
    }
    unplaced_is_placed_ = policy_ == NumaPolicy::local || online.count() <= 1;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_;
  NumaPolicy policy_;
  bool unplaced_is_placed_ = false;  // memory no policy placed is where this one would put it
  NodeSet nodes_;
};

static_assert(RawAllocator<NumaAllocator<>>);

}  // namespace core::memory
