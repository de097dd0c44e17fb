// A multi-threaded stress program for the process allocator (run linked to it, and as an
// unmodified program under LD_PRELOAD): threads recreated every round exchange blocks of every
// size class and large ones through shared slots, resize them with realloc, check a cookie in
// each, and one round forks a child that does the same on its own. Exit status 0 if every block
// was intact.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

std::atomic<int> bad{0};

void write_block(unsigned char* p, std::size_t n) {
  std::memcpy(p, &n, sizeof n);
  for (std::size_t i = sizeof n; i < n && i < 256; ++i) p[i] = static_cast<unsigned char>(n + i);
}
std::size_t check_block(const unsigned char* p) {
  std::size_t n = 0;
  std::memcpy(&n, p, sizeof n);
  for (std::size_t i = sizeof n; i < n && i < 256; ++i)
    if (p[i] != static_cast<unsigned char>(n + i)) {
      bad.fetch_add(1);
      break;
    }
  return n;
}

int run(int threads, int rounds, int ops) {
  std::vector<std::atomic<void*>> slots(1024);
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, seed = static_cast<unsigned>(round * 100 + t)] {
        std::mt19937 rng(seed);
        for (int i = 0; i < ops; ++i) {
          const auto pick = rng() % 100;
          std::size_t n = pick < 80 ? 8 + rng() % 512 : pick < 98 ? 512 + rng() % 60000 : 65536 + rng() % 400000;
          auto* p = static_cast<unsigned char*>(std::malloc(n));
          if (!p) {
            bad.fetch_add(1);
            continue;
          }
          write_block(p, n);
          if (void* old = slots[rng() % slots.size()].exchange(p)) {
            auto* q = static_cast<unsigned char*>(old);
            const std::size_t m = check_block(q);
            if (rng() % 4 == 0) {  // resize some before freeing
              const std::size_t grown = m * 2 + 1;
              q = static_cast<unsigned char*>(std::realloc(q, grown));
              if (check_block(q) != m) bad.fetch_add(1);
            }
            std::free(q);
          }
        }
      });
    for (auto& th : pool) th.join();
  }
  for (auto& s : slots)
    if (void* p = s.exchange(nullptr)) {
      check_block(static_cast<unsigned char*>(p));
      std::free(p);
    }
  return bad.load();
}

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? std::atoi(argv[1]) : 1;
  if (run(4, 4 * scale, 20000) != 0) return 1;
  const pid_t child = fork();  // in the middle: other threads have come and gone, memory is live
  if (child == 0) _exit(run(2, 2, 10000) == 0 ? 0 : 2);
  if (run(4, 4 * scale, 20000) != 0) return 3;
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 4;
  std::puts("malloc stress: every block intact");
  return 0;
}
