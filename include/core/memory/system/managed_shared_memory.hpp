#pragma once
/// ManagedSharedMemory: a named shared memory segment (SharedMemory) with a heap and a directory
/// of named objects inside it, usable by processes that map it at different addresses.
///
/// - The segment starts with a header (magic, version, sizes, two robust process-shared mutexes,
///   the directory) followed by the heap (detail::SegmentHeap: TLSF, O(1) allocate and free,
///   offsets only). Allocate and free take the heap's mutex (not recursive: held only inside the
///   heap); named operations take the directory's (recursive: held while constructors run, which
///   may allocate and build named objects), always before the heap's.
/// - Its name appears only once it is formatted (SharedMemory's create with `prepare`: made
///   unnamed, formatted, then named in one step), so no process opens a half-formatted segment
///   and a creator killed while formatting leaves no name behind.
/// - It grows: when the heap is full, the segment is grown (SharedMemory::grow, up to max_size)
///   and the new range appended to the heap; other processes see it at once, without remapping,
///   because each maps the whole max_size reservation. open() reads max_size from the header.
/// - Small blocks (up to 8 KiB) are freed to and taken from a lock-free cache in the header
///   (detail::SegmentCache: per size class a bounded stack, offsets only), without the mutex;
///   to the heap they stay live blocks, so its crash recovery is unchanged. trim() empties it.
/// - A process killed at any instruction of an allocation, a free or a named construction leaves
///   the segment repairable: the next locker is told the owner died (LockStatus::owner_died) and
///   repairs what that mutex guards: the heap (walks the block chain, rebuilds lists, bitmaps and
///   statistics, validates) or the directory (drops entries that were being built or destroyed),
///   then marks the mutex consistent. What the dead process held is leaked. A heap too corrupt to
///   repair throws std::system_error (ENOTRECOVERABLE) and leaves its mutex not recoverable, so
///   every later user learns it too.
/// - A RawAllocator (allocate / deallocate / try_allocate / owns / max_size, statistics) and
///   SharedMemoryAllocator<T>, a std allocator whose pointer is offset_ptr<T>: std::vector,
///   std::basic_string and the library's containers can live in the segment.
/// - Named objects: construct / construct_array / find / find_array / find_or_construct / destroy
///   by name; the type is recorded (name, size, alignment), so finding an object as another type
///   is an error naming both. The name is spelled the same by g++ and clang (detail::type_name),
///   so their processes share objects; the check is by name: the layouts must match (the same
///   definitions, compiled for the same ABI). A constructor that throws leaves no entry; constructors may
///   allocate from, and construct named objects in, the same segment.
/// - Errors follow system/error.hpp (std::system_error naming the component, the operation, the
///   segment or object name and the errno text); exhaustion is out_of_memory (try_ calls return
///   null); misuse of the heap (double free, foreign pointer, corrupt block header) goes to the
///   misuse handler in hardened builds.

#include <core/memory/system/detail/segment_cache.hpp>
#include <core/memory/system/detail/segment_heap.hpp>
#include <core/memory/system/offset_ptr.hpp>
#include <core/memory/system/shared_memory.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace core::memory {

template <class T>
class SharedMemoryAllocator;

namespace detail {

/// The segment's header (defined in src/system/managed_shared_memory.cpp).
struct SegmentControl;
struct ManagedState;

/// What a named object's entry records about its type.
struct named_type {
  std::string_view name;
  std::size_t size;
  std::size_t alignment;
};

template <class T>
constexpr const char* pretty_function() noexcept {
  return __PRETTY_FUNCTION__;  // "... pretty_function() [with T = X]" (g++), "... [T = X]" (clang)
}
/// T's name as this compiler spells it ("long unsigned int" with g++, "unsigned long" with clang).
template <class T>
std::string_view spelled_type_name() noexcept {
  const std::string_view f = pretty_function<T>();
  const std::size_t b = f.find("T = ") + 4;
  return f.substr(b, f.size() - 1 - b);
}
/// A type's name as g++ or clang spells it, in one spelling: integer types as clang writes them
/// ("unsigned long", "long long"), a space only between words, after a comma and after '*' or
/// '&' before a word ("std::pair<int, long>", "int* const", "std::vector<std::vector<int>>"),
/// "(anonymous namespace)", no "__cxx11::" or "_V2::"; values as template arguments as numbers, without
/// suffix or cast ("Value<3>" for Value<3u>: g++ writes no more) and characters by value
/// ("Char<10>" for Char<'\n'>); "unsigned __int128".
std::string canonical_type_name(std::string_view spelled);
/// T's id in the directory of named objects: its name, the same for g++ and clang (a process
/// built by each finds the other's objects). Only the name (with the size and alignment) is
/// checked: the layouts must match, which the same definition compiled for the same ABI gives.
template <class T>
const std::string& type_name() {
  static const std::string name = canonical_type_name(spelled_type_name<T>());
  return name;
}

// The heap's operations; each takes the heap's mutex (repairing the heap if its last holder died).
void* segment_try_allocate(SegmentControl* c, std::size_t size, std::size_t align) noexcept;
void* segment_allocate(SegmentControl* c, std::size_t size, std::size_t align);
void segment_deallocate(SegmentControl* c, void* p, std::size_t size, std::size_t align) noexcept;
void segment_allocate_many(SegmentControl* c, void** out, std::size_t count, std::size_t size, std::size_t align);
void segment_deallocate_many(SegmentControl* c, void* const* blocks, std::size_t count, std::size_t size,
                             std::size_t align) noexcept;
/// The directory's mutex (recursive; repairs the directory if its last holder died).
void directory_lock(SegmentControl* c);
void directory_unlock(SegmentControl* c) noexcept;
/// Takes the heap's mutex and keeps it (for tests that kill a holder).
void heap_lock_for_test(SegmentControl* c);
/// Test hook: a creator calls it in the middle of formatting a new segment (tests stop or kill the
/// creator there). Null in programs.
inline void (*format_hook)() = nullptr;

/// A named entry's object storage, found or made (the caller holds the directory's mutex).
struct named_slot {
  void* object;       ///< Storage for `count` objects.
  std::size_t count;  ///< Elements.
  bool found;         ///< An existing entry (find_or_construct); otherwise a new one to build.
};
/// Finds `name`: null if absent (or being built); a type mismatch throws, naming both types.
named_slot named_find(SegmentControl* c, std::string_view name, const named_type& type, const char* operation);
/// A new entry for `count` objects, state "being built" (EEXIST if the name exists, unless
/// `find_ok`: then the existing entry).
named_slot named_begin(SegmentControl* c, std::string_view name, const named_type& type, std::size_t count,
                       bool find_ok);
/// Marks the entry of `object` built, or removes it (its constructor threw).
void named_commit(SegmentControl* c, void* object) noexcept;
void named_abandon(SegmentControl* c, void* object) noexcept;
/// Marks the entry being destroyed; after the destructors, named_abandon removes it.
void named_begin_destroy(SegmentControl* c, void* object) noexcept;

/// Holds the directory's mutex for a scope.
class DirectoryLock {
 public:
  explicit DirectoryLock(SegmentControl* c) : c_(c) { directory_lock(c); }
  ~DirectoryLock() { directory_unlock(c_); }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  SegmentControl* c_;
};

}  // namespace detail

/// A heap and a directory of named objects in a named shared memory segment (see the file comment).
/// Move-only; each process opens its own. Thread-safe and process-safe. An empty object
/// (default-constructed or moved-from): data() and control() are null and owns() false; every
/// other member is misuse, reported in hardened builds (check level >= 1) as "<member>: used
/// after move / not open", after which it does nothing and returns null, 0, false or empty
/// (allocate, allocate_many and the construct calls fail as exhaustion does: out_of_memory).
class ManagedSharedMemory {
 public:
  static constexpr const char* allocator_name = "core::memory::ManagedSharedMemory";
  /// Every block is aligned to this.
  static constexpr std::size_t alignment = 16;
  static constexpr bool is_thread_safe = true;

  /// Creates segment `name` of `size` bytes (growing to options.max_size if larger) and formats
  /// it. EEXIST if it exists; EINVAL for a size too small to hold the header and one block.
  [[nodiscard]] static ManagedSharedMemory create(std::string_view name, std::size_t size,
                                                  SharedMemoryOptions options = {});
  /// Opens the existing managed segment `name`, reserving the max_size its header records.
  /// ENOENT if there is none; EINVAL if it is not a managed segment (or another version of one).
  [[nodiscard]] static ManagedSharedMemory open(std::string_view name, SharedMemoryOptions options = {});
  /// Opens `name`, or creates it with `size` bytes (created() tells which). An existing segment
  /// is opened as it is: `size` does not grow it.
  [[nodiscard]] static ManagedSharedMemory open_or_create(std::string_view name, std::size_t size,
                                                          SharedMemoryOptions options = {});

  /// The smallest size create() accepts: the header, the heap's fields and one block.
  [[nodiscard]] static std::size_t min_size() noexcept;

  ManagedSharedMemory() noexcept;
  ManagedSharedMemory(ManagedSharedMemory&& o) noexcept;
  ManagedSharedMemory& operator=(ManagedSharedMemory&& o) noexcept;
  ~ManagedSharedMemory();

  // RawAllocator ------------------------------------------------------------------------------
  /// `size` bytes aligned to `align` (a power of two; up to SharedMemory::mapping_alignment, 2 MiB,
  /// the alignment every process's mapping keeps: more is out_of_memory); grows the segment when
  /// full; throws out_of_memory when max_size is reached.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignment) {
    if (!open_for("allocate")) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return detail::segment_allocate(control_, size, align);
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignment) noexcept {
    if (!open_for("try_allocate")) [[unlikely]]
      return nullptr;
    return detail::segment_try_allocate(control_, size, align);
  }
  /// Frees `p` (misuse is reported in hardened builds). On a segment that is not recoverable the
  /// block is left where it is (the heap cannot take it back).
  void deallocate(void* p, std::size_t size, std::size_t align = alignment) noexcept {
    if (open_for("deallocate")) [[likely]]
      detail::segment_deallocate(control_, p, size, align);
  }
  /// `count` separate blocks into out[0..count) under one lock (the lock is most of the cost of
  /// one allocation); all or nothing: on exhaustion frees what it got and throws out_of_memory.
  void allocate_many(void** out, std::size_t count, std::size_t size, std::size_t align = alignment) {
    if (!open_for("allocate_many")) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    detail::segment_allocate_many(control_, out, count, size, align);
  }
  /// Frees `count` blocks under one lock.
  void deallocate_many(void* const* blocks, std::size_t count, std::size_t size, std::size_t align = alignment) noexcept {
    if (open_for("deallocate_many")) [[likely]]
      detail::segment_deallocate_many(control_, blocks, count, size, align);
  }
  /// True if `p` lies in the segment's heap.
  [[nodiscard]] bool owns(const void* p) const noexcept;
  /// The largest request that can succeed (one block spanning the segment grown to max_size).
  [[nodiscard]] std::size_t max_size() const noexcept;
  /// Bytes of live blocks users hold (headers and rounding included).
  [[nodiscard]] std::size_t bytes_allocated() const;
  /// Bytes of free and cached blocks plus what growth to max_size can add.
  [[nodiscard]] std::size_t bytes_available() const;
  /// The heap's figures (largest_free_block: without growth), the blocks in the cache counted
  /// apart: used_bytes and live_blocks are what users hold.
  [[nodiscard]] detail::segment_stats statistics() const;
  /// Checks every invariant of the heap and of the cache of small blocks; null, or what is
  /// wrong. O(blocks).
  [[nodiscard]] const char* validate() const;
  /// Returns the blocks held in the cache of small blocks to the heap (exhaustion does it too).
  void trim();

  template <class T>
  [[nodiscard]] SharedMemoryAllocator<T> get_allocator() noexcept;

  // Named objects -----------------------------------------------------------------------------
  /// Builds T(args...) under `name`. EEXIST if the name exists (any type); EINVAL for an empty
  /// name. If the constructor throws, no entry is left.
  template <class T, class... Args>
  T* construct(std::string_view name, Args&&... args) {
    return make<T>(name, 1, false, std::forward<Args>(args)...).data();
  }
  /// `count` objects, each T(args...) (args are not moved from).
  template <class T, class... Args>
  std::span<T> construct_array(std::string_view name, std::size_t count, Args&&... args) {
    return make<T>(name, count, false, std::forward<Args>(args)...);
  }
  /// The object named `name` if there is one, else builds it. Atomic: concurrent callers get one.
  template <class T, class... Args>
  T* find_or_construct(std::string_view name, Args&&... args) {
    return make<T>(name, 1, true, std::forward<Args>(args)...).data();
  }
  /// The object named `name`, or null. An object of another type is an error (EINVAL) naming both.
  template <class T>
  [[nodiscard]] T* find(std::string_view name) {
    return find_array<T>(name).data();
  }
  template <class T>
  [[nodiscard]] std::span<T> find_array(std::string_view name) {
    if (!open_for("find")) [[unlikely]]
      return {};
    detail::DirectoryLock lock(control_);
    const detail::named_slot s = detail::named_find(control_, name, type_of<T>(), "find");
    return {static_cast<T*>(s.object), s.count};
  }
  /// Destroys the object (or array) named `name` and frees it; false if there is none. Another
  /// type is an error naming both.
  template <class T>
  bool destroy(std::string_view name) {
    if (!open_for("destroy")) [[unlikely]]
      return false;
    detail::DirectoryLock lock(control_);
    const detail::named_slot s = detail::named_find(control_, name, type_of<T>(), "destroy");
    if (!s.object) return false;
    detail::named_begin_destroy(control_, s.object);
    T* p = static_cast<T*>(s.object);
    for (std::size_t i = s.count; i > 0; --i) p[i - 1].~T();
    detail::named_abandon(control_, s.object);
    return true;
  }
  /// Named objects in the directory.
  [[nodiscard]] std::size_t named_count() const;
  /// How many times a process repaired the segment after another died holding its mutex.
  [[nodiscard]] std::size_t repairs() const;

  // The segment -------------------------------------------------------------------------------
  [[nodiscard]] SharedMemory& segment() noexcept;
  [[nodiscard]] void* data() const noexcept { return control_; }
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] bool created() const noexcept;
  /// The distance of `p` from the segment's start, to pass an address to another process
  /// (address_of turns it back).
  [[nodiscard]] std::size_t offset_of(const void* p) const noexcept {
    if (!open_for("offset_of")) [[unlikely]]
      return 0;
    return static_cast<std::size_t>(static_cast<const std::byte*>(p) - reinterpret_cast<const std::byte*>(control_));
  }
  [[nodiscard]] void* address_of(std::size_t offset) const noexcept {
    if (!open_for("address_of")) [[unlikely]]
      return nullptr;
    return reinterpret_cast<std::byte*>(control_) + offset;
  }
  [[nodiscard]] detail::SegmentControl* control() const noexcept { return control_; }

 private:
  explicit ManagedSharedMemory(std::unique_ptr<detail::ManagedState> state) noexcept;

  template <class T>
  static detail::named_type type_of() {
    return {detail::type_name<T>(), sizeof(T), alignof(T)};
  }

  /// True if this object has a segment; if not (default-constructed or moved-from), reports
  /// `operation` to the misuse handler in hardened builds (the caller then abandons it).
  [[nodiscard]] bool open_for(const char* operation) const noexcept {
    if constexpr (checks::hardened) {
      if (control_ == nullptr) [[unlikely]] {
        detail::report_not_open(allocator_name, operation, this);
        return false;
      }
    }
    return true;
  }

  /// T(args...), or T{args...} for an aggregate (clang 14 has no parenthesised aggregate init).
  template <class T, class... Args>
  static void build(T* at, Args&&... args) {
    if constexpr (std::is_constructible_v<T, Args&&...>) {
      ::new (static_cast<void*>(at)) T(std::forward<Args>(args)...);
    } else {
      ::new (static_cast<void*>(at)) T{std::forward<Args>(args)...};
    }
  }

  template <class T, class... Args>
  std::span<T> make(std::string_view name, std::size_t count, bool find_ok, Args&&... args) {
    if (count > SIZE_MAX / sizeof(T)) throw_bad_array_length(allocator_name, count, '*', sizeof(T));
    if (!open_for(find_ok ? "find_or_construct" : "construct")) [[unlikely]]
      throw_out_of_memory(allocator_name, count * sizeof(T), alignof(T));
    detail::DirectoryLock lock(control_);
    const detail::named_slot s = detail::named_begin(control_, name, type_of<T>(), count, find_ok);
    T* p = static_cast<T*>(s.object);
    if (s.found) return {p, s.count};
    std::size_t built = 0;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      if (count == 1) {
        build(p, std::forward<Args>(args)...);
        built = 1;
      }
      for (; built < count; ++built) build(p + built, static_cast<Args&>(args)...);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      while (built > 0) p[--built].~T();
      detail::named_abandon(control_, p);
      throw;
    }
#endif
    detail::named_commit(control_, p);
    return {p, count};
  }

  std::unique_ptr<detail::ManagedState> state_;
  detail::SegmentControl* control_ = nullptr;
};

/// A std allocator over a managed segment whose pointer is offset_ptr<T>, so containers built with
/// it can live in the segment and be used by every process that maps it, wherever. It holds an
/// offset_ptr to the segment's header, so an allocator stored in the segment works in every
/// process too. Equal iff same segment (same mapping); does not propagate (as Boost's).
template <class T>
class SharedMemoryAllocator {
 public:
  using value_type = T;
  using pointer = offset_ptr<T>;
  using const_pointer = offset_ptr<const T>;
  using void_pointer = offset_ptr<void>;
  using const_void_pointer = offset_ptr<const void>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_copy_assignment = std::false_type;
  using propagate_on_container_move_assignment = std::false_type;
  using propagate_on_container_swap = std::false_type;
  using is_always_equal = std::false_type;
  template <class U>
  struct rebind {
    using other = SharedMemoryAllocator<U>;
  };

  explicit SharedMemoryAllocator(ManagedSharedMemory& segment) noexcept : control_(segment.control()) {}
  SharedMemoryAllocator(const SharedMemoryAllocator&) noexcept = default;
  template <class U>
  SharedMemoryAllocator(const SharedMemoryAllocator<U>& o) noexcept : control_(o.control()) {}  // NOLINT
  SharedMemoryAllocator& operator=(const SharedMemoryAllocator&) noexcept = default;

  [[nodiscard]] pointer allocate(size_type n) {
    std::size_t bytes = 0;
    if (mul_overflows(n, sizeof(T), bytes)) throw_bad_array_length(ManagedSharedMemory::allocator_name, n, '*', sizeof(T));
    return pointer(static_cast<T*>(detail::segment_allocate(control(), bytes, alignof(T))));
  }
  void deallocate(pointer p, size_type n) noexcept {
    detail::segment_deallocate(control(), p.get(), n * sizeof(T), alignof(T));
  }
  [[nodiscard]] size_type max_size() const noexcept { return (std::size_t{1} << 47) / sizeof(T); }

  [[nodiscard]] detail::SegmentControl* control() const noexcept { return control_.get(); }
  template <class U>
  friend bool operator==(const SharedMemoryAllocator& a, const SharedMemoryAllocator<U>& b) noexcept {
    return a.control() == b.control();
  }

 private:
  offset_ptr<detail::SegmentControl> control_;
};

template <class T>
SharedMemoryAllocator<T> ManagedSharedMemory::get_allocator() noexcept {
  (void)open_for("get_allocator");  // (an allocator of no segment: reported here, not at its use)
  return SharedMemoryAllocator<T>(*this);
}

}  // namespace core::memory
