// The C and C++ allocation interface of libcore_memory_malloc, linked in so that it is this
// process's allocator (gtest included): every edge case of the C semantics, operator new and
// its new-handler, threads that exit holding memory, cross-thread frees, fork in a threaded
// program, and allocation before main and after exit.

#include <gtest/gtest.h>

#include "support/refuse_system_call.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
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

/// Resident bytes of this process (/proc/self/statm).
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0, resident = 0;
  const bool ok = f && std::fscanf(f, "%lu %lu", &pages, &resident) == 2;
  if (f) std::fclose(f);
  return ok ? resident * static_cast<std::size_t>(getpagesize()) : 0;
}

/// What a child run of this test program printed on stderr and how it ended.
struct ChildRun {
  int status = -1;
  std::string err;
};

/// Runs the scenario `name` of MallocChild.Run in a fresh copy of this program with the
/// environment `env` (the process allocator reads its switches once, at its first allocation,
/// so each setting needs its own process), its address space limited to `address_limit` bytes
/// if not 0.
ChildRun run_child(const char* name, const char* env, std::size_t address_limit = 0) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(126);
    close(fds[0]);
    close(fds[1]);
    setenv("CORE_MEMORY_TEST_CHILD", name, 1);
    if (*env) putenv(const_cast<char*>(env));
    if (address_limit) {
      const rlimit limit{address_limit, address_limit};
      if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(126);
    }
    char self[] = "/proc/self/exe";
    char filter[] = "--gtest_filter=MallocChild.Run";
    char* argv[] = {self, filter, nullptr};
    execv(self, argv);
    _exit(127);
  }
  close(fds[1]);
  ChildRun run;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) run.err.append(buffer, static_cast<std::size_t>(n));
  close(fds[0]);
  waitpid(pid, &run.status, 0);
  return run;
}

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
  for (std::size_t a : {std::size_t{32}, std::size_t{4096}, std::size_t{8192}}) {
    errno = 0;
    EXPECT_EQ(aligned_alloc(a, opaque(SIZE_MAX - 100)), nullptr) << a;
    EXPECT_EQ(errno, ENOMEM) << a;
    errno = 0;
    EXPECT_EQ(posix_memalign(&p, a, opaque(SIZE_MAX - 100)), ENOMEM) << a;
    EXPECT_EQ(errno, 0) << a;
  }
  // An alignment that is not a power of two is rounded up, as glibc 2.36's aligned_alloc (its
  // memalign) does: a program that works with it must work here (2.38 refuses them instead).
  for (const auto& [a, rounded] : {std::pair<std::size_t, std::size_t>{0, 1}, {3, 4}, {24, 32}, {48, 64}, {100, 128},
                                   {4096 * 3, 16384}}) {
    errno = 0;
    void* r = aligned_alloc(opaque(a), 100);
    ASSERT_NE(r, nullptr) << a;
    EXPECT_TRUE(aligned(r, std::max(rounded, alignof(std::max_align_t)))) << a;  // (0 and 1: malloc's)
    EXPECT_EQ(errno, 0) << a;
    std::memset(r, 1, 100);
    std::free(r);
  }
  errno = 0;
  EXPECT_EQ(aligned_alloc(opaque(SIZE_MAX / 2 + 2), 16), nullptr);  // beyond glibc's limit
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

// Every aligned form at every power-of-two alignment up to 8192 (beyond the classes' 4096: a large
// block) and sizes around the class steps: aligned, distinct, and all of malloc_usable_size
// writable at once (a class too small for the request would overlap its neighbour's pattern);
// posix_memalign leaves errno alone on success as on failure.
TEST(Malloc, EveryAlignedFormAtEveryAlignmentAndSize) {
  struct Block {
    void* p;
    std::size_t usable;
    int form;  // 0 aligned_alloc, 1 posix_memalign, 2 memalign, 3 new, 4 new nothrow
    std::size_t align, size;
  };
  for (std::size_t a = 1; a <= 8192; a *= 2) {
    std::vector<Block> blocks;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, a - 1, a, a + 1, 2 * a + 1, std::size_t{500},
                          std::size_t{520}, std::size_t{1000}, std::size_t{1025}, std::size_t{4097},
                          std::size_t{8193}, std::size_t{40000}, std::size_t{65535}, std::size_t{65536},
                          std::size_t{65537}}) {
      for (int form = 0; form < 5; ++form) {
        void* p = nullptr;
        switch (form) {
          case 0: p = aligned_alloc(opaque(a), n); break;
          case 1:
            if (a < sizeof(void*)) continue;
            errno = 12345;
            ASSERT_EQ(posix_memalign(&p, opaque(a), n), 0);
            EXPECT_EQ(errno, 12345) << "posix_memalign changed errno";
            break;
          case 2: p = memalign(opaque(a), n); break;
          case 3: p = ::operator new(n, std::align_val_t{a}); break;
          default: p = ::operator new(n, std::align_val_t{a}, std::nothrow); break;
        }
        ASSERT_NE(p, nullptr) << "form " << form << ", alignment " << a << ", size " << n;
        EXPECT_TRUE(aligned(p, a)) << "form " << form << ", alignment " << a << ", size " << n;
        const std::size_t usable = malloc_usable_size(p);
        EXPECT_GE(usable, n) << "form " << form << ", alignment " << a << ", size " << n;
        blocks.push_back({p, usable, form, a, n});
      }
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) std::memset(blocks[i].p, static_cast<int>(i % 251), blocks[i].usable);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const auto* b = static_cast<const unsigned char*>(blocks[i].p);
      const auto expected = static_cast<unsigned char>(i % 251);
      EXPECT_EQ(std::count(b, b + blocks[i].usable, expected), static_cast<std::ptrdiff_t>(blocks[i].usable))
          << "block " << i << " overwritten: alignment " << blocks[i].align << ", size " << blocks[i].size;
    }
    for (const Block& b : blocks) {
      if (b.form >= 3)
        ::operator delete(b.p, std::align_val_t{b.align});
      else
        std::free(b.p);
    }
  }
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

TEST(Malloc, NothrowNewRunsTheNewHandler) {
  // Every operator new, nothrow ones too, calls the new-handler before giving up ([new.delete]),
  // with or without exceptions.
  for (int form = 0; form < 4; ++form) {
    handler_calls = 0;
    std::set_new_handler([] {
      ++handler_calls;
      std::set_new_handler(nullptr);
    });
    const std::size_t n = opaque(SIZE_MAX / 2);
    void* p = form == 0   ? ::operator new(n, std::nothrow)
              : form == 1 ? ::operator new[](n, std::nothrow)
              : form == 2 ? ::operator new(n, std::align_val_t{64}, std::nothrow)
                          : ::operator new[](n, std::align_val_t{64}, std::nothrow);
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(handler_calls, 1) << "form " << form;
    std::set_new_handler(nullptr);
  }
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

TEST(Malloc, MemoryOfExitedThreadsGoesBack) {
  // Many threads at once, each using every size class and freeing everything, then exiting: what
  // they took must not stay resident for the rest of the process (glibc: +3 MiB here).
  constexpr int threads = 32;
  const std::size_t before = resident_bytes();
  std::barrier all(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      std::vector<void*> blocks;
      for (int round = 0; round < 3; ++round) {
        for (std::size_t size = 16; size <= 65536; size = size * 3 / 2 + 16)
          for (int k = 0; k < 40; ++k) {
            blocks.push_back(std::malloc(size));
            std::memset(blocks.back(), 1, size);
          }
        for (void* p : blocks) std::free(p);
        blocks.clear();
      }
      all.arrive_and_wait();  // every thread holds its heap at once
    });
  for (auto& w : workers) w.join();
  const std::size_t after = resident_bytes();
  EXPECT_LT(after - before, std::size_t{16} << 20) << "resident after the threads exited: +" << ((after - before) >> 20)
                                                    << " MiB";
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

TEST(Malloc, CallocOfALargeBlockTouchesNoPage) {
  // A large block is a fresh mapping, zero already: calloc must not write it (glibc does not),
  // or calloc(n, 1) of a sparse table costs n bytes of memory at once.
  constexpr std::size_t n = std::size_t{256} << 20;
  const std::size_t before = resident_bytes();
  auto* p = static_cast<unsigned char*>(std::calloc(opaque(n), 1));
  ASSERT_NE(p, nullptr);
  const std::size_t after = resident_bytes();
  EXPECT_LT(after - before, std::size_t{32} << 20) << "calloc touched every page";
  for (std::size_t i = 0; i < n; i += std::size_t{1} << 20) ASSERT_EQ(p[i], 0) << i;
  std::free(p);
}

// (Runs after EveryAlignedFormAtEveryAlignmentAndSize, which leaves every kept-mapping slot
// taken by sizes this test never asks for: it passes only because the oldest makes room.)
TEST(Malloc, ALargeBufferFreedAndAllocatedInALoopIsReused) {
  // A buffer allocated, filled and freed in a loop (I/O buffers, temporary vectors) must
  // not cost a fresh mapping and its page faults each time: glibc serves it from its heap.
  auto minor_faults = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  };
  const auto page = static_cast<std::size_t>(getpagesize());
  constexpr int rounds = 500;
  // 100 KB: a size class (a mapping of its own until stop 28); 3 MiB: a kept mapping.
  for (const std::size_t size : {std::size_t{100000}, std::size_t{3} << 20}) {
    const long before = minor_faults();
    for (int i = 0; i < rounds; ++i) {
      const std::size_t n = opaque(size + static_cast<std::size_t>(i % 7) * 1000);
      auto* p = static_cast<unsigned char*>(std::malloc(n));
      ASSERT_NE(p, nullptr);
      for (std::size_t k = 0; k < n; k += page) p[k] = 1;
      std::free(p);
    }
    const long faults = minor_faults() - before;
    // The first round faults its pages in; the others none.
    EXPECT_LT(faults, rounds + static_cast<long>(size / page)) << size << ": every round mapped and faulted its buffer anew (" << faults << " faults)";
  }
}

// malloc_trim (glibc's) gives back what is kept for reuse: here a freed 16 MiB block, kept with
// its memory, is unmapped.
TEST(Malloc, MallocTrimGivesBackKeptMemory) {
  constexpr std::size_t n = std::size_t{16} << 20;
  const auto page = static_cast<std::size_t>(getpagesize());
  auto* p = static_cast<unsigned char*>(std::malloc(opaque(n)));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  asm volatile("" : : "r"(p) : "memory");  // the stores are not dead before the free
  std::free(p);
  auto* first = reinterpret_cast<unsigned char*>(reinterpret_cast<std::uintptr_t>(p) / page * page);
  std::vector<unsigned char> in(n / page);
  ASSERT_EQ(mincore(first, n, in.data()), 0) << "kept: still mapped";
  EXPECT_EQ(static_cast<std::size_t>(std::count_if(in.begin(), in.end(), [](unsigned char v) { return v & 1; })), n / page)
      << "kept with its memory";
  EXPECT_EQ(malloc_trim(0), 1);
  EXPECT_NE(mincore(first, page, in.data()), 0) << "unmapped";
}

TEST(Malloc, MemalignRejectsOnlyAlignmentsThatCannotBeRoundedUp) {
  // glibc: EINVAL above SIZE_MAX / 2 + 1 only; below, the alignment is rounded up to a power of
  // two and the request fails for want of memory (ENOMEM).
  errno = 0;
  EXPECT_EQ(memalign(opaque((std::size_t{1} << 62) + 1), 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(memalign(opaque((std::size_t{1} << 63) + 1), 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

/// free and every delete leave errno as it was (glibc since 2.33, POSIX.1-2024), for every kind
/// of block: small, medium, large (kept mapped when freed), aligned beyond a page. Aborts
/// (with the kind) on the first that changes it, so it can run in a child as well.
void expect_free_keeps_errno() {
  const auto check = [](const char* what, auto free_it) {
    errno = 12345;
    free_it();
    __asm__ volatile("" : : : "memory");  // errno read from memory: the compilers model free as leaving it alone
    if (errno != 12345) {
      std::fprintf(stderr, "errno changed by %s: %d\n", what, errno);
      std::abort();
    }
  };
  // Every block escapes (the compilers may drop an allocation whose result is only freed, or
  // fold its test against null).
  const auto escape = [](void* block) {
    __asm__ volatile("" : "+r"(block) : : "memory");
    return block;
  };
  for (const std::size_t n : {std::size_t{16}, std::size_t{1000}, std::size_t{100000}, std::size_t{3} << 20}) {
    void* p = escape(std::malloc(opaque(n)));
    check("free", [&] { std::free(p); });
    void* q = escape(std::malloc(opaque(n)));
    check("realloc to 0", [&] {  // frees q
      if (void* r = std::realloc(q, 0)) {
        std::fprintf(stderr, "realloc(p, 0) returned %p\n", r);
        std::abort();
      }
    });
    void* a = escape(aligned_alloc(8192, opaque(n)));
    check("free of an aligned block", [&] { std::free(a); });
    void* d = escape(::operator new(n, std::align_val_t{256}));
#if defined(__cpp_sized_deallocation)  // clang 14 leaves it off by default
    char* c = static_cast<char*>(escape(new char[n]));
    check("sized delete[]", [&] { ::operator delete[](c, n); });
    check("aligned sized delete", [&] { ::operator delete(d, n, std::align_val_t{256}); });
#else
    check("aligned delete", [&] { ::operator delete(d, std::align_val_t{256}); });
#endif
  }
  check("free(NULL)", [] { std::free(nullptr); });
}

/// The scenarios run_child starts (skipped in a normal run).
TEST(MallocChild, Run) {
  const char* name = std::getenv("CORE_MEMORY_TEST_CHILD");
  if (!name) GTEST_SKIP() << "run by the tests below, in a child process";
  const std::string scenario = name;
  void* volatile p = nullptr;
  if (scenario == "double_free_small" || scenario == "double_free_kept" || scenario == "double_free_large") {
    // A small block, a large one whose mapping is kept for reuse, one whose mapping is unmapped.
    p = std::malloc(scenario == "double_free_small"  ? 100
                    : scenario == "double_free_kept" ? 100000
                                                     : std::size_t{1} << 20);
    void* q = p;
    std::free(q);
    std::free(p);
  } else if (scenario == "realloc_after_free") {
    p = std::malloc(100);
    void* q = p;
    std::free(q);
    p = std::realloc(p, 60);  // fits in place: must not hand the freed block back as live
  } else if (scenario == "foreign_at_mapping_start") {
    // A pointer at the start of a mapping with nothing mapped before it.
    const auto page = static_cast<std::size_t>(getpagesize());
    auto* two = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(two, MAP_FAILED);
    munmap(two, page);
    p = two + page;
    std::free(p);
  } else if (scenario == "sized_delete_small" || scenario == "sized_delete_large") {
    const bool small = scenario == "sized_delete_small";
    p = ::operator new(small ? 32 : 100000);
#if defined(__cpp_sized_deallocation)
    ::operator delete(p, small ? std::size_t{5000} : std::size_t{16});
#else
    std::_Exit(77);
#endif
  } else if (scenario == "medium_blocks_under_a_limit") {
    // Blocks of the classes whose slabs (2-16 MiB) are larger than the class ranges a limit of a
    // few hundred MB leaves (2-4 MiB): served as large blocks. (A slab was placed past its range's
    // end: a crash, or writes into another mapping.)
    for (int round = 0; round < 4; ++round) {
      std::vector<unsigned char*> blocks;
      for (const std::size_t n : {std::size_t{1} << 20, std::size_t{900000}, std::size_t{600000}, std::size_t{200000},
                                  std::size_t{70000}}) {
        for (int i = 0; i < 3; ++i) {
          auto* b = static_cast<unsigned char*>(std::malloc(n));
          ASSERT_NE(b, nullptr) << n;
          std::memset(b, static_cast<int>(n % 251), n);
          blocks.push_back(b);
        }
      }
      for (unsigned char* b : blocks) {
        const std::size_t n = malloc_usable_size(b);
        ASSERT_GE(n, std::size_t{70000});
        std::free(b);
      }
    }
    std::fputs("no report\n", stderr);
  } else if (scenario == "small_address_space") {
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < 20000; ++i) {
      blocks.push_back(std::malloc(16 + i % 5000));
      ASSERT_NE(blocks.back(), nullptr) << i;
      std::memset(blocks.back(), 1, 16);
    }
    for (void* b : blocks) std::free(b);
    // The class ranges fit in the limit: small blocks come from them (a block of its class's
    // size), not from a page mapping each (usable size 4032), which ran out at 250,000.
    blocks.clear();
    for (std::size_t i = 0; i < 200000; ++i) {
      blocks.push_back(std::malloc(16));
      ASSERT_NE(blocks.back(), nullptr) << i;
      ASSERT_EQ(malloc_usable_size(blocks.back()), 16u) << i;
    }
    for (void* b : blocks) std::free(b);
    // A million: more than class 16's range holds (2 MiB under this limit). The rest come from
    // chunks the class maps beyond it, not a page mapping each (which ran out at 412,000 or
    // fewer), and keep their class: sized deletes with their size are not misuse in checked mode.
    blocks.clear();
    for (std::size_t i = 0; i < 1'000'000; ++i) {
      blocks.push_back(i % 2 ? std::malloc(16) : ::operator new(16));
      ASSERT_NE(blocks.back(), nullptr) << i;
      std::memset(blocks.back(), static_cast<int>(i), 16);
    }
    ASSERT_EQ(malloc_usable_size(blocks.back()), 16u) << "not a block of class 16";
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(*static_cast<unsigned char*>(blocks[i]), static_cast<unsigned char>(i)) << i;
#if defined(__cpp_sized_deallocation)
      if (i % 2 == 0) {
        ::operator delete(blocks[i], std::size_t{16});
        continue;
      }
#endif
      std::free(blocks[i]);
    }
  } else if (scenario == "free_keeps_errno") {
    expect_free_keeps_errno();
  } else if (scenario == "free_keeps_errno_when_munmap_fails") {
    // A block beyond the kept mappings (32 MiB) is unmapped when freed; munmap refused (as at
    // vm.max_map_count) leaves its memory purged and its errno (ENOMEM) must not reach the caller.
    auto* big = static_cast<char*>(std::malloc(opaque(std::size_t{64} << 20)));
    if (!big) std::abort();
    std::memset(big, 1, 4096);
    if (!test::refuse_system_call(SYS_munmap, ENOMEM)) {
      std::fputs("no seccomp filter here\n", stderr);
      _exit(77);
    }
    errno = 12345;
    std::free(big);
    __asm__ volatile("" : : : "memory");
    const int after = errno;
    std::fprintf(stderr, after == 12345 ? "no report\n" : "errno changed by free: %d\n", after);
    _exit(after == 12345 ? 0 : 1);  // (nothing more to unmap)
  } else if (scenario == "stats") {
    p = std::malloc(std::size_t{1} << 20);
    void* volatile small = std::malloc(260);  // class 272 (16-byte steps to 512)
    (void)small;
  }
  std::fputs("no report\n", stderr);
}

TEST(Malloc, CheckedModeReportsEveryMisuseWithItsAddress) {
  struct Case {
    const char* scenario;
    const char* expected;
  };
  // A freed large block's header is gone (unmapped: reported as a pointer that is no block, "...
  // or a large block freed already", not a crash) or marked freed (kept for reuse: a double free).
  for (const Case& c : {Case{"double_free_small", "double free"}, Case{"double_free_kept", "double free"},
                        Case{"double_free_large", "fre"},
                        Case{"realloc_after_free", "already free"}, Case{"foreign_at_mapping_start", "foreign pointer"},
                        Case{"sized_delete_small", "invalid size"}, Case{"sized_delete_large", "invalid size"}}) {
    const ChildRun run = run_child(c.scenario, "CORE_MEMORY_MALLOC_CHECK=1");
    if (WIFEXITED(run.status) && WEXITSTATUS(run.status) == 77) continue;  // no sized delete here
    EXPECT_TRUE(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGABRT)
        << c.scenario << ": not aborted by the misuse handler (status " << run.status << ")\n" << run.err;
    EXPECT_NE(run.err.find(c.expected), std::string::npos) << c.scenario << ":\n" << run.err;
    EXPECT_NE(run.err.find(" at 0x"), std::string::npos) << c.scenario << ": no address\n" << run.err;
  }
}

TEST(Malloc, WorksUnderASmallAddressSpaceLimit) {
  // ulimit -v 1 GiB: the class ranges cannot all be reserved; glibc's malloc works, so must this.
  for (const char* env : {"", "CORE_MEMORY_MALLOC_CHECK=1"}) {
    const ChildRun run = run_child("small_address_space", env, std::size_t{1} << 30);
    EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0)
        << env << " status " << run.status << "\n" << run.err;
    EXPECT_NE(run.err.find("no report"), std::string::npos) << env << "\n" << run.err;
  }
}

TEST(Malloc, MediumBlocksWorkUnderAnyAddressSpaceLimit) {
  for (const std::size_t mb : {250, 300, 400, 600, 800, 1000}) {
    const ChildRun run = run_child("medium_blocks_under_a_limit", "", mb * 1000 * 1000);
    EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << mb << " MB: status " << run.status << "\n" << run.err;
    EXPECT_NE(run.err.find("no report"), std::string::npos) << mb << " MB\n" << run.err;
  }
}

TEST(Malloc, FreeKeepsErrno) {
  expect_free_keeps_errno();
  const ChildRun run = run_child("free_keeps_errno", "CORE_MEMORY_MALLOC_CHECK=1");  // the checked paths
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status << "\n" << run.err;
  EXPECT_NE(run.err.find("no report"), std::string::npos) << run.err;
  for (const char* env : {"", "CORE_MEMORY_MALLOC_CHECK=1"}) {  // with munmap failing
    const ChildRun failing = run_child("free_keeps_errno_when_munmap_fails", env);
    if (WIFEXITED(failing.status) && WEXITSTATUS(failing.status) == 77) GTEST_SKIP() << failing.err;
    EXPECT_TRUE(WIFEXITED(failing.status) && WEXITSTATUS(failing.status) == 0) << env << " " << failing.status << "\n" << failing.err;
    EXPECT_NE(failing.err.find("no report"), std::string::npos) << env << "\n" << failing.err;
  }
}

TEST(Malloc, StatisticsSwitch) {
  const ChildRun run = run_child("stats", "CORE_MEMORY_MALLOC_STATS=1");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.err;
  EXPECT_NE(run.err.find("core-memory malloc"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(" large blocks ("), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("class   272 bytes:      1 slabs of   16384 bytes (0 spare), "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(" blocks in thread caches\n"), std::string::npos) << run.err;
}

}  // namespace
