// The system layer: reading a file through MemoryMappedFile against pread(2)/read(2), and an
// Arena growing inside one VirtualMemory reservation against one growing through malloc.
//
// The file (CORE_MEMORY_BENCH_FILE_MIB, default 256 MiB: 8x this machine's 32 MiB L3) is
// written once per process into a temporary directory and is in the page cache, so the rows
// compare the cost of getting at cached file data, not the disk. Rows:
//   file_random_read/<impl>/64   one random 64-byte-aligned 64-byte read (ns per read); the
//                                reads are independent, so the processor overlaps their misses
//   file_random_read_chained/... each read's offset comes from the previous read's data (latency)
//   memory_random_read_chained/<impl>/<MiB>  the chained walk over anonymous memory of the
//                                file's size on huge pages or base pages (the TLB's share)
//   file_scan/<impl>/<file MiB>  a sequential pass summing every 64-bit word (ns per MiB)
//   arena_growth/<impl>/256      a fresh arena takes 64 MiB in 256-byte pieces, touching each,
//                                then is destroyed (ns per allocation, growth included)

#include <core/memory/allocator/arena.hpp>
#include <core/memory/system/huge_pages.hpp>
#include <core/memory/system/memory_mapped.hpp>
#include <core/memory/system/virtual_memory.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace cm = core::memory;

namespace {

std::size_t file_mib();

/// The test file, made once: random-looking 64-bit words, removed at exit.
struct TestFile {
  std::filesystem::path dir, path;
  std::size_t size = 0;
  int fd = -1;

  TestFile() {
    size = file_mib() << 20;
    std::string tmpl = (std::filesystem::temp_directory_path() / "core-memory-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    dir = tmpl;
    path = dir / "data";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) std::abort();
    std::vector<std::uint64_t> chunk((std::size_t{1} << 20) / 8);
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t done = 0; done < size; done += chunk.size() * 8) {
      for (auto& w : chunk) w = (x ^= x << 13, x ^= x >> 7, x ^= x << 17);
      if (::write(fd, chunk.data(), chunk.size() * 8) != static_cast<ssize_t>(chunk.size() * 8)) std::abort();
    }
  }
  ~TestFile() {
    ::close(fd);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

TestFile& test_file() {
  static TestFile f;
  return f;
}

/// Random 64-byte-aligned offsets over the file (a fixed sequence, the same for every row).
const std::vector<std::size_t>& random_offsets() {
  static const std::vector<std::size_t> offsets = [] {
    std::vector<std::size_t> v(std::size_t{1} << 16);
    std::mt19937_64 rng(42);
    const std::size_t lines = test_file().size / 64;
    for (auto& o : v) o = (rng() % lines) * 64;
    return v;
  }();
  return offsets;
}

inline std::uint64_t sum64(const void* p, std::size_t n) {
  const auto* w = static_cast<const std::uint64_t*>(p);
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < n / 8; ++i) s += w[i];
  return s;
}

// ---- random reads --------------------------------------------------------------------------

void random_mapped(benchmark::State& state, bool populate) {
  cm::MemoryMappedFile f(test_file().path, cm::MapMode::ReadOnly, {.populate = populate});
  f.advise_random();
  const auto& offsets = random_offsets();
  const auto* base = static_cast<const std::byte*>(f.data());
  std::size_t i = 0;
  for (auto _ : state) {
    alignas(64) std::byte line[64];
    std::memcpy(line, base + offsets[i++ & (offsets.size() - 1)], 64);
    benchmark::DoNotOptimize(sum64(line, 64));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void random_pread(benchmark::State& state) {
  const int fd = test_file().fd;
  const auto& offsets = random_offsets();
  std::size_t i = 0;
  for (auto _ : state) {
    alignas(64) std::byte line[64];
    if (::pread(fd, line, 64, static_cast<off_t>(offsets[i++ & (offsets.size() - 1)])) != 64) std::abort();
    benchmark::DoNotOptimize(sum64(line, 64));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

/// Each read's offset depends on the previous read's data (a chain, as a tree or hash walk
/// over a mapped index): latency instead of throughput.
void random_mapped_chain(benchmark::State& state) {
  cm::MemoryMappedFile f(test_file().path, cm::MapMode::ReadOnly, {.populate = true});
  f.advise_random();
  const auto* base = static_cast<const std::byte*>(f.data());
  const std::size_t lines = f.size() / 64;
  std::uint64_t next = 1, step = 0;
  for (auto _ : state) {
    alignas(64) std::byte line[64];
    std::memcpy(line, base + (next % lines) * 64, 64);
    next = sum64(line, 64) + (++step) * 0x9E3779B97F4A7C15ull;  // the step keeps the walk from cycling
  }
  benchmark::DoNotOptimize(next);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void random_pread_chain(benchmark::State& state) {
  const int fd = test_file().fd;
  const std::size_t lines = test_file().size / 64;
  std::uint64_t next = 1, step = 0;
  for (auto _ : state) {
    alignas(64) std::byte line[64];
    if (::pread(fd, line, 64, static_cast<off_t>((next % lines) * 64)) != 64) std::abort();
    next = sum64(line, 64) + (++step) * 0x9E3779B97F4A7C15ull;
  }
  benchmark::DoNotOptimize(next);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

/// The chained walk over anonymous memory on base pages or on huge pages: the TLB's share.
template <class Alloc>
void tlb_chain(benchmark::State& state, Alloc& alloc) {
  const std::size_t size = test_file().size;
  auto* base = static_cast<std::uint64_t*>(alloc.allocate(size, 64));
  if (::pread(test_file().fd, base, size, 0) != static_cast<ssize_t>(size)) std::abort();
  const std::size_t lines = size / 64;
  std::uint64_t next = 1, step = 0;
  for (auto _ : state) {
    next = sum64(base + (next % lines) * 8, 64) + (++step) * 0x9E3779B97F4A7C15ull;
  }
  benchmark::DoNotOptimize(next);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["huge_page_bytes"] = static_cast<double>(cm::page_report(base).anon_huge_pages +
                                                          cm::page_report(base).hugetlb);
  alloc.deallocate(base, size, 64);
}

void tlb_base_pages(benchmark::State& state) {
  cm::PageAllocator pages;
  tlb_chain(state, pages);
}

void tlb_huge_pages(benchmark::State& state) {
  cm::HugePageAllocator huge;
  tlb_chain(state, huge);
}

// ---- sequential scans ----------------------------------------------------------------------

void scan_mapped(benchmark::State& state, bool populate) {
  cm::MemoryMappedFile f(test_file().path, cm::MapMode::ReadOnly, {.populate = populate});
  f.advise_sequential();
  for (auto _ : state) benchmark::DoNotOptimize(sum64(f.data(), f.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (f.size() >> 20)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.size()));
}

void scan_mapped_fresh(benchmark::State& state) {
  // Maps for every pass: the page-fault cost a one-shot reader pays.
  const std::size_t size = test_file().size;
  for (auto _ : state) {
    cm::MemoryMappedFile f(test_file().path, cm::MapMode::ReadOnly);
    f.advise_sequential();
    benchmark::DoNotOptimize(sum64(f.data(), f.size()));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (size >> 20)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void scan_read(benchmark::State& state, std::size_t buffer_size) {
  const int fd = test_file().fd;
  const std::size_t size = test_file().size;
  std::unique_ptr<std::byte[]> buffer(new (std::align_val_t{4096}) std::byte[buffer_size]);
  for (auto _ : state) {
    std::uint64_t s = 0;
    if (::lseek(fd, 0, SEEK_SET) != 0) std::abort();
    for (;;) {
      const ssize_t n = ::read(fd, buffer.get(), buffer_size);
      if (n <= 0) break;
      s += sum64(buffer.get(), static_cast<std::size_t>(n));
    }
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (size >> 20)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// ---- arena growth --------------------------------------------------------------------------

constexpr std::size_t growth_total = std::size_t{64} << 20, piece = 256;

template <class Arena>
void fill(Arena& arena) {
  for (std::size_t done = 0; done < growth_total; done += piece) {
    auto* p = static_cast<std::uint64_t*>(arena.allocate(piece, 16));
    *p = done;
    benchmark::DoNotOptimize(p);
  }
}

void growth_malloc(benchmark::State& state) {
  for (auto _ : state) {
    cm::Arena arena(4096);
    fill(arena);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (growth_total / piece)));
}

void growth_virtual(benchmark::State& state, std::size_t retain) {
  cm::VirtualMemoryAllocator region({.reserve = std::size_t{1} << 30, .commit_step = std::size_t{1} << 20, .retain = retain});
  for (auto _ : state) {
    cm::BasicArena<cm::VirtualMemoryAllocator> arena(4096, region);
    fill(arena);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (growth_total / piece)));
}

void growth_huge(benchmark::State& state) {
  cm::HugePageAllocator huge;
  for (auto _ : state) {
    cm::BasicArena<cm::HugePageAllocator> arena(huge.page_size() - 64, huge);
    fill(arena);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * (growth_total / piece)));
}

std::size_t file_mib() {
  const char* env = std::getenv("CORE_MEMORY_BENCH_FILE_MIB");
  const std::size_t mib = env ? std::strtoull(env, nullptr, 10) : 256;
  return mib != 0 ? mib : 1;
}

const bool registered = [] {
  using benchmark::RegisterBenchmark;
  const std::string mib = "/" + std::to_string(file_mib());
  RegisterBenchmark("file_random_read/cm::MemoryMappedFile/64", random_mapped, true);
  RegisterBenchmark("file_random_read/cm::MemoryMappedFile(no populate)/64", random_mapped, false);
  RegisterBenchmark("file_random_read/pread/64", random_pread);
  RegisterBenchmark("file_random_read_chained/cm::MemoryMappedFile/64", random_mapped_chain);
  RegisterBenchmark("file_random_read_chained/pread/64", random_pread_chain);
  RegisterBenchmark(("memory_random_read_chained/cm::HugePageAllocator" + mib).c_str(), tlb_huge_pages);
  RegisterBenchmark(("memory_random_read_chained/cm-PageAllocator" + mib).c_str(), tlb_base_pages);
  RegisterBenchmark(("file_scan/cm::MemoryMappedFile" + mib).c_str(), scan_mapped, true);
  RegisterBenchmark(("file_scan/cm::MemoryMappedFile(mapped per pass)" + mib).c_str(), scan_mapped_fresh);
  for (std::size_t kib : {4, 64, 1024})
    RegisterBenchmark(("file_scan/read(" + std::to_string(kib) + " KiB)" + mib).c_str(), scan_read, kib << 10);
  RegisterBenchmark("arena_growth/cm::Arena<VirtualMemoryAllocator>/256", growth_virtual, std::size_t{0});
  RegisterBenchmark("arena_growth/cm::Arena<VirtualMemoryAllocator retain>/256", growth_virtual, growth_total * 2);
  RegisterBenchmark("arena_growth/cm::Arena<HugePageAllocator>/256", growth_huge);
  RegisterBenchmark("arena_growth/cm-Arena<MallocAllocator>/256", growth_malloc);
  return true;
}();

}  // namespace
