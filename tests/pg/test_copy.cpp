// COPY: copy_records_to_table (binary, 1M rows, every adapted type), copy_to_table from
// bytes and from a byte_source, copy_from_query and copy_from_table into a byte_sink,
// server and client errors, and cancellation in the middle of a COPY in either direction.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "pg_test.hpp"

using namespace std::chrono_literals;
using pg_test::with_connection;

namespace {

aw::task<std::int64_t> count(aw::pg::connection& c, const char* table) {
  co_return co_await c.fetchval<std::int64_t>(std::string("SELECT count(*) FROM ") + table);
}

// A sink collecting into a string.
aw::byte_sink collect_into(std::string& out) {
  return aw::byte_sink([&out](std::string_view data) -> aw::task<> {
    out.append(data);
    co_return;
  });
}

// The connection is idle on the server: nothing of the interrupted COPY still runs.
aw::task<> expect_idle(aw::pg::connection& c) {
  EXPECT_FALSE(c.is_closed());
  EXPECT_FALSE(c.in_transaction());
  EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  co_await aw::async_with(aw::pg::connect(pg_test::dsn()), [&](aw::pg::connection& other) -> aw::task<> {
    auto q = co_await other.fetchval<std::string>("SELECT state || ': ' || query FROM pg_stat_activity WHERE pid = $1", c.backend_pid());
    EXPECT_EQ(q.rfind("idle: ", 0), 0u) << q;
  });
}

TEST(PgCopy, RecordsToTableMillionRows) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE big (id bigint, v int, name text)");
    constexpr std::int64_t n = 1000000;
    std::vector<std::tuple<std::int64_t, std::int32_t, std::string>> rows;
    rows.reserve(n);
    for (std::int64_t i = 0; i < n; ++i) rows.emplace_back(i, static_cast<std::int32_t>(i % 1000), "r" + std::to_string(i % 97));
    std::string tag = co_await c.copy_records_to_table("big", rows);
    EXPECT_EQ(tag, "COPY 1000000");
    EXPECT_EQ(co_await count(c, "big"), n);
    EXPECT_EQ(co_await c.fetchval<aw::pg::numeric>("SELECT sum(id) FROM big"), aw::pg::numeric("499999500000"));
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT sum(v) FROM big"), 499500000);
    EXPECT_EQ(co_await c.fetchval<std::string>("SELECT name FROM big WHERE id = 12345"), "r" + std::to_string(12345 % 97));
  });
}

TEST(PgCopy, RecordsAdaptToTheColumnTypes) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute(
        "CREATE TEMP TABLE typed (s smallint, i int, b bigint, f real, d float8, n numeric, t text, vc varchar(20), ok bool, "
        "day date, at timestamptz, id uuid, raw bytea, doc jsonb, tags int[], j json)");
    using rec = std::tuple<std::int64_t, std::int16_t, std::int32_t, std::int32_t, float, std::string, std::string_view, const char*, bool,
                           aw::pg::date, aw::pg::timestamptz, aw::pg::uuid, aw::pg::bytea, aw::pg::jsonb, std::vector<std::int32_t>,
                           std::optional<std::string>>;
    auto day = aw::pg::date(std::chrono::year{2024} / 2 / 29);
    auto at = aw::pg::timestamptz(std::chrono::sys_days(std::chrono::year{2024} / 1 / 1)) + std::chrono::microseconds(1);
    auto id = aw::pg::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    std::vector<rec> rows;
    rows.emplace_back(-32768, std::int16_t{7}, 1 << 30, 2, 1.5f, "-12345.678900", "héllo", "v", true, day, at, id,
                      aw::pg::bytea{std::byte{0}, std::byte{255}}, aw::pg::jsonb(R"({"a": [1, 2]})"), std::vector<std::int32_t>{1, 2, 3},
                      std::string(R"({"k":1})"));
    rows.emplace_back(0, std::int16_t{0}, 0, 0, 0.0f, "0", "", "", false, day, at, id, aw::pg::bytea{}, aw::pg::jsonb("null"),
                      std::vector<std::int32_t>{}, std::nullopt);
    EXPECT_EQ(co_await c.copy_records_to_table("typed", rows), "COPY 2");
    auto r =
        co_await c.fetchrow("SELECT s, i, b, f, d, n::text, t, vc, ok, day, at, id, raw, doc::text, tags, j::text FROM typed ORDER BY s");
    PG_CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->get<std::int16_t>(0), -32768);
    EXPECT_EQ(r->get<std::int32_t>(1), 7);
    EXPECT_EQ(r->get<std::int64_t>(2), 1 << 30);
    EXPECT_EQ(r->get<float>(3), 2.0f);
    EXPECT_EQ(r->get<double>(4), 1.5);
    EXPECT_EQ(r->get<std::string>(5), "-12345.678900");
    EXPECT_EQ(r->get<std::string>(6), "héllo");
    EXPECT_EQ(r->get<std::string>(7), "v");
    EXPECT_TRUE(r->get<bool>(8));
    EXPECT_EQ(r->get<aw::pg::date>(9), day);
    EXPECT_EQ(r->get<aw::pg::timestamptz>(10), at);
    EXPECT_EQ(r->get<aw::pg::uuid>(11), id);
    EXPECT_EQ(r->get<aw::pg::bytea>(12), (aw::pg::bytea{std::byte{0}, std::byte{255}}));
    EXPECT_EQ(r->get<std::string>(13), R"({"a": [1, 2]})");
    EXPECT_EQ(r->get<std::vector<std::int32_t>>(14), (std::vector<std::int32_t>{1, 2, 3}));
    EXPECT_EQ(r->get<std::string>(15), R"({"k":1})");
    auto z = co_await c.fetchrow("SELECT n::text, t, tags, j FROM typed WHERE s = 0");
    EXPECT_EQ(z->get<std::string>(0), "0");
    EXPECT_EQ(z->get<std::string>(1), "");
    EXPECT_TRUE(z->get<std::vector<std::int32_t>>(2).empty());
    EXPECT_FALSE(z->get<std::optional<std::string>>(3));
  });
}

TEST(PgCopy, NumericFromEveryForm) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE nums (k int, n numeric)");
    std::vector<std::tuple<int, std::optional<aw::pg::numeric>>> a = {{1, aw::pg::numeric("0.0001")},
                                                                      {2, aw::pg::numeric("10000")},
                                                                      {3, aw::pg::numeric("-1.5e3")},
                                                                      {4, aw::pg::numeric("NaN")},
                                                                      {5, aw::pg::numeric("-Infinity")},
                                                                      {6, aw::pg::numeric("123456789012345678901234567890.12")},
                                                                      {7, std::nullopt},
                                                                      {8, aw::pg::numeric("0.000")}};
    co_await c.copy_records_to_table("nums", a);
    std::vector<std::tuple<int, double>> b = {{9, 0.25}, {10, -2.0}};
    co_await c.copy_records_to_table("nums", b);
    std::vector<std::tuple<int, std::int64_t>> d = {{11, -9223372036854775807LL}};
    co_await c.copy_records_to_table("nums", d);
    aw::pg::result rows = co_await c.fetch("SELECT n::text FROM nums ORDER BY k");
    std::vector<std::optional<std::string>> got;
    for (auto row : rows) got.push_back(row.get<std::optional<std::string>>(0));
    std::vector<std::optional<std::string>> want = {
        "0.0001",     "10000", "-1500", "NaN", "-Infinity",           "123456789012345678901234567890.12",
        std::nullopt, "0.000", "0.25",  "-2",  "-9223372036854775807"};
    EXPECT_EQ(got, want);
    std::vector<std::tuple<int, std::string>> bad = {{12, "12abc"}};
    EXPECT_THROW(co_await c.copy_records_to_table("nums", bad), aw::pg::type_error);
    EXPECT_EQ(co_await count(c, "nums"), 11);
  });
}

TEST(PgCopy, VectorRecordsColumnsAndSchema) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE cols (a bigint, \"B\" bigint, c text DEFAULT 'dflt')");
    std::vector<std::vector<std::optional<std::int64_t>>> rows = {{1, 10}, {2, std::nullopt}, {3, 30}};
    std::vector<std::string> names = {"B", "a"};
    EXPECT_EQ(co_await c.copy_records_to_table("cols", rows, {.columns = names, .schema_name = "pg_temp"}), "COPY 3");
    auto r = co_await c.fetch("SELECT a, \"B\", c FROM cols ORDER BY \"B\"");
    PG_CO_ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].get<std::int64_t>(0), 10);  // {1, 10}: "B" = 1, a = 10
    EXPECT_EQ(r[0].get<std::int64_t>(1), 1);
    EXPECT_EQ(r[0].get<std::string>(2), "dflt");
    EXPECT_EQ(r[1].get<std::optional<std::int64_t>>(0), std::nullopt);
    EXPECT_EQ(r[1].get<std::int64_t>(1), 2);
    EXPECT_EQ(r[2].get<std::int64_t>(0), 30);
    std::vector<std::tuple<std::int64_t>> empty;
    std::string_view only_a[] = {"a"};  // named: g++ 12 rejects a braced list inside co_await
    EXPECT_EQ(co_await c.copy_records_to_table("cols", empty, {.columns = only_a}), "COPY 0");
  });
}

TEST(PgCopy, RecordErrors) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE strict (id int NOT NULL UNIQUE, day date, s smallint)");
    std::vector<std::tuple<int, std::optional<aw::pg::date>, std::int16_t>> ok = {{1, std::nullopt, 1}};
    EXPECT_THROW(co_await c.copy_records_to_table("no_such_table", ok), aw::pg::undefined_table);
    std::string_view bad_columns[] = {"id", "nope", "s"};
    EXPECT_THROW(co_await c.copy_records_to_table("strict", ok, {.columns = bad_columns}), aw::pg::undefined_column);
    try {
      std::vector<std::tuple<int, std::string, int>> wrong_type = {{1, "2024-01-01", 1}};
      co_await c.copy_records_to_table("strict", wrong_type);
      ADD_FAILURE() << "a string into a date column";
    } catch (const aw::pg::type_error& e) {
      EXPECT_NE(std::string(e.what()).find("\"day\""), std::string::npos) << e.what();
    }
    std::vector<std::tuple<int, std::nullopt_t, int>> too_big = {{1, std::nullopt, 70000}};
    EXPECT_THROW(co_await c.copy_records_to_table("strict", too_big), aw::pg::type_error);
    std::vector<std::tuple<int, std::nullopt_t>> too_short = {{1, std::nullopt}};
    EXPECT_THROW(co_await c.copy_records_to_table("strict", too_short), aw::pg::type_error);
    EXPECT_THROW(co_await c.copy_records_to_table("strict", ok, {.format = "csv"}), aw::pg::interface_error);
    // The server's own errors, with their SQLSTATE.
    std::vector<std::tuple<std::optional<int>, std::nullopt_t, int>> null_id = {{std::nullopt, std::nullopt, 1}};
    try {
      co_await c.copy_records_to_table("strict", null_id);
      ADD_FAILURE() << "NULL into NOT NULL";
    } catch (const aw::pg::not_null_violation& e) {
      EXPECT_EQ(e.sqlstate(), "23502");
      EXPECT_EQ(e.column_name(), "id");
    }
    std::vector<std::tuple<int, std::nullopt_t, int>> dup = {{5, std::nullopt, 1}, {5, std::nullopt, 2}};
    EXPECT_THROW(co_await c.copy_records_to_table("strict", dup), aw::pg::unique_violation);
    // A failed record after many good ones (the client aborts mid-COPY): nothing is inserted.
    std::vector<std::tuple<int, std::nullopt_t, std::int64_t>> late(300000, {0, std::nullopt, 1});
    for (int i = 0; i < 300000; ++i) std::get<0>(late[i]) = i + 100;
    std::get<2>(late.back()) = 1 << 20;
    EXPECT_THROW(co_await c.copy_records_to_table("strict", late), aw::pg::type_error);
    EXPECT_EQ(co_await count(c, "strict"), 0);
    EXPECT_EQ(co_await c.copy_records_to_table("strict", ok), "COPY 1");
  });
}

TEST(PgCopy, ToTableFromBytes) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE csv (id int, name text)");
    std::string data = "id;name\n1;one\n2;'it''s'\n3;NIL\n";
    EXPECT_EQ(co_await c.copy_to_table("csv", data, {.format = "csv", .delimiter = ';', .null = "NIL", .header = true, .quote = '\''}),
              "COPY 3");
    auto r = co_await c.fetch("SELECT name FROM csv ORDER BY id");
    EXPECT_EQ(r[0].get<std::string>(0), "one");
    EXPECT_EQ(r[1].get<std::string>(0), "it's");
    EXPECT_FALSE(r[2].get<std::optional<std::string>>(0));
    EXPECT_EQ(co_await c.copy_to_table("csv", "4\tfour\n5\t\\N\n"), "COPY 2");  // text format, the default
    EXPECT_EQ(co_await c.copy_to_table("csv", "6\tsix\n7\tseven\n", {.where = "id > 6"}), "COPY 1");
    EXPECT_EQ(co_await count(c, "csv"), 6);
    // Bad data: the server's typed error, with its SQLSTATE; the connection stays usable.
    try {
      co_await c.copy_to_table("csv", "x\tbad\n");
      ADD_FAILURE() << "bad data";
    } catch (const aw::pg::invalid_text_representation& e) {
      EXPECT_EQ(e.sqlstate(), "22P02");
    }
    EXPECT_THROW(co_await c.copy_to_table("no_such_table", "1\n"), aw::pg::undefined_table);
    EXPECT_EQ(co_await count(c, "csv"), 6);
  });
}

TEST(PgCopy, ToTableFromACallableSource) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE src (id int, v bigint)");
    // 100,000 lines handed out a few bytes at a time (a line split across calls).
    int next = 1;
    std::string pending;
    aw::byte_source gen([&](std::span<char> buf) -> aw::task<std::size_t> {
      if (pending.empty() && next <= 100000) {
        pending = std::to_string(next) + "\t" + std::to_string(std::int64_t{next} * 3) + "\n";
        ++next;
      }
      std::size_t n = std::min<std::size_t>({buf.size(), pending.size(), 5});
      pending.copy(buf.data(), n);
      pending.erase(0, n);
      if (next % 1000 == 0) co_await aw::yield();
      co_return n;
    });
    EXPECT_EQ(co_await c.copy_to_table("src", std::move(gen)), "COPY 100000");
    EXPECT_EQ(co_await c.fetchval<std::int64_t>("SELECT sum(v)::bigint FROM src"), std::int64_t{3} * 100000 * 100001 / 2);
  });
}

TEST(PgCopy, ASourceThatFailsAbortsTheCopy) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE src (id int)");
    int calls = 0;
    aw::byte_source failing([&](std::span<char> buf) -> aw::task<std::size_t> {
      if (++calls > 3) throw std::runtime_error("the source broke");
      buf[0] = '1';
      buf[1] = '\n';
      co_return 2;
    });
    EXPECT_THROW(co_await c.copy_to_table("src", std::move(failing)), std::runtime_error);
    co_await expect_idle(c);
    EXPECT_EQ(co_await count(c, "src"), 0);
  });
}

TEST(PgCopy, CancelledInTheMiddleOfACopyIn) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE src (id int)");
    int calls = 0;
    aw::byte_source stalls([&](std::span<char> buf) -> aw::task<std::size_t> {
      if (++calls > 2) co_await aw::sleep(3600s);  // the COPY is open on the server meanwhile
      buf[0] = '1';
      buf[1] = '\n';
      co_return 2;
    });
    bool done = co_await aw::move_on_after(100ms, [&]() -> aw::task<> { co_await c.copy_to_table("src", std::move(stalls)); });
    EXPECT_FALSE(done);
    EXPECT_EQ(calls, 3);
    co_await expect_idle(c);
    EXPECT_EQ(co_await count(c, "src"), 0);
  });
}

TEST(PgCopy, CancelledWhileTheServerTakesRecords) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    // The server stops reading at row 1000 (a trigger sleeps), so the client's 40 MB wait
    // for the socket; the cancellation comes at whichever wait the COPY is in.
    co_await c.execute(
        "CREATE TEMP TABLE slow (id int, pad text);"
        "CREATE FUNCTION pg_temp.slow_row() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN IF NEW.id = 1000 THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END$$;"
        "CREATE TRIGGER slow_row BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION pg_temp.slow_row()");
    std::vector<std::tuple<int, std::string>> rows;
    rows.reserve(200000);
    for (int i = 0; i < 200000; ++i) rows.emplace_back(i, std::string(200, 'x'));
    bool finished = co_await aw::move_on_after(300ms, [&]() -> aw::task<> { co_await c.copy_records_to_table("slow", rows); });
    EXPECT_FALSE(finished);
    co_await expect_idle(c);
    EXPECT_EQ(co_await count(c, "slow"), 0);
  });
}

TEST(PgCopy, FromQueryIntoASink) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::string out;
    std::string tag = co_await c.copy_from_query("SELECT g, $2::text || g, $3 FROM generate_series(1, $1) g", 4, "it's ",
                                                 std::optional<std::int32_t>{}, collect_into(out), aw::pg::copy_options{.format = "csv"});
    EXPECT_EQ(tag, "COPY 4");
    EXPECT_EQ(out, "1,it's 1,\n2,it's 2,\n3,it's 3,\n4,it's 4,\n");  // $3: a NULL integer
    out.clear();
    EXPECT_EQ(co_await c.copy_from_query("SELECT 'a\\b' AS x, NULL AS y", collect_into(out)), "COPY 1");
    EXPECT_EQ(out, "a\\\\b\t\\N\n");
    out.clear();
    EXPECT_EQ(co_await c.copy_from_query("SELECT $1::text", "back\\slash", collect_into(out)), "COPY 1");
    EXPECT_EQ(out, "back\\\\slash\n");
    EXPECT_THROW(co_await c.copy_from_query("SELECT * FROM no_such_table", collect_into(out)), aw::pg::undefined_table);
    EXPECT_EQ(co_await c.fetchval<std::int32_t>("SELECT 1"), 1);
  });
}

TEST(PgCopy, FromTableIntoASink) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE t (id int, name text, extra text)");
    co_await c.execute("INSERT INTO t SELECT g, 'n' || g, 'x' FROM generate_series(1, 50000) g");
    std::string out;
    std::size_t calls = 0;
    aw::byte_sink counting([&](std::string_view data) -> aw::task<> {
      ++calls;
      out.append(data);
      co_return;
    });
    std::vector<std::string_view> two = {"id", "name"};
    EXPECT_EQ(co_await c.copy_from_table("t", std::move(counting), {.columns = two, .format = "csv", .header = true}), "COPY 50000");
    EXPECT_EQ(out.substr(0, 20), "id,name\n1,n1\n2,n2\n3,");
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 50001);
    EXPECT_GE(calls, 1u);
    std::string again;
    EXPECT_EQ(co_await c.copy_from_table("t", collect_into(again), {.format = "binary"}), "COPY 50000");
    EXPECT_EQ(again.substr(0, 11), std::string("PGCOPY\n\377\r\n\0", 11));
    std::string_view nope[] = {"nope"};
    EXPECT_THROW(co_await c.copy_from_table("t", collect_into(again), {.columns = nope}), aw::pg::undefined_column);
  });
}

TEST(PgCopy, ASinkThatFailsCancelsTheCopyOut) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    aw::byte_sink failing([](std::string_view) -> aw::task<> {
      throw std::runtime_error("the sink broke");
      co_return;
    });
    EXPECT_THROW(co_await c.copy_from_query("SELECT g, repeat('x', 100) FROM generate_series(1, 1000000) g", std::move(failing)),
                 std::runtime_error);
    co_await expect_idle(c);
  });
}

TEST(PgCopy, CancelledInTheMiddleOfACopyOut) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    std::string out;
    aw::cancel_scope scope;
    aw::event got_data;
    aw::byte_sink sink([&](std::string_view data) -> aw::task<> {
      out.append(data);
      got_data.set();
      co_return;
    });
    co_await aw::async_with(aw::task_group{}, [&](aw::task_group& tg) -> aw::task<> {
      tg.start_soon([&]() -> aw::task<> {
        co_await aw::async_with(scope, [&](aw::cancel_scope&) -> aw::task<> {
          // Rows flow (more than the server's 8 KB output buffer), then the server sleeps at row 500.
          co_await c.copy_from_query(
              "SELECT g, repeat('x', 100), pg_sleep(CASE WHEN g = 500 THEN 60 ELSE 0 END) FROM generate_series(1, 1000) g", sink);
        });
      });
      co_await got_data.wait();
      co_await aw::sleep(50ms);
      scope.cancel();
    });
    EXPECT_TRUE(scope.cancelled_caught());
    EXPECT_FALSE(out.empty());
    co_await expect_idle(c);
  });
}

TEST(PgCopy, InsideATransactionACancelledCopyRollsBack) {
  with_connection([](aw::pg::connection& c) -> aw::task<> {
    co_await c.execute("CREATE TEMP TABLE src (id int)");
    co_await c.execute("INSERT INTO src VALUES (1)");
    int calls = 0;
    aw::byte_source stalls([&](std::span<char> buf) -> aw::task<std::size_t> {
      if (++calls > 1) co_await aw::sleep(3600s);
      buf[0] = '2';
      buf[1] = '\n';
      co_return 2;
    });
    bool done = co_await aw::move_on_after(100ms, [&]() -> aw::task<> {
      co_await aw::async_with(c.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
        co_await c.execute("INSERT INTO src VALUES (3)");
        co_await c.copy_to_table("src", std::move(stalls));
      });
    });
    EXPECT_FALSE(done);
    co_await expect_idle(c);
    EXPECT_EQ(co_await count(c, "src"), 1);
  });
}

}  // namespace
