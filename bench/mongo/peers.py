#!/usr/bin/python3
"""The Python side of bench/mongo/compare: the same workloads in pymongo and in motor, with
the same counts as mongo_bench (1000 inserts into a fresh collection, 1000 find_one, 30 finds
of 1000 documents; 100 GridFS uploads and downloads of the 1 MiB file, 500 of the 16 KiB one).
GridFS goes through gridfs.GridFSBucket and motor's AsyncIOMotorGridFSBucket on the bucket
aw_bench.gfs, with the files mongo_bench puts there (run it first), without MD5 (libmongoc
and asyncwith compute none: the GridFS spec deprecated it).

    peers.py URL [N]   prints {"pymongo": {workload: [us_per_op, ...]}, "motor": {...}}

N rounds (default 1); each round runs every workload in pymongo, then in motor, so the two
(and mongo_bench, run just before) meet the same load on a shared machine.
"""
import asyncio
import json
import sys
import time

import gridfs
import motor.motor_asyncio
import pymongo
from bson import ObjectId

url = sys.argv[1]
COUNTS = {"insert": 1000, "find_one": 1000, "find_1000": 30, "gridfs_1m": 100, "gridfs_16k": 500}
NAMES = ("mongo_insert_one", "mongo_find_one", "mongo_find_1000", "mongo_gridfs_upload_1m", "mongo_gridfs_download_1m",
         "mongo_gridfs_upload_16k", "mongo_gridfs_download_16k")
# GridFS, as mongo_bench: the files the downloads read (under these _ids), and the bytes of
# every file, byte i being i % 251. Every upload is deleted after it, outside the time measured.
GRIDFS_SIZES = {"1m": 1 << 20, "16k": 16 << 10}
GRIDFS_IDS = {"1m": ObjectId("000000000000000000000001"), "16k": ObjectId("000000000000000000000002")}


def payload(size):
    return (bytes(range(251)) * (size // 251 + 1))[:size]


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


def timed_apart(fn, after, n):
    """Microseconds per call of fn, over n calls, each followed by after(its result), not timed."""
    total = 0.0
    for _ in range(n):
        start = time.perf_counter()
        r = fn()
        total += time.perf_counter() - start
        after(r)
    return total / n * 1e6


async def atimed_apart(fn, after, n):
    total = 0.0
    for _ in range(n):
        start = time.perf_counter()
        r = await fn()
        total += time.perf_counter() - start
        await after(r)
    return total / n * 1e6


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

    bucket = gridfs.GridFSBucket(db, "gfs", disable_md5=True)
    for size in ("1m", "16k"):
        data, n, file_id = payload(GRIDFS_SIZES[size]), COUNTS["gridfs_" + size], GRIDFS_IDS[size]

        def upload():
            with bucket.open_upload_stream("upload") as s:
                s.write(data)
            return s._id

        def download():
            got = bucket.open_download_stream(file_id).read()
            assert len(got) == len(data)
            return got

        out["mongo_gridfs_upload_" + size].append(timed_apart(upload, bucket.delete, n))
        out["mongo_gridfs_download_" + size].append(timed(download, n))
        assert download() == data


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

    bucket = motor.motor_asyncio.AsyncIOMotorGridFSBucket(db, "gfs", disable_md5=True)
    for size in ("1m", "16k"):
        data, n, file_id = payload(GRIDFS_SIZES[size]), COUNTS["gridfs_" + size], GRIDFS_IDS[size]

        async def upload():
            async with bucket.open_upload_stream("upload") as s:
                await s.write(data)
            return s._id

        async def download():
            got = await (await bucket.open_download_stream(file_id)).read()
            assert len(got) == len(data)
            return got

        out["mongo_gridfs_upload_" + size].append(await atimed_apart(upload, bucket.delete, n))
        out["mongo_gridfs_download_" + size].append(await atimed(download, n))
        assert await download() == data


async def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    results = {"pymongo": {n: [] for n in NAMES}, "motor": {n: [] for n in NAMES}}
    sync_client = pymongo.MongoClient(url)
    motor_client = motor.motor_asyncio.AsyncIOMotorClient(url)
    for _ in range(rounds):
        run_pymongo(sync_client, results["pymongo"])  # blocks the loop, as pymongo does: nothing else runs meanwhile
        await run_motor(motor_client, results["motor"])
    sync_client.close()
    motor_client.close()
    print(json.dumps(results))


asyncio.run(main())
