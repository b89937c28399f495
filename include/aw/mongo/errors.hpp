// The errors aw::mongo raises, typed the way pymongo's are, each with what a user needs to
// act on it: the server's code and message, the duplicate key, the failed writes.
//
//   try {
//     co_await users.insert_one(user);
//   } catch (const aw::mongo::duplicate_key_error& e) {
//     // e.code() == 11000; e.key_value(): {"_id": ...}; e.what(): the server's message
//   } catch (const aw::mongo::connection_error& e) {
//     // no server could be reached (server selection failed, or the connection broke)
//   }
//
//   error                        everything below (pymongo.errors.PyMongoError)
//   ├── configuration_error      a malformed URI or option (ConfigurationError)
//   ├── connection_error         network failure, no reachable server (ConnectionFailure)
//   │   └── server_selection_error   no suitable server in time (ServerSelectionTimeoutError)
//   ├── timeout_error            a socket timeout or the server's maxTimeMS (NetworkTimeout, ExecutionTimeout)
//   ├── command_error            the server answered ok: 0 (OperationFailure)
//   │   ├── write_error          a write failed (WriteError; BulkWriteError for insert_many)
//   │   │   └── duplicate_key_error  code 11000 (DuplicateKeyError)
//   │   └── write_concern_error  the write concern was not met (WriteConcernError)
//   ├── closed_error             the client was used after it was closed
//   ├── gridfs_error             GridFS misuse or failure (gridfs.hpp; GridFSError)
//   │   ├── no_file_error        no file with that _id or revision (NoFile)
//   │   ├── corrupt_file_error   a chunk missing or of the wrong size (CorruptGridFile)
//   │   └── file_exists_error    an upload's _id is another file's (FileExists)
//   ├── field_error              a missing field or one of another type (bson.hpp; KeyError, TypeError)
//   └── json_error               text that is not (extended) JSON (bson.hpp; bson.errors.InvalidBSON)
//
// Messages never contain the password of the connection string.
#pragma once

#include <aw/mongo/bson.hpp>
#include <aw/mongo/root_error.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace aw::mongo {

class configuration_error : public error {
 public:
  using error::error;
};

class connection_error : public error {
 public:
  using error::error;
};

class server_selection_error : public connection_error {
 public:
  using connection_error::connection_error;
};

class timeout_error : public error {
 public:
  using error::error;
};

class closed_error : public error {
 public:
  explicit closed_error(const std::string& what) : error(what, 0, 0) {}
};

class command_error : public error {
 public:
  command_error(const std::string& message, std::uint32_t domain, std::uint32_t code, document reply)
      : error(message, domain, code), reply_(std::move(reply)) {}
  // The server's reply, e.g. {"ok": 0, "errmsg": ..., "code": 59, "codeName": "CommandNotFound"}.
  const document& reply() const noexcept { return reply_; }
  // The server's codeName, when it sent one.
  std::string code_name() const { return reply_.find<std::string>("codeName").value_or(""); }

 private:
  document reply_;
};

// One failed write of a write command.
struct write_failure {
  std::int32_t index = 0;  // position in insert_many's documents or bulk_write's models (0 for single writes)
  std::int32_t code = 0;
  std::string message;
  document details;  // the server's writeErrors entry (keyPattern, keyValue, errInfo, ...)
};

class write_error : public command_error {
 public:
  write_error(const std::string& message, std::uint32_t domain, std::uint32_t code, document reply, std::vector<write_failure> failures)
      : command_error(message, domain, code, std::move(reply)), failures_(std::move(failures)) {}
  // Every failed write (several for an unordered insert_many).
  const std::vector<write_failure>& failures() const noexcept { return failures_; }
  // For insert_many and bulk_write: how many documents were inserted before or despite the
  // failures.
  std::int64_t inserted_count() const {
    return reply().find<std::int64_t>("insertedCount").value_or(reply().find<std::int64_t>("nInserted").value_or(0));
  }

 private:
  std::vector<write_failure> failures_;
};

class duplicate_key_error : public write_error {
 public:
  using write_error::write_error;
  // The index and the duplicate value, e.g. {"_id": 1} and {"_id": ObjectId(...)}, when the
  // server sent them (MongoDB 4.4+ does).
  std::optional<document> key_pattern() const;
  std::optional<document> key_value() const;
};

class write_concern_error : public command_error {
 public:
  using command_error::command_error;
};

namespace detail {
// Raises the typed error for a failed libmongoc call: `err` and, when the call had one, the
// server's reply. `what` names the operation ("insert_one on db.coll").
[[noreturn]] void throw_error(const bson_error_t& err, const bson_t* reply, const std::string& what);
}  // namespace detail

}  // namespace aw::mongo
