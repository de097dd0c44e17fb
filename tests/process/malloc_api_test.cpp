// The C and C++ allocation interface of libcore_memory_malloc, linked in so that it is this
// process's allocator (gtest included): every edge case of the C semantics, operator new and
// its new-handler, threads that exit holding memory, cross-thread frees, fork in a threaded
// program, and allocation before main and after exit.

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

// The failing calls below are meant to fail: sizes come through opaque() so the compiler does not
// reject them, and a block a failed realloc left alone is legitimately used after it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

namespace {

std::size_t opaque(std::size_t n) {
  volatile std::size_t v = n;
  return v;
}

bool aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

/// Allocated by a static constructor, before main.
struct EarlyBird {
  char* text;
  EarlyBird() : text(static_cast<char*>(std::malloc(64))) { std::strcpy(text, "allocated before main"); }
};
EarlyBird early;

/// Allocates and frees after main returned, from an exit handler.
const int registered = std::atexit([] {
  void* p = std::malloc(1000);
  std::memset(p, 1, 1000);
  std::free(p);
  std::free(early.text);
});

TEST(Malloc, IsTheProcessAllocator) {
  Dl_info info{};
  ASSERT_NE(dladdr(dlsym(RTLD_DEFAULT, "malloc"), &info), 0);
  EXPECT_NE(std::string(info.dli_fname).find("libcore_memory_malloc"), std::string::npos) << info.dli_fname;
  ASSERT_NE(dladdr(dlsym(RTLD_DEFAULT, "_Znwm"), &info), 0);
  EXPECT_NE(std::string(info.dli_fname).find("libcore_memory_malloc"), std::string::npos) << info.dli_fname;
  EXPECT_STREQ(early.text, "allocated before main");
  EXPECT_EQ(registered, 0);
}

TEST(Malloc, MallocAndFree) {
  void* zero = std::malloc(0);
  ASSERT_NE(zero, nullptr);
  std::free(zero);
  std::free(nullptr);
  for (std::size_t n : {1u, 15u, 16u, 100u, 4096u, 70000u, 5u << 20}) {
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned(p, alignof(std::max_align_t)));
    EXPECT_GE(malloc_usable_size(p), n);
    std::memset(p, 0xAB, malloc_usable_size(p));
    std::free(p);
  }
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
  for (std::size_t n : {SIZE_MAX, SIZE_MAX / 2, std::size_t{PTRDIFF_MAX} + 1}) {
    errno = 0;
    EXPECT_EQ(std::malloc(opaque(n)), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST(Malloc, Calloc) {
  for (std::size_t n : {8u, 100u, 3000u, 100000u}) {
    auto* dirty = static_cast<unsigned char*>(std::malloc(n));
    std::memset(dirty, 0xFF, n);
    std::free(dirty);
    auto* p = static_cast<unsigned char*>(std::calloc(n, 1));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], 0) << n;
    std::free(p);
  }
  errno = 0;
  EXPECT_EQ(std::calloc(opaque(SIZE_MAX / 2), 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* none = std::calloc(0, 16);
  EXPECT_NE(none, nullptr);
  std::free(none);
}

TEST(Malloc, Realloc) {
  auto* p = static_cast<char*>(std::realloc(nullptr, 10));  // as malloc
  ASSERT_NE(p, nullptr);
  std::strcpy(p, "core-mem");
  for (std::size_t n : {20u, 200u, 5000u, 100000u, 10u << 20, 64u, 9u}) {
    p = static_cast<char*>(std::realloc(p, n));
    ASSERT_NE(p, nullptr);
    EXPECT_STREQ(p, "core-mem") << n;
  }
  errno = 0;
  EXPECT_EQ(std::realloc(p, opaque(SIZE_MAX)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_STREQ(p, "core-mem") << "a failed realloc leaves the block";
  errno = 0;
  EXPECT_EQ(reallocarray(p, opaque(SIZE_MAX / 2), 4), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  p = static_cast<char*>(reallocarray(p, 100, 4));
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p, "core-mem");
  EXPECT_EQ(std::realloc(p, 0), nullptr) << "realloc(p, 0) frees p and returns null, as glibc's";
}

TEST(Malloc, AlignedForms) {
  void* p = nullptr;
  for (std::size_t a : {std::size_t{0}, std::size_t{3}, std::size_t{4}, std::size_t{24}, sizeof(void*) * 3}) {
    errno = 0;
    EXPECT_EQ(posix_memalign(&p, a, 16), EINVAL) << a;
    EXPECT_EQ(errno, 0) << "posix_memalign reports through its result";
  }
  for (std::size_t a : {std::size_t{8}, std::size_t{16}, std::size_t{64}, std::size_t{4096}, std::size_t{1} << 21}) {
    for (std::size_t n : {0u, 1u, 100u, 5000u, 200000u}) {
      ASSERT_EQ(posix_memalign(&p, a, n), 0);
      EXPECT_TRUE(aligned(p, a)) << a << " " << n;
      std::memset(p, 1, n);
      std::free(p);
    }
  }
  EXPECT_EQ(posix_memalign(&p, 64, opaque(SIZE_MAX / 2)), ENOMEM);
  errno = 0;
  EXPECT_EQ(aligned_alloc(opaque(3), 16), nullptr);
  EXPECT_EQ(errno, EINVAL);
  void* q = aligned_alloc(256, 1000);
  EXPECT_TRUE(aligned(q, 256));
  std::free(q);
  void* m = memalign(opaque(100), 10);  // rounded up to 128, as glibc does
  EXPECT_TRUE(aligned(m, 128));
  std::free(m);
  const auto page = static_cast<std::size_t>(getpagesize());
  void* v = valloc(10);
  EXPECT_TRUE(aligned(v, page));
  std::free(v);
  void* pv = pvalloc(1);
  EXPECT_TRUE(aligned(pv, page));
  EXPECT_GE(malloc_usable_size(pv), page);
  std::free(pv);
  void* pv0 = pvalloc(0);
  EXPECT_GE(malloc_usable_size(pv0), page);
  std::free(pv0);
}

int handler_calls = 0;

TEST(Malloc, OperatorNew) {
  auto* i = new int(7);
  auto* a = new int[100]();
  EXPECT_EQ(*i, 7);
  EXPECT_EQ(a[99], 0);
  delete i;
  delete[] a;
  struct alignas(4096) Page {
    char bytes[4096];
  };
  auto* pg = new Page;
  EXPECT_TRUE(aligned(pg, 4096));
  delete pg;
  auto* pgs = new Page[3];
  EXPECT_TRUE(aligned(pgs, 4096));
  delete[] pgs;
  EXPECT_EQ(::operator new(opaque(SIZE_MAX / 2), std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX / 2), std::align_val_t{64}, std::nothrow), nullptr);
#if defined(__cpp_exceptions)
  EXPECT_THROW((void)::operator new(opaque(SIZE_MAX / 2)), std::bad_alloc);
  EXPECT_THROW((void)::operator new(opaque(SIZE_MAX / 2), std::align_val_t{128}), std::bad_alloc);
  // The new-handler runs on failure; here it gives up by uninstalling itself.
  handler_calls = 0;
  std::set_new_handler([] {
    ++handler_calls;
    std::set_new_handler(nullptr);
  });
  EXPECT_THROW((void)::operator new(opaque(SIZE_MAX / 2)), std::bad_alloc);
  EXPECT_EQ(handler_calls, 1);
#endif
  void* al = ::operator new(100, std::align_val_t{512});
  EXPECT_TRUE(aligned(al, 512));
#if defined(__cpp_sized_deallocation)  // clang 14 leaves it off by default
  void* s = ::operator new(48);
  ::operator delete(s, 48);
  ::operator delete(al, 100, std::align_val_t{512});
#else
  ::operator delete(al, std::align_val_t{512});
#endif
}

TEST(Malloc, ThreadsExitHoldingMemoryAndFreesCrossThreads) {
  std::vector<void*> orphans;
  for (int round = 0; round < 8; ++round) {
    std::thread([&] {
      for (int i = 0; i < 2000; ++i) orphans.push_back(std::malloc(static_cast<std::size_t>(16 + i % 3000)));
    }).join();
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> freers;
  for (int t = 0; t < 4; ++t)
    freers.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < orphans.size();) std::free(orphans[i]);
    });
  for (auto& t : freers) t.join();
}

TEST(Malloc, ForkInAThreadedProgram) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t)
    workers.emplace_back([&] {
      std::vector<void*> mine;
      while (!stop.load()) {
        mine.push_back(std::malloc(64 + mine.size() % 512));
        if (mine.size() > 200) {
          for (void* p : mine) std::free(p);
          mine.clear();
        }
      }
      for (void* p : mine) std::free(p);
    });
  for (int i = 0; i < 5; ++i) {
    const pid_t child = fork();
    if (child == 0) {
      std::vector<std::string> words;
      for (int k = 0; k < 10000; ++k) words.push_back(std::string(static_cast<std::size_t>(k % 100), 'x'));
      std::thread([&] { words.clear(); }).join();
      _exit(words.empty() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child could not allocate";
  }
  stop.store(true);
  for (auto& t : workers) t.join();
}

}  // namespace
