// The Linux implementation of the system layer's seam (include/core/memory/system/os.hpp).
// Everything Linux-specific in the library is in this file: mmap flags, /proc and /sys parsing,
// the NUMA system calls (made directly, so no libnuma is needed).

#include <core/memory/system/os.hpp>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

namespace core::memory::detail::os {

namespace {

// <linux/mempolicy.h> values, spelled out so the file builds without kernel headers.
constexpr int mpol_default = 0, mpol_preferred = 1, mpol_bind = 2, mpol_interleave = 3, mpol_local = 4;
constexpr unsigned long mpol_mf_move = 1u << 1;
constexpr unsigned long mpol_f_addr = 1u << 1;

int error_of(int rc) noexcept { return rc == 0 ? 0 : errno; }

/// Reads a small text file into `buf` (NUL-terminated); returns bytes read or -1.
long read_text(const char* path, char* buf, std::size_t cap) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t used = 0;
  while (used + 1 < cap) {
    const ssize_t n = ::read(fd, buf + used, cap - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf[used] = '\0';
  return static_cast<long>(used);
}

int prot_of(protection a) noexcept {
  switch (a) {
    case protection::none: return PROT_NONE;
    case protection::read: return PROT_READ;
    case protection::read_write: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

int huge_flag(std::size_t page) noexcept { return __builtin_ctzll(page) << MAP_HUGE_SHIFT; }

}  // namespace

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t transparent_huge_page_size() noexcept {
  static const std::size_t size = [] {
    char buf[64];
    if (read_text("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf) <= 0) return std::size_t{0};
    return static_cast<std::size_t>(std::strtoull(buf, nullptr, 10));
  }();
  return size;
}

std::size_t huge_page_pools(huge_page_pool* out, std::size_t capacity) noexcept {
  DIR* dir = ::opendir("/sys/kernel/mm/hugepages");
  if (!dir) return 0;
  std::size_t count = 0;
  while (const dirent* e = ::readdir(dir)) {
    unsigned long long kib = 0;
    if (std::sscanf(e->d_name, "hugepages-%llukB", &kib) != 1) continue;
    char path[320], buf[32];
    std::snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/%s/free_hugepages", e->d_name);
    const std::size_t free_pages =
        read_text(path, buf, sizeof buf) > 0 ? static_cast<std::size_t>(std::strtoull(buf, nullptr, 10)) : 0;
    const huge_page_pool pool{static_cast<std::size_t>(kib) * 1024, free_pages};
    if (count < capacity) {  // insertion sort: a handful of sizes
      std::size_t i = count;
      for (; i > 0 && out[i - 1].page_size > pool.page_size; --i) out[i] = out[i - 1];
      out[i] = pool;
    }
    ++count;
  }
  ::closedir(dir);
  return count;
}

std::size_t address_space_limit() noexcept {
  rlimit r{};
  if (::getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY || r.rlim_cur > SIZE_MAX) return SIZE_MAX;
  return static_cast<std::size_t>(r.rlim_cur);
}

int reserve(std::size_t size, std::size_t alignment, void** out) noexcept {
  std::size_t total = size + (alignment > page_size() ? alignment - page_size() : 0);
  if (total < size) return ENOMEM;
  void* p = ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return errno;
  // Trim the excess before and after the aligned range.
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (base + alignment - 1) & ~(std::uintptr_t(alignment) - 1);
  if (aligned > base) ::munmap(p, aligned - base);
  if (base + total > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), base + total - aligned - size);
  *out = reinterpret_cast<void*>(aligned);
  return 0;
}

int commit(void* p, std::size_t size) noexcept { return error_of(::mprotect(p, size, PROT_READ | PROT_WRITE)); }

int decommit(void* p, std::size_t size) noexcept {
  // A fresh inaccessible mapping in place drops the pages and their commit charge at once.
  void* r = ::mmap(p, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  return r == MAP_FAILED ? errno : 0;
}

int protect(void* p, std::size_t size, protection access) noexcept {
  return error_of(::mprotect(p, size, prot_of(access)));
}

int release(void* p, std::size_t size) noexcept { return error_of(::munmap(p, size)); }

int purge(void* p, std::size_t size) noexcept { return error_of(::madvise(p, size, MADV_DONTNEED)); }

int query_mapped(const void* p) noexcept {
  const std::size_t page = page_size();
  unsigned char resident = 0;
  void* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(page - 1));
  return error_of(::mincore(start, 1, &resident));
}

int read_safely(void* dst, const void* src, std::size_t n) noexcept {
  // The kernel copies, and says EFAULT where a user copy would fault (unmapped, PROT_NONE).
  iovec local{dst, n}, remote{const_cast<void*>(src), n};
  const ssize_t got = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
  if (got == static_cast<ssize_t>(n)) return 0;
  if (got >= 0 || errno == EFAULT) return EFAULT;
  // Refused (a seccomp filter, no such call): mapped is taken for readable, as mincore tells.
  const auto first = reinterpret_cast<std::uintptr_t>(src);
  if (query_mapped(src) != 0 || (n && query_mapped(reinterpret_cast<const void*>(first + n - 1)) != 0)) return EFAULT;
  std::memcpy(dst, src, n);
  return 0;
}

int map_anonymous(std::size_t size, void** out) noexcept {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return errno;
  *out = p;
  return 0;
}

int remap(void* p, std::size_t old_size, std::size_t new_size, void** out) noexcept {
  void* q = ::mremap(p, old_size, new_size, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return errno;
  *out = q;
  return 0;
}

int map_huge(std::size_t size, std::size_t huge_page_size, void** out) noexcept {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | huge_flag(huge_page_size), -1, 0);
  if (p == MAP_FAILED) return errno;
  *out = p;
  return 0;
}

int query_pages(const void* p, page_report* out) noexcept {
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (!f) return errno;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  char line[512];
  bool inside = false, found = false, line_start = true;
  page_report r;
  while (std::fgets(line, sizeof line, f)) {
    const bool continuation = !line_start;  // the rest of a line longer than the buffer
    line_start = std::strchr(line, '\n') != nullptr;
    if (continuation) continue;
    unsigned long long lo = 0, hi = 0, kib = 0;
    char key[64];
    // A mapping's header line is "lo-hi perms ...": its first token has a '-' and no ':'.
    const char* space = std::strchr(line, ' ');
    const char* colon = std::strchr(line, ':');
    const bool header = space && (!colon || colon > space) && std::sscanf(line, "%llx-%llx", &lo, &hi) == 2;
    if (header) {
      if (found) break;
      inside = addr >= lo && addr < hi;
      if (inside) {
        found = true;
        r.begin = static_cast<std::uintptr_t>(lo);
        r.end = static_cast<std::uintptr_t>(hi);
      }
      continue;
    }
    if (!inside) continue;
    if (std::strncmp(line, "VmFlags:", 8) == 0) {
      for (const char* f2 = line + 8; *f2; f2 += 3) {
        while (*f2 == ' ') ++f2;
        if (f2[0] == 'h' && f2[1] == 'g') r.huge_page_advised = true;
        if (f2[0] == 'l' && f2[1] == 'o') r.locked = true;
        if (!f2[0] || !f2[1]) break;
      }
      continue;
    }
    if (std::sscanf(line, "%63[^:]: %llu kB", key, &kib) != 2) continue;
    const std::size_t bytes = static_cast<std::size_t>(kib) * 1024;
    if (std::strcmp(key, "KernelPageSize") == 0) r.kernel_page_size = bytes;
    else if (std::strcmp(key, "Rss") == 0) r.resident = bytes;
    else if (std::strcmp(key, "AnonHugePages") == 0) r.anon_huge_pages = bytes;
    else if (std::strcmp(key, "Private_Hugetlb") == 0 || std::strcmp(key, "Shared_Hugetlb") == 0) r.hugetlb += bytes;
  }
  std::fclose(f);
  if (!found) return ENOENT;
  *out = r;
  return 0;
}

int advise(void* p, std::size_t size, advice a) noexcept {
  int how = MADV_NORMAL;
  switch (a) {
    case advice::normal: how = MADV_NORMAL; break;
    case advice::sequential: how = MADV_SEQUENTIAL; break;
    case advice::random: how = MADV_RANDOM; break;
    case advice::will_need: how = MADV_WILLNEED; break;
    case advice::dont_need: how = MADV_DONTNEED; break;
    case advice::huge_page: how = MADV_HUGEPAGE; break;
    case advice::no_huge_page: how = MADV_NOHUGEPAGE; break;
  }
  return error_of(::madvise(p, size, how));
}

int flush(void* p, std::size_t size, bool sync) noexcept { return error_of(::msync(p, size, sync ? MS_SYNC : MS_ASYNC)); }
// Direct system calls: AddressSanitizer turns mlock/munlock into no-ops.
int lock(void* p, std::size_t size) noexcept { return error_of(static_cast<int>(::syscall(SYS_mlock, p, size))); }
int unlock(void* p, std::size_t size) noexcept { return error_of(static_cast<int>(::syscall(SYS_munlock, p, size))); }

int open_file(const char* path, map_mode mode, disposition how, int* fd) noexcept {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer (it has no effect on a
  // regular file's mapping or size).
  int flags = O_CLOEXEC | O_NONBLOCK | (mode == map_mode::read_write ? O_RDWR : O_RDONLY);
  if (how == disposition::create_new) flags |= O_CREAT | O_EXCL;
  if (how == disposition::open_or_create) flags |= O_CREAT;
  int r;
  do r = ::open(path, flags, 0644);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  struct stat st;
  const int e = ::fstat(r, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : !S_ISREG(st.st_mode) ? ENODEV : 0;
  if (e != 0) {
    ::close(r);
    return e;
  }
  *fd = r;
  return 0;
}

int create_anonymous_file(int* fd) noexcept {
  const int r = ::memfd_create("core-memory", MFD_CLOEXEC);
  if (r < 0) return errno;
  *fd = r;
  return 0;
}

int close_file(int fd) noexcept { return error_of(::close(fd)); }

int file_size(int fd, std::uint64_t* size) noexcept {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  *size = static_cast<std::uint64_t>(st.st_size);
  return 0;
}

int resize_file(int fd, std::uint64_t size) noexcept {
  if (size > static_cast<std::uint64_t>(INT64_MAX)) return EFBIG;
  int r;
  do r = ::ftruncate(fd, static_cast<off_t>(size));
  while (r != 0 && errno == EINTR);
  return error_of(r);
}

int sync_file(int fd) noexcept { return error_of(::fdatasync(fd)); }

int map(int fd, std::uint64_t offset, std::size_t size, map_mode mode, bool populate, void* at, void** out) noexcept {
  const int prot = mode == map_mode::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  int flags = mode == map_mode::copy_on_write ? MAP_PRIVATE : MAP_SHARED;
  if (fd < 0) flags |= MAP_ANONYMOUS;
  if (populate) flags |= MAP_POPULATE;
  if (at) flags |= MAP_FIXED;
  if (offset > static_cast<std::uint64_t>(INT64_MAX)) return EOVERFLOW;
  void* p = ::mmap(at, size, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return errno;
  *out = p;
  return 0;
}

int open_shared(const char* name, int* fd) noexcept {
  int r;
  do r = ::shm_open(name, O_RDWR, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  *fd = r;
  return 0;
}

namespace {
constexpr const char* shm_directory = "/dev/shm";  // glibc's shm_open directory
}

int create_unnamed_shared(unsigned mode, int* fd) noexcept {
  int r;
  do r = ::open(shm_directory, O_TMPFILE | O_RDWR | O_CLOEXEC, static_cast<mode_t>(mode));
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  if (::fchmod(r, static_cast<mode_t>(mode)) != 0) {  // exactly `mode`: open applied the umask
    const int e = errno;
    ::close(r);
    return e;
  }
  *fd = r;
  return 0;
}

int name_shared(int fd, const char* name) noexcept {
  char path[PATH_MAX], self[32];
  if (std::snprintf(path, sizeof path, "%s%s", shm_directory, name) >= static_cast<int>(sizeof path)) return ENAMETOOLONG;
  std::snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  if (::linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return 0;
  if (errno != ENOENT) return errno;
  // No /proc: AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH).
  return error_of(::linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH));
}

int unlink_shared(const char* name) noexcept { return error_of(::shm_unlink(name)); }

int file_mode(int fd, unsigned* mode) noexcept {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  *mode = static_cast<unsigned>(st.st_mode & 07777);
  return 0;
}

int set_file_mode(int fd, unsigned mode) noexcept { return error_of(::fchmod(fd, static_cast<mode_t>(mode))); }

int grow_file(int fd, std::uint64_t size, std::uint64_t* now) noexcept {
  int r;
  do r = ::flock(fd, LOCK_EX);
  while (r != 0 && errno == EINTR);
  if (r != 0) return errno;
  std::uint64_t current = 0;
  int e = file_size(fd, &current);
  if (e == 0 && current < size) {
    // Reserve the pages, not just the length: tmpfs lengthens a file it cannot back (a SIGBUS at
    // the first touch); fallocate says ENOSPC now.
    if (size > static_cast<std::uint64_t>(INT64_MAX)) {
      e = EFBIG;
    } else {
      do e = ::posix_fallocate(fd, static_cast<off_t>(current), static_cast<off_t>(size - current));
      while (e == EINTR);
    }
    if (e == 0) current = size;
  }
  ::flock(fd, LOCK_UN);
  if (e == 0) *now = current;
  return e;
}

namespace {
int futex_wait(const void* address, std::uint32_t expected, const timespec* timeout) noexcept {
  const long r = ::syscall(SYS_futex, address, FUTEX_WAIT, expected, timeout, nullptr, 0);
  return r == 0 ? 0 : errno;
}
}  // namespace

int wait_on_address(const void* address, std::uint32_t expected) noexcept {
  return futex_wait(address, expected, nullptr);
}

int wait_on_address(const void* address, std::uint32_t expected, std::int64_t timeout_ns) noexcept {
  if (timeout_ns <= 0) return ETIMEDOUT;
  const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
  return futex_wait(address, expected, &timeout);
}

int wake_by_address(const void* address, int waiters) noexcept {
  const long r = ::syscall(SYS_futex, address, FUTEX_WAKE, waiters, nullptr, nullptr, 0);
  return r >= 0 ? static_cast<int>(r) : -errno;
}

bool parse_node_list(const char* list, node_mask_word* mask) noexcept {
  for (std::size_t i = 0; i < node_mask_words; ++i) mask[i] = 0;
  constexpr unsigned long bits = 8 * sizeof(node_mask_word);
  const char* s = list;
  while (*s >= '0' && *s <= '9') {
    char* e = nullptr;
    const unsigned long lo = std::strtoul(s, &e, 10);
    unsigned long hi = lo;
    if (*e == '-') {
      if (e[1] < '0' || e[1] > '9') return false;
      hi = std::strtoul(e + 1, &e, 10);
    }
    if (hi < lo || hi >= max_numa_nodes) return false;
    for (unsigned long n = lo; n <= hi; ++n) mask[n / bits] |= node_mask_word{1} << (n % bits);
    s = *e == ',' ? e + 1 : e;
  }
  return *s == '\0' || *s == '\n';
}

int online_nodes(node_mask_word* mask) noexcept {
  char buf[4096];
  if (read_text("/sys/devices/system/node/online", buf, sizeof buf) <= 0) {
    for (std::size_t i = 0; i < node_mask_words; ++i) mask[i] = 0;
    mask[0] = 1;  // no NUMA support in the kernel: one node
    return 0;
  }
  return parse_node_list(buf, mask) ? 0 : EINVAL;
}

std::size_t node_memory(unsigned node) noexcept {
  char path[96], buf[2048];
  std::snprintf(path, sizeof path, "/sys/devices/system/node/node%u/meminfo", node);
  if (read_text(path, buf, sizeof buf) <= 0) return 0;
  const char* p = std::strstr(buf, "MemTotal:");
  return p ? static_cast<std::size_t>(std::strtoull(p + 9, nullptr, 10)) * 1024 : 0;
}

int bind_memory(void* p, std::size_t size, numa_policy policy, const node_mask_word* mask, bool move) noexcept {
  int mode = mpol_default;
  switch (policy) {
    case numa_policy::local: mode = mpol_local; break;
    case numa_policy::bind: mode = mpol_bind; break;
    case numa_policy::preferred: mode = mpol_preferred; break;
    case numa_policy::interleave: mode = mpol_interleave; break;
  }
  const bool with_mask = policy != numa_policy::local;
  const long r = ::syscall(SYS_mbind, p, size, mode, with_mask ? mask : nullptr, with_mask ? max_numa_nodes + 1 : 0,
                           move ? mpol_mf_move : 0);
  return r == 0 ? 0 : errno;
}

int memory_policy(const void* p, numa_policy* policy, node_mask_word* mask) noexcept {
  int mode = 0;
  const long r = ::syscall(SYS_get_mempolicy, &mode, mask, max_numa_nodes + 1, p, mpol_f_addr);
  if (r != 0) return errno;
  switch (mode & 0xff) {  // without the mode flags (MPOL_F_STATIC_NODES, ...)
    case mpol_bind: *policy = numa_policy::bind; break;
    case mpol_preferred: {  // before Linux 5.14, local was reported as preferred with no node
      bool any = false;
      for (std::size_t i = 0; i < node_mask_words; ++i) any = any || mask[i] != 0;
      *policy = any ? numa_policy::preferred : numa_policy::local;
    } break;
    case mpol_interleave: *policy = numa_policy::interleave; break;
    default: *policy = numa_policy::local; break;
  }
  return 0;
}

int node_of(const void* p, int* node) noexcept {
  // move_pages with no target nodes only reports where each page is (-ENOENT: not present).
  const void* pages[1] = {p};
  int status[1] = {-1};
  const long r = ::syscall(SYS_move_pages, 0, 1UL, pages, nullptr, status, 0);
  if (r != 0) return errno;
  if (status[0] < 0) return -status[0];
  *node = status[0];
  return 0;
}

}  // namespace core::memory::detail::os
