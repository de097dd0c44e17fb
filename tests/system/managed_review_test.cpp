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
#include <cstdint>
#include <cstring>
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
  const std::size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 128, 4096, std::size_t{1} << 16, std::size_t{1} << 20,
                                std::size_t{1} << 40, std::size_t{1} << 46, std::size_t{1} << 47,
                                std::size_t{1} << 48, std::size_t{1} << 63};
  for (const std::size_t size : sizes) {
    for (const std::size_t align : aligns) {
      SCOPED_TRACE(testing::Message() << "size " << size << " align " << align);
      const bool fits = size <= m.max_size() && align <= (1u << 20);
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
  std::atomic_thread_fence(std::memory_order_seq_cst);
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
// (fallocate), so a segment /dev/shm cannot hold is exhaustion.
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

}  // namespace
