// aw::detail::intrusive_list, the list behind the library's queues and registries: the
// order of both ends, O(1) erase from the element alone, linked(), and walking a list
// while erasing the element at hand.
#include <gtest/gtest.h>
#include <aw/detail/intrusive_list.hpp>

#include <vector>

namespace {

struct node : aw::detail::intrusive_list_item<node> {
  explicit node(int v) : value(v) {}
  int value;
};

using list = aw::detail::intrusive_list<node>;

std::vector<int> values(const list& l) {
  std::vector<int> out;
  for (const node& n : l) out.push_back(n.value);
  return out;
}

TEST(IntrusiveList, StartsEmpty) {
  list l;
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.front(), nullptr);
  EXPECT_EQ(l.back(), nullptr);
  EXPECT_EQ(l.pop_front(), nullptr);
  EXPECT_TRUE(l.begin() == l.end());
}

TEST(IntrusiveList, PushBackKeepsArrivalOrderAndPushFrontReversesIt) {
  node a(1), b(2), c(3), d(4);
  list l;
  l.push_back(a);
  l.push_back(b);
  l.push_front(c);
  l.push_front(d);
  EXPECT_EQ(values(l), (std::vector<int>{4, 3, 1, 2}));
  EXPECT_EQ(l.front(), &d);
  EXPECT_EQ(l.back(), &b);
  while (l.pop_front()) {
  }
}

TEST(IntrusiveList, PopFrontUnlinksInOrder) {
  node a(1), b(2), c(3);
  list l;
  l.push_back(a);
  l.push_back(b);
  l.push_back(c);
  EXPECT_EQ(l.pop_front(), &a);
  EXPECT_FALSE(a.linked());
  EXPECT_EQ(l.pop_front(), &b);
  EXPECT_EQ(l.pop_front(), &c);
  EXPECT_EQ(l.pop_front(), nullptr);
  EXPECT_TRUE(l.empty());
}

TEST(IntrusiveList, LinkedSaysWhetherTheElementIsInAList) {
  node a(1);
  EXPECT_FALSE(a.linked());
  list l;
  l.push_back(a);
  EXPECT_TRUE(a.linked());  // also as the only element, whose links point at the list
  list::erase(a);
  EXPECT_FALSE(a.linked());
  EXPECT_TRUE(l.empty());
}

TEST(IntrusiveList, EraseFromAnyPositionKeepsTheRest) {
  node a(1), b(2), c(3), d(4);
  list l;
  for (node* n : {&a, &b, &c, &d}) l.push_back(*n);
  list::erase(b);  // middle
  EXPECT_EQ(values(l), (std::vector<int>{1, 3, 4}));
  list::erase(d);  // last
  EXPECT_EQ(values(l), (std::vector<int>{1, 3}));
  EXPECT_EQ(l.back(), &c);
  list::erase(a);  // first
  EXPECT_EQ(values(l), (std::vector<int>{3}));
  EXPECT_EQ(l.front(), &c);
  list::erase(c);  // only
  EXPECT_TRUE(l.empty());
}

TEST(IntrusiveList, ErasingAnUnlinkedElementDoesNothing) {
  node a(1), b(2);
  list l;
  l.push_back(a);
  list::erase(b);
  list::erase(b);
  EXPECT_EQ(values(l), (std::vector<int>{1}));
  list::erase(a);
  list::erase(a);
  EXPECT_TRUE(l.empty());
}

TEST(IntrusiveList, AnErasedElementCanBeLinkedAgain) {
  node a(1), b(2);
  list l, other;
  l.push_back(a);
  l.push_back(b);
  list::erase(a);
  other.push_back(a);
  EXPECT_EQ(values(l), (std::vector<int>{2}));
  EXPECT_EQ(values(other), (std::vector<int>{1}));
  list::erase(a);
  l.push_back(a);
  EXPECT_EQ(values(l), (std::vector<int>{2, 1}));
  while (l.pop_front()) {
  }
}

TEST(IntrusiveList, WalkingSurvivesErasingTheElementAtHand) {
  node n[6] = {node(0), node(1), node(2), node(3), node(4), node(5)};
  list l;
  for (node& x : n) l.push_back(x);
  std::vector<int> seen;
  for (auto it = l.begin(); it != l.end();) {
    node& x = *it++;
    seen.push_back(x.value);
    if (x.value % 2 == 0) list::erase(x);
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values(l), (std::vector<int>{1, 3, 5}));
  while (l.pop_front()) {
  }
}

TEST(IntrusiveList, ElementsMayBeASubclassWithMoreBases) {
  struct other_base {
    virtual ~other_base() = default;
    int pad = 7;
  };
  struct derived : other_base, aw::detail::intrusive_list_item<derived> {
    int value = 0;
  };
  derived a, b;
  a.value = 1;
  b.value = 2;
  aw::detail::intrusive_list<derived> l;
  l.push_back(a);
  l.push_back(b);
  EXPECT_EQ(l.front(), &a);  // the cast from the links to the element adjusts the address
  EXPECT_EQ(l.back()->value, 2);
  int sum = 0;
  for (derived& d : l) sum += d.value + d.pad;
  EXPECT_EQ(sum, 1 + 2 + 7 + 7);
  while (l.pop_front()) {
  }
}

}  // namespace
