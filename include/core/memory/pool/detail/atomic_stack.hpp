#pragma once
/// AtomicStack: the one lock-free structure the concurrent pools share. Any number of threads
/// push nodes (one at a time or a linked chain with one CAS); nodes leave only all at once, by an
/// exchange. No thread ever pops a single node, so none reads the link of a node another thread
/// may have taken and recycled: ABA cannot arise by construction (a push's CAS only needs the
/// head it links to to still be the head, which is all it checks). The atomic type is a template
/// parameter so the model-checking test can drive every interleaving through its own atomics.

#include <atomic>

namespace core::memory::detail {

/// `Node` has a `Node* next` member, owned by whichever thread holds the node.
template <class Node, template <class> class Atomic = std::atomic>
class AtomicStack {
 public:
  /// Pushes the chain first -> ... -> last (linked through next). Lock-free.
  void push_chain(Node* first, Node* last) noexcept {
    Node* head = head_.load(std::memory_order_relaxed);
    do {
      last->next = head;
      // release: the chain's links and the contents of its nodes, written before, are visible
      // to the thread whose take_all (acquire) receives them.
    } while (!head_.compare_exchange_weak(head, first, std::memory_order_release, std::memory_order_relaxed));
  }

  void push(Node* node) noexcept { push_chain(node, node); }

  /// Takes every node (null if none). Wait-free.
  [[nodiscard]] Node* take_all() noexcept {
    // relaxed: a cheap look first keeps an idle consumer from a locked instruction; acquire on
    // the exchange pairs with the pushes' release.
    if (head_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    return head_.exchange(nullptr, std::memory_order_acquire);
  }

  /// Puts back a null-terminated list that take_all returned. O(1) unless other threads pushed
  /// in the meantime; then their nodes are taken, linked in front and the list is retried.
  void put_back(Node* list) noexcept {
    Node* expected = nullptr;
    // release: as in push_chain. relaxed on failure: the loser takes the new nodes with acquire.
    while (!head_.compare_exchange_weak(expected, list, std::memory_order_release, std::memory_order_relaxed)) {
      if (!expected) continue;  // spurious failure
      Node* pushed = take_all();
      if (!pushed) {
        expected = nullptr;
        continue;
      }
      Node* tail = pushed;
      while (tail->next) tail = tail->next;
      tail->next = list;
      list = pushed;
      expected = nullptr;
    }
  }

  /// True if no node is on the stack (a snapshot: other threads may push at any time).
  [[nodiscard]] bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }

 private:
  Atomic<Node*> head_{nullptr};
};

}  // namespace core::memory::detail
