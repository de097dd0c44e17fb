#pragma once
/// Error types and the one replaceable handler every allocator reports misuse through.
///
/// Exhaustion throws `out_of_memory` (a std::bad_alloc naming the allocator and the request);
/// size arithmetic that overflows throws std::bad_array_new_length. Misuse (double free, foreign
/// pointer, bad alignment, LIFO violation, overrun) is reported to the misuse handler. Without
/// exceptions (-fno-exceptions) the errors that would have been thrown reach the handler too and
/// the program then aborts.

#include <core/memory/util/config.hpp>

#include <cstddef>
#include <new>

namespace core::memory {

/// What went wrong.
enum class error_kind : unsigned char {
  out_of_memory,      ///< Exhaustion; reaches the handler only when exceptions are off.
  bad_array_length,   ///< Size arithmetic overflowed; reaches the handler only without exceptions.
  invalid_alignment,  ///< Alignment that is zero, not a power of two, or unsupported.
  invalid_size,       ///< Size that does not match the block, or is not allowed here.
  double_free,        ///< The block was already free.
  foreign_pointer,    ///< The pointer was not handed out by this allocator.
  interior_pointer,   ///< The pointer lies inside a block of this allocator but not at its start.
  lifo_violation,     ///< A stack-like allocator was freed out of order.
  buffer_overrun,     ///< A fence or canary around a block was overwritten.
  leak,               ///< Blocks were still live when the allocator went away.
  use_after_free,     ///< A freed block was written to (found when it left a debug quarantine).
  assertion,          ///< A checked precondition failed.
  system_error,       ///< An operating system call failed; reaches the handler only when exceptions are off.
  capacity_exceeded,  ///< A fixed-capacity container was asked to hold more than it can.
};

/// Short lower-case name of `kind`, e.g. "double free".
[[nodiscard]] const char* to_string(error_kind kind) noexcept;

/// Everything known about one error. Pointers are borrowed for the duration of the call.
struct error_report {
  error_kind kind = error_kind::assertion;
  const char* allocator = nullptr;  ///< Name of the allocator or component, e.g. "core::memory::Arena".
  const void* address = nullptr;    ///< Offending pointer, if any.
  std::size_t size = 0;             ///< Request or block size, if any.
  std::size_t alignment = 0;        ///< Requested alignment, if any.
  const char* message = nullptr;    ///< Detail such as the failed expression, if any.
  const char* file = nullptr;       ///< Where it was detected, if known.
  unsigned line = 0;
};

/// Writes a one-line description of `report` (no trailing newline) into `buffer`; returns its length.
std::size_t format_report(const error_report& report, char* buffer, std::size_t buffer_size) noexcept;

/// The misuse handler. The default one prints the report to stderr and aborts. A replacement may
/// return: the detecting operation is then abandoned (a bad free is ignored, a failed try_ call
/// returns null); errors that cannot be abandoned (an assertion, exhaustion without exceptions)
/// abort after the handler returns. A handler must not throw through a noexcept deallocate.
using misuse_handler = void (*)(const error_report& report);

/// Installs `handler` (nullptr restores the default) for the whole process; returns the previous one.
/// Thread-safe.
misuse_handler set_misuse_handler(misuse_handler handler) noexcept;

/// The currently installed handler (never null).
[[nodiscard]] misuse_handler get_misuse_handler() noexcept;

/// The default handler: prints "core-memory: <description>" to stderr and aborts.
[[noreturn]] void default_misuse_handler(const error_report& report);

/// Reports misuse to the handler; returns if the handler returns, and the caller abandons the operation.
CORE_MEMORY_NOINLINE void report_misuse(const error_report& report);

/// Thrown when an allocator cannot satisfy a request. `what()` names the allocator and the request.
class out_of_memory : public std::bad_alloc {
 public:
  out_of_memory(const char* allocator, std::size_t size, std::size_t alignment) noexcept;

  [[nodiscard]] const char* what() const noexcept override { return what_; }
  /// Name of the allocator that failed.
  [[nodiscard]] const char* allocator() const noexcept { return allocator_; }
  /// Bytes requested.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Alignment requested.
  [[nodiscard]] std::size_t alignment() const noexcept { return alignment_; }

 private:
  const char* allocator_;
  std::size_t size_;
  std::size_t alignment_;
  char what_[160];
};

namespace detail {

/// Calls the handler, then aborts: for errors that cannot be abandoned.
[[noreturn]] CORE_MEMORY_NOINLINE void fatal_error(const error_report& report);

/// Throw std::out_of_range / std::length_error from the compiled library, so that this header
/// does not include <stdexcept> (which brings all of <string> into every user's file).
[[noreturn]] void throw_std_out_of_range(const char* what);
[[noreturn]] void throw_std_length_error(const char* what);

}  // namespace detail

/// Throws out_of_memory; without exceptions, reports to the handler and aborts.
[[noreturn]] inline CORE_MEMORY_NOINLINE void throw_out_of_memory(const char* allocator, std::size_t size,
                                                                 std::size_t alignment) {
#if CORE_MEMORY_EXCEPTIONS
  throw out_of_memory(allocator, size, alignment);
#else
  detail::fatal_error({error_kind::out_of_memory, allocator, nullptr, size, alignment, nullptr, nullptr, 0});
#endif
}

namespace detail {
/// Reports size arithmetic `a op b` that overflowed in `component` (null if unknown), naming the
/// operands, then aborts: what throw_bad_array_length does without exceptions.
[[noreturn]] CORE_MEMORY_NOINLINE void fatal_size_overflow(const char* component, std::size_t a, char op,
                                                           std::size_t b);
}  // namespace detail

/// Throws std::bad_array_new_length; without exceptions, reports the overflowing `a op b` in
/// `component` to the handler (error_kind::bad_array_length) and aborts.
[[noreturn]] inline CORE_MEMORY_NOINLINE void throw_bad_array_length(const char* component = nullptr,
                                                                    std::size_t a = 0, char op = '?',
                                                                    std::size_t b = 0) {
#if CORE_MEMORY_EXCEPTIONS
  (void)component, (void)a, (void)op, (void)b;
  throw std::bad_array_new_length();
#else
  detail::fatal_size_overflow(component, a, op, b);
#endif
}

/// Throws std::out_of_range(what); without exceptions, reports `component` and `what` to the
/// handler and aborts. For the containers' at().
[[noreturn]] inline CORE_MEMORY_NOINLINE void throw_out_of_range(const char* component, const char* what) {
#if CORE_MEMORY_EXCEPTIONS
  (void)component;
  detail::throw_std_out_of_range(what);
#else
  detail::fatal_error({error_kind::assertion, component, nullptr, 0, 0, what, nullptr, 0});
#endif
}

/// Throws std::out_of_range saying "<where>: index <index> out of range (size <size>)"; without
/// exceptions, reports that and aborts. For the containers' at().
[[noreturn]] CORE_MEMORY_NOINLINE void throw_index_out_of_range(const char* where, std::size_t index,
                                                                std::size_t size);

/// Throws std::length_error(what); without exceptions, reports and aborts. For sizes beyond
/// max_size().
[[noreturn]] inline CORE_MEMORY_NOINLINE void throw_length_error(const char* component, const char* what) {
#if CORE_MEMORY_EXCEPTIONS
  (void)component;
  detail::throw_std_length_error(what);
#else
  detail::fatal_error({error_kind::invalid_size, component, nullptr, 0, 0, what, nullptr, 0});
#endif
}

namespace detail {

/// Reports a request whose alignment is not a power of two (returns if the handler does; the
/// caller then fails the request).
inline CORE_MEMORY_NOINLINE void report_invalid_alignment(const char* allocator, std::size_t size,
                                                          std::size_t alignment) {
  report_misuse({error_kind::invalid_alignment, allocator, nullptr, size, alignment,
                 "alignment must be a non-zero power of two", nullptr, 0});
}

/// Reports a request whose alignment is not a power of two; if the handler returns, the request
/// fails as exhaustion would (out_of_memory).
[[noreturn]] inline CORE_MEMORY_NOINLINE void fail_invalid_alignment(const char* allocator, std::size_t size,
                                                                    std::size_t alignment) {
  report_invalid_alignment(allocator, size, alignment);
  throw_out_of_memory(allocator, size, alignment);
}

}  // namespace detail
}  // namespace core::memory
