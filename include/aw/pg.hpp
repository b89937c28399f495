// aw::pg: PostgreSQL for asyncwith (asyncpg's counterpart), libpq in non-blocking mode.
//
//   co_await aw::async_with(aw::pg::connect(dsn), [&](aw::pg::connection& conn) -> aw::task<> {
//     co_await aw::async_with(conn.transaction(), [&](aw::pg::transaction&) -> aw::task<> {
//       co_await conn.execute("INSERT INTO events(kind) VALUES ($1)", "login");
//     });
//     std::int64_t n = co_await conn.fetchval<std::int64_t>("SELECT count(*) FROM events");
//   });
//
// connection.hpp: connect, queries, transactions. cursor.hpp: cursors. copy.hpp: COPY. pool.hpp: create_pool. result.hpp: rows.
// types.hpp: the type conversions; type_codec.hpp: codecs registered at run time. error.hpp: the errors. testing.hpp: temporary_cluster.
#pragma once

#include <aw/pg/connection.hpp>
#include <aw/pg/copy.hpp>
#include <aw/pg/cursor.hpp>
#include <aw/pg/errors.hpp>
#include <aw/pg/listener.hpp>
#include <aw/pg/pool.hpp>
#include <aw/pg/prepared_statement.hpp>
#include <aw/pg/result.hpp>
#include <aw/pg/testing.hpp>
#include <aw/pg/type_codec.hpp>
#include <aw/pg/types.hpp>
