#!/usr/bin/python3
"""The Python asyncio peers of bench/core_bench.cpp (stdlib only).

Runs each workload inside one asyncio.run (so loop creation is not measured), repeats it,
and prints one JSON object {name: ns_per_op} with the best (or median) repetition.
Times are CPU time of this thread (time.thread_time_ns), as core_bench measures: other
load on the machine inflates them far less than wall time, and for timers_100k the CPU a
round consumes is exactly its overhead (waiting for the deadline consumes none).
bench/compare runs this next to core_bench; the workload names are the names of its lines.

    /usr/bin/python3 bench/python/core_bench.py [--filter REGEX] [--repetitions N]
"""

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from contextlib import AsyncExitStack, asynccontextmanager

cpu_ns = time.thread_time_ns


class Manager:
    """A class-based async context manager (the peer of core_bench's `manager`)."""

    def __init__(self):
        self.resource = 0

    async def __aenter__(self):
        return self.resource

    async def __aexit__(self, exc_type, exc, tb):
        return None


@asynccontextmanager
async def generator_manager():
    yield 0


async def trivial():
    pass


# Each workload: async def(n) -> elapsed ns for n operations.


async def async_with(n):
    m = Manager()
    t0 = cpu_ns()
    for _ in range(n):
        async with m as r:
            pass
    return cpu_ns() - t0


async def async_with_generator(n):
    t0 = cpu_ns()
    for _ in range(n):
        async with generator_manager() as r:
            pass
    return cpu_ns() - t0


async def enter_once(m):
    # aw::enter(m) makes the rest of the task the body; in Python that is an `async with`
    # around the rest of the function.
    async with m as r:
        return


async def enter(n):
    m = Manager()
    t0 = cpu_ns()
    for _ in range(n):
        await enter_once(m)
    return cpu_ns() - t0


async def exit_stack_10(n):
    ms = [Manager() for _ in range(10)]
    t0 = cpu_ns()
    for _ in range(n):
        stack = AsyncExitStack()
        for m in ms:
            await stack.enter_async_context(m)
        await stack.aclose()
    return cpu_ns() - t0


async def await_task(n):
    t0 = cpu_ns()
    for _ in range(n):
        await trivial()
    return cpu_ns() - t0


async def _partner(stop):
    while not stop[0]:
        await asyncio.sleep(0)


async def sleep0_pingpong(n):
    # n iterations of two switches each: the main task yields, then the partner does.
    stop = [False]
    partner = asyncio.create_task(_partner(stop))
    await asyncio.sleep(0)
    t0 = cpu_ns()
    for _ in range(n):
        await asyncio.sleep(0)
    elapsed = cpu_ns() - t0
    stop[0] = True
    await partner
    return elapsed


TIMER_COUNT = 100_000


async def _sleeper(deadline, loop, state):
    await asyncio.sleep(deadline - loop.time())
    state[0] -= 1
    if state[0] == 0:
        state[1].set_result(None)


class _Lead:
    """The time from starting a round to its deadline: long enough that every timer is
    armed before it, adapted to what arming took (Python needs seconds for 100k tasks)."""

    seconds = 0.2


async def _timer_round():
    """One round of TIMER_COUNT timers sharing a deadline; its CPU time in ns, or None when
    the deadline passed before every timer was armed (then not all were pending at once)."""
    loop = asyncio.get_running_loop()
    c0 = cpu_ns()
    t0 = loop.time()
    deadline = t0 + _Lead.seconds
    state = [TIMER_COUNT, loop.create_future()]
    tasks = [asyncio.create_task(_sleeper(deadline, loop, state)) for _ in range(TIMER_COUNT)]
    await asyncio.sleep(0)  # runs after every sleeper's first step: all timers armed
    t1 = loop.time()
    await state[1]
    del tasks  # free the finished tasks, as core_bench frees the frames
    c1 = cpu_ns()
    if t1 >= deadline:
        _Lead.seconds = max(2 * _Lead.seconds, 1.5 * (t1 - t0))
        return None
    return c1 - c0


async def timers_100k(n):
    # n rounds; the result is the CPU time of all rounds (the idle sleep costs none).
    total = 0.0
    for _ in range(n):
        while (busy := await _timer_round()) is None:
            pass
        total += busy
    return total


# name: (function, operations per unit of n, fixed n or None to calibrate, warm-up)
WORKLOADS = {
    "async_with": (async_with, 1, None, None),
    "async_with_generator": (async_with_generator, 1, None, None),
    "enter": (enter, 1, None, None),
    "exit_stack_10": (exit_stack_10, 1, None, None),
    "await_task": (await_task, 1, None, None),
    "sleep0_pingpong": (sleep0_pingpong, 2, None, None),
    # The warm-up round also adapts the lead; it may fail (then it measured nothing).
    "timers_100k": (timers_100k, TIMER_COUNT, 1, _timer_round),
}


async def measure(fn, ops, fixed_n, warmup, repetitions, min_time):
    if fixed_n is None:
        # Calibrate: grow n until a repetition takes about min_time.
        n = 100
        while True:
            elapsed = await fn(n)
            if elapsed >= min_time * 1e9 * 0.5:
                break
            n *= 4 if elapsed < min_time * 1e9 * 0.05 else 2
        n = max(1, int(n * min_time * 1e9 / max(elapsed, 1)))
    else:
        n = fixed_n
        await warmup()
    return [await fn(n) / (n * ops) for _ in range(repetitions)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filter", default="", help="regex; run the workloads whose names it matches (re.search)")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition (calibrated workloads)")
    ap.add_argument("--stat", choices=("min", "median"), default="min")
    args = ap.parse_args()

    pattern = re.compile(args.filter)
    pick = min if args.stat == "min" else statistics.median
    results = {}
    for name, (fn, ops, fixed_n, warmup) in WORKLOADS.items():
        if not pattern.search(name):
            continue
        samples = asyncio.run(measure(fn, ops, fixed_n, warmup, args.repetitions, args.min_time))
        results[name] = pick(samples)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
