#!/usr/bin/python3
"""The Python peers of http_bench: aiohttp and httpx, the same shape (N concurrent tasks doing
GETs in turn on one client's keep-alive pool), for a fixed time. Prints one JSON object:
{"requests_per_s": ..., "bytes_per_s": ...}.

    /usr/bin/python3 bench/http/peers.py aiohttp|httpx URL CONCURRENCY SECONDS
"""
import asyncio
import json
import sys
import time


async def run_aiohttp(url, concurrency, seconds):
    import aiohttp

    counts = [0, 0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        end = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < end:
                async with s.get(url) as r:
                    body = await r.read()
                    assert r.status == 200
                counts[0] += 1
                counts[1] += len(body)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counts, time.perf_counter() - start


async def run_httpx(url, concurrency, seconds):
    import httpx

    counts = [0, 0]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as c:
        end = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < end:
                r = await c.get(url)
                assert r.status_code == 200
                counts[0] += 1
                counts[1] += len(r.content)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counts, time.perf_counter() - start


def main():
    peer, url, concurrency, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    fn = {"aiohttp": run_aiohttp, "httpx": run_httpx}[peer]
    (n, nbytes), elapsed = asyncio.run(fn(url, concurrency, seconds))
    print(json.dumps({"requests_per_s": n / elapsed, "bytes_per_s": nbytes / elapsed}))


if __name__ == "__main__":
    main()
