#!/usr/bin/python3
"""The Python side of bench/mongo/compare: the same workloads in pymongo and in motor, with
the same counts as mongo_bench (1000 inserts into a fresh collection, 1000 find_one, 30 finds
of 1000 documents).

    peers.py URL [N]   prints {"pymongo": {workload: [us_per_op, ...]}, "motor": {...}}

N rounds (default 1); each round runs every workload in pymongo, then in motor, so the two
(and mongo_bench, run just before) meet the same load on a shared machine.
"""
import asyncio
import json
import sys
import time

import motor.motor_asyncio
import pymongo

url = sys.argv[1]
COUNTS = {"insert": 1000, "find_one": 1000, "find_1000": 30}


def timed(fn, n):
    """Microseconds per call of fn, over n calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


async def atimed(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - start) / n * 1e6


def run_pymongo(c, out):
    db = c.aw_bench
    db.inserts_pymongo.drop()
    i = [0]

    def insert():
        i[0] += 1
        db.inserts_pymongo.insert_one({"i": i[0], "name": "x"})

    def find_one():
        i[0] += 1
        assert db.thousand.find_one({"i": i[0] % 1000}) is not None

    def find_1000():
        assert len(list(db.thousand.find({}))) == 1000

    out["mongo_insert_one"].append(timed(insert, COUNTS["insert"]))
    out["mongo_find_one"].append(timed(find_one, COUNTS["find_one"]))
    out["mongo_find_1000"].append(timed(find_1000, COUNTS["find_1000"]))


async def run_motor(c, out):
    db = c.aw_bench
    await db.inserts_motor.drop()
    i = [0]

    async def insert():
        i[0] += 1
        await db.inserts_motor.insert_one({"i": i[0], "name": "x"})

    async def find_one():
        i[0] += 1
        assert await db.thousand.find_one({"i": i[0] % 1000}) is not None

    async def find_1000():
        n = 0
        async for _ in db.thousand.find({}):
            n += 1
        assert n == 1000

    out["mongo_insert_one"].append(await atimed(insert, COUNTS["insert"]))
    out["mongo_find_one"].append(await atimed(find_one, COUNTS["find_one"]))
    out["mongo_find_1000"].append(await atimed(find_1000, COUNTS["find_1000"]))


async def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    names = ("mongo_insert_one", "mongo_find_one", "mongo_find_1000")
    results = {"pymongo": {n: [] for n in names}, "motor": {n: [] for n in names}}
    sync_client = pymongo.MongoClient(url)
    motor_client = motor.motor_asyncio.AsyncIOMotorClient(url)
    for _ in range(rounds):
        run_pymongo(sync_client, results["pymongo"])  # blocks the loop, as pymongo does: nothing else runs meanwhile
        await run_motor(motor_client, results["motor"])
    sync_client.close()
    motor_client.close()
    print(json.dumps(results))


asyncio.run(main())
