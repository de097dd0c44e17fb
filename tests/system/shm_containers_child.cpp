// The child program of tests/system/shm_containers_test.cpp: a new image (fork+exec), so it maps
// the segment at an address of its own. Exits 0 on success, else prints what is wrong.
//   fill <segment>            builds the containers (shm_containers_support.hpp) and records its
//                             mapping's address as "child_base"
//   check-modified <segment>  checks what the parent changed
#include <cstdio>
#include <string>

#include "system/shm_containers_support.hpp"

using namespace test::shm_containers;

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string cmd = argv[1];
  auto m = cm::ManagedSharedMemory::open(argv[2]);
  std::string why;
  if (cmd == "fill") {
    fill(m);
    *m.construct<std::uintptr_t>("child_base") = reinterpret_cast<std::uintptr_t>(m.data());
    why = check_filled(m);
  } else if (cmd == "check-modified") {
    why = check_modified(m);
  } else {
    why = "unknown command";
  }
  if (!why.empty()) std::fprintf(stderr, "shm_containers_child %s: %s\n", cmd.c_str(), why.c_str());
  return why.empty() ? 0 : 1;
}
