#include <core/memory/allocator/arena.hpp>
#include <core/memory/system/numa.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "support/misuse_capture.hpp"
#include "support/refuse_system_call.hpp"
#include "system/system_support.hpp"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cm = core::memory;
namespace os = core::memory::detail::os;

namespace {

/// The node directories sysfs lists.
cm::NodeSet sysfs_nodes() {
  cm::NodeSet s;
  const std::regex node("node([0-9]+)");
  if (!std::filesystem::exists("/sys/devices/system/node")) return cm::NodeSet{0};
  for (const auto& e : std::filesystem::directory_iterator("/sys/devices/system/node")) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, node)) s.insert(static_cast<unsigned>(std::stoul(m[1])));
  }
  return s;
}

cm::NodeSet parse(const char* list) {
  cm::NodeSet s;
  EXPECT_TRUE(os::parse_node_list(list, s.mask())) << list;
  return s;
}

}  // namespace

TEST(NodeSet, SetOperations) {
  cm::NodeSet s{0, 3, 64, 1023, 1024};
  EXPECT_EQ(s.count(), 4u);  // 1024 is beyond the limit
  EXPECT_TRUE(s.contains(64) && s.contains(1023) && !s.contains(1) && !s.contains(5000));
  std::vector<unsigned> seen;
  s.for_each([&](unsigned n) { seen.push_back(n); });
  EXPECT_EQ(seen, (std::vector<unsigned>{0, 3, 64, 1023}));
  EXPECT_TRUE((cm::NodeSet{3, 64}).is_subset_of(s));
  EXPECT_FALSE((cm::NodeSet{2}).is_subset_of(s));
  EXPECT_TRUE(cm::NodeSet{}.empty());
}

// The sysfs format of multi-node machines, parsed by the code this machine runs.
TEST(NodeSet, ParsesEverySysfsListForm) {
  EXPECT_EQ(parse("0\n"), (cm::NodeSet{0}));
  EXPECT_EQ(parse("0-3\n"), (cm::NodeSet{0, 1, 2, 3}));
  EXPECT_EQ(parse("0-1,4-5,7\n"), (cm::NodeSet{0, 1, 4, 5, 7}));
  EXPECT_EQ(parse("1023"), (cm::NodeSet{1023}));
  cm::NodeSet s;
  for (const char* bad : {"1-", "3-1", "1024", "0,x", "a"}) EXPECT_FALSE(os::parse_node_list(bad, s.mask())) << bad;
}

TEST(Numa, DiscoveryMatchesSysfs) {
  const cm::NodeSet online = cm::NodeSet::online();
  EXPECT_EQ(online, sysfs_nodes());
  EXPECT_TRUE(online.contains(0));
  online.for_each([](unsigned n) { EXPECT_GT(cm::numa_node_memory(n), 0u) << n; });
  EXPECT_EQ(cm::numa_node_memory(1000), 0u);
}

// Each policy over every online node set it applies to, checked with get_mempolicy, and the
// page's node with move_pages after the first touch.
TEST(NumaAllocator, EveryPolicyIsWhatTheKernelReports) {
  const cm::NodeSet online = cm::NodeSet::online();
  unsigned first = 0;
  online.for_each([&](unsigned n) { first = n; });  // the highest: any node works
  struct Case {
    cm::NumaPolicy policy;
    cm::NodeSet nodes, expected;
  };
  for (const Case& c : {Case{cm::NumaPolicy::bind, cm::NodeSet{first}, cm::NodeSet{first}},
                        Case{cm::NumaPolicy::bind, online, online},
                        Case{cm::NumaPolicy::preferred, cm::NodeSet{first}, cm::NodeSet{first}},
                        Case{cm::NumaPolicy::interleave, online, online},
                        Case{cm::NumaPolicy::local, online, cm::NodeSet{}}}) {
    cm::NumaAllocator<> numa(c.policy, c.nodes);
    EXPECT_EQ(numa.policy(), c.policy);
    const std::size_t size = 8 * cm::page_size() + 1;
    auto* p = static_cast<char*>(numa.allocate(size, 64));
    ASSERT_TRUE(cm::is_aligned(p, cm::page_size()));
    EXPECT_FALSE(cm::numa_node_of(p).has_value());  // not touched yet
    const cm::MemoryPolicy mp = cm::memory_policy_of(p + size - 1);
    EXPECT_EQ(mp.policy, c.policy);
    if (c.policy != cm::NumaPolicy::local) {
      EXPECT_EQ(mp.nodes, c.expected);
    }
    std::memset(p, 1, size);
    for (std::size_t off = 0; off < size; off += cm::page_size()) {
      const std::optional<unsigned> node = cm::numa_node_of(p + off);
      ASSERT_TRUE(node.has_value());
      EXPECT_TRUE(online.contains(*node));
      if (c.policy == cm::NumaPolicy::bind) {
        EXPECT_TRUE(c.nodes.contains(*node));
      }
    }
    numa.deallocate(p, size, 64);
  }
}

TEST(NumaAllocator, OverAReservationAndUnderAnArena) {
  cm::VirtualMemoryAllocator region({.reserve = 16 << 20});
  cm::NumaAllocator<cm::VirtualMemoryAllocator> numa(cm::NumaPolicy::bind, cm::NodeSet{0}, region);
  cm::BasicArena<cm::NumaAllocator<cm::VirtualMemoryAllocator>> arena(1 << 16, numa);
  for (int i = 0; i < 200; ++i) {
    auto* p = static_cast<char*>(arena.allocate(1000));
    p[0] = 1;
    EXPECT_TRUE(region.region().contains(p));
    EXPECT_EQ(cm::memory_policy_of(p).policy, cm::NumaPolicy::bind);
    EXPECT_EQ(cm::numa_node_of(p), std::optional<unsigned>(0));
  }
  arena.clear();
  EXPECT_EQ(region.bytes_allocated(), 0u);
  EXPECT_EQ(numa.try_allocate(32 << 20), nullptr);  // the reservation is exhausted
}

TEST(NumaAllocator, NodesThatAreNotOnlineAreMisuse) {
  test::MisuseCapture capture;
  cm::NumaAllocator<> none(cm::NumaPolicy::bind, cm::NodeSet{});
  EXPECT_EQ(capture.count(), 1u);
  EXPECT_EQ(none.policy(), cm::NumaPolicy::local);
  cm::NumaAllocator<> far(cm::NumaPolicy::interleave, cm::NodeSet{1000});
  EXPECT_EQ(capture.count(), 2u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::assertion);
  EXPECT_NE(capture.last().text.find("NUMA nodes must be a non-empty set of online nodes"), std::string::npos);
  void* p = far.allocate(100);  // still usable, as local
  far.deallocate(p, 100);
  EXPECT_EQ(far.try_allocate(16, 3), nullptr);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
}

// Docker's default seccomp profile refuses mbind without CAP_SYS_NICE (EPERM); kernels built
// without NUMA have no such call (ENOSYS). The local policy (and any policy on a one-node
// machine) then hands blocks out unbound, where first touch puts them; a placement on one node
// of several cannot be honoured, and is refused.
TEST(NumaAllocator, WhereTheKernelRefusesNumaCallsBlocksThatNeedNoPlacementStillCome) {
  SKIP_PROCESSES_UNDER_TSAN();
  const cm::NodeSet online = cm::NodeSet::online();
  unsigned first = 0;
  online.for_each([&](unsigned n) { first = n; });
  for (const int error : {EPERM, ENOSYS}) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (!test::refuse_system_call(SYS_mbind, error)) ::_exit(77);
      if (os::bind_memory(nullptr, 4096, os::numa_policy::bind, cm::NodeSet{first}.mask(), false) != error) ::_exit(2);
      cm::NumaAllocator<> local(cm::NumaPolicy::local, cm::NodeSet{});
      auto* p = static_cast<char*>(local.try_allocate(100));
      if (!p) ::_exit(3);
      std::memset(p, 1, 100);
      local.deallocate(p, 100);
      cm::NumaAllocator<> bound(cm::NumaPolicy::bind, cm::NodeSet{first});
      void* q = bound.try_allocate(100);
      if ((q != nullptr) != (online.count() == 1)) ::_exit(4);
      if (q) bound.deallocate(q, 100);
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no seccomp filter here";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "error " << error << ": 2 the filter did not refuse, 3 local refused, 4 bind wrong";
  }
}

TEST(Numa, SystemCallErrorsNameTheCall) {
  EXPECT_SYSTEM_ERROR(cm::numa_bind(nullptr, 4096, cm::NumaPolicy::bind, cm::NodeSet{0}), EFAULT,
                      "core::memory::numa_bind: mbind (at 0x0, 4096 bytes)");
  EXPECT_SYSTEM_ERROR(cm::numa_bind(reinterpret_cast<void*>(1), 4096, cm::NumaPolicy::bind, cm::NodeSet{0}), EINVAL,
                      "core::memory::numa_bind: mbind (at 0x1, 4096 bytes)");
  EXPECT_SYSTEM_ERROR((void)cm::memory_policy_of(nullptr), EFAULT,
                      "core::memory::memory_policy_of: get_mempolicy (at 0x0)");
  EXPECT_FALSE(cm::numa_node_of(nullptr).has_value());
}
