#pragma once
/// IntrusiveList<T>: a doubly linked list through hooks inside the elements, so it never
/// allocates: insert, erase, splice and unlink are O(1), and an element can be removed knowing
/// only the element. The list does not own its elements; they must outlive their membership.
///
/// Hooks: derive T from ListHook<Tag> (several tags let one object sit in several lists) or hold
/// a ListHook member and name it with MemberHook<&T::member>. A hook in auto_unlink mode leaves its
/// list when the element is destroyed (such lists count their size in O(n)). Hardened builds
/// report inserting an element that is already linked, removing or erasing one that is in no
/// list, front/back/pop on an empty list, and destroying a linked normal hook. Removing or erasing
/// an element of another list, or inserting at a position of another list, is found only by the
/// expensive tier (CORE_MEMORY_CHECK_LEVEL 3: it walks the list, O(n)).

#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>

namespace core::memory {

/// What a hook does when its element is destroyed while linked.
enum class link_mode {
  normal,       ///< Nothing (hardened builds report it: the list would dangle).
  auto_unlink,  ///< Leaves its list.
};

template <class Tag = void, link_mode Mode = link_mode::normal>
class ListHook {
 public:
  static constexpr link_mode mode = Mode;
  ListHook() noexcept = default;
  ListHook(const ListHook&) noexcept {}  // copying an element does not copy its membership
  ListHook& operator=(const ListHook&) noexcept { return *this; }  // NOLINT(bugprone-unhandled-self-assignment): membership is not copied
  ~ListHook() {
    if constexpr (Mode == link_mode::auto_unlink) {
      unlink();
    } else {
      CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", !is_linked(),
                                "element destroyed while still in a list");
    }
  }

  /// True while the element is in a list.
  [[nodiscard]] bool is_linked() const noexcept { return next_ != nullptr; }

  /// Removes the element from whatever list holds it. Only for auto_unlink hooks, whose lists
  /// keep no size counter.
  void unlink() noexcept
    requires(Mode == link_mode::auto_unlink)
  {
    unlink_raw();
  }

 private:
  template <class, class>
  friend class IntrusiveList;

  void unlink_raw() noexcept {
    if (!next_) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

  ListHook* prev_ = nullptr;
  ListHook* next_ = nullptr;
};

/// Hook access for elements deriving from `Hook`.
template <class Hook>
struct BaseHook {
  using hook_type = Hook;
  template <class T>
  static Hook& to_hook(T& x) noexcept {
    return static_cast<Hook&>(x);
  }
  template <class T>
  static T& to_value(Hook& h) noexcept {
    return static_cast<T&>(h);
  }
};

/// Hook access for a hook held as the data member `Member`.
template <auto Member>
struct MemberHook;
template <class T, class Hook, Hook T::*Member>
struct MemberHook<Member> {
  using hook_type = Hook;
  static Hook& to_hook(T& x) noexcept { return x.*Member; }
  template <class U>
  static U& to_value(Hook& h) noexcept {
    // The member's offset, measured on suitably aligned storage (no T is constructed).
    alignas(T) static const unsigned char probe[sizeof(T)] = {};
    const T* t = reinterpret_cast<const T*>(probe);
    const auto offset = reinterpret_cast<const char*>(&(t->*Member)) - reinterpret_cast<const char*>(t);
    return *reinterpret_cast<T*>(reinterpret_cast<char*>(&h) - offset);
  }
};

template <class T, class Access = BaseHook<ListHook<>>>
class IntrusiveList {
  using hook = typename Access::hook_type;
  static constexpr bool counted = hook::mode == link_mode::normal;

 public:
  using value_type = T;
  using reference = T&;
  using const_reference = const T&;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;

  template <bool Const>
  class basic_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<Const, const T*, T*>;
    using reference = std::conditional_t<Const, const T&, T&>;

    basic_iterator() noexcept = default;
    explicit basic_iterator(hook* h) noexcept : h_(h) {}
    template <bool C = Const>
      requires C
    basic_iterator(const basic_iterator<false>& o) noexcept : h_(o.h_) {}  // NOLINT

    reference operator*() const noexcept { return Access::template to_value<T>(*h_); }
    pointer operator->() const noexcept { return std::addressof(**this); }
    basic_iterator& operator++() noexcept {
      h_ = static_cast<hook*>(h_->next_);
      return *this;
    }
    basic_iterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    basic_iterator& operator--() noexcept {
      h_ = static_cast<hook*>(h_->prev_);
      return *this;
    }
    basic_iterator operator--(int) noexcept {
      auto t = *this;
      --*this;
      return t;
    }
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept { return a.h_ == b.h_; }

   private:
    friend class IntrusiveList;
    template <bool>
    friend class basic_iterator;
    hook* h_ = nullptr;
  };
  using iterator = basic_iterator<false>;
  using const_iterator = basic_iterator<true>;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  IntrusiveList() noexcept { head_.prev_ = head_.next_ = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  IntrusiveList(IntrusiveList&& other) noexcept : IntrusiveList() { splice(end(), other); }
  IntrusiveList& operator=(IntrusiveList&& other) noexcept {
    if (this != &other) {
      clear();
      splice(end(), other);
    }
    return *this;
  }
  /// Unlinks every element (the elements themselves are untouched).
  ~IntrusiveList() {
    clear();
    head_.prev_ = head_.next_ = nullptr;  // the sentinel's own hook must look unlinked
  }

  iterator begin() noexcept { return iterator(static_cast<hook*>(head_.next_)); }
  const_iterator begin() const noexcept { return const_iterator(static_cast<hook*>(head_.next_)); }
  iterator end() noexcept { return iterator(&head_); }
  const_iterator end() const noexcept { return const_iterator(const_cast<hook*>(&head_)); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  [[nodiscard]] bool empty() const noexcept { return head_.next_ == &head_; }
  /// O(1), or O(n) for auto_unlink hooks (elements may leave without telling the list).
  size_type size() const noexcept {
    if constexpr (counted) return size_;
    else return static_cast<size_type>(std::distance(begin(), end()));
  }

  T& front() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", !empty(), "front() of an empty list");
    return *begin();
  }
  const T& front() const noexcept { return const_cast<IntrusiveList&>(*this).front(); }
  T& back() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", !empty(), "back() of an empty list");
    return *std::prev(end());
  }
  const T& back() const noexcept { return const_cast<IntrusiveList&>(*this).back(); }

  void push_front(T& x) noexcept { insert(begin(), x); }
  void push_back(T& x) noexcept { insert(end(), x); }
  void pop_front() noexcept { erase(begin()); }
  void pop_back() noexcept { erase(std::prev(end())); }

  /// Links `x` before `pos`; returns its iterator. `x` must not be in a list.
  iterator insert(const_iterator pos, T& x) noexcept {
    hook& h = Access::to_hook(x);
    CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", !h.is_linked(), "element is already in a list");
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::IntrusiveList", pos.h_ == &head_ || holds(pos.h_),
                                 "insert at a position of another list");
    hook* at = pos.h_;
    h.next_ = at;
    h.prev_ = at->prev_;
    at->prev_->next_ = &h;
    at->prev_ = &h;
    if constexpr (counted) ++size_;
    return iterator(&h);
  }

  /// Unlinks the element at `pos`; returns the next position.
  iterator erase(const_iterator pos) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", pos.h_ != &head_, "erase of end()");
    CORE_MEMORY_HARDEN_ASSERT("core::memory::IntrusiveList", pos.h_->is_linked(), "erase or remove of an element in no list");
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::IntrusiveList", holds(pos.h_), "erase or remove of an element of another list");
    hook* next = static_cast<hook*>(pos.h_->next_);
    pos.h_->unlink_raw();
    if constexpr (counted) --size_;
    return iterator(next);
  }
  iterator erase(const_iterator first, const_iterator last) noexcept {
    while (first != last) first = erase(first);
    return iterator(last.h_);
  }

  /// Unlinks `x`, which must be in this list (hardened builds report one in no list; the expensive
  /// tier also one in another list). O(1).
  void remove(T& x) noexcept { erase(iterator_to(x)); }
  /// Unlinks every element for which `pred` holds; returns how many.
  template <class Pred>
  size_type remove_if(Pred pred) {
    size_type n = 0;
    for (auto it = begin(); it != end();) {
      if (pred(*it)) it = erase(it), ++n;
      else ++it;
    }
    return n;
  }

  /// Unlinks everything.
  void clear() noexcept {
    while (!empty()) erase(begin());
  }

  /// Moves all of `other` before `pos`. O(1).
  void splice(const_iterator pos, IntrusiveList& other) noexcept {
    if (other.empty() || &other == this) return;
    hook* first = static_cast<hook*>(other.head_.next_);
    hook* last = static_cast<hook*>(other.head_.prev_);
    other.head_.next_ = other.head_.prev_ = &other.head_;
    hook* at = pos.h_;
    first->prev_ = at->prev_;
    at->prev_->next_ = first;
    last->next_ = at;
    at->prev_ = last;
    if constexpr (counted) {
      size_ += other.size_;
      other.size_ = 0;
    }
  }
  /// Moves the element at `it` of `other` before `pos`. O(1).
  void splice(const_iterator pos, IntrusiveList& other, const_iterator it) noexcept {
    if (pos.h_ == it.h_ || pos.h_ == it.h_->next_) return;  // already there (as std::list)
    T& x = Access::template to_value<T>(*it.h_);
    other.erase(it);
    insert(pos, x);
  }

  /// Reverses the order. O(n).
  void reverse() noexcept {
    hook* h = &head_;
    do {
      hook* next = static_cast<hook*>(h->next_);
      h->next_ = h->prev_;
      h->prev_ = next;
      h = next;
    } while (h != &head_);
  }

  /// The iterator of `x`, which must be in this list. O(1).
  iterator iterator_to(T& x) noexcept { return iterator(&Access::to_hook(x)); }
  const_iterator iterator_to(const T& x) const noexcept {
    return const_iterator(const_cast<hook*>(&Access::to_hook(const_cast<T&>(x))));
  }

 private:
  /// True if `h` is an element's hook in this list. O(n): for the expensive checks.
  bool holds(const hook* h) const noexcept {
    for (const hook* p = head_.next_; p != &head_; p = p->next_)
      if (p == h) return true;
    return false;
  }

  hook head_;  // sentinel: never linked to a T
  size_type size_ = 0;
};

}  // namespace core::memory
