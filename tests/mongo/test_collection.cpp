// aw::mongo's collection calls against CongoDB, with pymongo's results as the reference.
#include "mongo_test.hpp"

#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace aw::mongo;
using mongo_test::fresh;
using mongo_test::with_client;

namespace {

TEST(MongoCollection, InsertOneAndFindOne) {
  with_client([](client& c) -> aw::task<> {
    auto people = co_await fresh(c, "insert_one");
    insert_one_result r = co_await people.insert_one(doc("name", "Ada", "born", 1815));
    EXPECT_TRUE(r.inserted_id.is<object_id>());  // generated on the client, as pymongo
    EXPECT_TRUE(r.acknowledged);
    std::optional<document> ada = co_await people.find_one(doc("name", "Ada"));
    CO_ASSERT_TRUE(ada);
    EXPECT_EQ(ada->get<object_id>("_id"), r.inserted_id.as<object_id>());
    EXPECT_EQ(ada->get<std::int32_t>("born"), 1815);
    EXPECT_EQ(co_await people.find_one(doc("name", "Bob")), std::nullopt);
    // A given ObjectId _id is kept.
    auto id = object_id::generate();
    r = co_await people.insert_one(doc("_id", id, "name", "Bob"));
    EXPECT_EQ(r.inserted_id.as<object_id>(), id);
    auto bob = co_await people.find_one(doc("_id", id), find_options().projection(doc("_id", 0)));
    CO_ASSERT_TRUE(bob);
    EXPECT_FALSE(bob->contains("_id"));
    EXPECT_EQ(bob->get<std::string>("name"), "Bob");
  });
}

TEST(MongoCollection, InsertManyCountDistinct) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "insert_many");
    std::vector<document> docs;
    for (int i = 0; i < 10; ++i) docs.push_back(doc("n", i, "parity", i % 2 ? "odd" : "even"));
    insert_many_result r = co_await coll.insert_many(std::move(docs));
    EXPECT_EQ(r.inserted_ids.size(), 10u);
    EXPECT_EQ(co_await coll.count_documents(), 10);
    EXPECT_EQ(co_await coll.count_documents(doc("parity", "odd")), 5);
    EXPECT_EQ(co_await coll.count_documents({}, count_options().skip(2).limit(3)), 3);
    EXPECT_EQ(co_await coll.estimated_document_count(), 10);
    auto parities = co_await coll.distinct("parity");
    CO_ASSERT_EQ(parities.size(), 2u);
    EXPECT_TRUE(parities[0].as<std::string>() == "even" || parities[1].as<std::string>() == "even");
    auto few = co_await coll.distinct("n", doc("n", doc("$lt", 3)));
    EXPECT_EQ(few.size(), 3u);
  });
}

TEST(MongoCollection, UpdateReplaceDelete) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "update");
    co_await coll.insert_many(mongo_test::many(doc("n", 1), doc("n", 2), doc("n", 3)));
    update_result u = co_await coll.update_many(doc("n", doc("$gte", 2)), doc("$inc", doc("hits", 1)));
    EXPECT_EQ(u.matched_count, 2);
    EXPECT_EQ(u.modified_count, 2);
    EXPECT_FALSE(u.upserted_id);
    u = co_await coll.update_one(doc("n", 1), doc("$set", doc("hits", 10)));
    EXPECT_EQ(u.matched_count, 1);
    EXPECT_EQ(u.modified_count, 1);
    u = co_await coll.update_one(doc("n", 100), doc("$set", doc("hits", 0)));
    EXPECT_EQ(u.matched_count, 0);
    u = co_await coll.update_one(doc("n", 100), doc("$set", doc("hits", 0)), update_options().upsert());
    EXPECT_EQ(u.matched_count, 0);
    CO_ASSERT_TRUE(u.upserted_id);
    EXPECT_TRUE(u.upserted_id->is<object_id>());
    u = co_await coll.replace_one(doc("n", 3), doc("n", 3, "replaced", true));
    EXPECT_EQ(u.matched_count, 1);
    auto three = co_await coll.find_one(doc("n", 3));
    CO_ASSERT_TRUE(three);
    EXPECT_TRUE(three->get<bool>("replaced"));
    EXPECT_FALSE(three->contains("hits"));
    delete_result d = co_await coll.delete_one(doc("n", doc("$gte", 2)));
    EXPECT_EQ(d.deleted_count, 1);
    d = co_await coll.delete_many({});
    EXPECT_EQ(d.deleted_count, 3);
    EXPECT_EQ(co_await coll.count_documents(), 0);
  });
}

TEST(MongoCollection, FindOneAnd) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "find_one_and");
    co_await coll.insert_many(mongo_test::many(doc("n", 1, "v", "a"), doc("n", 2, "v", "b")));
    auto before = co_await coll.find_one_and_update(doc("n", 1), doc("$set", doc("v", "A")));
    CO_ASSERT_TRUE(before);
    EXPECT_EQ(before->get<std::string>("v"), "a");  // ReturnDocument.BEFORE by default
    auto after = co_await coll.find_one_and_update(doc("n", 1), doc("$set", doc("v", "AA")), find_one_and_options().return_after());
    CO_ASSERT_TRUE(after);
    EXPECT_EQ(after->get<std::string>("v"), "AA");
    auto replaced = co_await coll.find_one_and_replace(doc("n", 2), doc("n", 2, "v", "B"), find_one_and_options().return_after());
    CO_ASSERT_TRUE(replaced);
    EXPECT_EQ(replaced->get<std::string>("v"), "B");
    auto deleted = co_await coll.find_one_and_delete(doc("n", 2));
    CO_ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->get<std::string>("v"), "B");
    EXPECT_EQ(co_await coll.find_one_and_delete(doc("n", 2)), std::nullopt);
    auto sorted =
        co_await coll.find_one_and_update({}, doc("$set", doc("v", "s")), find_one_and_options().sort(doc("n", -1)).return_after());
    CO_ASSERT_TRUE(sorted);
    EXPECT_EQ(sorted->get<std::int32_t>("n"), 1);
  });
}

TEST(MongoCollection, FindOneAndUpsertWithProjection) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "find_one_and_upsert");
    // Nothing matches: without upsert nothing happens, with it the document is inserted.
    EXPECT_EQ(co_await coll.find_one_and_update(doc("n", 7), doc("$set", doc("v", "x"))), std::nullopt);
    EXPECT_EQ(co_await coll.count_documents(), 0);
    auto made = co_await coll.find_one_and_update(doc("n", 7), doc("$set", doc("v", "x")),
                                                  find_one_and_options().upsert().return_after().projection(doc("_id", 0)));
    CO_ASSERT_TRUE(made);
    EXPECT_FALSE(made->contains("_id"));
    EXPECT_EQ(made->get<std::string>("v"), "x");
    EXPECT_EQ(co_await coll.count_documents(doc("n", 7)), 1);
  });
}

TEST(MongoCollection, Indexes) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "indexes");
    co_await coll.insert_one(doc("name", "x", "age", 3));
    EXPECT_EQ(co_await coll.create_index(doc("name", 1, "age", -1)), "name_1_age_-1");
    EXPECT_EQ(co_await coll.create_index(doc("age", 1), index_options().name("by_age")), "by_age");
    std::vector<std::string> names;
    auto cur = coll.list_indexes();
    co_await aw::async_with(cur, [&](cursor& cu) -> aw::task<> {
      while (auto ix = co_await cu.next()) names.push_back(ix->get<std::string>("name"));
    });
    EXPECT_EQ(names, (std::vector<std::string>{"_id_", "name_1_age_-1", "by_age"}));
    co_await coll.drop_index("by_age");
    auto cur2 = coll.list_indexes();
    std::vector<document> left = co_await aw::async_with(cur2, [&](cursor& cu) { return cu.to_vector(); });
    EXPECT_EQ(left.size(), 2u);
    EXPECT_THROW(co_await coll.drop_index("no_such_index"), command_error);
  });
}

TEST(MongoCollection, DropAndDatabase) {
  with_client([](client& c) -> aw::task<> {
    auto db = c["aw_test_db"];
    co_await db.drop();
    co_await db["a"].insert_one(doc("x", 1));
    co_await db["b"].insert_one(doc("x", 1));
    auto names = co_await db.list_collection_names();
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
    co_await db["a"].drop();
    co_await db["a"].drop();  // dropping a missing collection is no error (pymongo)
    names = co_await db.list_collection_names();
    EXPECT_EQ(names, std::vector<std::string>(1, "b"));
    document reply = co_await db.command(doc("ping", 1));
    EXPECT_TRUE(reply.get<value>("ok") == value(1.0) || reply.get<value>("ok") == value(1)) << reply.to_json();  // servers differ
    co_await c.ping();
    co_await db.drop();
  });
}

TEST(MongoCollection, Aggregate) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "aggregate");
    std::vector<document> docs;
    for (int i = 0; i < 20; ++i) docs.push_back(doc("n", i, "g", i % 3));
    co_await coll.insert_many(std::move(docs));
    auto cur = coll.aggregate(arr(doc("$match", doc("n", doc("$gte", 3))), doc("$group", doc("_id", "$g", "count", doc("$sum", 1))),
                                  doc("$sort", doc("_id", 1))));
    auto groups = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(groups.size(), 3u);
    std::int64_t total = 0;
    for (auto& g : groups) total += g.get<std::int64_t>("count");
    EXPECT_EQ(total, 17);
    EXPECT_EQ(groups[0].get<std::int32_t>("_id"), 0);
  });
}

// 200 tasks at once on one client: with the default 8 workers, and with one worker (every
// call queues behind the others).
void two_hundred_concurrent(client_options opts, const char* name) {
  with_client(
      [name](client& c) -> aw::task<> {
        auto coll = co_await fresh(c, name);
        int done = 0;
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          for (int i = 0; i < 200; ++i)
            tg.start_soon([&coll, &done, i]() -> aw::task<> {
              co_await coll.insert_one(doc("i", i));
              auto d = co_await coll.find_one(doc("i", i));
              EXPECT_TRUE(d && d->get<std::int32_t>("i") == i);
              ++done;
            });
          co_return;
        });
        EXPECT_EQ(done, 200);
        EXPECT_EQ(co_await coll.count_documents(), 200);
      },
      opts);
}

TEST(MongoCollection, TwoHundredConcurrentOperations) { two_hundred_concurrent(client_options(), "concurrent"); }
TEST(MongoCollection, TwoHundredConcurrentOperationsOnOneWorker) { two_hundred_concurrent(client_options().max_workers(1), "concurrent1"); }

// set(): any option of the command, passed as given. (CongoDB ignores arrayFilters in $set,
// so update_options().array_filters() is left to a real server.)
TEST(MongoCollection, PassThroughOptions) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "pass_through");
    co_await coll.insert_many(mongo_test::many(doc("n", 1), doc("n", 2), doc("n", 3)));
    auto cur = coll.find({}, find_options().set("limit", 2).set("sort", doc("n", -1)));
    auto two = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
    CO_ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].get<std::int32_t>("n"), 3);
    EXPECT_EQ(co_await coll.count_documents({}, count_options().set("skip", 1)), 2);
  });
}

TEST(MongoCollection, InsertManyOfNothingIsInvalid) {
  with_client([](client& c) -> aw::task<> {
    auto coll = c["aw_test"]["insert_nothing"];
    EXPECT_THROW(co_await coll.insert_many(std::vector<document>()), std::invalid_argument);
  });
}

// The same documents through pymongo, both ways. (No int64 field: CongoDB stores int64 as
// a double, a server gap pymongo sees the same way.)
std::string run_python(const std::string& args, const std::string& input = "") {
  std::string cmd = "/usr/bin/python3 " + std::string(AW_MONGO_CROSSCHECK) + " '" + mongo_test::uri() + "' aw_test " + args;
  std::string in_file;
  if (!input.empty()) {
    in_file = testing::TempDir() + "/aw_mongo_crosscheck_in.txt";
    FILE* f = std::fopen(in_file.c_str(), "w");
    std::fputs(input.c_str(), f);
    std::fclose(f);
    cmd += " < " + in_file;
  }
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << cmd;
  return out;
}

document every_type(int n) {
  return doc("_id", object_id::generate(), "n", n, "s", "text ü", "d", 2.5, "b", true, "nul", nullptr, "arr",
             arr(1, "two", doc("three", 3)), "doc", doc("x", doc("y", 1)), "when", date_time(std::chrono::milliseconds(1700000000123)),
             "dec", decimal128("12345.6789"), "bin", binary({0, 255, 7}, 0));
}

TEST(MongoCollection, CrossCheckWithPymongo) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "crosscheck");
    std::vector<document> mine{every_type(0), every_type(1)};
    co_await coll.insert_many(mine);
    // pymongo reads what aw::mongo wrote...
    std::string out = run_python("crosscheck read");
    std::vector<document> seen;
    size_t pos = 0, nl;
    while ((nl = out.find('\n', pos)) != std::string::npos) {
      seen.push_back(document::from_json(out.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    CO_ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], mine[0]) << seen[0].to_json() << "\n" << mine[0].to_json();
    EXPECT_EQ(seen[1], mine[1]);
    // ... and aw::mongo reads what pymongo wrote.
    co_await coll.drop();
    document theirs = every_type(2);
    EXPECT_EQ(run_python("crosscheck write", theirs.to_json() + "\n"), "1\n");
    auto back = co_await coll.find_one();
    CO_ASSERT_TRUE(back);
    EXPECT_EQ(*back, theirs) << back->to_json();
  });
}

}  // namespace
