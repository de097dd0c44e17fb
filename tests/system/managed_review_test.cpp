// A hostile user's review of ManagedSharedMemory and SharedMemory: every request of a size and
// alignment matrix through every allocation path, growth to max_size exactly and past what
// /dev/shm can back, opening a segment while it is being created, a truncated one, and a failed
// open that must not remove the name it was asked to remove on destruction.
#include <core/memory/system/managed_shared_memory.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/align.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/misuse_capture.hpp"
#include "system/shared_memory_support.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;

namespace {

constexpr const char* component = "core::memory::ManagedSharedMemory: ";

void expect_valid(const cm::ManagedSharedMemory& m) {
  const char* why = m.validate();
  EXPECT_EQ(why, nullptr) << why;
}

// Defect: a request of max_size() (or anything needing the last bytes of the reservation) failed
// when the segment had to grow for it: grow() asked for the request on top of the whole current
// heap plus slack, and gave up when that exceeded max_size.
TEST(ManagedReview, GrowsToMaxSizeExactly) {
  test::ShmName name;
  cm::SharedMemoryOptions options;
  options.max_size = 4 << 20;
  for (const std::size_t initial : {std::size_t{64} << 10, std::size_t{1} << 20, std::size_t{3} << 20}) {
    SCOPED_TRACE(initial);
    auto m = cm::ManagedSharedMemory::create(name, initial, options);
    const std::size_t max = m.max_size();
    void* p = m.try_allocate(max);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(m.segment().refresh(), std::size_t{4} << 20);
    expect_valid(m);
    EXPECT_EQ(m.try_allocate(1), nullptr);
    m.deallocate(p, max);
    EXPECT_EQ(m.try_allocate(max + 1), nullptr);
    expect_valid(m);
    (void)cm::SharedMemory::remove(name);
  }
  // After a small block at the start, the rest of the reservation in one request.
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, options);
  void* small = m.allocate(16);
  void* rest = m.try_allocate(m.max_size() - 64);
  EXPECT_NE(rest, nullptr);
  expect_valid(m);
  m.deallocate(rest, m.max_size() - 64);
  m.deallocate(small, 16);
  // An aligned request that needs growth, up to the end.
  void* aligned = m.try_allocate(m.max_size() - 8192, 4096);
  EXPECT_NE(aligned, nullptr);
  EXPECT_TRUE(cm::is_aligned(aligned, 4096));
  m.deallocate(aligned, m.max_size() - 8192);
  expect_valid(m);
}

// Every size and alignment through try_allocate, allocate and allocate_many: a block that is
// aligned, owned, usable and freed, or null / out_of_memory; never a corrupt heap.
TEST(ManagedReview, SizeAndAlignmentMatrix) {
  test::ShmName name;
  cm::SharedMemoryOptions options;
  options.max_size = 8 << 20;
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, options);
  const std::size_t sizes[] = {0,         1,          7,           8,           15,          16,
                               17,        31,         32,          33,          4095,        4096,
                               100000,    m.max_size() / 2,        SIZE_MAX,    SIZE_MAX - 8,
                               SIZE_MAX - 15,         SIZE_MAX / 2, std::size_t{1} << 47, (std::size_t{1} << 47) - 8,
                               (std::size_t{1} << 47) + 1};
  const std::size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 128, 4096, std::size_t{1} << 16, std::size_t{1} << 20, std::size_t{2} << 20, std::size_t{4} << 20,
                                std::size_t{1} << 40, std::size_t{1} << 46, std::size_t{1} << 47,
                                std::size_t{1} << 48, std::size_t{1} << 63};
  for (const std::size_t size : sizes) {
    for (const std::size_t align : aligns) {
      SCOPED_TRACE(testing::Message() << "size " << size << " align " << align);
      const bool fits = size <= m.max_size() && align <= (2u << 20);
      if (void* p = m.try_allocate(size, align)) {
        EXPECT_TRUE(cm::is_aligned(p, align));
        EXPECT_TRUE(m.owns(p));
        if (size > 0) {
          static_cast<char*>(p)[0] = 1;
          static_cast<char*>(p)[size - 1] = 1;
        }
        m.deallocate(p, size, align);
      } else {
        EXPECT_FALSE(fits && size <= 100000);
      }
#if CORE_MEMORY_EXCEPTIONS
      void* blocks[3] = {};
      try {
        m.allocate_many(blocks, 3, size, align);
        for (void* b : blocks) EXPECT_TRUE(cm::is_aligned(b, align));
        m.deallocate_many(blocks, 3, size, align);
      } catch (const cm::out_of_memory& e) {
        EXPECT_FALSE(fits && size <= 100000);
        EXPECT_EQ(e.size(), size);
      }
      try {
        void* p = m.allocate(size, align);
        EXPECT_TRUE(cm::is_aligned(p, align));
        m.deallocate(p, size, align);
      } catch (const cm::out_of_memory& e) {
        EXPECT_FALSE(fits && size <= 100000);
        EXPECT_EQ(e.size(), size);
        EXPECT_EQ(e.alignment(), align);
      }
#endif
      const char* why = m.validate();
      ASSERT_EQ(why, nullptr) << why;
    }
  }
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  // Alignments that are not powers of two: reported, null (try_) or out_of_memory.
  for (const std::size_t align : {std::size_t{0}, std::size_t{3}, std::size_t{24}, (std::size_t{1} << 40) + 1}) {
    SCOPED_TRACE(align);
    test::MisuseCapture capture;
    EXPECT_EQ(m.try_allocate(16, align), nullptr);
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
#if CORE_MEMORY_EXCEPTIONS
    EXPECT_THROW((void)m.allocate(16, align), cm::out_of_memory);
    void* blocks[2] = {};
    EXPECT_THROW(m.allocate_many(blocks, 2, 16, align), cm::out_of_memory);
    EXPECT_EQ(capture.count(), 3u);
#endif
  }
  expect_valid(m);
}

// Defect: open() of a segment whose creator has made the object but not sized it yet failed with
// "the object is empty" (or "too small") instead of waiting for the creator, as it waits for the
// magic.
TEST(ManagedReview, OpenWaitsForACreatorThatHasNotSizedTheObject) {
  test::ShmName name, model("model");
  auto formatted = cm::ManagedSharedMemory::create(model, 64 << 10);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);  // the creator, step 1
  ASSERT_GE(fd, 0);
  std::atomic<bool> opened{false};
  std::string failure;
  std::thread opener([&] {
#if CORE_MEMORY_EXCEPTIONS
    try {
      auto o = cm::ManagedSharedMemory::open(name);
      opened = o.validate() == nullptr;
    } catch (const std::exception& e) {
      failure = e.what();
    }
#else
    auto o = cm::ManagedSharedMemory::open(name);
    opened = o.validate() == nullptr;
#endif
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::ftruncate(fd, 64 << 10), 0);  // step 2: size
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  void* at = ::mmap(nullptr, 64 << 10, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(at, MAP_FAILED);
  // step 3: format (a copy of a fresh segment: offsets only), the magic last
  std::memcpy(static_cast<char*>(at) + 8, static_cast<char*>(formatted.data()) + 8, (64 << 10) - 8);
  reinterpret_cast<std::atomic<std::uint64_t>*>(at)->store(
      reinterpret_cast<std::atomic<std::uint64_t>*>(formatted.data())->load());
  opener.join();
  EXPECT_TRUE(opened) << failure;
  ::munmap(at, 64 << 10);
  ::close(fd);
}

// Defect: open() with remove_on_destroy of something that is not a managed segment threw, and
// the half-made object's destructor unlinked the name (someone else's object).
TEST(ManagedReview, AFailedOpenRemovesNothing) {
  test::ShmName name;
  {
    auto raw = cm::SharedMemory::create(name, 1 << 16);
    std::memset(raw.data(), 0x55, 1 << 16);
  }
  cm::SharedMemoryOptions options;
  options.remove_on_destroy = true;
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(name, options), EINVAL,
                      std::string(component) + "open '" + name.str() + "' is not a managed segment (bad magic)");
  EXPECT_TRUE(cm::SharedMemory::exists(name));
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open_or_create(name, 1 << 16, options), EINVAL,
                      std::string(component) + "open '" + name.str() + "' is not a managed segment (bad magic)");
  EXPECT_TRUE(cm::SharedMemory::exists(name));
  // A real one opened with remove_on_destroy still removes it.
  (void)cm::SharedMemory::remove(name);
  { auto m = cm::ManagedSharedMemory::create(name, 1 << 16); }
  { auto o = cm::ManagedSharedMemory::open(name, options); }
  EXPECT_FALSE(cm::SharedMemory::exists(name));
}

// Defect: a managed segment whose object was truncated (by another program) opened fine, and the
// first allocation touching the missing pages died of SIGBUS.
TEST(ManagedReview, ATruncatedSegmentIsRefused) {
  test::ShmName name;
  { auto m = cm::ManagedSharedMemory::create(name, 1 << 20); }
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 << 10), 0);
  ::close(fd);
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(name), EINVAL,
                      std::string(component) + "open '" + name.str() +
                          "' is not a managed segment (truncated: its heap ends beyond the object)");
}

// Defect: open_or_create() took any size; one below min_size() formatted a heap that did not fit
// (the header was written past the object's end: SIGBUS).
TEST(ManagedReview, OpenOrCreateChecksTheSizeAsCreateDoes) {
  test::ShmName name;
  for (const std::size_t size : {std::size_t{1}, std::size_t{100}, cm::ManagedSharedMemory::min_size() - 1}) {
    EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open_or_create(name, size), EINVAL,
                        std::string(component) + "open_or_create '" + name.str() + "' size " + std::to_string(size) +
                            " is below the minimum " + std::to_string(cm::ManagedSharedMemory::min_size()));
    EXPECT_FALSE(cm::SharedMemory::exists(name));
  }
  auto m = cm::ManagedSharedMemory::open_or_create(name, cm::ManagedSharedMemory::min_size());
  EXPECT_NE(m.allocate(16), nullptr);
  expect_valid(m);
}

// Defect: growth only lengthened the object (ftruncate), which tmpfs grants beyond what it can
// back: allocate() returned a block whose pages were a SIGBUS. Growth now reserves the pages
// (fallocate), so a segment /dev/shm cannot hold is exhaustion. Also without exceptions: the
// failed growth went to SharedMemory::grow, whose error aborted the program there.
TEST(ManagedReview, GrowthBeyondWhatDevShmCanHoldIsExhaustion) {
  struct statvfs fs {};
  ASSERT_EQ(::statvfs("/dev/shm", &fs), 0);
  const std::size_t total = static_cast<std::size_t>(fs.f_blocks) * fs.f_frsize;
  if (total == 0 || total > (std::size_t{1} << 44)) GTEST_SKIP() << "/dev/shm has no size limit";
  // Twice the file system's size: tmpfs refuses it before allocating a page (a request just
  // above its size would allocate pages until it failed, and a tmpfs may be larger than memory).
  test::ShmName name;
  cm::SharedMemoryOptions options;
  options.max_size = cm::align_up(4 * total, std::size_t{1} << 21);
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, options);
  EXPECT_EQ(m.try_allocate(2 * total), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)m.allocate(2 * total), cm::out_of_memory);
#endif
  EXPECT_LT(m.segment().refresh(), total);
  expect_valid(m);
  void* p = m.allocate(1 << 20);  // ordinary growth still works
  std::memset(p, 1, 1 << 20);
  m.deallocate(p, 1 << 20);
  expect_valid(m);
  // SharedMemory itself: create and grow say ENOSPC, and a failed create leaves no object.
  test::ShmName raw_name("raw");
  EXPECT_SYSTEM_ERROR((void)cm::SharedMemory::create(raw_name, 2 * total), ENOSPC,
                      "core::memory::SharedMemory: create '" + raw_name.str() + "' (" + std::to_string(2 * total) +
                          " bytes)");
  EXPECT_FALSE(cm::SharedMemory::exists(raw_name));
  cm::SharedMemoryOptions wide;
  wide.max_size = 2 * total;
  auto raw = cm::SharedMemory::create(raw_name, 4096, wide);
  EXPECT_SYSTEM_ERROR(raw.grow(2 * total), ENOSPC,
                      "core::memory::SharedMemory: grow '" + raw_name.str() + "' (to " + std::to_string(2 * total) +
                          " bytes)");
  EXPECT_EQ(raw.refresh(), 4096u);
}

// Defect: recovery reported a corrupt chain to the misuse handler before giving up; the default
// handler aborts, so the survivor died holding the heap's mutex, and so did the next process,
// and the next: every user of the segment crashed instead of learning ENOTRECOVERABLE.
TEST(ManagedReview, AnUnrepairableHeapIsAnErrorNotACrashCascade) {
#if CORE_MEMORY_EXCEPTIONS
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto* p = static_cast<std::byte*>(m.allocate(64));
  ASSERT_EQ(test::in_fork([&] {
              cm::detail::heap_lock_for_test(m.control());  // dies holding the lock, after an overrun
              std::memset(p - 8, 0x41, 8);
              return 0;
            }),
            0);
  const std::string text = std::string(component) + "repair (block header is corrupt at segment offset " +
                           std::to_string(m.offset_of(p) - 8) + "): " + std::strerror(ENOTRECOVERABLE);
  for (int survivor = 0; survivor < 2; ++survivor) {  // default misuse handler: no capture
    EXPECT_EQ(test::in_fork([&] {
                try {
                  (void)m.allocate(16);
                } catch (const std::system_error& e) {
                  return e.code().value() == ENOTRECOVERABLE && e.what() == (survivor == 0 ? text : e.what()) ? 0 : 2;
                }
                return 1;
              }),
              0)
        << survivor;
  }
  EXPECT_EQ(m.try_allocate(16), nullptr);
#else
  GTEST_SKIP() << "without exceptions an unrepairable heap aborts by design";
#endif
}

// Every bad free a user can make reaches the misuse handler with its kind, and the heap is left
// as it was: a foreign pointer (stack, the segment's header, another segment, past the heap), an
// interior one, a named object's storage, a double free (also after merging), a size too large.
TEST(ManagedReview, EveryBadFreeIsReportedAndChangesNothing) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  test::ShmName name, other_name("other");
  auto m = cm::ManagedSharedMemory::create(name, 256 << 10);
  auto other = cm::ManagedSharedMemory::create(other_name, 256 << 10);
  auto* a = static_cast<std::byte*>(m.allocate(100));
  auto* b = static_cast<std::byte*>(m.allocate(100));
  auto* c = static_cast<std::byte*>(m.allocate(100));
  auto* theirs = static_cast<std::byte*>(other.allocate(100));
  int* named = m.construct<int>("x", 1);
  int local = 0;
  struct Case {
    const char* what;
    void* p;
    std::size_t size;
    cm::error_kind kind;
  };
  const Case cases[] = {
      {"stack", &local, 4, cm::error_kind::foreign_pointer},
      {"segment header", m.data(), 16, cm::error_kind::foreign_pointer},
      {"other segment", theirs, 100, cm::error_kind::foreign_pointer},
      {"past the heap", static_cast<std::byte*>(m.data()) + m.segment().size() + 4096, 16,
       cm::error_kind::foreign_pointer},
      {"interior +16", b + 16, 16, cm::error_kind::interior_pointer},
      {"interior +8", b + 8, 16, cm::error_kind::interior_pointer},
      {"interior +1", b + 1, 16, cm::error_kind::interior_pointer},
      {"named object", named, sizeof(int), cm::error_kind::interior_pointer},
      {"size too large", b, 4096, cm::error_kind::invalid_size},
  };
  const auto before = m.statistics();
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    test::MisuseCapture capture;
    m.deallocate(k.p, k.size);
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, k.kind) << capture.last().text;
    EXPECT_EQ(capture.last().address, k.p);
    EXPECT_EQ(capture.last().allocator, "core::memory::ManagedSharedMemory");
    EXPECT_EQ(m.statistics().live_blocks, before.live_blocks);
    expect_valid(m);
  }
  // Double frees: plain, after merging with a free neighbour on either side, through the batch.
  {
    test::MisuseCapture capture;
    m.deallocate(b, 100);
    m.deallocate(b, 100);
    m.deallocate(a, 100);  // a merges with b
    m.deallocate(b, 100);
    m.deallocate(a, 100);
    void* again[] = {c, c};
    m.deallocate_many(again, 2, 100);
    ASSERT_EQ(capture.count(), 4u);
    for (const auto& r : test::MisuseCapture::reports()) EXPECT_EQ(r.kind, cm::error_kind::double_free) << r.text;
    expect_valid(m);
  }
  EXPECT_TRUE(m.destroy<int>("x"));
  other.deallocate(theirs, 100);
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  expect_valid(m);
}

struct Counted {
  static inline int live = 0;
  [[maybe_unused]] static inline int throw_at = -1;  // the constructor that throws (counting from 0), -1: none
  static inline int made = 0;
  int v;
  explicit Counted(int x) : v(x) {
#if CORE_MEMORY_EXCEPTIONS
    if (made == throw_at) throw std::runtime_error("no");
#endif
    ++made;
    ++live;
  }
  ~Counted() { --live; }
};

// A constructor that builds another named object, and a destructor that destroys one (and tries
// to destroy itself).
struct Outer {
  cm::ManagedSharedMemory* m;
  int* inner;
  explicit Outer(cm::ManagedSharedMemory* s) : m(s), inner(s->construct<int>("inner", 7)) {
    EXPECT_EQ(s->find<Outer>("outer"), nullptr);  // being built: not found yet
#if CORE_MEMORY_EXCEPTIONS
    EXPECT_THROW((void)s->construct<Outer>("outer", s), std::system_error);
#endif
  }
  ~Outer() {
    EXPECT_TRUE(m->destroy<int>("inner"));
    EXPECT_FALSE(m->destroy<Outer>("outer"));  // being destroyed: not there any more
  }
};

TEST(ManagedReview, NamedObjectsUnderAttack) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 256 << 10);
  const auto base = m.statistics();
  // Arrays of 0 elements exist, are found and destroyed.
  std::span<Counted> none = m.construct_array<Counted>("none", 0, 1);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(m.find_array<Counted>("none").size(), 0u);
  EXPECT_NE(m.find<Counted>("none"), nullptr);
  EXPECT_TRUE(m.destroy<Counted>("none"));
  EXPECT_FALSE(m.destroy<Counted>("none"));
#if CORE_MEMORY_EXCEPTIONS
  // A constructor throwing at each element: the built ones are destroyed, no entry, no block.
  for (int k = 0; k < 5; ++k) {
    Counted::made = 0;
    Counted::throw_at = k;
    EXPECT_THROW((void)m.construct_array<Counted>("arr", 5, 3), std::runtime_error) << k;
    EXPECT_EQ(Counted::live, 0) << k;
    EXPECT_EQ(m.named_count(), 0u);
    EXPECT_EQ(m.find<Counted>("arr"), nullptr);
    EXPECT_EQ(m.statistics().live_blocks, base.live_blocks) << k;
  }
  Counted::throw_at = -1;
  // Same name, other types: an error naming both; the object is intact.
  (void)m.construct<Counted>("c", 5);
  EXPECT_THROW((void)m.find<int>("c"), std::system_error);
  EXPECT_THROW((void)m.destroy<long>("c"), std::system_error);
  EXPECT_THROW((void)m.construct<int>("c", 1), std::system_error);
  EXPECT_THROW((void)m.find_or_construct<int>("c", 1), std::system_error);
  EXPECT_EQ(m.find<Counted>("c")->v, 5);
  EXPECT_TRUE(m.destroy<Counted>("c"));
  EXPECT_THROW((void)m.construct<int>("", 1), std::system_error);
  EXPECT_THROW((void)m.construct_array<Counted>("huge", SIZE_MAX / 2, 1), std::bad_alloc);
  EXPECT_THROW((void)m.construct_array<Counted>("big", std::size_t{1} << 40, 1), cm::out_of_memory);
  EXPECT_EQ(Counted::live, 0);
#endif
  // Nested construction and destruction.
  Outer* o = m.construct<Outer>("outer", &m);
  EXPECT_EQ(*m.find<int>("inner"), 7);
  EXPECT_EQ(m.find<Outer>("outer"), o);
  EXPECT_EQ(m.named_count(), 2u);
  EXPECT_TRUE(m.destroy<Outer>("outer"));
  EXPECT_EQ(m.named_count(), 0u);
  EXPECT_EQ(m.statistics().live_blocks, base.live_blocks);
  expect_valid(m);
}

// Defect: a survivor repairing the directory found the heap beyond repair; the error left the
// directory's mutex held by the survivor, so every other process blocked in find() for as long
// as the survivor lived, instead of learning that the segment is not recoverable.
TEST(ManagedReview, AFailedDirectoryRepairReleasesTheDirectory) {
#if CORE_MEMORY_EXCEPTIONS
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto* p = static_cast<std::byte*>(m.allocate(64));
  ASSERT_EQ(test::in_fork([&] {
              cm::detail::directory_lock(m.control());  // dies holding the directory
              cm::detail::heap_lock_for_test(m.control());  // and the heap, after an overrun
              std::memset(p - 8, 0x41, 8);
              return 0;
            }),
            0);
  EXPECT_THROW((void)m.find<int>("x"), std::system_error);
  const int status = test::in_fork([&] {
    ::alarm(5);  // blocked: killed by SIGALRM
    try {
      (void)m.find<int>("x");
    } catch (const std::system_error& e) {
      return e.code().value() == ENOTRECOVERABLE ? 0 : 2;
    }
    return 1;
  });
  EXPECT_EQ(status, 0);
#else
  GTEST_SKIP() << "without exceptions an unrepairable segment aborts by design";
#endif
}

// Defect: a block aligned to more than a page was aligned only in the process that allocated it:
// the heap aligns addresses, and each process mapped the segment at a merely page-aligned
// address. Segments are now mapped at 2 MiB boundaries, and alignments above that (which no
// mapping could keep) are refused.
TEST(ManagedReview, LargeAlignmentsHoldInEveryMapping) {
  test::ShmName name;
  // (Linux aligns mappings of 2 MiB and more to 2 MiB by itself: the small one is the test.)
  for (const std::size_t max : {std::size_t{1} << 20, std::size_t{64} << 20})
  for (const std::size_t align : {std::size_t{8192}, std::size_t{65536}, std::size_t{512} << 10, std::size_t{2} << 20}) {
    SCOPED_TRACE(testing::Message() << "max_size " << max << " align " << align);
    if (align >= max) continue;
    (void)cm::SharedMemory::remove(name);
    cm::SharedMemoryOptions options;
    options.max_size = max;
    auto m = cm::ManagedSharedMemory::create(name, 256 << 10, options);
    std::vector<cm::ManagedSharedMemory> views;
    std::vector<void*> spacers;  // so that the views are not placed at the same offsets from one another
    for (int i = 0; i < 4; ++i) {
      spacers.push_back(::mmap(nullptr, 4096 * static_cast<std::size_t>(i + 1), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      views.push_back(cm::ManagedSharedMemory::open(name));
    }
    void* p = m.allocate(100, align);
    ASSERT_TRUE(cm::is_aligned(p, align));
    for (const auto& v : views) EXPECT_TRUE(cm::is_aligned(v.address_of(m.offset_of(p)), align)) << v.data();
    m.deallocate(p, 100, align);
    for (std::size_t i = 0; i < spacers.size(); ++i) ::munmap(spacers[i], 4096 * (i + 1));
    EXPECT_TRUE(cm::is_aligned(m.segment().data(), std::size_t{2} << 20));
    EXPECT_EQ(m.try_allocate(100, std::size_t{4} << 20), nullptr);
    expect_valid(m);
  }
}

int kill_at_step = -1;

// A process killed at each ordered step of growth (the object lengthened, the new sentinel
// written, the old one turned into a free block): the survivor repairs the heap, which is valid,
// and grows on to max_size.
TEST(ManagedReview, KilledDuringGrowth) {
  if constexpr (!cm::checks::debug) GTEST_SKIP() << "the step hook is in debug builds";
  for (const int step : {30, 31, 1, 2}) {
    SCOPED_TRACE(step);
    test::ShmName name;
    cm::SharedMemoryOptions options;
    options.max_size = 4 << 20;
    auto m = cm::ManagedSharedMemory::create(name, 64 << 10, options);
    void* small = m.allocate(100);
    kill_at_step = step;
    const int status = test::in_fork([&] {
      cm::detail::segment_heap_step_hook = [](int s) noexcept {
        if (s == kill_at_step) ::raise(SIGKILL);
      };
      (void)m.allocate(1 << 20);
      return 0;
    });
    EXPECT_EQ(status, 128 + SIGKILL);
    EXPECT_EQ(m.validate(), nullptr);
    EXPECT_EQ(m.repairs(), 1u);
    EXPECT_EQ(m.statistics().live_blocks, step == 2 ? 2u : 1u);  // at step 2 the child had its block: leaked
    void* big = m.try_allocate(2 << 20);
    EXPECT_NE(big, nullptr);
    m.deallocate(big, 2 << 20);
    m.deallocate(small, 100);
    expect_valid(m);
  }
}

}  // namespace
