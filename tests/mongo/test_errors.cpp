// Typed errors, the client's lifetime, cancellation of slow calls, sessions and transactions.
#include "mongo_test.hpp"

#include "../common/tricky_credentials.hpp"

#include <aw/cancel_scope.hpp>
#include <aw/exceptions.hpp>
#include <aw/sleep.hpp>
#include <aw/task_group.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

using namespace aw::mongo;
using namespace std::chrono_literals;
using mongo_test::fresh;
using mongo_test::with_client;

namespace {

TEST(MongoErrors, DuplicateKeyCarriesTheKey) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "dup");
    auto id = object_id::generate();
    co_await coll.insert_one(doc("_id", id));
    try {
      co_await coll.insert_one(doc("_id", id, "again", true));
      ADD_FAILURE() << "no duplicate_key_error";
    } catch (const duplicate_key_error& e) {
      EXPECT_EQ(e.code(), 11000);
      CO_ASSERT_EQ(e.failures().size(), 1u);
      EXPECT_EQ(e.failures()[0].code, 11000);
      CO_ASSERT_TRUE(e.key_value());
      EXPECT_EQ(e.key_value()->get<object_id>("_id"), id);
      EXPECT_EQ(e.key_pattern(), (doc("_id", 1)));
      EXPECT_NE(std::string(e.what()).find("insert_one into aw_test.dup"), std::string::npos) << e.what();
    }
  });
}

TEST(MongoErrors, InsertManyReportsEachFailedWrite) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "dup_many");
    auto id = object_id::generate();
    co_await coll.insert_one(doc("_id", id));
    try {
      co_await coll.insert_many(mongo_test::many(doc("_id", id), doc("n", 1)), write_options().ordered(false));
      ADD_FAILURE() << "no write_error";
    } catch (const write_error& e) {
      EXPECT_NE(dynamic_cast<const duplicate_key_error*>(&e), nullptr);
      CO_ASSERT_EQ(e.failures().size(), 1u);
      EXPECT_EQ(e.failures()[0].index, 0);
      EXPECT_EQ(e.inserted_count(), 1);
    }
    EXPECT_EQ(co_await coll.count_documents(), 2);
  });
}

TEST(MongoErrors, CommandErrorHasCodeAndName) {
  with_client([](client& c) -> aw::task<> {
    try {
      co_await c["aw_test"].command(doc("noSuchCommand", 1));
      ADD_FAILURE();
    } catch (const command_error& e) {
      EXPECT_EQ(e.code(), 59);
      EXPECT_EQ(e.code_name(), "CommandNotFound");
      EXPECT_TRUE(e.reply().get<value>("ok") == value(0.0) || e.reply().get<value>("ok") == value(0));
    }
  });
}

// A port nothing listens on: bound, then closed.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(MongoErrors, NoServerIsAConnectionError) {
  static const std::string port = std::to_string(closed_port());
  aw::run([]() -> aw::task<> {
    client c("mongodb://127.0.0.1:" + port + "/?serverSelectionTimeoutMS=200&connectTimeoutMS=200");
    co_await aw::async_with(c, [](client& cl) -> aw::task<> {
      EXPECT_THROW(co_await cl.ping(), server_selection_error);
      try {
        co_await cl["db"]["coll"].insert_one(doc("x", 1));
        ADD_FAILURE();
      } catch (const connection_error& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + port), std::string::npos) << e.what();
      }
    });
  });
}

TEST(MongoErrors, BadUriIsAConfigurationErrorWithoutThePassword) {
  try {
    client c("mongodb://ada:s3cret@127.0.0.1:27117/?replicaSet=");
    client d("mongodb://ada:s3cret@/");
    ADD_FAILURE();
  } catch (const configuration_error& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ada:***@"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)client("http://x"), configuration_error);
  client ok("mongodb://ada:s3cret@127.0.0.1:27117/");
  EXPECT_EQ(ok.redacted_uri(), "mongodb://ada:***@127.0.0.1:27117/");
}

// Every tricky connection string and URL of the shared table: a client is made (no server
// is contacted) or refused with configuration_error; neither the message nor
// redacted_uri() holds the password.
TEST(MongoErrors, NoPasswordInAnyClientError) {
  for (const auto& e : aw_test::tricky_credentials_table()) {
    try {
      client c{std::string(e.text)};
      EXPECT_TRUE(aw_test::holds_no_secret(c.redacted_uri(), e)) << c.redacted_uri();
    } catch (const configuration_error& err) {
      EXPECT_TRUE(aw_test::holds_no_secret(err.what(), e)) << err.what();
    }
  }
}

TEST(MongoErrors, UseOutsideTheBlockIsClosedError) {
  aw::run([]() -> aw::task<> {
    client c(mongo_test::uri());
    auto coll = c["aw_test"]["closed"];
    EXPECT_THROW(co_await coll.count_documents(), closed_error);  // not entered yet
    co_await aw::async_with(c, [](client&) -> aw::task<> { co_return; });
    EXPECT_THROW(co_await coll.count_documents(), closed_error);  // left
  });
}

// A listener that never accepts, on a port the kernel chose: the driver's hello hangs until
// its timeouts.
class silent_server {
 public:
  silent_server() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;  // any free port
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~silent_server() { ::close(fd_); }
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;
  // mongodb://127.0.0.1:PORT/?<options>
  std::string uri(const std::string& options) const { return "mongodb://127.0.0.1:" + std::to_string(port_) + "/?" + options; }

 private:
  int fd_;
  int port_ = 0;
};

TEST(MongoCancellation, ASlowCallReturnsAtOnceWhenCancelled) {
  silent_server quiet;
  aw::run([&]() -> aw::task<> {
    client c(quiet.uri("serverSelectionTimeoutMS=1000&connectTimeoutMS=1000&socketTimeoutMS=1000"), client_options().max_workers(2));
    co_await aw::async_with(c, [](client& cl) -> aw::task<> {
      auto coll = cl["db"]["slow"];
      bool finished = false;
      aw::cancel_scope scope;
      co_await aw::async_with(scope, [&](aw::cancel_scope& s) -> aw::task<> {
        // The call is on a worker, blocked in the driver; cancel it from here.
        co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
          tg.start_soon([&]() -> aw::task<> {
            co_await coll.find_one(doc("x", 1));
            finished = true;
          });
          co_await aw::sleep(20ms);
          s.cancel();
        });
      });
      EXPECT_TRUE(scope.cancelled_caught());
      EXPECT_FALSE(finished);
      // The client stays usable: a cancelled scope around a queued call, then a plain call.
      auto r = co_await aw::move_on_after(0s, [&] { return coll.insert_one(doc("x", 2)); });
      EXPECT_FALSE(r.has_value());
      EXPECT_THROW(co_await coll.count_documents(), server_selection_error);
    });
    // Leaving the client waited for the abandoned calls to finish on their workers.
  });
}

TEST(MongoSessions, TransactionCommitsOnSuccess) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "txn_commit");
    auto s = c.start_session();
    co_await aw::async_with(s, [&](session& sess) -> aw::task<> {
      EXPECT_TRUE(sess.id().contains("id"));
      auto t = sess.start_transaction();
      co_await aw::async_with(t, [&](transaction&) -> aw::task<> {
        EXPECT_TRUE(sess.in_transaction());
        co_await coll.insert_one(doc("n", 1), write_options().session(sess));
        co_await coll.update_one(doc("n", 1), doc("$set", doc("m", 2)), update_options().session(sess));
        auto d = co_await coll.find_one(doc("n", 1), find_options().session(sess));
        EXPECT_TRUE(d && d->get<std::int32_t>("m") == 2);
      });
      EXPECT_FALSE(sess.in_transaction());
      // A cursor in the session uses the session's connection.
      auto cur = coll.find({}, find_options().session(sess));
      auto all = co_await aw::async_with(cur, [](cursor& cu) { return cu.to_vector(); });
      EXPECT_EQ(all.size(), 1u);
    });
    EXPECT_EQ(co_await coll.count_documents(), 1);
  });
}

TEST(MongoSessions, TransactionAbortsOnExceptionAndCancellation) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "txn_abort");
    auto s = c.start_session();
    co_await aw::async_with(s, [&](session& sess) -> aw::task<> {
      auto t = sess.start_transaction();
      EXPECT_THROW(co_await aw::async_with(t,
                                           [&](transaction&) -> aw::task<> {
                                             co_await coll.insert_one(doc("n", 1), write_options().session(sess));
                                             throw std::runtime_error("body failed");
                                           }),
                   std::runtime_error);
      EXPECT_FALSE(sess.in_transaction());
      // Cancelled inside the transaction: the shielded exit still sends the abort.
      auto r = co_await aw::move_on_after(0s, [&]() -> aw::task<> {
        auto t2 = sess.start_transaction();
        co_await aw::async_with(t2,
                                [&](transaction&) -> aw::task<> { co_await coll.insert_one(doc("n", 2), write_options().session(sess)); });
      });
      EXPECT_FALSE(r);
      EXPECT_FALSE(sess.in_transaction());
      // The session goes on working.
      auto t3 = sess.start_transaction();
      co_await aw::async_with(t3,
                              [&](transaction&) -> aw::task<> { co_await coll.insert_one(doc("n", 3), write_options().session(sess)); });
    });
    // CongoDB does not roll back aborted transactions (a real server would leave only n: 3),
    // so only the committed document is checked.
    EXPECT_EQ(co_await coll.count_documents(doc("n", 3)), 1);
  });
}

TEST(MongoSessions, SessionOutsideItsBlockIsClosedError) {
  with_client([](client& c) -> aw::task<> {
    auto coll = co_await fresh(c, "session_closed");
    auto s = c.start_session();
    EXPECT_THROW(co_await coll.insert_one(doc("n", 1), write_options().session(s)), closed_error);
    co_await aw::async_with(s, [](session&) -> aw::task<> { co_return; });
    EXPECT_THROW(co_await coll.insert_one(doc("n", 1), write_options().session(s)), closed_error);
  });
}

}  // namespace
