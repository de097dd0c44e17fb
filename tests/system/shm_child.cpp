// The child program of the shared memory tests: a separate image, started with fork+exec, so it
// maps segments at addresses of its own. Each command exits 0 on success and prints why not.
//   write <name> <text>                  : writes its data() address at offset 0, <text> at 64
//   grow <name> <max_size> <pages>       : grows the segment a page at a time to <pages> pages,
//                                          filling each new page, then publishing the page count
//                                          at offset 0
//   push <name> <count> / pop <name> <count> : a SpscQueue<uint64_t> at data(): pushes 0..count-1,
//                                          or pops and checks them in order
//   echo <name>                          : two queues (requests at data(), replies after them):
//                                          returns every request + 1 until it reads 0

#include <core/memory/system/shared_memory.hpp>
#include <core/memory/system/shared_queue.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace cm = core::memory;

namespace {

std::size_t number(const char* s) { return static_cast<std::size_t>(std::strtoull(s, nullptr, 10)); }

int fail(const char* what, std::size_t a = 0, std::size_t b = 0) {
  std::fprintf(stderr, "shm_child: %s (%zu, %zu)\n", what, a, b);
  return 1;
}

using Queue = cm::SpscQueue<std::uint64_t>;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage");
  const std::string command = argv[1];
  // Shift this process's mappings, so the segment lands elsewhere than in the parent even with
  // address space randomization off.
  (void)::mmap(nullptr, std::size_t{1} << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (command == "write" && argc == 4) {
    auto m = cm::SharedMemory::open(argv[2]);
    auto* bytes = static_cast<char*>(m.data());
    const auto address = reinterpret_cast<std::uintptr_t>(m.data());
    std::memcpy(bytes, &address, sizeof address);
    std::memcpy(bytes + 64, argv[3], std::strlen(argv[3]));
    return 0;
  }
  if (command == "grow" && argc == 5) {
    auto m = cm::SharedMemory::open(argv[2], {.max_size = number(argv[3])});
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), pages = number(argv[4]);
    std::atomic_ref<std::uint64_t> published(*static_cast<std::uint64_t*>(m.data()));
    for (std::size_t n = m.size() / page + 1; n <= pages; ++n) {
      m.grow(n * page);
      std::memset(static_cast<char*>(m.data()) + (n - 1) * page, static_cast<int>(n & 0xff), page);
      published.store(n, std::memory_order_release);
    }
    return m.size() == pages * page ? 0 : fail("grow: size", m.size(), pages * page);
  }
  if ((command == "push" || command == "pop") && argc == 4) {
    auto m = cm::SharedMemory::open(argv[2]);
    Queue& q = Queue::attach(m.data(), m.size());
    const std::size_t count = number(argv[3]);
    if (command == "push") {
      for (std::uint64_t i = 0; i < count; ++i) q.push(i);
      return 0;
    }
    for (std::uint64_t i = 0; i < count; ++i)
      if (const std::uint64_t v = q.pop(); v != i) return fail("pop: out of order", v, i);
    return 0;
  }
  if (command == "echo") {
    auto m = cm::SharedMemory::open(argv[2]);
    Queue& requests = Queue::attach(m.data());
    Queue& replies = Queue::attach(static_cast<char*>(m.data()) + requests.bytes());
    for (;;) {
      const std::uint64_t v = requests.pop();
      if (v == 0) return 0;
      replies.push(v + 1);
    }
  }
  return fail("unknown command");
}
