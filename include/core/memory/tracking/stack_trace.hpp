#pragma once
/// Stack traces for the tracker: captured cheaply as return addresses only, symbolised (function,
/// module, offset) only when a report is written.
///
/// Two capture methods: `unwind` walks the stack from the unwind tables (correct in any code):
/// with libunwind when libunwind.so.8 is installed (loaded privately at run time; ~5 ns a frame
/// once its cache is warm), else with libgcc's unwinder (40-100 ns a frame). `frame_pointers`
/// follows the frame-pointer chain (about 1 ns a frame, but only as deep as the code was built with
/// -fno-omit-frame-pointer; a frame without one ends or skews the trace, never faults: every step
/// is checked against the thread's stack bounds).

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace core::memory {

/// How a stack is captured (see the file comment).
enum class stack_method : unsigned char { unwind, frame_pointers };

/// Up to max_depth return addresses, innermost first.
struct StackTrace {
  static constexpr std::size_t max_depth = 64;
  std::uint32_t depth = 0;
  const void* frames[max_depth] = {};

  /// Captures up to `depth` frames of the caller's stack, skipping `skip` innermost ones (besides
  /// capture itself).
  [[nodiscard]] static StackTrace capture(std::size_t depth = 16, std::size_t skip = 0,
                                          stack_method method = stack_method::unwind) noexcept;

  /// Writes one line per frame, "#i function+0xoff (module)", each after `indent`.
  void print(std::ostream& os, const char* indent = "    ") const;
};

namespace detail {

/// Loads what `method` needs (libunwind) now, outside any allocation path: loading a library
/// allocates and takes the loader's lock.
void prepare_stack_capture(stack_method method) noexcept;

/// Fills out[0..max) with return addresses of the calling thread; returns how many. `skip`
/// innermost frames (besides this function) are left out.
std::size_t capture_frames(const void** out, std::size_t max, std::size_t skip, stack_method method) noexcept;

/// "function+0xoff (module)" for the return address `address`: the function demangled, from the
/// dynamic symbol table (dladdr), so static functions of an executable show only as
/// "0xoff (module)" unless it was linked with -rdynamic.
[[nodiscard]] std::string describe_frame(const void* address);

}  // namespace detail
}  // namespace core::memory
