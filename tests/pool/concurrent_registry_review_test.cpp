// Regression tests from a hostile review of the thread registry under the concurrent pools
// (direct TLS entries, thread exit, pools over pools): each test names the defect it caught.
// ThreadSanitizer runs this file.

#include <core/memory/pool/concurrent_pool.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cm = core::memory;

namespace {

using PagePool = cm::ConcurrentPool;
using NodePool = cm::BasicConcurrentPool<PagePool>;

/// Allocates and frees `count` nodes on the calling thread, so that its heap holds many empty
/// slabs when it exits (more than a depot keeps: the exit gives the rest back upstream).
void churn(NodePool& nodes, std::size_t count) {
  std::vector<void*> held;
  held.reserve(count);
  for (std::size_t i = 0; i < count; ++i) held.push_back(nodes.allocate_node());
  for (void* p : held) nodes.deallocate_node(p);
}

// Defect: a thread's exit hands its heaps back with the registry's lock held; a pool over another
// concurrent pool then gives its empty slabs back to that pool, whose free on the exiting thread
// (which has no heap any more) went to attach_heap, whose enlist takes the registry's lock: the
// thread deadlocked on itself. Run in a child with an alarm, so a hang fails instead of blocking.
TEST(ConcurrentRegistryReview, ExitOfAThreadThatGivesSlabsBackToAConcurrentUpstream) {
  EXPECT_EXIT(
      {
        alarm(20);
        {
          PagePool pages(4096, 4096);
          NodePool nodes(pages, 64, 16, 8);
          // 1 MiB of 4 KiB slabs: the exit keeps 512 KiB and frees the rest into `pages`.
          std::thread([&] { churn(nodes, (std::size_t{1} << 20) / 64); }).join();
          if (nodes.nodes_allocated() != 0) std::_Exit(2);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
