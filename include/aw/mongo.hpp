// aw::mongo, the motor row: MongoDB through libmongoc on the client's own worker threads,
// every client, cursor, session and transaction an async context manager.
//
//   #include <aw/mongo.hpp>
//   aw::mongo::client mongo("mongodb://127.0.0.1:27017");
//   co_await aw::async_with(mongo, [](aw::mongo::client& c) -> aw::task<> {
//     co_await c["app"]["people"].insert_one({{"name", "Ada"}});
//   });
#pragma once

#include <aw/mongo/bson.hpp>
#include <aw/mongo/bulk_write.hpp>
#include <aw/mongo/client.hpp>
#include <aw/mongo/errors.hpp>
#include <aw/mongo/gridfs.hpp>
#include <aw/mongo/json.hpp>
#include <aw/mongo/options.hpp>
