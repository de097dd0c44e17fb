// main() for every benchmark binary: records which library really provides malloc (so the
// runner can verify an LD_PRELOAD took effect and no peer replaced it by being linked in).
#include <benchmark/benchmark.h>

#include <dlfcn.h>

#include <string>

int main(int argc, char** argv) {
  Dl_info info{};
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  const std::string lib = sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "unknown";
  benchmark::AddCustomContext("malloc_library", lib);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
