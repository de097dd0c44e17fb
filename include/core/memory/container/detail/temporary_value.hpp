#pragma once
/// detail::temporary_value: an element built before the container makes room for it (its
/// arguments may refer to elements that are about to move), built as the container builds its
/// elements: through allocator_traits::construct, so an allocator-aware T (a std::pmr::string
/// under a pmr container) gets the container's allocator by uses-allocator construction, as
/// std::vector's temporaries do. Moving it into place then steals its memory instead of copying
/// it out of the default resource.

#include <core/memory/container/detail/std_core.hpp>

namespace core::memory::detail {

template <class T, class Alloc>
class temporary_value {
  using traits = std::allocator_traits<Alloc>;

 public:
  template <class... Args>
  explicit temporary_value(Alloc& alloc, Args&&... args) : alloc_(alloc) {
    traits::construct(alloc_, std::addressof(value_), std::forward<Args>(args)...);
  }
  temporary_value(const temporary_value&) = delete;
  temporary_value& operator=(const temporary_value&) = delete;
  ~temporary_value() { traits::destroy(alloc_, std::addressof(value_)); }

  T& get() noexcept { return value_; }

 private:
  Alloc& alloc_;
  union {
    T value_;
  };
};

}  // namespace core::memory::detail
