#!/usr/bin/python3
"""The Python peers of bench/concurrency_bench.cpp: the same structured-concurrency
workloads in asyncio (standard library), anyio (Debian's python3-anyio, run on its asyncio
backend) and trio (Debian's python3-trio).

    taskgroup_100k  one task group starts 100000 trivial tasks, then the block ends (ns per task)
    move_on_after   a deadline scope of an hour around `await trivial()` (ns per block)
    lock_handoff    two tasks take turns with one lock; each acquisition is a hand-off from
                    the other task, after it released (ns per hand-off)
    lock_acquire_release       one task acquires a free lock and releases it: the default
                    lock of each (anyio's and trio's checkpoint: a yield; asyncio: none)
    lock_acquire_release_fast  the same without the yield: anyio's fast_acquire=True (spelled
                    out where the installed anyio lacks it), trio's acquire_nowait after
                    checkpoint_if_cancelled, asyncio.Lock again
    channel_1m      a producer sends ints through a channel of capacity 64 to a consumer,
                    1000000 of them by default (ns per item)
    to_thread_roundtrip  `await to_thread(noop)` one after another: asyncio.to_thread,
                    anyio.to_thread.run_sync, trio.to_thread.run_sync (ns per call, wall
                    clock: the loop's thread sleeps while the worker runs)

Each workload runs inside one asyncio.run / anyio.run / trio.run per peer (loop creation is
not measured) and is repeated; the result is the best (or median) repetition, in CPU time
of this thread (time.thread_time_ns), as concurrency_bench measures. Prints one JSON object
{workload: {peer: ns_per_op}}. bench/compare runs this next to concurrency_bench.

    /usr/bin/python3 bench/python/concurrency_bench.py [--filter REGEX] [--peers asyncio,anyio,trio]
        [--repetitions N] [--min-time S] [--stat min|median] [--tasks N] [--channel-items N]
"""

import argparse
import asyncio
import json
import re
import statistics
import sys
import time

import anyio
import anyio.lowlevel
import anyio.to_thread
import trio

cpu_ns = time.thread_time_ns

PEERS = ("asyncio", "anyio", "trio")
HOUR = 3600.0
CAPACITY = 64


async def trivial_asyncio():
    pass


async def trivial_anyio():
    pass


async def trivial_trio():
    pass


# Each workload: async def(n) -> CPU ns for n operations.

# --- taskgroup_100k ---------------------------------------------------------------------


async def taskgroup_asyncio(n):
    t0 = cpu_ns()
    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(trivial_asyncio())
    return cpu_ns() - t0


async def taskgroup_anyio(n):
    t0 = cpu_ns()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(trivial_anyio)
    return cpu_ns() - t0


async def taskgroup_trio(n):
    t0 = cpu_ns()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(trivial_trio)
    return cpu_ns() - t0


# --- move_on_after ----------------------------------------------------------------------


async def move_on_after_asyncio(n):
    t0 = cpu_ns()
    for _ in range(n):
        async with asyncio.timeout(HOUR):
            await trivial_asyncio()
    return cpu_ns() - t0


async def move_on_after_anyio(n):
    t0 = cpu_ns()
    for _ in range(n):
        with anyio.move_on_after(HOUR):
            await trivial_anyio()
    return cpu_ns() - t0


async def move_on_after_trio(n):
    t0 = cpu_ns()
    for _ in range(n):
        with trio.move_on_after(HOUR):
            await trivial_trio()
    return cpu_ns() - t0


# --- lock_handoff -----------------------------------------------------------------------
# Each worker acquires, releases, acquires again. The other worker is already waiting when
# one releases, so the next acquire waits until the other one has had the lock and released
# it: every acquisition follows the other task's release. The block holds the lock until
# both workers wait, so that this holds from the first acquisition on. n hand-offs: n/2
# acquisitions per worker.


async def _lock_worker_asyncio(lock, acquisitions):
    for _ in range(acquisitions):
        await lock.acquire()
        lock.release()


async def lock_handoff_asyncio(n):
    lock = asyncio.Lock()  # FIFO; acquire() does not barge past a woken waiter
    t0 = cpu_ns()
    async with asyncio.TaskGroup() as tg:
        await lock.acquire()
        tg.create_task(_lock_worker_asyncio(lock, n // 2))
        tg.create_task(_lock_worker_asyncio(lock, n // 2))
        await asyncio.sleep(0)  # asyncio runs ready tasks in FIFO order: both wait now
        lock.release()
    return cpu_ns() - t0


async def _lock_worker_anyio(lock, acquisitions):
    for _ in range(acquisitions):
        await lock.acquire()
        lock.release()


async def lock_handoff_anyio(n):
    lock = anyio.Lock()  # release() hands the lock to the first waiter
    t0 = cpu_ns()
    async with anyio.create_task_group() as tg:
        await lock.acquire()
        tg.start_soon(_lock_worker_anyio, lock, n // 2)
        tg.start_soon(_lock_worker_anyio, lock, n // 2)
        while lock.statistics().tasks_waiting < 2:
            await anyio.sleep(0)
        lock.release()
    return cpu_ns() - t0


async def _lock_worker_trio(lock, acquisitions):
    for _ in range(acquisitions):
        await lock.acquire()
        lock.release()


async def lock_handoff_trio(n):
    lock = trio.Lock()  # release() hands the lock to the first waiter
    t0 = cpu_ns()
    async with trio.open_nursery() as nursery:
        await lock.acquire()
        nursery.start_soon(_lock_worker_trio, lock, n // 2)
        nursery.start_soon(_lock_worker_trio, lock, n // 2)
        while lock.statistics().tasks_waiting < 2:  # trio may run a batch in either order
            await trio.sleep(0)
        lock.release()
    return cpu_ns() - t0


# --- lock_acquire_release, lock_acquire_release_fast --------------------------------------
# One task acquires a free lock and releases it, nobody else around. anyio's and trio's
# acquire checkpoints (checks for cancellation and yields to the scheduler) even on a free
# lock, so that a task taking it in a loop lets the others queue; anyio's fast_acquire=True
# keeps the check and drops the yield. asyncio.Lock never yields on a free lock: it is the
# asyncio peer of both lines.


async def lock_acquire_release_asyncio(n):
    lock = asyncio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return cpu_ns() - t0


async def lock_acquire_release_anyio(n):
    lock = anyio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return cpu_ns() - t0


async def lock_acquire_release_trio(n):
    lock = trio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return cpu_ns() - t0


async def lock_acquire_release_fast_anyio(n):
    try:
        lock = anyio.Lock(fast_acquire=True)  # anyio >= 4.5
    except TypeError:
        lock = None
    t0 = cpu_ns()
    if lock is not None:
        for _ in range(n):
            await lock.acquire()
            lock.release()
    else:
        # An older anyio (Debian's 3.6.2): what fast_acquire=True does, spelled out.
        lock = anyio.Lock()
        for _ in range(n):
            await anyio.lowlevel.checkpoint_if_cancelled()
            lock.acquire_nowait()
            lock.release()
    return cpu_ns() - t0


async def lock_acquire_release_fast_trio(n):
    # trio has no fast path: its acquire without the yield, spelled out.
    lock = trio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        await trio.lowlevel.checkpoint_if_cancelled()
        lock.acquire_nowait()
        lock.release()
    return cpu_ns() - t0


# --- channel_1m -------------------------------------------------------------------------
# A producer sends 0..n-1 and closes (asyncio.Queue cannot be closed: a None sentinel ends
# the stream); a consumer receives until the end.


async def _produce_asyncio(queue, n):
    for i in range(n):
        await queue.put(i)
    await queue.put(None)


async def _consume_asyncio(queue, out):
    total = 0
    while (item := await queue.get()) is not None:
        total += item
    out.append(total)


async def channel_asyncio(n):
    out = []
    t0 = cpu_ns()
    queue = asyncio.Queue(CAPACITY)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_produce_asyncio(queue, n))
        tg.create_task(_consume_asyncio(queue, out))
    return cpu_ns() - t0


async def _produce_anyio(send, n):
    async with send:
        for i in range(n):
            await send.send(i)


async def _consume_anyio(receive, out):
    total = 0
    async with receive:
        async for item in receive:
            total += item
    out.append(total)


async def channel_anyio(n):
    out = []
    t0 = cpu_ns()
    send, receive = anyio.create_memory_object_stream(CAPACITY)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_produce_anyio, send, n)
        tg.start_soon(_consume_anyio, receive, out)
    return cpu_ns() - t0


async def _produce_trio(send, n):
    async with send:
        for i in range(n):
            await send.send(i)


async def _consume_trio(receive, out):
    total = 0
    async with receive:
        async for item in receive:
            total += item
    out.append(total)


async def channel_trio(n):
    out = []
    t0 = cpu_ns()
    send, receive = trio.open_memory_channel(CAPACITY)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_produce_trio, send, n)
        nursery.start_soon(_consume_trio, receive, out)
    return cpu_ns() - t0


# --- to_thread_roundtrip ----------------------------------------------------------------
# Wall-clock time: the loop's thread waits for the worker, so its CPU time says little.


def noop():
    pass


async def to_thread_asyncio(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.to_thread(noop)
    return time.perf_counter_ns() - t0


async def to_thread_anyio(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await anyio.to_thread.run_sync(noop)
    return time.perf_counter_ns() - t0


async def to_thread_trio(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await trio.to_thread.run_sync(noop)
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------------------

RUNNERS = {
    "asyncio": lambda main: asyncio.run(main()),
    "anyio": lambda main: anyio.run(main, backend="asyncio"),
    "trio": trio.run,
}

# name: ({peer: function}, size) where size is "calibrate" (grow n until a repetition takes
# about --min-time) or the name of the option that fixes n (one round per repetition,
# after one warm-up round of a tenth of it).
WORKLOADS = {
    "taskgroup_100k": ({"asyncio": taskgroup_asyncio, "anyio": taskgroup_anyio, "trio": taskgroup_trio}, "tasks"),
    "move_on_after": ({"asyncio": move_on_after_asyncio, "anyio": move_on_after_anyio, "trio": move_on_after_trio}, "calibrate"),
    "lock_handoff": ({"asyncio": lock_handoff_asyncio, "anyio": lock_handoff_anyio, "trio": lock_handoff_trio}, "calibrate"),
    "lock_acquire_release": ({"asyncio": lock_acquire_release_asyncio, "anyio": lock_acquire_release_anyio,
                              "trio": lock_acquire_release_trio}, "calibrate"),
    "lock_acquire_release_fast": ({"asyncio": lock_acquire_release_asyncio, "anyio": lock_acquire_release_fast_anyio,
                                   "trio": lock_acquire_release_fast_trio}, "calibrate"),
    "channel_1m": ({"asyncio": channel_asyncio, "anyio": channel_anyio, "trio": channel_trio}, "channel_items"),
    "to_thread_roundtrip": ({"asyncio": to_thread_asyncio, "anyio": to_thread_anyio, "trio": to_thread_trio}, "calibrate"),
}


def measure(run, fn, fixed_n, repetitions, min_time):
    async def main():
        if fixed_n is None:
            n = 100
            while True:
                elapsed = await fn(n)
                if elapsed >= min_time * 1e9 * 0.5:
                    break
                n *= 4 if elapsed < min_time * 1e9 * 0.05 else 2
            n = max(2, int(n * min_time * 1e9 / max(elapsed, 1)))
        else:
            n = fixed_n
            await fn(max(2, n // 10))  # warm-up
        return [await fn(n) / n for _ in range(repetitions)]

    return run(main)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filter", default="", help="regex; run the workloads whose names it matches (re.search)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of asyncio,anyio,trio")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition (calibrated workloads)")
    ap.add_argument("--stat", choices=("min", "median"), default="min")
    ap.add_argument("--tasks", type=int, default=100_000, help="children per task group in taskgroup_100k")
    ap.add_argument("--channel-items", type=int, default=1_000_000, help="items per round in channel_1m")
    ap.add_argument("--taskgroup-repetitions", type=int, default=None,
                    help="repetitions of taskgroup_100k (default: --repetitions); it is slow in Python")
    ap.add_argument("--channel-repetitions", type=int, default=None,
                    help="repetitions of channel_1m (default: --repetitions); it is slow in Python")
    args = ap.parse_args()

    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"concurrency_bench.py: unknown peer(s) {', '.join(unknown)} (choose from {', '.join(PEERS)})")
    pattern = re.compile(args.filter)
    pick = min if args.stat == "min" else statistics.median
    results = {}
    for name, (fns, size) in WORKLOADS.items():
        if not pattern.search(name):
            continue
        fixed_n = None if size == "calibrate" else getattr(args, size)
        repetitions = args.repetitions
        if name == "taskgroup_100k" and args.taskgroup_repetitions:
            repetitions = args.taskgroup_repetitions
        if name == "channel_1m" and args.channel_repetitions:
            repetitions = args.channel_repetitions
        results[name] = {}
        for peer in peers:
            samples = measure(RUNNERS[peer], fns[peer], fixed_n, max(1, repetitions), args.min_time)
            results[name][peer] = pick(samples)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
