// A program that knows nothing of the tracker, run by preload_test.cpp under
// LD_PRELOAD=libcore_memory_preload.so: "leak" leaks one 123-byte block from make_leak() (after
// a realloc of it that fails) and one object from operator new; "clean" frees everything it allocates; "signal <file>" leaks, raises
// SIGUSR2 and waits (up to 10 s) for the tracker to write <file>; "fork" leaks, then forks a child
// that leaks too and exits through exit(); "chdir" leaks a valloc and a pvalloc block and changes
// to the root directory; "threads" leaks a block and runs threads that use thread-local storage;
// "libc" uses stdio, a locale and the time zone (state the C library keeps) and leaks a strdup;
// "fd100 <file>" puts a file of its own on descriptor 100 and leaks; "chunks" leaks 20 blocks
// that each lie before a freed one (malloc's own state then points into them).
#include <chrono>
#include <clocale>
#include <cstdio>
#include <ctime>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>
#include <fcntl.h>
#include <cerrno>
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

thread_local std::string thread_string;

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
  if (leak || (argc > 2 && std::strcmp(argv[1], "signal") == 0)) {
    sink = make_leak(123);
    // A realloc that fails leaves the block as it was: still make_leak's, still 123 bytes.
    volatile std::size_t huge = SIZE_MAX / 2;
    if (std::realloc(const_cast<void*>(sink), huge) != nullptr) std::abort();
    sink = leak_widget();
  }
  if (argc > 2 && std::strcmp(argv[1], "signal") == 0) {
    std::raise(SIGUSR2);
    for (int i = 0; i < 1000 && !std::ifstream(argv[2]).good(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the file appears complete
  }
  if (argc > 1 && std::strcmp(argv[1], "chdir") == 0) {  // leaks through valloc and pvalloc, then leaves its directory
    static void* volatile kept[2];  // each kept (clang drops a known allocation it sees overwritten)
    kept[0] = valloc(1000);
    kept[1] = pvalloc(100);
    if (::chdir("/") != 0) return 3;
  }
  if (argc > 1 && std::strcmp(argv[1], "fork") == 0) {
    sink = make_leak(123);
    const pid_t child = fork();
    if (child == 0) {
      sink = make_leak(77);
      std::exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
  }
  if (argc > 1 && std::strcmp(argv[1], "threads") == 0) {  // leaks 123 bytes; its threads' storage is glibc's
    sink = make_leak(123);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([] { thread_string.assign(100, 't'); });
    for (std::thread& t : threads) t.join();
  }
  if (argc > 1 && std::strcmp(argv[1], "libc") == 0) {  // state the C library keeps, and one leak through it
    // The leak first: the scan is conservative, and a stale pointer the C library keeps to a block
    // it freed would make a later block at that address look kept (clang's build saw it).
    static void* volatile leaked;
    leaked = strdup("a string the program leaks");  // allocated inside the C library, but the program's
    std::printf("through stdio\n");
    std::setlocale(LC_ALL, "C.UTF-8");
    const std::time_t now = std::time(nullptr);
    sink = std::localtime(&now);
  }
  if (argc > 1 && std::strcmp(argv[1], "chunks") == 0) {  // 20 leaks of 40 bytes, each before a freed block
    void* freed[20];
    for (int i = 0; i < 20; ++i) {
      std::memset(make_leak(40), 1, 40);
      freed[i] = std::malloc(200 + static_cast<std::size_t>(i) * 100);
    }
    for (void* p : freed) std::free(p);
  }
  if (argc > 2 && std::strcmp(argv[1], "fd100") == 0) {  // a file of the program's own on descriptor 100
    const int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::dup2(fd, 100) != 100 || ::write(100, "the program's own\n", 18) != 18) return 6;
    sink = make_leak(55);
  }
  if (argc > 1 && std::strcmp(argv[1], "errno") == 0) {
    // A successful allocation (recorded with a stack) leaves errno as it was.
    for (int i = 0; i < 10; ++i) {
      errno = ENOENT;
      sink = make_leak(10 + static_cast<std::size_t>(i));
      if (errno != ENOENT) return 3;
      std::free(const_cast<void*>(sink));
      if (errno != ENOENT) return 4;
    }
  }
  if (argc > 1 && std::strcmp(argv[1], "close_stderr") == 0) {
    // As coreutils do at exit; then a file of the program's own takes descriptor 2.
    sink = make_leak(55);
    ::close(2);
    const int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd != 2 || ::write(fd, "the program's own\n", 18) != 18) return 5;
  }
  return words.size() == 100 ? 0 : 1;
}
