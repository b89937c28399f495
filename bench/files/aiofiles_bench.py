"""The aw::files workloads in aiofiles (Debian's python3-aiofiles), for bench/files/compare.

    /usr/bin/python3 aiofiles_bench.py WORKLOAD DATA_DIR [REPETITIONS]

prints one JSON object: {"name": ..., "seconds": [...], "bytes": N, "items": N} per run of
the whole workload (the data is made by files_bench; compare checks it is there).
"""

import asyncio
import json
import os
import sys
import time

import aiofiles
import aiofiles.os


async def file_read_1g(d):
    total = 0
    async with aiofiles.open(os.path.join(d, "big.bin"), "rb") as f:
        while True:
            chunk = await f.read(65536)
            if not chunk:
                break
            total += len(chunk)
    return total, 0


async def file_small_4k(d):
    small = os.path.join(d, "small")
    paths = [os.path.join(small, "f%d" % i) for i in range(4000)]

    async def one(p):
        async with aiofiles.open(p, "rb") as f:
            return len(await f.read())

    sizes = await asyncio.gather(*(one(p) for p in paths))
    return sum(sizes), len(paths)


# aiofiles hands every line to a thread and crawls (well under 1 MB/s here): it iterates the
# first LINES_PREFIX bytes of the 200 MB file, and compare reports bytes per second.
LINES_PREFIX = 20_000_000


async def file_lines(d):
    total = lines = 0
    async with aiofiles.open(os.path.join(d, "lines.txt"), "r", newline="") as f:
        async for line in f:
            total += len(line)
            lines += 1
            if total >= LINES_PREFIX:
                break
    return total, lines


async def file_copy_1g(d):
    # aiofiles has no copy: the nested-copy idiom of the tutorial, in 1 MiB chunks.
    src, dst = os.path.join(d, "big.bin"), os.path.join(d, "copy-py.bin")
    total = 0
    async with aiofiles.open(src, "rb") as a, aiofiles.open(dst, "wb") as b:
        while True:
            chunk = await a.read(1 << 20)
            if not chunk:
                break
            await b.write(chunk)
            total += len(chunk)
    await aiofiles.os.remove(dst)
    return total, 0


def main():
    name, d = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    fn = globals()[name]
    seconds = []
    nbytes = items = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        nbytes, items = asyncio.run(fn(d))
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({"name": name, "seconds": seconds, "bytes": nbytes, "items": items}))


if __name__ == "__main__":
    main()
