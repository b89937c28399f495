// aw::mongo::collection::bulk_write against CongoDB: mixed models, the counts and _ids of the
// result, ordered and unordered failures, and models libmongoc refuses.
#include "mongo_test.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace aw::mongo;
using mongo_test::fresh;
using mongo_test::with_client;

namespace {

// CongoDB keeps only ObjectId _ids (it turns any other into a new ObjectId): the documents
// are found by a field of their own, `k`.
TEST(MongoBulkWrite, MixedModelsGiveEachCountAndTheIds) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "bulk_mixed");
    co_await coll.insert_many(mongo_test::many(doc("k", 10, "n", 1), doc("k", 11, "n", 1), doc("k", 12, "n", 50)));
    const object_id given = object_id::generate();
    std::vector<write_model> ops{
        insert_one(doc("_id", given, "k", 1, "n", 5)),                     // 0: its own _id
        insert_one(doc("k", 2, "n", 6)),                                   // 1: an ObjectId given here
        update_one(doc("k", 10), doc("$set", doc("n", 2))),                // 2
        update_many(doc("n", doc("$lt", 3)), doc("$inc", doc("n", 100))),  // 3: k 10 and 11
        replace_one(doc("k", 12), doc("k", 12, "n", 7)),                   // 4
        update_one(doc("k", 99), doc("$set", doc("n", 9))).upsert(),       // 5: inserts k 99
        delete_one(doc("k", 1)),                                           // 6
        delete_many(doc("n", doc("$gt", 100))),                            // 7: k 10 and 11
    };
    bulk_write_result r = co_await coll.bulk_write(std::move(ops));
    EXPECT_EQ(r.inserted_count, 2);
    EXPECT_EQ(r.matched_count, 4);  // 1 + 2 + 1
    EXPECT_EQ(r.modified_count, 4);
    EXPECT_EQ(r.upserted_count, 1);
    EXPECT_EQ(r.deleted_count, 3);
    EXPECT_TRUE(r.acknowledged);
    CO_ASSERT_EQ(r.inserted_ids.size(), 2u);
    EXPECT_EQ(r.inserted_ids.at(0).as<object_id>(), given);
    EXPECT_TRUE(r.inserted_ids.at(1).is<object_id>());
    CO_ASSERT_EQ(r.upserted_ids.size(), 1u);
    EXPECT_TRUE(r.upserted_ids.at(5).is<object_id>());
    // What is left: k 2 (inserted), k 12 (replaced), k 99 (upserted).
    EXPECT_EQ(co_await coll.count_documents(), 3);
    auto inserted = co_await coll.find_one(doc("_id", r.inserted_ids.at(1)));
    CO_ASSERT_TRUE(inserted);
    EXPECT_EQ(inserted->get<std::int32_t>("k"), 2);
    auto replaced = co_await coll.find_one(doc("k", 12));
    CO_ASSERT_TRUE(replaced);
    EXPECT_EQ(replaced->get<std::int32_t>("n"), 7);
    auto upserted = co_await coll.find_one(doc("_id", r.upserted_ids.at(5)));
    CO_ASSERT_TRUE(upserted);
    EXPECT_EQ(upserted->get<std::int32_t>("n"), 9);
  });
}

TEST(MongoBulkWrite, OrderedStopsAtTheFirstFailedWrite) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "bulk_ordered");
    const object_id a = object_id::generate(), b = object_id::generate();
    std::vector<write_model> ops{insert_one(doc("_id", a)), insert_one(doc("_id", a)), insert_one(doc("_id", b))};
    bool raised = false;
    try {
      co_await coll.bulk_write(std::move(ops));
    } catch (const duplicate_key_error& e) {
      raised = true;
      EXPECT_EQ(e.inserted_count(), 1);
      CO_ASSERT_EQ(e.failures().size(), 1u);
      EXPECT_EQ(e.failures()[0].index, 1);
      EXPECT_EQ(e.failures()[0].code, 11000);
    }
    EXPECT_TRUE(raised);
    EXPECT_EQ(co_await coll.count_documents(), 1);  // the third was never tried
  });
}

TEST(MongoBulkWrite, UnorderedTriesEveryWrite) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "bulk_unordered");
    const object_id a = object_id::generate(), b = object_id::generate();
    std::vector<write_model> ops{insert_one(doc("_id", a)), insert_one(doc("_id", a)), insert_one(doc("_id", b)),
                                 insert_one(doc("_id", b))};
    bool raised = false;
    try {
      co_await coll.bulk_write(std::move(ops), write_options().ordered(false));
    } catch (const write_error& e) {
      raised = true;
      EXPECT_EQ(e.inserted_count(), 2);
      CO_ASSERT_EQ(e.failures().size(), 2u);
      EXPECT_EQ(e.failures()[0].index, 1);
      EXPECT_EQ(e.failures()[1].index, 3);
    }
    EXPECT_TRUE(raised);
    EXPECT_EQ(co_await coll.count_documents(), 2);
  });
}

TEST(MongoBulkWrite, ModelsLibmongocRefusesAreInvalidArguments) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "bulk_invalid");
    std::vector<write_model> no_operators{insert_one(doc("k", 1)), update_one(doc("k", 1), doc("n", 2))};
    bool raised = false;
    try {
      co_await coll.bulk_write(std::move(no_operators));
    } catch (const std::invalid_argument& e) {
      raised = true;
      EXPECT_NE(std::string(e.what()).find("model 1"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(raised);
    std::vector<write_model> operators_in_replacement{replace_one(doc("k", 1), doc("$set", doc("n", 2)))};
    EXPECT_THROW(co_await coll.bulk_write(std::move(operators_in_replacement)), std::invalid_argument);
    EXPECT_THROW(co_await coll.bulk_write(std::vector<write_model>()), std::invalid_argument);
    EXPECT_EQ(co_await coll.count_documents(), 0);  // nothing was sent
  });
}

}  // namespace
