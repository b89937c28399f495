#!/usr/bin/python3
"""The Python peers of bench/net/compare's echo lines: asyncio streams, asyncio on uvloop,
trio. Each peer has its own server and client, the same pattern as net_bench and asio_echo
(each connection sends SIZE bytes, waits for all of them back, repeats, for SECONDS);
TCP_NODELAY on every socket (asyncio, uvloop and trio set it on TCP streams already; it is
set again here so that nobody has to know).

    /usr/bin/python3 bench/net/peers.py asyncio|uvloop|trio server PORT     prints "ready", echoes until killed
    /usr/bin/python3 bench/net/peers.py asyncio|uvloop|trio client PORT CONNS SECONDS [SIZE]
                                                                          prints {"round_trips_per_s": ...}
"""
import asyncio
import functools
import json
import socket
import sys
import time

HOST = "127.0.0.1"


def nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def ready():
    print("ready", flush=True)


# asyncio streams (and uvloop, which runs the same code on libuv)

async def asyncio_server(port):
    async def handle(reader, writer):
        nodelay(writer.get_extra_info("socket"))
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, HOST, port)
    ready()
    async with server:
        await server.serve_forever()


async def asyncio_client(port, conns, seconds, size):
    streams = []
    for _ in range(conns):
        reader, writer = await asyncio.open_connection(HOST, port)
        nodelay(writer.get_extra_info("socket"))
        streams.append((reader, writer))
    count = 0
    stop = False
    out = b"x" * size

    async def rounds(reader, writer):
        nonlocal count
        while not stop:
            writer.write(out)
            await writer.drain()
            await reader.readexactly(size)
            count += 1

    async def timer():
        nonlocal stop
        await asyncio.sleep(seconds)
        stop = True

    t0 = time.perf_counter()
    await asyncio.gather(timer(), *(rounds(r, w) for r, w in streams))
    elapsed = time.perf_counter() - t0
    for _, w in streams:
        w.close()
    return count / elapsed


# trio

async def trio_server(port):
    import trio

    async def handle(stream):
        nodelay(stream.socket)
        try:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(trio.serve_tcp, handle, port, host=HOST))
        ready()


async def trio_client(port, conns, seconds, size):
    import trio

    streams = []
    for _ in range(conns):
        s = await trio.open_tcp_stream(HOST, port)
        nodelay(s.socket)
        streams.append(s)
    count = 0
    stop = False
    out = b"x" * size

    async def rounds(s):
        nonlocal count
        while not stop:
            await s.send_all(out)
            got = 0
            while got < size:
                data = await s.receive_some(size - got)
                if not data:
                    raise RuntimeError("the echo server closed the connection")
                got += len(data)
            count += 1

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for s in streams:
            nursery.start_soon(rounds, s)
        await trio.sleep(seconds)
        stop = True
    elapsed = time.perf_counter() - t0
    for s in streams:
        await s.aclose()
    return count / elapsed


def main():
    peer, role, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "server":
        if peer == "trio":
            import trio
            trio.run(trio_server, port)
        elif peer == "uvloop":
            import uvloop
            uvloop.install()
            asyncio.run(asyncio_server(port))
        else:
            asyncio.run(asyncio_server(port))
        return
    conns, seconds = int(sys.argv[4]), float(sys.argv[5])
    size = int(sys.argv[6]) if len(sys.argv) > 6 else 64
    if peer == "trio":
        import trio
        rate = trio.run(trio_client, port, conns, seconds, size)
    else:
        if peer == "uvloop":
            import uvloop
            uvloop.install()
        rate = asyncio.run(asyncio_client(port, conns, seconds, size))
    print(json.dumps({"round_trips_per_s": rate}))


if __name__ == "__main__":
    main()
