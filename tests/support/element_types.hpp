#pragma once
// The element types every container's differential test runs with: int, std::string, a move-only
// type (std::unique_ptr<int>) and Counted, which counts live instances so leaks and double
// destroys show. make<T>(i) builds the i-th value; value_of(x) maps a value back to an int that is
// equal exactly when the values are equal (for the values make<T> produces), so one model type
// can compare any of them.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

namespace core::memory::test {

/// Counts live instances so leaks and double destroys show.
struct Counted {
  static inline long live = 0;
  int v;
  Counted(int x = 0) : v(x) { ++live; }  // NOLINT(google-explicit-constructor)
  Counted(const Counted& o) : v(o.v) { ++live; }
  Counted(Counted&& o) noexcept : v(o.v) { ++live; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { --live; }
};

template <class T>
T make(int i) {
  if constexpr (std::is_same_v<T, int>) return i;
  else if constexpr (std::is_same_v<T, std::string>) return std::string(static_cast<std::size_t>(i % 40), char('a' + i % 26));
  else if constexpr (std::is_same_v<T, std::unique_ptr<int>>) return std::make_unique<int>(i);
  else return T(i);
}

template <class T>
int value_of(const T& x) {
  if constexpr (std::is_same_v<T, int>) return x;
  else if constexpr (std::is_same_v<T, std::string>) return static_cast<int>(x.size()) * 1000 + (x.empty() ? 0 : x[0]);
  else if constexpr (std::is_same_v<T, std::unique_ptr<int>>) return x ? *x : -1;
  else return x.v;
}

/// Orders any element type by value_of (for sets and maps keyed by these types).
struct ByValue {
  template <class T>
  bool operator()(const T& a, const T& b) const {
    return value_of(a) < value_of(b);
  }
};

using ElementTypes = ::testing::Types<int, std::string, std::unique_ptr<int>, Counted>;

/// Fails the test if Counted instances were leaked or destroyed twice since construction.
class LiveCountGuard {
 public:
  LiveCountGuard() : before_(Counted::live) {}
  LiveCountGuard(const LiveCountGuard&) = delete;
  LiveCountGuard& operator=(const LiveCountGuard&) = delete;
  ~LiveCountGuard() { EXPECT_EQ(Counted::live, before_) << "every element destroyed exactly once"; }

 private:
  long before_;
};

}  // namespace core::memory::test
