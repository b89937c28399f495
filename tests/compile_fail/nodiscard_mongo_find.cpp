// Misuse: coll.find(...) without entering the cursor it gives: no query would be sent.
// expect: enter it: co_await aw::async_with\(collection\.find\(\.\.\.\), body\); no query is sent until then
// flags: -Werror=unused-result -Werror=unused-value
// module: mongo
#include <aw/mongo.hpp>

aw::task<> misuse(aw::mongo::collection& people) {
  people.find(aw::mongo::doc("name", "Ada"));
  co_return;
}
