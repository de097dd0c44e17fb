#pragma once
/// The seam between the system layer and the operating system: every OS call the system types
/// make goes through these functions, implemented once per OS (src/system/os_linux.cpp). They
/// never throw and never report: each returns 0 or the OS error number (errno), and the types
/// above decide what an error means (exhaustion, a system_error naming the path, misuse). Porting
/// the layer to another OS means another implementation of this file, nothing above it.

#include <cstddef>
#include <cstdint>

namespace core::memory::detail::os {

/// Size of a base page (4096 on x86-64 Linux).
[[nodiscard]] std::size_t page_size() noexcept;

/// Size of the page transparent huge pages use (the PMD size, 2 MiB on x86-64), or 0 if none.
[[nodiscard]] std::size_t transparent_huge_page_size() noexcept;

/// One explicit huge page size the kernel supports and how many pages of it are free now.
struct huge_page_pool {
  std::size_t page_size;
  std::size_t free_pages;
};

/// Fills `out[0..capacity)` with the explicit huge page sizes the kernel supports, smallest
/// first; returns how many there are (which may exceed `capacity`).
std::size_t huge_page_pools(huge_page_pool* out, std::size_t capacity) noexcept;

enum class protection : unsigned char { none, read, read_write };

// Address space -------------------------------------------------------------------------------

/// The process's address-space limit in bytes (RLIMIT_AS, `ulimit -v`), SIZE_MAX if none.
[[nodiscard]] std::size_t address_space_limit() noexcept;
/// Reserves `size` bytes (a multiple of the page size) of address space aligned to `alignment`
/// (a power of two, at least a page), inaccessible and not backed by memory.
int reserve(std::size_t size, std::size_t alignment, void** out) noexcept;
/// Backs a page range of a reservation with zeroed read-write memory (committed on first touch).
int commit(void* p, std::size_t size) noexcept;
/// Gives the pages of a range back to the system and makes it inaccessible again; the range
/// stays reserved.
int decommit(void* p, std::size_t size) noexcept;
/// Changes the access of a committed page range.
int protect(void* p, std::size_t size, protection access) noexcept;
/// Returns a page range of address space (reserved, committed or mapped) to the system.
int release(void* p, std::size_t size) noexcept;
/// Gives the memory of a committed page range back to the system but keeps it accessible: it
/// reads as zero when next touched (MADV_DONTNEED).
int purge(void* p, std::size_t size) noexcept;
/// 0 if the page holding `p` is mapped (it may still be inaccessible), ENOMEM if not.
int query_mapped(const void* p) noexcept;
/// Copies `n` bytes from `src` if they can be read (0), EFAULT if not (unmapped or inaccessible),
/// without a fault: for a look at memory before a pointer that may not be the caller's.
int read_safely(void* dst, const void* src, std::size_t n) noexcept;
/// Maps `size` bytes of private, zeroed, read-write anonymous memory.
int map_anonymous(std::size_t size, void** out) noexcept;
/// Grows or shrinks a private anonymous mapping, moving it if needed (contents kept).
int remap(void* p, std::size_t old_size, std::size_t new_size, void** out) noexcept;

// Huge pages ----------------------------------------------------------------------------------

/// Maps `size` bytes (a multiple of `huge_page_size`) of anonymous read-write memory on explicit
/// huge pages of that size (MAP_HUGETLB). ENOMEM when the pool has too few free pages.
int map_huge(std::size_t size, std::size_t huge_page_size, void** out) noexcept;

/// What the kernel says about the mapping that contains an address (/proc/self/smaps).
struct page_report {
  std::uintptr_t begin = 0, end = 0;      ///< The mapping (VMA) holding the address.
  std::size_t kernel_page_size = 0;       ///< Page size backing it (KernelPageSize).
  std::size_t resident = 0;               ///< Bytes resident (Rss).
  std::size_t anon_huge_pages = 0;        ///< Bytes on transparent huge pages (AnonHugePages).
  std::size_t hugetlb = 0;                ///< Bytes on explicit huge pages (Private+Shared_Hugetlb).
  bool huge_page_advised = false;         ///< VmFlags has "hg" (madvise(MADV_HUGEPAGE)).
  bool locked = false;                    ///< VmFlags has "lo" (mlock).
};
/// Fills `out` for the mapping containing `p`; ENOENT if no mapping contains it.
int query_pages(const void* p, page_report* out) noexcept;

// Mappings ------------------------------------------------------------------------------------

enum class advice : unsigned char { normal, sequential, random, will_need, dont_need, huge_page, no_huge_page };

int advise(void* p, std::size_t size, advice a) noexcept;
/// Writes dirty pages of a shared file mapping back to the file; `sync` waits for the write.
int flush(void* p, std::size_t size, bool sync) noexcept;
int lock(void* p, std::size_t size) noexcept;
int unlock(void* p, std::size_t size) noexcept;

// Files ---------------------------------------------------------------------------------------

enum class map_mode : unsigned char { read_only, read_write, copy_on_write };
enum class disposition : unsigned char { open_existing, create_new, open_or_create };

/// Opens `path` for `mode` (create_new: creates it, failing if it exists; open_or_create: either).
int open_file(const char* path, map_mode mode, disposition how, int* fd) noexcept;
/// Creates a file with no name (memfd) for anonymous shared mappings that can grow and be viewed.
int create_anonymous_file(int* fd) noexcept;
int close_file(int fd) noexcept;
int file_size(int fd, std::uint64_t* size) noexcept;
int resize_file(int fd, std::uint64_t size) noexcept;
/// Flushes the file's data (and the metadata needed to read it: its size) to storage.
int sync_file(int fd) noexcept;

/// Maps `size` bytes of file `fd` from `offset` (a multiple of the page size) with `mode`;
/// fd < 0 maps anonymous memory shared with forked children. `at` non-null: exactly there,
/// replacing what was mapped (address space this process reserved). `populate` prefaults.
int map(int fd, std::uint64_t offset, std::size_t size, map_mode mode, bool populate, void* at,
        void** out) noexcept;

// Shared memory objects -----------------------------------------------------------------------

/// Opens the existing POSIX shared memory object `name` ("/name", already validated) read-write.
int open_shared(const char* name, int* fd) noexcept;
/// Creates a shared memory object without a name (O_TMPFILE in /dev/shm, where shm_open keeps
/// them) with exactly the permissions `mode` (umask ignored). It disappears with its last
/// descriptor and mapping unless name_shared() names it.
int create_unnamed_shared(unsigned mode, int* fd) noexcept;
/// Gives the unnamed object `fd` the name `name` (linkat, atomic): EEXIST if the name exists.
int name_shared(int fd, const char* name) noexcept;
/// Removes the name (shm_unlink): ENOENT if there is none; mappings stay valid.
int unlink_shared(const char* name) noexcept;
/// The permission bits of an open file (st_mode & 07777).
int file_mode(int fd, unsigned* mode) noexcept;
int set_file_mode(int fd, unsigned mode) noexcept;
/// Makes the file at least `size` bytes long, never shorter, even against other processes
/// growing it at once (under an exclusive flock); `*now` is its size afterwards. The new bytes are
/// allocated (posix_fallocate): ENOSPC if the file system cannot hold them.
int grow_file(int fd, std::uint64_t size, std::uint64_t* now) noexcept;

// Waiting across processes --------------------------------------------------------------------

/// Sleeps while the 32-bit word at `address` holds `expected` (futex, not process-private: the
/// word may be in memory shared between processes). Returns 0 when woken (or spuriously), EAGAIN
/// at once if the word holds another value, EINTR.
int wait_on_address(const void* address, std::uint32_t expected) noexcept;
/// The same for `timeout_ns` nanoseconds at most (monotonic clock): ETIMEDOUT then, and at once
/// if `timeout_ns` <= 0. EINTR leaves the caller to wait again for what is left.
int wait_on_address(const void* address, std::uint32_t expected, std::int64_t timeout_ns) noexcept;
/// Wakes up to `waiters` threads (of any process) sleeping on `address`; returns how many it
/// woke, or -errno.
int wake_by_address(const void* address, int waiters) noexcept;

// NUMA ----------------------------------------------------------------------------------------

/// Largest number of nodes a node mask may describe here.
inline constexpr std::size_t max_numa_nodes = 1024;
using node_mask_word = unsigned long;
inline constexpr std::size_t node_mask_words = max_numa_nodes / (8 * sizeof(node_mask_word));

/// Fills `mask` with the nodes that are online (sysfs); returns 0 or errno. A system without
/// NUMA support reports node 0 alone.
int online_nodes(node_mask_word* mask) noexcept;
/// Parses a sysfs node list ("0", "0-3", "0-1,4-5\n") into `mask`; false if malformed.
bool parse_node_list(const char* list, node_mask_word* mask) noexcept;
/// Bytes of memory of node `node` (sysfs meminfo MemTotal); 0 if unknown.
std::size_t node_memory(unsigned node) noexcept;

enum class numa_policy : unsigned char { local, bind, preferred, interleave };

/// Sets the policy of a page range (mbind); `move` migrates pages already present.
int bind_memory(void* p, std::size_t size, numa_policy policy, const node_mask_word* mask, bool move) noexcept;
/// The policy of the page holding `p` and its node mask (get_mempolicy MPOL_F_ADDR).
int memory_policy(const void* p, numa_policy* policy, node_mask_word* mask) noexcept;
/// The node of the page holding `p`, faulting it in if it is not present.
int node_of(const void* p, int* node) noexcept;

}  // namespace core::memory::detail::os
