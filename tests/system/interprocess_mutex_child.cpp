// The exec'd child of interprocess_mutex_test: maps the shared page (a memfd it inherited) at an
// address other than the parent's and works on the objects there without ever having run their
// constructors. Usage: interprocess_mutex_child <fd> <parent's address> <mode>.
// Exit codes: 0 done, 2 usage or mapping error, 3 mapped at the parent's address, 4 unexpected status.

#include "interprocess_mutex_shared.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

using core::memory::LockStatus;

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const int fd = std::atoi(argv[1]);
  const auto parent_address = std::strtoull(argv[2], nullptr, 16);
  // A hint far from where the parent mapped it: the objects must work at any address.
  void* hint = reinterpret_cast<void*>((parent_address ^ 0x100000000000ull) & ~0xfffull);
  void* p = test::map_shared(fd, hint);
  if (!p) return 2;
  if (reinterpret_cast<std::uintptr_t>(p) == parent_address) return 3;
  auto& s = *static_cast<test::SharedState*>(p);
  const std::string mode = argv[3];
  if (mode == "hold") {  // lock, say so, wait to be killed
    if (s.mutex.lock() != LockStatus::acquired) return 4;
    s.stage.store(1);
    for (;;) ::pause();
  }
  if (mode == "hold-recursive") {
    for (int i = 0; i < 3; ++i)
      if (s.recursive.lock() != LockStatus::acquired) return 4;
    s.stage.store(1);
    for (;;) ::pause();
  }
  if (mode == "exit-holding") {  // a normal exit while holding it is a death too
    if (s.mutex.lock() != LockStatus::acquired) return 4;
    s.stage.store(1);
    return 0;
  }
  if (mode == "count") {  // contend with the parent's threads
    for (int i = 0; i < 20000; ++i) {
      if (s.mutex.lock() != LockStatus::acquired) return 4;
      ++s.counter;
      s.mutex.unlock();
    }
    return 0;
  }
  if (mode == "wait") return test::answer_flag(s);
  return 2;
}
