"""The aw::pg workloads (bench/pg/pg_bench.cpp) in asyncpg, on the same server.

    /usr/bin/python3 bench/pg/asyncpg_bench.py --dsn DSN [--filter REGEX] [--repetitions N]

Prints one JSON object: {workload: best items per second}.
"""

import argparse
import asyncio
import json
import re
import time

import asyncpg

POOL_SIZE = 8
TASKS = 64


async def through_pool(dsn, total, query):
    async with asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE) as pool:
        counter = iter(range(total))

        async def worker():
            for i in counter:
                await query(pool, i)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(TASKS)))
        return time.perf_counter() - start


async def pg_select1(dsn):
    n = 20000

    async def q(pool, i):
        await pool.fetchval("SELECT 1")

    return n / await through_pool(dsn, n, q)


async def pg_fetchrow(dsn):
    n = 20000

    async def q(pool, i):
        r = await pool.fetchrow("SELECT id, name, value, created FROM aw_bench_rows WHERE id = $1", 1 + i % 1000)
        r[1]

    return n / await through_pool(dsn, n, q)


async def pg_fetch1000(dsn):
    rounds = 50
    conn = await asyncpg.connect(dsn)
    try:
        start = time.perf_counter()
        for _ in range(rounds):
            rows = await conn.fetch("SELECT id, name, value, created, payload FROM aw_bench_rows")
            for r in rows:
                tuple(r)
        return rounds * 1000 / (time.perf_counter() - start)
    finally:
        await conn.close()


async def pg_executemany(dsn):
    n = 100000
    rows = [(i, "row %d" % i, i * 0.5) for i in range(n)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE many (id int, name text, value float8)")
        start = time.perf_counter()
        await conn.executemany("INSERT INTO many VALUES ($1, $2, $3)", rows)
        return n / (time.perf_counter() - start)
    finally:
        await conn.close()


async def pg_copy(dsn):
    n = 100000
    rows = [(i, "row %d" % i, i * 0.5) for i in range(n)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE copied (id int, name text, value float8)")
        start = time.perf_counter()
        await conn.copy_records_to_table("copied", records=rows)
        return n / (time.perf_counter() - start)
    finally:
        await conn.close()


async def pg_pipeline(dsn):
    # asyncpg refuses a second query on a connection while one runs (InterfaceError: another
    # operation is in progress): on one connection, its users await one query at a time.
    n = 20000
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetchrow("SELECT id, name, value, created FROM aw_bench_rows WHERE id = $1", 1)
        start = time.perf_counter()
        for i in range(n):
            r = await conn.fetchrow("SELECT id, name, value, created FROM aw_bench_rows WHERE id = $1", 1 + i % 1000)
            r[1]
        return n / (time.perf_counter() - start)
    finally:
        await conn.close()


WORKLOADS = {"pg_select1": pg_select1, "pg_fetchrow": pg_fetchrow, "pg_fetch1000": pg_fetch1000, "pg_executemany": pg_executemany,
             "pg_copy": pg_copy,
             "pg_pipeline": pg_pipeline}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--filter", default=".")
    ap.add_argument("--repetitions", type=int, default=3)
    a = ap.parse_args()
    out = {}
    for name, fn in WORKLOADS.items():
        if not re.search(a.filter, name):
            continue
        out[name] = max(asyncio.run(fn(a.dsn)) for _ in range(a.repetitions))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
