#pragma once
/// How the system layer reports a failed operating system call.
///
/// - Exhaustion (address space or memory the system will not give: ENOMEM from a reservation,
///   a commit, a huge page mapping) is exhaustion as everywhere in the library: allocate and
///   constructors of allocators throw out_of_memory, try_ calls return null / false.
/// - Every other failure (a missing file, permission denied, an empty file, a view out of range, a
///   mapping too large, a failed flush or lock) throws std::system_error whose code() is the errno
///   value (std::generic_category) and whose what() names the component, the operation, the path
///   and the errno text: "core::memory::MemoryMappedFile: open '/data/x': No such file or directory".
/// - Without exceptions (-fno-exceptions) that report goes to the misuse handler
///   (error_kind::system_error, message as above) and the program aborts, as the library's other
///   throw delegates do (util/error.hpp).
/// - A range outside the object it addresses (a commit beyond a reservation) is misuse, reported to
///   the misuse handler as invalid_size at every check level; if the handler returns the operation
///   is abandoned.

#include <core/memory/util/config.hpp>

namespace core::memory::detail {

/// Throws std::system_error(std::error_code(error, std::generic_category()), text) where text is
/// "<component>: <operation>[ '<path>'][ <detail>]"; without exceptions reports
/// "<text>: <strerror(error)>" (error_kind::system_error) to the handler and aborts.
[[noreturn]] CORE_MEMORY_NOINLINE void throw_system_error(int error, const char* component, const char* operation,
                                                         const char* path = nullptr, const char* detail = nullptr);

}  // namespace core::memory::detail
