#!/usr/bin/env python3
"""A TCP relay that sends what a client writes on to the upstream at no
more than RATE bytes a second, so that a test can hold a push inside its
blob upload for seconds and act while it is there (answers come back at
full speed).

usage: slow-proxy.py LISTEN_PORT UPSTREAM_PORT RATE
"""
import asyncio
import sys

LISTEN, UPSTREAM, RATE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
CHUNK = 16 * 1024


async def pipe(reader, writer, rate):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            if rate:
                await asyncio.sleep(len(data) / rate)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(creader, cwriter):
    try:
        ureader, uwriter = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pipe(creader, uwriter, RATE),
                         pipe(ureader, cwriter, 0))


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", LISTEN)
    async with server:
        await server.serve_forever()


asyncio.run(main())
