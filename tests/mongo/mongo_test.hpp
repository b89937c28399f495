// Helpers of the aw::mongo suite: a client on the fixture's CongoDB, a fresh collection,
// one filled with numbered documents.
#pragma once

#include <aw/async_with.hpp>
#include <aw/mongo.hpp>
#include <aw/run.hpp>
#include <aw/task.hpp>

#include <string>
#include <utility>
#include <vector>

namespace mongo_test {

inline const char* uri() { return AW_MONGO_TEST_URI; }

// Runs body(client) inside `async with client` on a fresh loop.
template <class F>
void with_client(F body, aw::mongo::client_options opts = {}) {
  aw::run([&]() -> aw::task<> {
    aw::mongo::client c(uri(), opts);
    co_await aw::async_with(c, [&](aw::mongo::client& cl) -> aw::task<> { co_await body(cl); });
  });
}

// A vector of documents without an initializer list (g++ 12 rejects those in co_await).
template <class... D>
std::vector<aw::mongo::document> many(D... d) {
  std::vector<aw::mongo::document> v;
  (v.push_back(std::move(d)), ...);
  return v;
}

// An empty collection of the test database.
inline aw::task<aw::mongo::collection> fresh(aw::mongo::client& c, std::string name) {
  auto coll = c["aw_test"][name];
  co_await coll.drop();
  co_return coll;
}

// A fresh collection holding n documents {i: 0} ... {i: n - 1}.
inline aw::task<aw::mongo::collection> numbers(aw::mongo::client& c, const char* name, int n) {
  auto coll = co_await fresh(c, name);
  std::vector<aw::mongo::document> docs;
  for (int i = 0; i < n; ++i) docs.push_back(aw::mongo::doc("i", i));
  co_await coll.insert_many(std::move(docs));
  co_return coll;
}

}  // namespace mongo_test

// gtest's ASSERT_* return from the function, which a coroutine cannot: these co_return.
#define CO_ASSERT_TRUE(c)                          \
  do {                                             \
    if (!(c)) {                                    \
      ADD_FAILURE() << "assertion failed: " << #c; \
      co_return;                                   \
    }                                              \
  } while (0)
#define CO_ASSERT_EQ(a, b)        \
  do {                            \
    EXPECT_EQ(a, b);              \
    if (!((a) == (b))) co_return; \
  } while (0)
