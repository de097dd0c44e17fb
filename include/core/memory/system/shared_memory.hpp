#pragma once
/// Named POSIX shared memory segments that processes map at different addresses and that can
/// grow while they are mapped.
///
/// Growth without moving anybody: every process maps the object MAP_SHARED over its whole
/// reservation (max_size) when it opens it, even beyond the object's current end. grow()
/// lengthens the object (ftruncate), and the new pages exist at once in every process that has
/// the segment mapped, at the address it already has: no remap, no message. Another process
/// learns the new size with refresh() (or from data in the segment, as a managed segment does).
/// Touching bytes beyond the object's end is a SIGBUS, as with any mapping of a file. create(),
/// open_or_create() and grow() allocate the object's pages (posix_fallocate), so a size /dev/shm
/// (a tmpfs) cannot hold is an error (ENOSPC) then, not a SIGBUS at the first touch; the memory
/// is committed when the object is sized, not when it is touched.
///
/// Names follow POSIX: "/name" or "name" (name() gives "/name"), no other '/', 1 to NAME_MAX
/// (255) characters besides the leading '/', not "." or "..", no NUL byte. A bad name is EINVAL
/// with a message saying what is wrong with it.
///
/// Permissions: create() makes a new object (EEXIST if the name exists) with exactly
/// SharedMemoryOptions::permissions (0600 by default; the umask is ignored). Only the creator sets
/// them: open() and open_or_create() of an existing object keep its permissions.
///
/// Creation is atomic: the object is made without a name (O_TMPFILE in /dev/shm), sized, mapped
/// and, if asked, prepared (the overloads taking `prepare`), then named in one step (linkat). No
/// process ever opens a half-made object, and a creator that dies before the end leaves no name
/// (and no memory) behind. Of two creators at once the first to finish names it; the other gets
/// EEXIST (create) or opens the first one's (open_or_create).
///
/// An empty object (default-constructed or moved-from) maps nothing: data() is null, size() 0;
/// refresh(), grow(), try_grow() and permissions() on it are misuse, reported to the misuse
/// handler in hardened builds (check level >= 1).
///
/// Errors (system/error.hpp): std::system_error naming the component, the operation, the name
/// and the errno text, e.g. "core::memory::SharedMemory: open '/jobs': No such file or
/// directory"; without exceptions the same text goes to the misuse handler and the program
/// aborts.

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>

namespace core::memory {

namespace detail {
/// Reports `operation` on an empty `component` object (default-constructed or moved-from) to the
/// misuse handler: "<operation>: used after move / not open". Returns if the handler does.
void report_not_open(const char* component, const char* operation, const void* object) noexcept;
}  // namespace detail

/// How a segment is created or opened.
struct SharedMemoryOptions {
  /// Address space reserved for growth, in bytes; 0: the size at create/open. The mapping covers
  /// the largest of this, the size asked and the object's size when opened, rounded up to pages.
  std::size_t max_size = 0;
  /// Permission bits of a created object (0 to 0777), applied exactly.
  unsigned permissions = 0600;
  /// This object unlinks the name in its destructor.
  bool remove_on_destroy = false;
};

/// One process's mapping of a named shared memory object. Move-only RAII: the destructor unmaps
/// (and unlinks the name if asked); other processes keep their mappings either way. Processes
/// and objects may grow the same segment at once; one object used by several threads needs a
/// lock around grow() and refresh() (size() is a plain member).
class SharedMemory {
 public:
  /// Creates the object `name` with `size` zero bytes and maps it. Throws std::system_error
  /// (EEXIST if the name exists, EINVAL for a bad name, size 0 or bad permissions).
  [[nodiscard]] static SharedMemory create(std::string_view name, std::size_t size, SharedMemoryOptions options = {});
  /// Maps the existing object `name`. Throws std::system_error (ENOENT if there is none, EACCES,
  /// EINVAL for a bad name or an empty object with no max_size to reserve).
  [[nodiscard]] static SharedMemory open(std::string_view name, SharedMemoryOptions options = {});
  /// Opens `name`, or creates it with `size` bytes if it does not exist (created() tells which);
  /// an existing object shorter than `size` is grown to it (never shrunk).
  [[nodiscard]] static SharedMemory open_or_create(std::string_view name, std::size_t size,
                                                   SharedMemoryOptions options = {});
  /// create() that runs `prepare(segment)` on the new object before its name appears, so no
  /// process can open it unprepared (a managed segment formats itself so). `prepare` must not
  /// throw.
  template <std::invocable<SharedMemory&> Prepare>
  [[nodiscard]] static SharedMemory create(std::string_view name, std::size_t size, SharedMemoryOptions options,
                                           Prepare prepare) {
    return create_prepared(name, size, options, {&call<Prepare>, &prepare});
  }
  /// open_or_create() that prepares a new object so before naming it (an existing one is opened
  /// as it is).
  template <std::invocable<SharedMemory&> Prepare>
  [[nodiscard]] static SharedMemory open_or_create(std::string_view name, std::size_t size,
                                                   SharedMemoryOptions options, Prepare prepare) {
    return open_or_create_prepared(name, size, options, {&call<Prepare>, &prepare});
  }
  /// Removes the name (shm_unlink); false if there was none. Mappings stay valid.
  static bool remove(std::string_view name);
  [[nodiscard]] static bool exists(std::string_view name);

  /// Empty: maps nothing.
  SharedMemory() noexcept = default;
  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  ~SharedMemory();

  /// Every process maps a segment at a multiple of this, so an offset in the segment aligned to
  /// it or less gives addresses with the same alignment in every process.
  static constexpr std::size_t mapping_alignment = std::size_t{2} << 20;

  /// The first byte (aligned to mapping_alignment), the same for the life of the object, even
  /// across growth.
  [[nodiscard]] void* data() noexcept { return data_; }
  [[nodiscard]] const void* data() const noexcept { return data_; }
  /// The object's size as this process last saw it (create/open, grow, refresh).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Bytes reserved: grow() up to this keeps data().
  [[nodiscard]] std::size_t max_size() const noexcept { return max_size_; }
  /// Re-reads the object's size (another process may have grown it), at most max_size().
  std::size_t refresh();
  /// Makes the object at least `new_size` bytes (never shrinks; a concurrent grow by another
  /// process is never undone). Every process mapping it can use the new bytes at once. Throws
  /// std::system_error (EINVAL beyond max_size()).
  void grow(std::size_t new_size);
  /// grow() that says false instead of throwing (beyond max_size(), or the OS refused: ENOSPC),
  /// for callers that must not throw or abort (a managed segment's allocation).
  [[nodiscard]] bool try_grow(std::size_t new_size) noexcept;

  /// "/name".
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// True if this object created the shared memory object (false if it opened an existing one).
  [[nodiscard]] bool created() const noexcept { return created_; }
  /// Whether the destructor unlinks the name.
  void remove_on_destroy(bool remove) noexcept { remove_on_destroy_ = remove; }
  /// Permission bits of the object now (fstat).
  [[nodiscard]] unsigned permissions() const;

 private:
  enum class How : unsigned char;
  /// What prepares a new object before it is named (function null: nothing).
  struct Preparer {
    void (*function)(SharedMemory& segment, void* context);
    void* context;
  };
  template <class Prepare>
  static void call(SharedMemory& segment, void* prepare) {
    (*static_cast<Prepare*>(prepare))(segment);
  }
  static SharedMemory create_prepared(std::string_view name, std::size_t size, SharedMemoryOptions options,
                                      Preparer prepare);
  static SharedMemory open_or_create_prepared(std::string_view name, std::size_t size, SharedMemoryOptions options,
                                              Preparer prepare);
  static SharedMemory make(How how, std::string_view name, std::size_t size, SharedMemoryOptions options,
                           Preparer prepare);
  /// Sizes (to at least `size`, if not 0) and maps the object open in fd_.
  void map_object(std::size_t size, SharedMemoryOptions options, const char* operation);
  /// Undoes a failed make() (unmaps, closes) and throws.
  [[noreturn]] void give_up(int error, const char* operation, const char* detail = nullptr);
  void close() noexcept;
  int grow_to(std::size_t new_size) noexcept;
  /// False (after reporting misuse, in hardened builds) if this object maps nothing.
  bool open_for(const char* operation) const noexcept;

  std::string name_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t max_size_ = 0;
  int fd_ = -1;
  bool created_ = false;
  bool remove_on_destroy_ = false;
};

}  // namespace core::memory
