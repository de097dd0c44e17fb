#include <core/memory/util/error.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace core::memory {

namespace {
std::atomic<misuse_handler> g_handler{&default_misuse_handler};
}  // namespace

const char* to_string(error_kind kind) noexcept {
  switch (kind) {
    case error_kind::out_of_memory: return "out of memory";
    case error_kind::bad_array_length: return "bad array length";
    case error_kind::invalid_alignment: return "invalid alignment";
    case error_kind::invalid_size: return "invalid size";
    case error_kind::double_free: return "double free";
    case error_kind::foreign_pointer: return "foreign pointer";
    case error_kind::interior_pointer: return "interior pointer";
    case error_kind::lifo_violation: return "LIFO violation";
    case error_kind::buffer_overrun: return "buffer overrun";
    case error_kind::leak: return "leak";
    case error_kind::use_after_free: return "use after free";
    case error_kind::assertion: return "assertion failed";
    case error_kind::system_error: return "system error";
    case error_kind::capacity_exceeded: return "capacity exceeded";
  }
  return "unknown error";
}

std::size_t format_report(const error_report& r, char* buffer, std::size_t buffer_size) noexcept {
  if (buffer_size == 0) return 0;
  std::size_t used = 0;
  auto append = [&](int n) {
    if (n > 0) used += static_cast<std::size_t>(n);
    if (used >= buffer_size) used = buffer_size - 1;
  };
  append(std::snprintf(buffer, buffer_size, "%s", to_string(r.kind)));
  if (r.allocator) append(std::snprintf(buffer + used, buffer_size - used, " in %s", r.allocator));
  if (r.address) append(std::snprintf(buffer + used, buffer_size - used, " at %p", r.address));
  if (r.size) append(std::snprintf(buffer + used, buffer_size - used, ", size %zu", r.size));
  if (r.alignment) append(std::snprintf(buffer + used, buffer_size - used, ", alignment %zu", r.alignment));
  if (r.message) append(std::snprintf(buffer + used, buffer_size - used, ": %s", r.message));
  if (r.file) append(std::snprintf(buffer + used, buffer_size - used, " [%s:%u]", r.file, r.line));
  return used;
}

misuse_handler set_misuse_handler(misuse_handler handler) noexcept {
  return g_handler.exchange(handler ? handler : &default_misuse_handler, std::memory_order_acq_rel);
}

misuse_handler get_misuse_handler() noexcept { return g_handler.load(std::memory_order_acquire); }

void default_misuse_handler(const error_report& report) {
  char text[512];
  format_report(report, text, sizeof text);
  std::fprintf(stderr, "core-memory: %s\n", text);
  std::fflush(stderr);
  std::abort();
}

void report_misuse(const error_report& report) { get_misuse_handler()(report); }

namespace detail {
void fatal_error(const error_report& report) {
  get_misuse_handler()(report);
  // The handler returned from an error that cannot be abandoned.
  default_misuse_handler(report);
}

// Reached only from headers compiled with exceptions; a library built without them aborts.
void throw_std_out_of_range(const char* what) {
#if defined(__cpp_exceptions)
  throw std::out_of_range(what);
#else
  fatal_error({error_kind::assertion, nullptr, nullptr, 0, 0, what, nullptr, 0});
#endif
}

void throw_std_length_error(const char* what) {
#if defined(__cpp_exceptions)
  throw std::length_error(what);
#else
  fatal_error({error_kind::invalid_size, nullptr, nullptr, 0, 0, what, nullptr, 0});
#endif
}

void fatal_size_overflow(const char* component, std::size_t a, char op, std::size_t b) {
  char message[96];
  std::snprintf(message, sizeof message, "size arithmetic overflowed: %zu %c %zu", a, op, b);
  fatal_error({error_kind::bad_array_length, component, nullptr, a, 0, message, nullptr, 0});
}
}  // namespace detail

void throw_index_out_of_range(const char* where, std::size_t index, std::size_t size) {
  char message[64];
  std::snprintf(message, sizeof message, "index %zu out of range (size %zu)", index, size);
#if defined(__cpp_exceptions)
  throw std::out_of_range(std::string(where) + ": " + message);
#else
  detail::fatal_error({error_kind::assertion, where, nullptr, 0, 0, message, nullptr, 0});
#endif
}

out_of_memory::out_of_memory(const char* allocator, std::size_t size, std::size_t alignment) noexcept
    : allocator_(allocator ? allocator : "allocator"), size_(size), alignment_(alignment) {
  std::snprintf(what_, sizeof what_, "%s: out of memory allocating %zu bytes (alignment %zu)", allocator_,
                size_, alignment_);
}

}  // namespace core::memory
