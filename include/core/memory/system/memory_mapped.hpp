#pragma once
/// Memory-mapped files: MemoryMappedFile (a whole file, or anonymous shared memory) and
/// MemoryMappedView (a window on a file at any offset). Both are move-only RAII owners of their
/// mapping; a view is a mapping of its own, so it stays valid after its file object is closed,
/// destroyed or grown. Shrinking the file (resize() to less) below a view's end makes access
/// to the view's pages past the new end a SIGBUS, as for any mapping of a truncated file.
///
/// Modes:
/// - ReadOnly: reads the file; writing through the mapping faults.
/// - ReadWrite: writes go to the file (shared with every other process mapping it); flush()
///   makes them durable (sync) or starts writing them back (async).
/// - CopyOnWrite: private pages: writes are seen by this mapping only, never by the file nor by
///   any other mapping or view (a view of a CopyOnWrite file shows the file, not this mapping's
///   private writes).
///
/// Addresses: data() is stable for the life of the object except across resize() beyond
/// capacity(). resize() within capacity() (address space reserved up front by
/// Options::reserve) keeps data() and every pointer into the mapping valid.
///
/// Errors (system/error.hpp): std::system_error whose what() names the component, the operation,
/// the path and the errno text, e.g. "core::memory::MemoryMappedFile: open '/data/x': No such
/// file or directory"; without exceptions the same text goes to the misuse handler and the
/// program aborts. Another process truncating a mapped file makes access beyond its new end a
/// SIGBUS, as with any mapping.

#include <core/memory/system/os.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace core::memory {

/// How a file is mapped (see the file comment).
enum class MapMode : unsigned char { ReadOnly, ReadWrite, CopyOnWrite };

/// Access pattern hints (madvise). dont_need drops the pages: a ReadWrite or ReadOnly mapping
/// reads them again from the file, a CopyOnWrite mapping loses its private writes.
enum class MapAdvice : unsigned char { normal, sequential, random, will_need, dont_need, huge_page };

/// flush(): sync waits until the pages are written to the file, async only starts it.
enum class FlushMode : unsigned char { sync, async };

class MemoryMappedView;

/// How MemoryMappedFile maps (MemoryMappedFile::Options).
struct MapOptions {
  /// Prefault every page when mapping (MAP_POPULATE): no page faults later, slower to open.
  bool populate = false;
  /// ReadWrite: address space to reserve up front; resize() up to it keeps data().
  std::size_t reserve = 0;
};

namespace detail {

/// What files and views share: one mapping [data, data + size) inside a page-aligned range of
/// address space owned by the object, with the path for messages.
class MappedRegion {
 public:
  /// First byte of the mapped data (null if empty).
  [[nodiscard]] void* data() noexcept { return data_; }
  [[nodiscard]] const void* data() const noexcept { return data_; }
  /// Bytes mapped (for a file: its size).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] explicit operator bool() const noexcept { return data_ != nullptr; }
  [[nodiscard]] MapMode mode() const noexcept { return mode_; }
  /// The file's path ("<anonymous>" for anonymous memory).
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::span<std::byte> bytes() noexcept { return {data_, size_}; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

  /// The object of type T at `offset` (T trivially copyable). Throws std::system_error (EINVAL)
  /// if it does not fit in the mapping or is not aligned for T.
  template <class T>
  [[nodiscard]] T* as(std::size_t offset = 0) {
    static_assert(std::is_trivially_copyable_v<T>, "as<T>: T must be trivially copyable");
    check_object(offset, sizeof(T), alignof(T), 1);
    return reinterpret_cast<T*>(data_ + offset);
  }
  template <class T>
  [[nodiscard]] const T* as(std::size_t offset = 0) const {
    return const_cast<MappedRegion*>(this)->as<T>(offset);
  }

  /// The objects of type T from `offset` to the end of the mapping (a trailing part smaller than
  /// a T is not included). Throws std::system_error (EINVAL) if `offset` is beyond the end or
  /// the address is not aligned for T.
  template <class T>
  [[nodiscard]] std::span<T> as_span(std::size_t offset = 0) {
    static_assert(std::is_trivially_copyable_v<T>, "as_span<T>: T must be trivially copyable");
    check_object(offset, 0, alignof(T), 0);
    return {reinterpret_cast<T*>(data_ + offset), (size_ - offset) / sizeof(T)};
  }
  template <class T>
  [[nodiscard]] std::span<const T> as_span(std::size_t offset = 0) const {
    return const_cast<MappedRegion*>(this)->as_span<T>(offset);
  }
  /// Exactly `count` objects of type T from `offset`; throws std::system_error (EINVAL) if they
  /// do not fit or are misaligned.
  template <class T>
  [[nodiscard]] std::span<T> as_span(std::size_t offset, std::size_t count) {
    static_assert(std::is_trivially_copyable_v<T>, "as_span<T>: T must be trivially copyable");
    check_object(offset, sizeof(T), alignof(T), count);
    return {reinterpret_cast<T*>(data_ + offset), count};
  }

  /// Writes modified pages back to the file: all of them, or those holding [offset, offset +
  /// length). Does nothing useful for ReadOnly and CopyOnWrite mappings (their pages are never
  /// written to the file). Throws std::system_error.
  void flush(FlushMode how = FlushMode::sync);
  void flush(std::size_t offset, std::size_t length, FlushMode how = FlushMode::sync);

  /// Tells the kernel how the mapping (or the pages holding a range) will be used.
  void advise(MapAdvice advice);
  void advise(std::size_t offset, std::size_t length, MapAdvice advice);
  /// The spec's shorthands.
  void advise_sequential() { advise(MapAdvice::sequential); }
  void advise_random() { advise(MapAdvice::random); }

  /// Loads the mapping and keeps it in RAM (mlock) until unlock() or the end of the mapping.
  /// Throws std::system_error (EAGAIN/ENOMEM beyond RLIMIT_MEMLOCK without CAP_IPC_LOCK).
  void lock_in_memory();
  void unlock();

 protected:
  MappedRegion() noexcept = default;
  MappedRegion(MappedRegion&& o) noexcept;
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  ~MappedRegion();

  /// Unmaps everything the object owns.
  void unmap() noexcept;
  [[noreturn]] void fail(int error, const char* operation, const char* detail = nullptr) const;
  /// A range of the mapped data widened to whole pages, or fails with EINVAL naming `operation`.
  void pages(const char* operation, std::size_t offset, std::size_t length, std::byte*& first,
             std::size_t& bytes) const;
  void check_object(std::size_t offset, std::size_t size, std::size_t align, std::size_t count) const;

  std::byte* base_ = nullptr;  // page-aligned start of the address space owned
  std::size_t extent_ = 0;     // bytes of address space owned (mapped or reserved)
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  MapMode mode_ = MapMode::ReadOnly;
  std::string path_;
  const char* component_ = nullptr;  // for messages
};

}  // namespace detail

/// A mapped file (or anonymous shared memory). Move-only; one open file descriptor each.
class MemoryMappedFile : public detail::MappedRegion {
 public:
  using Mode = MapMode;

  using Options = MapOptions;

  /// Empty: maps nothing.
  MemoryMappedFile() noexcept { component_ = "core::memory::MemoryMappedFile"; }

  /// Maps the existing file at `path` in `mode`. Throws std::system_error if it cannot be opened
  /// (missing, permission denied, a directory), is empty, or cannot be mapped.
  MemoryMappedFile(const std::filesystem::path& path, Mode mode, Options options = {});

  /// Creates the file `path` (which must not exist) with `size` zero bytes and maps it
  /// ReadWrite. Throws std::system_error (EEXIST, EINVAL for size 0, ...).
  [[nodiscard]] static MemoryMappedFile create(const std::filesystem::path& path, std::size_t size,
                                               Options options = {});

  /// `size` zeroed bytes of anonymous memory, ReadWrite, shared with child processes forked
  /// after the call; resizable and viewable like a file.
  [[nodiscard]] static MemoryMappedFile anonymous(std::size_t size, Options options = {});

  MemoryMappedFile(MemoryMappedFile&& o) noexcept;
  MemoryMappedFile& operator=(MemoryMappedFile&& o) noexcept;
  ~MemoryMappedFile();

  /// Bytes that can be mapped without moving: resize() up to this keeps data().
  [[nodiscard]] std::size_t capacity() const noexcept { return extent_; }

  /// Changes the file's size (ReadWrite only; new bytes read as zero). Within capacity() the
  /// mapping stays where it is, so pointers into the kept part stay valid; beyond it the file is
  /// mapped anew at another address (capacity() becomes the new size rounded to pages). On
  /// failure the file and the mapping are as they were. Throws std::system_error (EPERM for a
  /// ReadOnly or CopyOnWrite mapping, EINVAL for 0, EFBIG/ENOSPC from the file system).
  /// Shrinking truncates the file: views of what was cut off fault (SIGBUS) when read.
  void resize(std::size_t new_size);

  /// A view of [offset, offset + length) of the file, at any offset (the page rounding is
  /// internal), in this file's mode. Throws std::system_error (EINVAL) if the range is empty or
  /// beyond the end of the file.
  [[nodiscard]] MemoryMappedView create_view(std::size_t offset, std::size_t length) const;

  /// Unmaps and closes the file; this becomes empty (path() is kept for messages).
  void close() noexcept;

  /// The constructor, create and anonymous reporting failure through `ec` (the errno value)
  /// instead of throwing or, without exceptions, aborting: for code that must survive a missing
  /// or unreadable file in a -fno-exceptions build. On failure the result is empty.
  [[nodiscard]] static MemoryMappedFile open(const std::filesystem::path& path, Mode mode, std::error_code& ec,
                                             Options options = {}) noexcept;
  [[nodiscard]] static MemoryMappedFile create(const std::filesystem::path& path, std::size_t size,
                                               std::error_code& ec, Options options = {}) noexcept;
  [[nodiscard]] static MemoryMappedFile anonymous(std::size_t size, std::error_code& ec,
                                                  Options options = {}) noexcept;

  /// A failed step of opening (error 0: success), kept to build the message or the error_code.
  struct Status {
    int error;
    const char* operation;
    char detail[48];
  };

 private:
  Status open_existing(Options options) noexcept;
  Status create_new(std::size_t size, Options options) noexcept;
  Status create_anonymous(std::size_t size, Options options) noexcept;
  Status map_file(int fd, Options options) noexcept;
  /// Closes and throws (through fail) if `s` is a failure.
  void raise(const Status& s);
  /// Closes and converts if `s` is a failure.
  std::error_code result(const Status& s) noexcept;

  int fd_ = -1;
  bool populate_ = false;
};

/// A mapping of part of a file, made by MemoryMappedFile::create_view. Independent of the file
/// object once made (its own mapping; no file descriptor kept). Move-only.
class MemoryMappedView : public detail::MappedRegion {
 public:
  using Mode = MapMode;
  MemoryMappedView() noexcept { component_ = "core::memory::MemoryMappedView"; }
  MemoryMappedView(MemoryMappedView&&) noexcept = default;
  MemoryMappedView& operator=(MemoryMappedView&&) noexcept = default;
  ~MemoryMappedView() = default;

  /// Offset of data() in the file.
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }

 private:
  friend class MemoryMappedFile;
  std::size_t offset_ = 0;
};

}  // namespace core::memory
