// A program that knows nothing of the tracker, run by preload_test.cpp under
// LD_PRELOAD=libcore_memory_preload.so: "leak" leaks one 123-byte block from make_leak() and one
// object from operator new; "clean" frees everything it allocates.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" [[gnu::noinline]] void* make_leak(std::size_t n) {
  void* p = std::malloc(n);
  std::memset(p, 1, n);
  return p;
}

struct Widget {
  long values[5];
};

[[gnu::noinline]] Widget* leak_widget() { return new Widget{}; }

int main(int argc, char** argv) {
  const bool leak = argc > 1 && std::strcmp(argv[1], "leak") == 0;
  std::vector<std::string> words;
  for (int i = 0; i < 100; ++i) words.push_back(std::string(40, char('a' + i % 26)));
  auto owned = std::make_unique<int[]>(1000);
  void* r = std::realloc(std::calloc(10, 10), 5000);
  std::free(r);
  void* aligned = nullptr;
  if (posix_memalign(&aligned, 64, 256) == 0) std::free(aligned);
  static volatile void* sink;
  if (leak) {
    sink = make_leak(123);
    sink = leak_widget();
  }
  return words.size() == 100 ? 0 : 1;
}
