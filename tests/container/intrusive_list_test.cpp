#include <core/memory/container/intrusive_list.hpp>

#include <gtest/gtest.h>

#include <deque>
#include <list>
#include <random>
#include <vector>

#include "support/misuse_capture.hpp"

namespace cm = core::memory;

namespace {
struct Second;
struct Node : cm::ListHook<>, cm::ListHook<Second> {
  int v;
  explicit Node(int x) : v(x) {}
};
struct Member {
  int v = 0;
  cm::ListHook<> hook;
};
struct Auto : cm::ListHook<void, cm::link_mode::auto_unlink> {
  int v;
  explicit Auto(int x) : v(x) {}
};

template <class L>
std::vector<int> values(const L& l) {
  std::vector<int> out;
  for (const auto& x : l) out.push_back(x.v);
  return out;
}
std::vector<int> values(const std::list<int>& l) { return {l.begin(), l.end()}; }
}  // namespace

TEST(IntrusiveList, RandomOperationsMatchStdList) {
  std::deque<Node> nodes;  // stable addresses
  for (int i = 0; i < 400; ++i) nodes.emplace_back(i);
  cm::IntrusiveList<Node> a, b;
  std::list<int> ra, rb;
  std::vector<bool> linked(nodes.size(), false);
  std::mt19937 rng(5);
  for (int step = 0; step < 20000; ++step) {
    const auto k = rng() % nodes.size();
    switch (rng() % 8) {
      case 0:
        if (!linked[k]) a.push_back(nodes[k]), ra.push_back(nodes[k].v), linked[k] = true;
        break;
      case 1:
        if (!linked[k]) a.push_front(nodes[k]), ra.push_front(nodes[k].v), linked[k] = true;
        break;
      case 2:
        if (!linked[k]) {  // insert at a random position
          const auto pos = ra.empty() ? 0 : rng() % (ra.size() + 1);
          a.insert(std::next(a.begin(), static_cast<long>(pos)), nodes[k]);
          ra.insert(std::next(ra.begin(), static_cast<long>(pos)), nodes[k].v);
          linked[k] = true;
        }
        break;
      case 3:
        if (!a.empty()) {
          linked[static_cast<std::size_t>(a.front().v)] = false;
          a.pop_front(), ra.pop_front();
        }
        break;
      case 4:
        if (linked[k] && std::find(ra.begin(), ra.end(), nodes[k].v) != ra.end()) {
          a.remove(nodes[k]);  // O(1), knowing only the element
          ra.remove(nodes[k].v);
          linked[k] = false;
        }
        break;
      case 5:
        if (rng() % 10 == 0) {
          b.splice(b.begin(), a);
          rb.splice(rb.begin(), ra);
        }
        break;
      case 6:
        if (rng() % 10 == 0) {
          a.splice(a.end(), b);
          ra.splice(ra.end(), rb);
        }
        break;
      case 7:
        if (rng() % 20 == 0) a.reverse(), ra.reverse();
        break;
    }
    ASSERT_EQ(values(a), values(ra)) << "step " << step;
    ASSERT_EQ(a.size(), ra.size());
    ASSERT_EQ(values(b), values(rb));
  }
  a.clear();
  b.clear();
  for (auto& n : nodes) EXPECT_FALSE(n.cm::ListHook<>::is_linked());
}

TEST(IntrusiveList, OneElementInTwoListsAndMemberHooks) {
  Node n1(1), n2(2);
  cm::IntrusiveList<Node> first;
  cm::IntrusiveList<Node, cm::BaseHook<cm::ListHook<Second>>> second;
  first.push_back(n1);
  first.push_back(n2);
  second.push_back(n2);
  second.push_back(n1);
  EXPECT_EQ(values(first), (std::vector<int>{1, 2}));
  EXPECT_EQ(values(second), (std::vector<int>{2, 1}));
  first.clear();
  second.clear();

  Member m[3];
  cm::IntrusiveList<Member, cm::MemberHook<&Member::hook>> ml;
  for (int i = 0; i < 3; ++i) m[i].v = i * 10, ml.push_front(m[i]);
  EXPECT_EQ(values(ml), (std::vector<int>{20, 10, 0}));
  EXPECT_EQ(&*ml.iterator_to(m[1]), &m[1]);
  ml.erase(ml.iterator_to(m[1]));
  EXPECT_EQ(values(ml), (std::vector<int>{20, 0}));
  EXPECT_EQ(&ml.back(), &m[0]);
  ml.clear();
}

TEST(IntrusiveList, AutoUnlinkLeavesOnDestruction) {
  cm::IntrusiveList<Auto, cm::BaseHook<cm::ListHook<void, cm::link_mode::auto_unlink>>> l;
  Auto a(1);
  {
    Auto b(2);
    l.push_back(a);
    l.push_back(b);
    EXPECT_EQ(l.size(), 2u);
  }
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.front().v, 1);
  a.unlink();
  EXPECT_TRUE(l.empty());
}

TEST(IntrusiveList, MoveTransfersElements) {
  Node a(1), b(2);
  cm::IntrusiveList<Node> l1;
  l1.push_back(a);
  l1.push_back(b);
  cm::IntrusiveList<Node> l2(std::move(l1));
  EXPECT_TRUE(l1.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(values(l2), (std::vector<int>{1, 2}));
  EXPECT_EQ(l2.remove_if([](const Node& n) { return n.v == 1; }), 1u);
  l2.clear();
}

TEST(IntrusiveListDeathTest, DoubleInsertIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  EXPECT_DEATH(
      {
        Node n(1);
        cm::IntrusiveList<Node> l;
        l.push_back(n);
        l.push_back(n);
      },
      "already in a list");
}

// Class 8: every misuse the header says is caught, in the tier it names.
TEST(IntrusiveListDeathTest, RemoveOrEraseOfAnUnlinkedElementIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  auto remove_unlinked = [] {
    Node a(1);
    Node n(2);
    cm::IntrusiveList<Node> l;
    l.push_back(a);
    l.remove(n);  // would wrap the size
  };
  EXPECT_DEATH(remove_unlinked(), "erase or remove of an element in no list");
  auto erase_unlinked = [] {
    Node n(2);
    cm::IntrusiveList<Node> l;
    l.erase(l.iterator_to(n));
  };
  EXPECT_DEATH(erase_unlinked(), "erase or remove of an element in no list");
}

TEST(IntrusiveListDeathTest, EmptyListAccessIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::IntrusiveList<Node> l;
  EXPECT_DEATH((void)l.front(), "front\\(\\) of an empty list");
  EXPECT_DEATH((void)l.back(), "back\\(\\) of an empty list");
  EXPECT_DEATH(l.pop_front(), "erase of end\\(\\)");
  EXPECT_DEATH(l.pop_back(), "erase of end\\(\\)");
}

TEST(IntrusiveListDeathTest, ElementOfAnotherListIsCaughtByTheExpensiveTier) {
  if (!cm::checks::expensive) GTEST_SKIP() << "expensive checks are off (O(n) walk)";
  auto remove_foreign = [] {
    Node a(1);
    Node b(2);
    cm::IntrusiveList<Node> l1;
    cm::IntrusiveList<Node> l2;
    l1.push_back(a);
    l2.push_back(b);
    l1.remove(b);  // would leave l2's size one too high and l1's wrapped
  };
  EXPECT_DEATH(remove_foreign(), "erase or remove of an element of another list");
  auto insert_foreign = [] {
    Node a(1);
    Node b(2);
    cm::IntrusiveList<Node> l1;
    cm::IntrusiveList<Node> l2;
    l1.push_back(a);
    l2.insert(l1.iterator_to(a), b);
  };
  EXPECT_DEATH(insert_foreign(), "insert at a position of another list");
}
